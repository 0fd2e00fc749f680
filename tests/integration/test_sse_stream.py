"""The read/stream API as a real process on the real broker: GET /leaderboard and SSE follow the log.

Boards are produced straight to ``leaderboard-updates`` (the worker's output topic, a public interface), so
these tests cover the SSE server alone; the end-to-end path through the worker is tested with the pipeline.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from httpx_sse import aconnect_sse

from schemas.leaderboard import Window
from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicNames, contract_topics
from tests.fixtures.kafka import BrokerGate, Topics
from tests.fixtures.services import base_env
from tests.fixtures.sse import RawSseClient, board_record, next_update, poll, produce_board
from tools.kafka_local import free_port
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
StartSse = Callable[..., tuple[Supervisor, str]]


async def get_board(url: str, window: Window = "alltime", limit: int = 10) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{url}/leaderboard", params={"window": window, "limit": limit})
        assert resp.status_code == 200, resp.text
        body: dict[str, object] = resp.json()
        return body


@pytest.mark.parametrize("window", ["alltime", "daily", "weekly"])
async def test_get_and_stream_follow_the_log_in_order(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse, window: Window
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    await produce_board(producer, topic, board_record(window, 1, [("ann", 10)]))
    _, url = start_sse(topics)
    assert (await get_board(url, window))["version"] == 1

    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client, aconnect_sse(
        client, "GET", f"{url}/leaderboard/stream", params={"window": window}
    ) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = source.aiter_sse()
        first = await next_update(events)
        assert first.id == "1" and first.json()["data"][0]["user_id"] == "ann"
        boards = [
            [("bob", 20), ("ann", 10)],
            [("bob", 20), ("cid", 15), ("ann", 10)],
            [("ann", 30), ("bob", 20), ("cid", 15)],
        ]
        for version, rows in enumerate(boards, start=2):
            await produce_board(producer, topic, board_record(window, version, rows))
            ev = await next_update(events)
            body = ev.json()
            assert ev.id == str(version) == str(body["version"])
            assert body["window"] == window
            assert [(r["user_id"], r["score"]) for r in body["data"]] == rows
            assert [r["rank"] for r in body["data"]] == list(range(1, len(rows) + 1))
            got = await get_board(url, window)
            assert got["version"] == version and got["data"] == body["data"]


async def test_reconnect_with_current_last_event_id_gets_nothing_until_the_next_change(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    await produce_board(producer, topic, board_record("alltime", 5, [("ann", 10)]))
    _, url = start_sse(topics)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client, aconnect_sse(
        client, "GET", f"{url}/leaderboard/stream", headers={"Last-Event-ID": "5"}
    ) as source:
        events = source.aiter_sse()
        await poll(lambda: clients(url, 1), 30, "the reconnected client is registered")
        await produce_board(producer, topic, board_record("alltime", 6, [("bob", 11), ("ann", 10)]))
        ev = await next_update(events)
        assert ev.id == "6"  # the first event is the change, board 5 was not resent


async def test_reconnect_after_a_missed_change_gets_the_current_board_at_once(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    await produce_board(producer, topic, board_record("alltime", 5, [("ann", 10)]))
    await produce_board(producer, topic, board_record("alltime", 6, [("bob", 11), ("ann", 10)]))
    _, url = start_sse(topics)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client, aconnect_sse(
        client, "GET", f"{url}/leaderboard/stream", headers={"Last-Event-ID": "5"}
    ) as source:
        ev = await next_update(source.aiter_sse())
        assert ev.id == "6" and ev.json()["data"][0]["user_id"] == "bob"


async def test_restart_keeps_the_version_from_the_log(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    for version in (40, 41, 42):
        await produce_board(producer, topic, board_record("alltime", version, [("ann", version)]))
    proc, url = start_sse(topics)
    before = await get_board(url)
    proc.stop()
    _, url = start_sse(topics, name="sse-restarted")
    after = await get_board(url)
    assert before["version"] == after["version"] == 42
    assert after["data"] == before["data"]
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client, aconnect_sse(
        client, "GET", f"{url}/leaderboard/stream"
    ) as source:
        assert (await next_update(source.aiter_sse())).id == "42"


async def test_readyz_is_503_until_the_log_is_read_then_200_with_its_last_records_served(
    make_topics: MakeTopics, producer: AIOKafkaProducer, broker_gate: BrokerGate,
    start_service: Callable[..., Supervisor],
) -> None:
    """The log is full before the server starts, and the server cannot reach the broker until the gate opens:
    /readyz must say 503 all that time, then 200 only once the whole log is read. Reading it takes many fetches
    (1,400 boards of ~11 kB) and /readyz is polled every 10 ms, so a 200 given before the end would be followed
    by boards not yet at their last version."""
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    last: dict[Window, int] = {"alltime": 1000, "daily": 200, "weekly": 200}
    rows = [(f"player-{i:03d}-{'x' * 40}", 1_000_000 - i) for i in range(100)]  # full boards, ~11 kB each
    for window, count in last.items():
        for version in range(1, count + 1):
            key, value = board_record(window, version, rows)
            await producer.send(topic, value, key=key)
    await producer.flush()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_service("sse_server", base_env(broker_gate.bootstrap, topics, SCOREBOARD_SSE_PORT=str(port),
                                                SCOREBOARD_KAFKA_CONNECT_TIMEOUT="300"),
                         ready_url=f"{url}/healthz")
    async with httpx.AsyncClient(timeout=10) as client:
        await poll(lambda: "broker not reachable yet" in proc.output(), 60, "the feed tried the shut gate")
        not_ready = await client.get(f"{url}/readyz")
        assert (not_ready.status_code, not_ready.json()) == (503, {"status": "catching up"})
        assert (await client.get(f"{url}/healthz")).status_code == 200  # alive, only not ready
        assert "scoreboard_sse_ready 0.0" in (await client.get(f"{url}/metrics")).text
        assert (await get_board(url))["data"] == []  # nothing read

        await broker_gate.open()

        async def ready() -> bool:
            return (await client.get(f"{url}/readyz")).status_code == 200

        await poll(ready, 90, "/readyz turns 200 once the log is read", interval=0.01)
        for window, count in last.items():  # ready means caught up: the last record of each board is served
            assert (await get_board(url, window))["version"] == count
        metrics = (await client.get(f"{url}/metrics")).text
    assert "scoreboard_sse_ready 1.0" in metrics
    assert "scoreboard_sse_boards 3.0" in metrics
    assert "process_cpu_seconds_total " in metrics and "_created" not in metrics  # the real process's /metrics
    assert "scoreboard_sse_consumer_lag 0.0" in metrics


async def test_started_before_its_topic_exists_it_waits_then_follows_the_topic(
    bootstrap: str, producer: AIOKafkaProducer, start_service: Callable[..., Supervisor]
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    topics = Topics(prefix, TopicNames.with_prefix(prefix), 1)  # not created yet: the feed cannot start
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start_service("sse_server", base_env(bootstrap, topics, SCOREBOARD_SSE_PORT=str(port)),
                  ready_url=f"{url}/healthz")
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{url}/healthz")).status_code == 200
        assert (await client.get(f"{url}/readyz")).status_code == 503
        await ensure_topics(plaintext(bootstrap), contract_topics(topics.names, 1))
        await produce_board(producer, topics.names.leaderboard_updates, board_record("alltime", 3, [("ann", 1)]))

        async def ready() -> bool:
            return (await client.get(f"{url}/readyz")).status_code == 200

        await poll(ready, 90, "/readyz turns 200 once the topic exists and is read")

    async def served() -> bool:  # the record may come after the end the feed saw first: read live, not at start
        return (await get_board(url))["version"] == 3

    await poll(served, 30, "the record produced to the new topic is served")


async def test_stream_sends_retry_hint_and_heartbeats_and_ends_cleanly_on_sigterm(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    await produce_board(producer, topics.names.leaderboard_updates, board_record("alltime", 1, [("ann", 1)]))
    proc, url = start_sse(topics, SCOREBOARD_SSE_HEARTBEAT_S="0.5", SCOREBOARD_SSE_RETRY_MS="1234")
    wire = await RawSseClient.open(url, "/leaderboard/stream")  # heartbeats are comments: seen on the wire only
    try:
        await wire.read_until(b": ping\n\n", timeout=30)
    finally:
        await wire.close()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client, aconnect_sse(
        client, "GET", f"{url}/leaderboard/stream"
    ) as source:
        assert source.response.headers["cache-control"] == "no-store"
        events = source.aiter_sse()
        first = await anext(events)
        assert (first.retry, first.data) == (1234, "")
        assert (await next_update(events)).id == "1"
        started = time.monotonic()
        # SIGTERM with a stream open: a prompt exit (uvicorn re-raises the signal after its clean shutdown)
        assert await asyncio.to_thread(proc.stop) in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 20
        with pytest.raises((StopAsyncIteration, httpx.HTTPError)):
            while True:  # the stream ends instead of hanging
                await asyncio.wait_for(anext(events), 30)
    log = proc.output()
    assert "Application shutdown complete" in log
    assert "ERROR" not in log and "Traceback" not in log  # streams were completed, not cut


async def clients(url: str, expected: int) -> bool:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("scoreboard_sse_clients{"))
    return total == expected


async def first_stream_bytes(client: httpx.AsyncClient, url: str, params: list[tuple[str, str]],
                             headers: dict[str, str]) -> tuple[httpx.Headers, bytes]:
    """Headers and the raw bytes of a stream up to the end of its first board event."""
    async with client.stream("GET", f"{url}/leaderboard/stream", params=params, headers=headers) as resp:
        assert resp.status_code == 200
        raw = b""
        async for piece in resp.aiter_raw():
            raw += piece
            if b"event: leaderboard_update" in raw and raw.endswith(b"\n\n"):
                return resp.headers, raw
    raise AssertionError(f"stream ended early: {raw!r}")


async def test_stream_is_the_same_on_the_fast_path_and_the_framework_route_with_cors_and_head(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    await produce_board(producer, topics.names.leaderboard_updates, board_record("weekly", 4, [("ann", 1)]))
    origin = "https://game.example"
    _, url = start_sse(topics, SCOREBOARD_CORS_ORIGINS=origin, SCOREBOARD_SSE_RETRY_MS="2500")
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client:
        fast = await first_stream_bytes(client, url, [("window", "weekly")], {"Origin": origin})
        # a repeated parameter is left to FastAPI (the last value wins there), which serves it the same way
        routed = await first_stream_bytes(client, url, [("window", "daily"), ("window", "weekly")],
                                          {"Origin": origin})
        head = await client.head(f"{url}/leaderboard/stream", params={"window": "weekly"})
        bad = await client.get(f"{url}/leaderboard/stream", params={"window": "monthly"})
    assert fast[1] == routed[1]
    assert fast[1].startswith(b"retry: 2500\n\nid: 4\nevent: leaderboard_update\ndata: {")
    for headers in (fast[0], routed[0]):
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert headers["cache-control"] == "no-store" and headers["x-accel-buffering"] == "no"
        assert headers["access-control-allow-origin"] == origin
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")
    assert bad.status_code == 400 and "window" in bad.json()["detail"]
