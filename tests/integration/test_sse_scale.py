"""Fan-out at scale on one real server process: a thousand streams, and a stalled client under a flood.

Clients are raw asyncio sockets (cheap enough for a thousand in the test's own event loop); the server is
the real ``python -m sse_server`` process reading the real broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.fixtures.kafka import Topics
from tests.fixtures.sse import RawSseClient, board_record, poll, produce_board
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
StartSse = Callable[..., tuple[Supervisor, str]]
CLIENTS = 1000


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def open_clients(url: str, count: int, path: str = "/leaderboard/stream") -> list[RawSseClient]:
    gate = asyncio.Semaphore(100)  # connect in waves: the listen backlog is large, but be gentle on 2 cores

    async def one() -> RawSseClient:
        async with gate:
            return await RawSseClient.open(url, path)

    return await asyncio.gather(*(one() for _ in range(count)))


async def metric(url: str, name: str) -> float:
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((f"{name} ", f"{name}{{")))


async def test_thousand_concurrent_clients_all_receive_an_update(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    await produce_board(producer, topic, board_record("alltime", 1, [("ann", 10)]))
    _, url = start_sse(topics, SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT=str(CLIENTS))  # all from 127.0.0.1
    clients = await open_clients(url, CLIENTS)
    try:
        await asyncio.gather(*(c.read_until(b"id: 1\n", timeout=120) for c in clients))
        assert await metric(url, "scoreboard_sse_clients") == CLIENTS
        built = await metric(url, "scoreboard_sse_frames_built_total")

        await produce_board(producer, topic, board_record("alltime", 2, [("bob", 20), ("ann", 10)]))
        await asyncio.gather(*(c.read_until(b"id: 2\n", timeout=120) for c in clients))
        assert all(b'"user_id":"bob"' in c.seen for c in clients)
        assert await metric(url, "scoreboard_sse_frames_built_total") == built + 1  # serialized once
        assert await metric(url, "scoreboard_sse_events_sent_total") >= 2 * CLIENTS
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    await poll(lambda: _clients_gone(url), 60, "disconnected clients are cleaned up")


async def _clients_gone(url: str) -> bool:
    return await metric(url, "scoreboard_sse_clients") == 0


def big_board(version: int) -> tuple[bytes, bytes]:
    """A full top-100 board with long names (about 17 kB) that changes at every version."""
    rows = [(f"player-{(i + version) % 500:04d}-{'x' * 40}", 1_000_000 - i) for i in range(100)]
    names = {uid: f"Player {uid[:11]} {'y' * 40}" for uid, _ in rows}
    return board_record("alltime", version, rows, usernames=names)


async def flood(producer: AIOKafkaProducer, topic: str, first: int, count: int) -> None:
    for version in range(first, first + count):
        key, value = big_board(version)
        await producer.send(topic, value, key=key)
    await producer.flush()


async def test_stalled_client_does_not_grow_server_memory(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    await produce_board(producer, topic, big_board(1))
    proc, url = start_sse(topics)
    assert proc.proc is not None
    pid = proc.proc.pid
    stalled = await RawSseClient.open(url, "/leaderboard/stream", rcvbuf=4096)  # never read again
    watcher = await RawSseClient.open(url, "/leaderboard/stream")  # reads along, to know when the server is done
    try:
        await watcher.read_until(b"id: 1\n", timeout=60)
        warmup = 300
        await flood(producer, topic, 2, warmup)
        await watcher.read_until(f"id: {warmup + 1}\n".encode(), timeout=120)
        before = rss_bytes(pid)

        updates = 3000  # about 50 MB of board events the stalled client would otherwise have queued
        await flood(producer, topic, warmup + 2, updates)
        await watcher.read_until(f"id: {warmup + updates + 1}\n".encode(), timeout=240)
        after = rss_bytes(pid)

        assert await metric(url, "scoreboard_sse_clients") == 2  # the stalled client is still connected
        produced = updates * len(big_board(1)[1])
        growth = after - before
        assert growth < 16 * 1024 * 1024, f"RSS grew {growth / 2**20:.1f} MiB for {produced / 2**20:.0f} MiB produced"
    finally:
        await stalled.close()
        await watcher.close()
