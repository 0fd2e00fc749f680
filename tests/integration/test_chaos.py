"""The short chaos run in ``make test``: each fault of ``make chaos`` once, on a broker of its own, and every total
exact afterwards.

``bench.chaos`` with ``seconds=0`` injects each kind of fault once in a seeded order — ``kill -9`` of the worker,
the write API and the read API, a broker SIGTERM bounce and a SIGKILL bounce — under a steady load whose clients
retry every undecided request with its ``Idempotency-Key``. What is asserted does not depend on timing: every fault
was injected and recovered from without a hand, no request is left undecided, and no accepted event is lost or
counted twice (by event id on ``score-applied``, by total on the read API, and on the board).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import FAULTS, Config, figures, run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(480)  # about 90 s on a quiet 2-core machine; each recovery may take up to its bound
async def test_every_fault_once_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report = await run(Config(seconds=0, seed=16, users=20, clients=4, rate=40, gap_s=(1.0, 4.0),
                              recovery_bound_s=120, settle_s=90, run_dir=tmp_path))
    summary = "\n".join(figures(report))
    assert sorted(f["kind"] for f in report.faults) == sorted(FAULTS), summary
    assert report.unrecovered == 0, summary
    assert report.undecided == 0, summary
    assert report.load["accepted"] > 0, summary
    check = report.check
    assert (check["lost"], check["doubled"], check["unexpected"], check["users_wrong"]) == (0, 0, 0, 0), summary
    assert report.board_exact, summary
    assert report.passed, summary
