"""The worker's ``GET /metrics`` on the real broker: what it applied, its dead letters by kind, its batches, the
lag of each partition it consumes and the boards it emitted, with the process metrics and no ``_created`` series."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.kafka import Topics
from tests.fixtures.sse import poll
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
PARTITIONS = 3
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def event(user: str, action: str = "win_match", **extra: object) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": action, **extra})


def users_on_every_partition() -> list[str]:
    """Two users owned by each partition (Java's default partitioner, as the worker checks)."""
    found: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    n = 0
    while any(len(users) < 2 for users in found.values()):
        user = f"player-{n}"
        found[(murmur2(user.encode()) & 0x7FFFFFFF) % PARTITIONS].append(user)
        n += 1
    return [user for users in found.values() for user in users[:2]]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_count_applied_events_dead_letters_by_kind_batches_lag_and_emissions(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=PARTITIONS)
    worker = start_worker(topics)
    assert worker.ready_url is not None
    metrics_url = worker.ready_url.replace("/readyz", "/metrics")
    src = topics.names.score_events
    users = users_on_every_partition()
    for n, user in enumerate(users):
        await producer.send(src, event(user, event_id=f"ev-{n}"), key=user.encode())
    await producer.send(src, event(users[0], event_id="ev-0"), key=users[0].encode())  # a client retry
    poison = [
        (b"\xff not json", users[0]),  # invalid_event
        (event(users[1], "no_such_action"), users[1]),  # unknown_action
        (event(users[2]), "someone-else"),  # wrong_key
        (event(users[3], "fly"), users[3]),  # unknown_action
        (None, users[4]),  # tombstone
    ]
    for raw, key in poison:
        await producer.send(src, raw, key=key.encode())
    await producer.flush()
    sent = len(users) + 1 + len(poison)

    async with httpx.AsyncClient(timeout=5.0) as client:

        async def scraped() -> tuple[Samples, str] | None:
            response = await client.get(metrics_url)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
            samples = parse(response.text)
            handled = value(samples, "scoreboard_worker_batch_size_sum") or 0
            lags = [value(samples, "scoreboard_worker_consumer_lag", topic=topic, partition=str(p))
                    for topic, p in [(src, p) for p in range(PARTITIONS)] + [(topics.names.candidates, 0)]]
            emitted = value(samples, "scoreboard_worker_board_emissions_total", window="alltime") or 0
            return (samples, response.text) if handled >= sent and lags == [0] * 4 and emitted else None

        samples, text = await poll(scraped, 60, "every record handled, a board emitted, a lag of 0 on each partition")

    assert value(samples, "scoreboard_worker_events_total", outcome="applied") == len(users)
    assert value(samples, "scoreboard_worker_events_total", outcome="duplicate") == 1
    assert value(samples, "scoreboard_worker_events_total", outcome="replay") == 0
    dead = {labels: count for (name, labels), count in samples.items()
            if name == "scoreboard_worker_dead_letters_total" and count}
    assert dead == {frozenset({("kind", "invalid_event")}): 1, frozenset({("kind", "unknown_action")}): 2,
                    frozenset({("kind", "wrong_key")}): 1, frozenset({("kind", "tombstone")}): 1}
    assert value(samples, "scoreboard_worker_batch_size_sum") == sent
    lagging = {dict(labels)["topic"] for name, labels in samples if name == "scoreboard_worker_consumer_lag"}
    assert lagging == {src, topics.names.candidates, topics.names.moderation}  # consumed topics, not changelogs
    batches = value(samples, "scoreboard_worker_batch_size_count") or 0
    assert 1 <= batches <= sent
    assert value(samples, "scoreboard_worker_apply_duration_seconds_count") == batches
    assert (value(samples, "scoreboard_worker_apply_duration_seconds_sum") or 0) > 0
    assert (value(samples, "process_cpu_seconds_total") or 0) > 0
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    assert "_created" not in text
