"""The load generator: ``python -m bench.loadgen '<json config>'``, a separate process, open loop.

Requests are *scheduled* at a fixed rate (request i at ``start + i / rate``) and handed to ``conns`` keep-alive
connections; latency runs from the scheduled time to the end of the response, so a server that falls behind
is charged for the queue it causes (no coordinated omission). Request i goes to user ``i % users``; with
``sends_out`` each request's user, its count for that user and the moment it was sent are written there (the
end-to-end bench needs them). Prints one JSON object: offered and achieved rates, latency percentiles (ms)
over the measured window (after ``warmup_s``), statuses, errors, and this process's CPU seconds.

Config keys: host, port, path, headers, rate, seconds, warmup_s, conns, users, user_prefix, action, sends_out.
With ``"method": "GET"`` the requests are ``GET path`` with ``{user}`` in ``path`` replaced by
``<user_prefix><n>``, for ``sample`` users ``n`` drawn at random (seed ``seed``) from ``range(users)``; request
i asks for sampled user ``i % sample`` (the lookup benches: a read of one user among a million).
"""

from __future__ import annotations

import asyncio
import random
import resource
import sys
import time
from collections import Counter
from typing import Any

import orjson
import uvloop

from bench.latency import ms, percentile
from bench.wire import Connection, get_request, post_request

DRAIN_S = 5.0


class LoadGen:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.rate = float(cfg["rate"])
        self.total = int(self.rate * (cfg["seconds"] + cfg.get("warmup_s", 0.0)))
        self.measure_from = int(self.rate * cfg.get("warmup_s", 0.0))
        users, prefix = int(cfg.get("users", 10_000)), cfg.get("user_prefix", "lg-")
        if cfg.get("method", "POST") == "GET":
            rng = random.Random(cfg.get("seed", 1))
            picked = [rng.randrange(users) for _ in range(int(cfg.get("sample", 10_000)))]
            self.requests = [get_request(cfg["path"].replace("{user}", f"{prefix}{u}"), cfg.get("headers"))
                             for u in picked]
        else:
            action = cfg["action"]
            self.requests = [post_request(cfg["path"], orjson.dumps({"user_id": f"{prefix}{u}", "action_id": action}),
                                          cfg.get("headers", {})) for u in range(users)]
        self.users = len(self.requests)
        self.queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.sends: list[tuple[int, int, float, bool]] = []
        self.overloaded = False
        self.scheduled = 0

    async def schedule(self, start: float) -> None:
        i = 0
        while i < self.total:
            now = time.monotonic()
            due = min(self.total, int((now - start) * self.rate) + 1)
            while i < due:
                self.queue.put_nowait((i, start + i / self.rate))
                i += 1
            self.scheduled = i
            if self.queue.qsize() > max(self.rate * 2, 100):  # hopelessly behind: this rate is lost, stop early
                self.overloaded = True
                break
            await asyncio.sleep(max(0.0, start + i / self.rate - time.monotonic()))
        for _ in range(int(self.cfg["conns"])):
            self.queue.put_nowait(None)

    async def worker(self, conn: Connection) -> None:
        record_sends = bool(self.cfg.get("sends_out"))
        while (item := await self.queue.get()) is not None:
            i, scheduled = item
            user = i % self.users
            sent = time.monotonic()
            ok = False
            try:
                status, _ = await conn.request(self.requests[user])
                ok = status < 300
                if i >= self.measure_from:
                    self.statuses[status] += 1
                    self.latencies.append(time.monotonic() - scheduled)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                conn.close()
                if i >= self.measure_from:
                    self.errors[type(exc).__name__] += 1
            if record_sends:
                self.sends.append((user, i // self.users + 1, sent, ok))
        conn.close()

    async def run(self) -> dict[str, Any]:
        conns = [Connection(self.cfg["host"], int(self.cfg["port"])) for _ in range(int(self.cfg["conns"]))]
        await asyncio.gather(*(conn.open() for conn in conns))  # connected before the clock starts
        workers = [asyncio.create_task(self.worker(conn)) for conn in conns]
        start = time.monotonic() + 0.05
        await self.schedule(start)
        _, pending = await asyncio.wait(workers, timeout=DRAIN_S + 2 / self.rate)
        for task in pending:
            task.cancel()
        measured = max(0, self.scheduled - self.measure_from)
        lat = sorted(self.latencies)
        done = len(lat)
        unfinished = measured - done - sum(self.errors.values())
        # unfinished requests count as slower than any finished one
        lat_all = lat + [float("inf")] * max(0, unfinished)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if self.cfg.get("sends_out"):
            with open(self.cfg["sends_out"], "wb") as fh:
                fh.write(orjson.dumps(self.sends))
        ok = sum(n for status, n in self.statuses.items() if status < 300)
        return {
            "offered": self.rate, "measured_requests": measured, "completed": done, "ok": ok,
            "achieved": ok / self.cfg["seconds"], "unfinished": max(0, unfinished),
            "p50_ms": ms(percentile(lat_all, 0.50)), "p90_ms": ms(percentile(lat_all, 0.90)),
            "p99_ms": ms(percentile(lat_all, 0.99)), "max_ms": (lat[-1] * 1000 if lat else None),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "errors": dict(self.errors),
            "overloaded": self.overloaded, "cpu_s": usage.ru_utime + usage.ru_stime,
        }


def main() -> int:
    cfg = orjson.loads(sys.argv[1])
    result = uvloop.run(LoadGen(cfg).run())
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
