"""``python -m bench``: run the benchmarks, print the table, write ``bench/results/<name>.json``.

Options: ``--smoke`` (tiny sizes, seconds: checks that figures are produced, never their speed), ``--only NAME``
(repeatable: worker, ingest, e2e, fanout, flood, redis, ryw, consumer, standings, kstreams, boards), ``--bootstrap
HOST:PORT`` (use a running broker instead of starting a private one), ``--profile`` (sample the services with
py-spy: the worker in bench 1, the write API in bench 2, ``sse_server`` in benches 4 and 8; summaries go into the
JSON), ``--users N`` (bench 8's population, default 250,000; 300 with ``--smoke``), ``--repeat N`` (N passes over the
benches, default 3, 1 with ``--smoke``: each figure is the median of its runs, with the lowest and highest beside
it, and a target is met only when every run met it), ``--results-dir``, ``--keep`` (logs). Exits non-zero when a
bench could not produce its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    boards_bench,
    consumer_bench,
    e2e_bench,
    fanout_bench,
    flood_bench,
    ingest_bench,
    kstreams_bench,
    redis_bench,
    ryw_bench,
    standings_bench,
    worker_bench,
)
from bench.context import FULL, SMOKE, Context
from bench.procs import raise_fd_limit
from bench.results import RESULTS_DIR, BenchResult, combine, table, write
from tools.kafka_local import LocalKafka

BENCHES: dict[str, Callable[[Context], Awaitable[BenchResult]]] = {
    "worker": worker_bench.run,
    "ingest": ingest_bench.run,
    "e2e": e2e_bench.run,
    "fanout": fanout_bench.run,
    "flood": flood_bench.run,
    "redis": redis_bench.run,
    "ryw": ryw_bench.run,
    "consumer": consumer_bench.run,
    "standings": standings_bench.run,
    "boards": boards_bench.run,
    "kstreams": kstreams_bench.run,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; check figures are produced")
    parser.add_argument("--only", action="append", choices=sorted(BENCHES), help="run only this bench (repeatable)")
    parser.add_argument("--bootstrap", help="use this running Kafka broker instead of starting one")
    parser.add_argument("--profile", action="store_true", help="profile the services with py-spy")
    parser.add_argument("--users", type=int, help="users seeded by the standings bench (default 1,000,000)")
    parser.add_argument("--repeat", type=int, help="runs of each bench: the median and the spread (default 3; "
                        "1 with --smoke)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the run directory (service logs) at the end")
    return parser.parse_args(argv)


async def run_all(ctx: Context, names: list[str], results_dir: Path,
                  repeat: int = 1) -> tuple[list[BenchResult], list[str]]:
    """``repeat`` passes over ``names`` (each bench once per pass, so a slow spell of the machine falls on every
    bench and bench 5 compares with benches 2 and 3 of its own pass), then each bench's runs combined and written.
    A bench that fails is reported and left out of the later passes; the others go on."""
    runs: dict[str, list[BenchResult]] = {name: [] for name in names}
    spent = dict.fromkeys(names, 0.0)
    failed: list[str] = []
    for turn in range(1, repeat + 1):
        for name in names:
            if name in failed:
                continue
            started = time.monotonic()
            print(f"bench {name}: running{f' ({turn} of {repeat})' if repeat > 1 else ''} ...", flush=True)
            try:
                runs[name].append(await BENCHES[name](ctx))
            except Exception:  # one bench failing must not hide the others' figures
                traceback.print_exc()
                print(f"bench {name}: FAILED after {time.monotonic() - started:.0f}s (logs in {ctx.run_dir})",
                      flush=True)
                failed.append(name)
                continue
            finally:
                spent[name] += time.monotonic() - started
            print(f"bench {name}: done in {time.monotonic() - started:.0f}s", flush=True)
            print(table([runs[name][-1]]), flush=True)
    results: list[BenchResult] = []
    for name in names:
        if name in failed:
            continue
        result = combine(runs[name])
        result.data["bench_seconds"] = round(spent[name], 1)
        path = write(result, ctx.smoke, results_dir)
        results.append(result)
        print(f"bench {name}: {spent[name]:.0f}s in all -> {path}", flush=True)
    return results, failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise_fd_limit()
    names = args.only or list(BENCHES)
    run_dir = Path(tempfile.mkdtemp(prefix="scoreboard-bench-"))
    broker = None
    started = time.monotonic()
    try:
        if args.bootstrap is None:
            broker = LocalKafka(run_dir / "kafka", heap="1G").start()
        bootstrap = args.bootstrap or broker.bootstrap  # type: ignore[union-attr]
        ctx = Context(bootstrap, SMOKE if args.smoke else FULL, run_dir, args.smoke, args.profile, users=args.users)
        repeat = args.repeat if args.repeat is not None else (1 if args.smoke else 3)
        results, failed = asyncio.run(run_all(ctx, names, args.results_dir, max(1, repeat)))
    finally:
        if broker is not None:
            broker.stop()
    print(f"\n## Scoreboard benchmarks{' (smoke)' if args.smoke else ''}: "
          f"{time.monotonic() - started:.0f}s\n\n{table(results)}\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}; logs kept in {run_dir}", file=sys.stderr)
        return 1
    if args.keep:
        print(f"logs kept in {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
