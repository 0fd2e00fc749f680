"""The stream caps on the real read/stream API process: ``429`` per client address, ``503`` per process, both with
``Retry-After`` and a JSON message, counted in the metrics, and room again once a stream ends.

Every test client connects from 127.0.0.1, which uvicorn trusts by default to name the client in
``X-Forwarded-For`` (``SCOREBOARD_SSE_FORWARDED_ALLOW_IPS``): that is how one test plays several addresses, and
the second test checks that from a peer not trusted the header counts for nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.fixtures.kafka import Topics
from tests.fixtures.sse import RawSseClient, board_record, poll, produce_board
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
StartSse = Callable[..., tuple[Supervisor, str]]
PATH = "/leaderboard/stream"


async def stream_from(url: str, address: str, path: str = PATH) -> RawSseClient:
    """An admitted stream, as ``address`` (through the trusted local peer's ``X-Forwarded-For``)."""
    stream = await RawSseClient.open(url, path, headers={"X-Forwarded-For": address})
    await stream.read_until(b"retry: ", timeout=30)
    return stream


async def test_streams_past_the_caps_are_429_per_address_and_503_per_process_with_retry_after(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse
) -> None:
    topics = await make_topics()
    await produce_board(producer, topics.names.leaderboard_updates, board_record("alltime", 1, [("ann", 10)]))
    _, url = start_sse(topics, SCOREBOARD_SSE_MAX_STREAMS="5", SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT="3")
    streams = [await stream_from(url, "203.0.113.1"), await stream_from(url, "203.0.113.1", f"{PATH}?user_id=ann"),
               await stream_from(url, "203.0.113.1", f"{PATH}?window=daily")]  # board and personal streams count
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            per_address = await client.get(PATH, headers={"X-Forwarded-For": "203.0.113.1"})
            assert per_address.status_code == 429
            assert per_address.headers["retry-after"] == "30"
            assert per_address.json() == {"detail": "this address holds its maximum of 3 streams; close one, or "
                                                    "retry after 30 s, with jitter", "retry_after_s": 30}
            # through the route (a parameter the fast path leaves to it): the same cap
            routed = await client.get(PATH, params={"board": "global"}, headers={"X-Forwarded-For": "203.0.113.1"})
            assert routed.status_code == 429

            streams += [await stream_from(url, "203.0.113.2"), await stream_from(url, "203.0.113.2")]
            full = await client.get(PATH, headers={"X-Forwarded-For": "203.0.113.3"})
            assert full.status_code == 503
            assert full.headers["retry-after"] == "10"
            assert full.json()["detail"] == "this server holds its maximum of 5 streams; retry after 10 s, with jitter"

            text = (await client.get("/metrics")).text
            assert 'scoreboard_sse_streams_refused_total{reason="client_full"} 2.0' in text
            assert 'scoreboard_sse_streams_refused_total{reason="process_full"} 1.0' in text
            assert "scoreboard_sse_client_addresses 2.0" in text
            assert (await client.get("/leaderboard")).status_code == 200  # other requests are not streams

            await streams.pop(0).close()  # one of 203.0.113.1's streams ends: room for anyone again

            async def admitted() -> bool:
                answer = await client.get("/metrics")
                return 'scoreboard_sse_clients{window="alltime"} 3.0' in answer.text  # of 4
            await poll(admitted, 30, "the closed stream is released")
            streams.append(await stream_from(url, "203.0.113.3"))
    finally:
        for stream in streams:
            await stream.close()


async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    make_topics: MakeTopics, start_sse: StartSse
) -> None:
    """Behind a proxy not listed in SCOREBOARD_SSE_FORWARDED_ALLOW_IPS, every stream is the proxy's (the peer)."""
    _, url = start_sse(await make_topics(), SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT="1",
                       SCOREBOARD_SSE_FORWARDED_ALLOW_IPS="192.0.2.1")
    first = await stream_from(url, "203.0.113.1")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            other = await client.get(PATH, headers={"X-Forwarded-For": "203.0.113.2"})
        assert other.status_code == 429  # 127.0.0.1 holds its one stream, whatever the header says
    finally:
        await first.close()
