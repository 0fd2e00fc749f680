"""tools.prereqs against a fake PATH: what is missing or too old is named, with the Debian package to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import prereqs

pytestmark = pytest.mark.unit

JAVA_17 = 'openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)'
JAVA_8 = 'openjdk version "1.8.0_392"\nOpenJDK Runtime Environment (build 1.8.0_392-b08)'


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


def healthy(bin_dir: Path) -> None:
    fake(bin_dir, "python3.11", "echo 3.11")
    fake(bin_dir, "java", f"echo '{JAVA_17}' >&2")
    fake(bin_dir, "mvn", "exit 0")


def test_all_present_is_no_problem(bin_dir: Path) -> None:
    healthy(bin_dir)
    assert prereqs.check("python3.11", need_mvn=True, path=str(bin_dir)) == []


def test_an_empty_path_names_every_package_and_the_python_override(bin_dir: Path) -> None:
    problems = prereqs.check("python3.11", need_mvn=True, path=str(bin_dir))
    assert len(problems) == 3
    text = "\n".join(problems)
    for package in ("python3.11 python3.11-venv", "openjdk-17-jre-headless", "maven"):
        assert f"apt-get install {package}" in text
    assert "PYTHON=" in problems[0]


def test_maven_is_not_asked_for_once_the_jars_are_cached(bin_dir: Path) -> None:
    healthy(bin_dir)
    (bin_dir / "mvn").unlink()
    assert prereqs.check("python3.11", need_mvn=False, path=str(bin_dir)) == []
    assert "maven" in prereqs.check("python3.11", need_mvn=True, path=str(bin_dir))[0]


def test_an_existing_venv_needs_no_system_python(bin_dir: Path) -> None:
    healthy(bin_dir)
    (bin_dir / "python3.11").unlink()
    assert prereqs.check(None, need_mvn=False, path=str(bin_dir)) == []


def test_the_wrong_python_version_is_named(bin_dir: Path) -> None:
    healthy(bin_dir)
    fake(bin_dir, "python3", "echo 3.9")
    [problem] = prereqs.check("python3", need_mvn=False, path=str(bin_dir))
    assert "is 3.9, 3.11 is needed" in problem and "PYTHON=" in problem


def test_a_python_without_venv_is_named(bin_dir: Path) -> None:
    healthy(bin_dir)
    fake(bin_dir, "python3.11", "echo \"ModuleNotFoundError: No module named 'ensurepip'\" >&2; exit 1")
    [problem] = prereqs.check("python3.11", need_mvn=False, path=str(bin_dir))
    assert "cannot create a virtualenv" in problem and "python3.11-venv" in problem


def test_an_old_java_is_named(bin_dir: Path) -> None:
    healthy(bin_dir)
    fake(bin_dir, "java", f"echo '{JAVA_8}' >&2")
    [problem] = prereqs.check("python3.11", need_mvn=False, path=str(bin_dir))
    assert "version 8, 17 or later is needed" in problem and "openjdk-17-jre-headless" in problem


@pytest.mark.parametrize(("output", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17), ('java version "21" 2023-09-19', 21),
    ('openjdk version "1.8.0_392"', 8), ("no version here", None),
])
def test_java_major(output: str, major: int | None) -> None:
    assert prereqs.java_major(output) == major


def test_main_prints_what_to_install_and_fails(bin_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(bin_dir))
    assert prereqs.main(["--python", "python3.11"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("missing prerequisites:") and "openjdk-17-jre-headless" in err


def test_the_check_runs_on_a_bare_python_before_anything_is_installed() -> None:
    """``make prereqs`` runs ``python3 -m tools.prereqs`` before the virtualenv exists: with no site-packages at
    all (``-S``) the module and what it imports (the broker runner, the supervisor) must still load."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-S", "-c", "import tools.prereqs"], cwd=root,  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
