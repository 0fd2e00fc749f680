"""``make clean-data`` (tools/clean_data.py) deletes the run directory and refuses anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.clean_data import ROOT, main, refusal

pytestmark = pytest.mark.unit


def test_a_run_directory_is_deleted(tmp_path: Path) -> None:
    run = tmp_path / ".data"
    (run / "kafka").mkdir(parents=True)
    (run / "dev-api-key").write_text("dev-x")
    assert main([str(run)]) == 0 and not run.exists()
    assert main([str(run)]) == 0  # nothing there: nothing to do


@pytest.mark.parametrize("where", ["/", "home", "home-parent", "repo", "repo-parent", "link-to-root"])
def test_root_home_the_repo_and_anything_above_them_are_refused(tmp_path: Path, where: str) -> None:
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    (tmp_path / "link").symlink_to("/")
    path = {"/": Path("/"), "home": home, "home-parent": home.parent, "repo": ROOT, "repo-parent": ROOT.parent,
            "link-to-root": tmp_path / "link"}[where]
    reason = refusal(path, home)
    assert reason is not None and "refusing" in reason


def test_a_directory_holding_other_things_is_refused_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             ) -> None:
    other = tmp_path / "usr"
    (other / "bin").mkdir(parents=True)
    assert main([str(other)]) == 1 and (other / "bin").exists()
    assert "bin" in capsys.readouterr().err


def test_two_paths_are_refused(tmp_path: Path) -> None:
    assert main([str(tmp_path / "a"), "/usr"]) == 2
