"""The stream worker on the real broker: direct producers, dead letters, idempotency, periods."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import LOG_APPEND_TIME, TopicSpec
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]


def event(user: str, action: str = "win_match", **extra: object) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": action, **extra})


async def test_direct_events_are_counted_and_poison_goes_to_dlq(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=3)
    start_worker(topics)
    src = topics.names.score_events
    await producer.send_and_wait(src, event("alice"), key=b"alice")
    await producer.send_and_wait(src, b"\xff\x00 not json", key=b"alice")
    await producer.send_and_wait(src, event("alice", "no_such_action"), key=b"alice")
    await producer.send_and_wait(src, orjson.dumps({"user_id": "", "action_id": "win_match"}), key=b"")
    await producer.send_and_wait(src, event("bob"), key=b"someone-else")
    await producer.send_and_wait(src, event("alice", "find_secret"), key=b"alice")

    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 2)
    scores = [orjson.loads(r.value)["new_score"] for r in applied]
    assert scores == [25, 125]  # win_match 25, then find_secret 100: the poison in between did not stop it

    dead = await consume_until(bootstrap, topics.names.dlq, lambda r: len(r) >= 4)
    by_value = {r.value: dict(r.headers)["x-dlq-reason"].decode() for r in dead}
    assert by_value[b"\xff\x00 not json"] == "value is not JSON"  # the original bytes, as received
    assert by_value[event("alice", "no_such_action")] == "unknown action_id 'no_such_action'"
    assert by_value[orjson.dumps({"user_id": "", "action_id": "win_match"})].startswith("invalid event: user_id")
    assert by_value[event("bob")].startswith("record key must be the user_id")


async def test_repeated_event_id_counts_once_and_answers_as_first(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=2)
    start_worker(topics)
    src = topics.names.score_events
    for eid in ["a", "a", "b", "a"]:
        await producer.send_and_wait(src, event("carol", event_id=eid), key=b"carol")
    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 4)
    answers = [(v["event_id"], v["new_score"]) for v in (orjson.loads(r.value) for r in applied)]
    assert answers == [("a", 25), ("a", 25), ("b", 50), ("a", 25)]


async def test_daily_and_weekly_follow_occurred_at_across_boundary(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: object,
) -> None:
    topics = await make_topics(partitions=1)
    worker = start_worker(topics, SCOREBOARD_PERIOD_RETENTION_DAYS="36500", SCOREBOARD_PERIOD_GRACE_S=str(8 * 86_400))
    src = topics.names.score_events
    today = datetime.now(UTC).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), datetime.min.time(), UTC)  # this week's
    times = [monday - timedelta(seconds=1), monday, monday + timedelta(hours=10)]  # Sunday -> Monday, a new week
    for i, at in enumerate(times):
        await producer.send_and_wait(src, event("dave", event_id=f"d{i}", occurred_at=at.isoformat()), key=b"dave")
    await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 3)
    worker.stop()
    from schemas.boards import Boards
    from schemas.catalog import ActionCatalog
    from stream_app.scoring import UserState

    def boards_for(moment: datetime) -> list[str]:
        return list(Boards.default(ActionCatalog({})).get("global").keys_at(int(moment.timestamp() * 1000)))

    changelog = f"{topics.prefix}worker-state-changelog"
    records = await consume_until(bootstrap, changelog, lambda r: any(x.key == b'"u:dave"' for x in r))
    state = UserState.from_json(orjson.loads([r for r in records if r.key == b'"u:dave"'][-1].value))
    sunday, this_week = boards_for(times[0]), boards_for(monday)
    assert state.score("alltime") == 75
    assert state.score(sunday[1]) == 25 and state.score(this_week[1]) == 50
    assert state.score(sunday[2]) == 25 and state.score(this_week[2]) == 50
    assert sunday[2] != this_week[2]
    assert boards_for(datetime(2026, 11, 30, tzinfo=UTC))[1:] == ["daily:2026-11-30", "weekly:2026-W49"]


async def test_event_ids_expire_after_the_window_and_are_swept(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=1)
    # reverts off: the event records (also the moderation journal) then live as long as the idempotency window
    start_worker(topics, SCOREBOARD_IDEMPOTENCY_TTL_S="2", SCOREBOARD_IDEMPOTENCY_SWEEP_S="0",
                 SCOREBOARD_REVERT_DAYS="0")
    src = topics.names.score_events
    first = await producer.send_and_wait(src, event("erin", event_id="x"), key=b"erin")
    await producer.send_and_wait(src, event("erin", event_id="x"), key=b"erin")
    await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 2)
    await wait_until_broker_time_passes(bootstrap, producer, src, first.timestamp + 2_000)  # broker clock
    await producer.send_and_wait(src, event("erin", event_id="y"), key=b"erin")
    await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 3)  # y's batch (and sweep) is done
    await producer.send_and_wait(src, event("erin", event_id="x"), key=b"erin")
    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 4)
    answers = [(v["event_id"], v["new_score"]) for v in (orjson.loads(r.value) for r in applied)]
    # within 2 s the repeat answers as the first; after it, the same id is a new event
    assert answers == [("x", 25), ("x", 25), ("y", 50), ("x", 75)]
    changelog = f"{topics.prefix}worker-state-changelog"
    key = orjson.dumps("e:erin\nx")  # event ids are kept per user
    records = await consume_until(bootstrap, changelog, lambda rs: any(r.key == key and r.value is None for r in rs))
    assert any(r.key == key and r.value is None for r in records)  # the expired id was deleted
    owner = orjson.dumps("v:x\nerin")  # and its entry in the index reverts look events up by
    assert any(r.key == owner and r.value is None for r in records)


async def wait_until_broker_time_passes(bootstrap: str, producer: AIOKafkaProducer, topic: str, at_ms: int) -> None:
    """Poll the broker's clock (the timestamp it stamps on a record of a scratch topic) until it is past ``at_ms``."""
    scratch = f"{topic}-clock"
    await ensure_topics(plaintext(bootstrap), [TopicSpec(scratch, 1, dict(LOG_APPEND_TIME))])
    deadline = time.monotonic() + 30
    while (await producer.send_and_wait(scratch, b"tick")).timestamp <= at_ms:
        assert time.monotonic() < deadline, "the broker's clock did not move"
        await asyncio.sleep(0.1)


async def test_a_producer_clock_neither_widens_the_window_nor_counts_an_event_twice(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    """The issue's record: an event first produced with a 1970 timestamp and produced again was counted twice."""
    topics = await make_topics(partitions=1)
    start_worker(topics)
    src = topics.names.score_events
    await producer.send_and_wait(src, event("fay", event_id="once"), key=b"fay", timestamp_ms=0)
    await producer.send_and_wait(src, event("fay", event_id="once"), key=b"fay")
    await producer.send_and_wait(src, event("fay", event_id="once"), key=b"fay", timestamp_ms=4_102_444_800_000)
    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 3)
    assert [orjson.loads(r.value)["new_score"] for r in applied] == [25, 25, 25]


async def test_one_event_id_for_two_users_of_one_partition_is_two_events(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    """The issue's record: ``order-1`` for alice, then for a user sharing her partition, answered the second user
    with alice's score and never credited them."""
    topics = await make_topics(partitions=1)
    start_worker(topics)
    src = topics.names.score_events
    await producer.send_and_wait(src, event("alice", "find_secret", event_id="order-1"), key=b"alice")
    await producer.send_and_wait(src, event("bob", event_id="order-1"), key=b"bob")
    await producer.send_and_wait(src, event("bob", event_id="order-1"), key=b"bob")  # bob's retry
    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 3)
    answers = [(v["user_id"], v["new_score"]) for v in (orjson.loads(r.value) for r in applied)]
    assert answers == [("alice", 100), ("bob", 25), ("bob", 25)]


async def test_an_event_id_reused_for_another_action_is_refused_with_a_reason(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=1)
    start_worker(topics)
    src = topics.names.score_events
    await producer.send_and_wait(src, event("gus", event_id="k1"), key=b"gus")
    reused = event("gus", "find_secret", event_id="k1")
    await producer.send_and_wait(src, reused, key=b"gus")
    await producer.send_and_wait(src, event("gus", event_id="k2"), key=b"gus")
    applied = await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 2)
    assert [orjson.loads(r.value)["new_score"] for r in applied] == [25, 50]
    dead = await consume_until(bootstrap, topics.names.dlq, lambda r: len(r) >= 1)
    headers = dict(dead[0].headers)
    assert dead[0].value == reused and headers["x-event-id"] == b"k1"
    assert headers["x-dlq-reason"].decode().startswith("idempotency key reused for user 'gus' with another action_id")


async def test_records_of_an_aborted_transaction_count_nowhere(
    bootstrap: str, make_topics: MakeTopics, start_worker: Callable[..., Supervisor],
) -> None:
    """A direct producer's aborted transaction was applied (the worker read uncommitted records)."""
    topics = await make_topics(partitions=1)
    start_worker(topics)
    src = topics.names.score_events
    tx = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topics.prefix}tx")
    await tx.start()
    try:
        await tx.begin_transaction()
        for i in range(3):
            await tx.send(src, event("tina", event_id=f"aborted-{i}"), key=b"tina")
        await tx.abort_transaction()
        await tx.begin_transaction()
        await tx.send(src, event("tina", event_id="committed"), key=b"tina")
        await tx.commit_transaction()
    finally:
        await tx.stop()
    applied = await consume_until(bootstrap, topics.names.applied,
                                  lambda rs: any(b'"committed"' in r.value for r in rs))
    assert [(v["event_id"], v["new_score"]) for v in (orjson.loads(r.value) for r in applied)] == [("committed", 25)]
