"""``make clean-data``: delete the run directory (``SCOREBOARD_RUN_DIR``, default ``.data``) — and nothing else.

Standard library only. It refuses, with the reason, a path that resolves (symlinks followed) to ``/``, the home
directory, the repository, or any directory above one of them, and a directory that does not look like a run
directory: one holding anything but what ``make run`` writes there (``kafka/``, ``worker/``, ``dev-api-key``,
``dev-admin-key``, ``stack.log``...). A mistyped ``SCOREBOARD_RUN_DIR=..`` or ``=/usr`` deletes nothing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_ENTRIES = frozenset({"kafka", "worker", "dev-api-key", "dev-admin-key", "stack.log"})


def refusal(run_dir: Path, home: Path, root: Path = ROOT) -> str | None:
    """Why ``run_dir`` must not be deleted, or None."""
    target = run_dir.resolve()
    for guarded in (Path("/"), home.resolve(), root.resolve()):
        if target == guarded or target in guarded.parents:
            return f"refusing to delete {target}: it is {guarded} or a directory above it"
    if target.exists():
        if not target.is_dir():
            return f"refusing to delete {target}: not a directory"
        others = sorted(p.name for p in target.iterdir() if p.name not in RUN_ENTRIES)
        if others:
            return (f"refusing to delete {target}: it holds {', '.join(others[:5])}, which make run does not write "
                    "(is SCOREBOARD_RUN_DIR right?)")
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.clean_data RUN_DIR (one path)", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    reason = refusal(run_dir, Path.home())
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    if run_dir.exists():
        shutil.rmtree(run_dir.resolve())
        print(f"deleted {run_dir.resolve()}")
    else:
        print(f"nothing to delete: {run_dir.resolve()} does not exist")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
