"""A freshly started stack follows the events from the first second: the real ``make run`` path (its supervisor,
its own broker, an empty data directory), new leaders made the moment it is ready, each one on ``GET`` and on an
open stream within a second — ten times in a row.

The issue behind it: seconds after a fresh start the board froze (or followed half a second late, while the
partition timer had not indexed the partitions yet). And a fresh start logs nothing normal as an error: the
console shows no ERROR line (the coordinator errors of a forming consumer group are INFO, in the full log).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tools.kafka_local import free_port
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

LEADERS = 10
BOUND_S = 1.0
KEY = "fresh-start-key-0123456789"


def stack_env(tmp_path: Path) -> tuple[dict[str, str], str, str]:
    ports = {name: free_port() for name in ("kafka", "controller", "api", "sse", "worker")}
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "KAFKA_"))}
    env = {**keep, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['kafka']}",
           "SCOREBOARD_KAFKA_CONTROLLER_PORT": str(ports["controller"]), "SCOREBOARD_API_KEYS": KEY,
           "SCOREBOARD_RUN_DIR": str(tmp_path / "data"), "SCOREBOARD_API_PORT": str(ports["api"]),
           "SCOREBOARD_SSE_PORT": str(ports["sse"]), "SCOREBOARD_WORKER_WEB_PORT": str(ports["worker"]),
           "SCOREBOARD_REPLY_TIMEOUT_MS": "30000"}
    return env, f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['sse']}"


async def follow_stream(client: httpx.AsyncClient, seen: list[tuple[float, Any]]) -> None:
    async with aconnect_sse(client, "GET", "/leaderboard/stream") as source:
        async for ev in source.aiter_sse():
            if ev.event == "leaderboard_update":
                seen.append((time.monotonic(), ev.json()))


def leads(board: Any, user: str, score: int) -> bool:
    return bool(board["data"]) and (board["data"][0]["user_id"], board["data"][0]["score"]) == (user, score)


async def test_a_fresh_stack_shows_every_new_leader_within_a_second_from_the_first_second(tmp_path: Path) -> None:
    env, api_url, sse_url = stack_env(tmp_path)
    log = tmp_path / "stack.log"
    proc = Supervisor.module("tools.run_stack", env=env, name="make run", log_path=log, ready_line="[stack ] ready:")
    try:
        await proc.start_async(180)  # ready once make run prints its banner (after every /readyz)
        ready = time.monotonic()
        stream: list[tuple[float, Any]] = []
        async with httpx.AsyncClient(base_url=api_url, timeout=60) as api, \
                httpx.AsyncClient(base_url=sse_url, timeout=60) as sse:
            follower = asyncio.create_task(follow_stream(sse, stream))
            lags: list[tuple[float, float, float]] = []  # (since ready, GET lag, stream lag) per leader
            for i in range(LEADERS):
                user, score = f"leader-{i}", (i + 1) * 100
                for _ in range(i + 1):  # find_secret: 100 points each; the last POST makes the new leader
                    answer = await api.post("/scores", json={"user_id": user, "action_id": "find_secret"},
                                            headers={"X-API-KEY": KEY})
                    assert answer.status_code == 200, answer.text
                applied = time.monotonic()
                while not leads((await sse.get("/leaderboard", params={"limit": 1})).json(), user, score):
                    assert time.monotonic() - applied < BOUND_S, f"leader {i} not on GET within {BOUND_S}s"
                    await asyncio.sleep(0.01)
                on_get = time.monotonic()
                while not any(leads(board, user, score) for _, board in stream):
                    assert time.monotonic() - applied < BOUND_S, f"leader {i} not on the stream within {BOUND_S}s"
                    await asyncio.sleep(0.01)
                on_stream = next(t for t, board in stream if leads(board, user, score))
                lags.append((applied - ready, on_get - applied, max(0.0, on_stream - applied)))
            follower.cancel()
        print("since ready / GET lag / stream lag (s):", [tuple(round(x, 3) for x in lag) for lag in lags])
        console = log.read_text(errors="replace").splitlines()
        assert not [line for line in console if " ERROR " in line or "[ERROR]" in line], "\n".join(console)
        assert (tmp_path / "data" / "stack.log").stat().st_size > log.stat().st_size  # the details: in the file
    finally:
        proc.signal_group(signal.SIGINT)  # Ctrl-C
        if not proc.wait(90):
            proc.kill()
