"""No record can stop or skew the worker (real broker): every poison kind becomes a dead letter with its reason,
the valid records around it count exactly once, and a worker restarted mid-stream decides the same.

The kinds: unparseable values, tombstones, invalid fields, wrong keys, unknown actions, ``occurred_at`` outside the
accepted range (the year-9999 record that crash-looped the worker, year 1, 1970, far ahead), a record in a
partition that does not own its key (a CRC32 partitioner), a total that would leave the signed 64-bit range, an
event id reused for another action, and a record whose dead-letter copy cannot be produced (a placeholder goes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from stream_app.scoring import SCORE_MAX
from tests.fixtures.kafka import Topics, consume_until, seed_user_state
from tests.fixtures.wins import assert_each_event_counted_once, distinct_event_ids
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
PARTITIONS = 3
USERS = 12
VALID = 480
EVERY = 8  # one poison record after every EVERY valid ones


def _owner(key: bytes) -> int:
    """The partition Java's default partitioner (and aiokafka's) gives ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def ev(user: str, action: str = "win_match", **extra: Any) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": action, **extra})


def poison_kinds(now: datetime) -> list[tuple[bytes | None, bytes | None, int | None, str]]:
    """(key, value, partition or None for the key's owner, the reason the dead letter must carry)."""
    wrong = (_owner(b"crc-user") + 1) % PARTITIONS
    return [
        (b"p1", ev("p1", occurred_at="9999-12-31T23:59:59Z"), None, "after the broker's time"),
        (b"p1", ev("p1", occurred_at="9999-12-31T23:59:59-01:00"), None, "after the broker's time"),
        (b"p1", ev("p1", occurred_at="0001-01-01T00:00:00+01:00"), None, "before 2000"),
        (b"p1", ev("p1", occurred_at="1970-01-01T00:00:00Z"), None, "before 2000"),
        (b"p1", ev("p1", occurred_at=(now - timedelta(days=30)).isoformat()), None, "oldest period still kept"),
        (b"p1", ev("p1", occurred_at=(now - timedelta(days=2)).isoformat()), None, "period closed"),
        (b"p1", ev("p1", occurred_at=(now + timedelta(days=400)).isoformat()), None, "after the broker's time"),
        (b"crc-user", ev("crc-user"), wrong, "murmur2"),
        (b"p1", b"\xff\x00 not json", None, "value is not JSON"),
        (b"p1", None, None, "empty value (tombstone)"),
        (b"p1", b"[1, 2]", None, "not a JSON object"),
        (b"p1", ev("p1", username="bad\u0007name"), None, "invalid event: username"),
        (b"p1", ev("p1", "no_such_action"), None, "unknown action_id"),
        (b"someone-else", ev("p1"), None, "record key must be the user_id"),
        (b"rich", ev("rich", event_id="rich-up"), None, "signed 64-bit range"),
        (b"user-0", ev("user-0", "find_secret", event_id="ev-0"), None, "idempotency key reused"),
    ]


async def test_every_poison_kind_interleaved_with_valid_records_across_a_restart_keeps_totals_exact(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Any,
) -> None:
    topics = await make_topics(partitions=PARTITIONS)
    await seed_user_state(bootstrap, producer, topics, "rich", {"alltime": (SCORE_MAX - 10, 0)})
    src = topics.names.score_events
    worker = start_worker(topics, data_dir=tmp_path / "w", name="worker-1", SCOREBOARD_BATCH_MAX="20")
    kinds = poison_kinds(datetime.now(UTC))
    expected: dict[tuple[int, int], str] = {}  # (partition, offset) of each poison record -> its reason
    for i in range(VALID):
        user = f"user-{i % USERS}"
        await producer.send(src, ev(user, event_id=f"ev-{i}"), key=user.encode())
        if i % EVERY == EVERY - 1:
            key, value, partition, reason = kinds[(i // EVERY) % len(kinds)]
            meta = await producer.send_and_wait(src, value, key=key, partition=partition)
            expected[(meta.partition, meta.offset)] = reason
        if i == VALID // 2:
            await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= VALID // 4)
            worker.kill()  # SIGKILL mid-stream: the restarted worker re-reads and must decide the same
            worker = start_worker(topics, data_dir=tmp_path / "w", name="worker-2", SCOREBOARD_BATCH_MAX="20")
    await producer.flush()
    # the seeded user is not stuck: a penalty still applies after the refused event
    await producer.send_and_wait(src, ev("rich", "report_abuse_confirmed", event_id="rich-down"), key=b"rich")

    def all_answered(records: list[Any]) -> bool:
        ids = distinct_event_ids(records)
        return "rich-down" in ids and len({i for i in ids if i.startswith("ev-")}) >= VALID

    applied = await consume_until(bootstrap, topics.names.applied, all_answered, timeout=180)
    assert_each_event_counted_once([r for r in applied if orjson.loads(r.value)["event_id"].startswith("ev-")],
                                   USERS, VALID)
    rich = [orjson.loads(r.value) for r in applied if orjson.loads(r.value)["user_id"] == "rich"]
    assert {a["event_id"] for a in rich} == {"rich-down"}  # the refused event was never applied
    assert {a["new_score"] for a in rich} == {SCORE_MAX - 10 - 20}

    dead = await consume_until(bootstrap, topics.names.dlq,
                               lambda rs: {_source(r) for r in rs} >= set(expected), timeout=120)
    for record in dead:
        headers = dict(record.headers)
        reason = headers["x-dlq-reason"].decode()
        assert expected[_source(record)] in reason, (reason, expected[_source(record)])
    assert worker.proc is not None and worker.proc.poll() is None  # alive and well
    said = sum(line.count("dead letter") for line in worker.new_output().splitlines())
    assert said < len(expected) // 4, said  # the log aggregates: not one line per dead letter (all are on the topic)


def _source(record: Any) -> tuple[int, int]:
    headers = dict(record.headers)
    return int(headers["x-source-partition"]), int(headers["x-source-offset"])


async def test_a_record_whose_dead_letter_copy_is_too_large_leaves_a_placeholder_and_the_worker_goes_on(
    bootstrap: str, make_topics: MakeTopics, start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=1)
    start_worker(topics)
    big = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=1_048_576)
    await big.start()
    try:
        # near the broker's default size limit: fits in score-events, but not with the dead-letter headers added
        value = orjson.dumps({"user_id": "big", "action_id": "no_such_action", "pad": "x" * 1_040_000})
        meta = await big.send_and_wait(topics.names.score_events, value, key=b"big")
        await big.send_and_wait(topics.names.score_events, ev("big", event_id="after"), key=b"big")
    finally:
        await big.stop()
    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 1)
    assert orjson.loads(applied[0].value)["event_id"] == "after"  # the batch went on
    dead = await consume_until(bootstrap, topics.names.dlq, lambda r: len(r) >= 1)
    headers = dict(dead[0].headers)
    assert "x-dlq-truncated" in headers and dead[0].key == b"big"
    assert orjson.loads(dead[0].value) == {"dead_letter": "placeholder", "topic": topics.names.score_events,
                                           "partition": meta.partition, "offset": meta.offset,
                                           "bytes": int(headers["x-dlq-truncated"].split()[2])}
    assert headers["x-dlq-reason"].decode().startswith("unknown action_id")
    assert (int(headers["x-source-partition"]), int(headers["x-source-offset"])) == (meta.partition, meta.offset)
