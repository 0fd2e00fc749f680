"""What ``make`` needs from the machine before it can install anything: Python 3.11 (with venv), Java 17+ and,
until the Kafka jars are cached, Maven. Run first by every Makefile target that installs; prints what is missing
and how to install it instead of failing later with a traceback or ``command not found``.

Runs on the system Python before the virtualenv exists: standard library only, any Python 3.8+.

    python3 -m tools.prereqs --python python3.11    # omit --python once .venv exists
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence

from tools.kafka_local import KAFKA_VERSION, cache_dir

PYTHON_VERSION = (3, 11)
JAVA_MAJOR = 17
# asks the interpreter for its version and whether it can make a virtualenv (Debian ships ensurepip apart)
_PY_PROBE = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"


def _run(cmd: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, done.stdout + done.stderr


def check_python(python: str, path: str | None) -> str | None:
    exe = shutil.which(python, path=path)
    hint = ("install Python 3.11 with venv (Debian/Ubuntu: sudo apt-get install python3.11 python3.11-venv), "
            "or point make at another 3.11 interpreter: make run PYTHON=/path/to/python3.11")
    if exe is None:
        return f"Python: `{python}` not found; {hint}"
    code, out = _run([exe, "-c", _PY_PROBE])
    version = out.strip().splitlines()[-1] if out.strip() else ""
    if code != 0:
        if "venv" in out or "ensurepip" in out:
            return f"Python: `{python}` ({exe}) cannot create a virtualenv; {hint}"
        first = out.strip().splitlines()[0][:160] if out.strip() else f"exit status {code}"
        return f"Python: `{python}` ({exe}) does not run ({first}); {hint}"
    if version != "{}.{}".format(*PYTHON_VERSION):
        return f"Python: `{python}` is {version or 'unknown'}, 3.11 is needed; {hint}"
    return None


def java_major(text: str) -> int | None:
    """The major version in ``java -version`` output: ``"17.0.15"`` -> 17, ``"1.8.0_392"`` -> 8."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_java(path: str | None) -> str | None:
    hint = "install Java 17 or later (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless)"
    exe = shutil.which("java", path=path)
    if exe is None:
        return f"Java: `java` not found; {hint}"
    _, out = _run([exe, "-version"])
    major = java_major(out)
    if major is None or major < JAVA_MAJOR:
        return f"Java: `java` ({exe}) is version {major or 'unknown'}, 17 or later is needed; {hint}"
    return None


def check_maven(path: str | None) -> str | None:
    if shutil.which("mvn", path=path) is None:
        return (f"Maven: `mvn` not found (it fetches the Apache Kafka {KAFKA_VERSION} jars, once); "
                "install it (Debian/Ubuntu: sudo apt-get install maven)")
    return None


def check(python: str | None, need_mvn: bool, path: str | None = None) -> list[str]:
    """Every missing prerequisite, as a sentence saying what to install; empty when all is there.

    ``python`` is None when the virtualenv already exists (its interpreter is then all that is used)."""
    problems = [check_python(python, path)] if python is not None else []
    problems += [check_java(path), check_maven(path) if need_mvn else None]
    return [p for p in problems if p is not None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prereqs", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--python", help="the interpreter make will create .venv with (omit when it exists)")
    args = parser.parse_args(argv)
    jars_cached = (cache_dir() / ".complete").exists()  # Maven is only needed to fetch them
    problems = check(args.python, not jars_cached, os.environ.get("PATH"))
    if not problems:
        return 0
    print("missing prerequisites:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
