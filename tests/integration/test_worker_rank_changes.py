"""``rank-changes`` on the real broker: an overtake and an entry that pushes a user out of a small top-K come out as
one record per moved user, under the version of the ``leaderboard-updates`` board they came with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas.leaderboard import LeaderboardSnapshot
from schemas.standings import RankChange
from stream_app.rank_changes import diff_tops
from stream_app.record_batches import RecordBatches
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

Records = list[ConsumerRecord[bytes, bytes]]
PARTITIONS = 3
Move = tuple[str, str, int | None, int | None, tuple[str, ...], int]  # board, user, old, new, passed, version


def boards(records: Records) -> dict[str, list[LeaderboardSnapshot]]:
    """Every emitted board per board id, in the order emitted (one partition)."""
    out: dict[str, list[LeaderboardSnapshot]] = {}
    for r in records:
        assert r.key is not None and r.value is not None
        out.setdefault(r.key.decode(), []).append(LeaderboardSnapshot.model_validate_json(r.value))
    return out


def users(snapshot: LeaderboardSnapshot) -> list[str]:
    return [row.user_id for row in snapshot.data]


def expected_moves(emitted: dict[str, list[LeaderboardSnapshot]]) -> list[Move]:
    """What one worker that neither restarted nor rebalanced must emit: the diff of each board with the board
    before it, none for a board's first emission (nothing known before it)."""
    return sorted(((board, m.user_id, m.old_rank, m.new_rank, tuple(m.passed), cur.version)
                   for board, snaps in emitted.items() for prev, cur in zip(snaps, snaps[1:], strict=False)
                   for m in diff_tops(users(prev), users(cur))), key=repr)


def moves(records: Records) -> list[Move]:
    out: list[Move] = []
    for r in records:
        assert r.value is not None
        c = RankChange.model_validate_json(r.value)
        assert r.key == c.user_id.encode()
        # a record batch per partition: each record where the producer's default partitioner would put it
        assert r.partition == RecordBatches.partition_for(r.key, PARTITIONS)
        out.append((c.board, c.user_id, c.old_rank, c.new_rank, tuple(c.passed), c.version))
    return sorted(out, key=repr)


async def test_an_overtake_and_an_entry_into_a_full_top_emit_one_record_per_moved_user(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=PARTITIONS)
    start_worker(topics, SCOREBOARD_TOP_K="2", SCOREBOARD_EMIT_INTERVAL_MS="50")
    names = topics.names
    sent = 0

    async def post(user: str, action: str) -> None:
        nonlocal sent
        value = orjson.dumps({"user_id": user, "action_id": action, "event_id": f"rc{sent}"})
        sent += 1
        await producer.send_and_wait(names.score_events, value, key=user.encode())

    async def board_is(want: list[str]) -> Records:
        def done(rs: Records) -> bool:  # every window's board (all-time, the day, the week) shows it
            emitted = boards(rs)
            return len(emitted) == 3 and all(users(snaps[-1]) == want for snaps in emitted.values())
        return await consume_until(bootstrap, names.leaderboard_updates, done)

    await post("ann", "win_match")  # ann 25
    await post("bob", "complete_level_1")  # bob 10
    await board_is(["ann", "bob"])
    await post("bob", "win_match")  # bob 35: overtakes ann
    await board_is(["bob", "ann"])
    await post("cat", "find_secret")  # cat 100: enters first, ann (now 3rd) leaves the top 2
    emitted = boards(await board_is(["cat", "bob"]))

    alltime = emitted["alltime"]
    overtake = next(s.version for s in alltime if users(s) == ["bob", "ann"])
    entry = alltime[-1].version
    want = expected_moves(emitted)
    got: Any = None

    def complete(rs: Records) -> bool:
        nonlocal got
        got = moves(rs)
        return got == want

    try:
        await consume_until(bootstrap, names.rank_changes, complete, timeout=30)
    except TimeoutError:
        pytest.fail(f"rank-changes {got} != the diffs of the emitted boards {want}")
    assert {m for m in want if m[0] == "alltime" and m[5] in (overtake, entry)} == {
        ("alltime", "bob", 2, 1, ("ann",), overtake),
        ("alltime", "ann", 1, 2, (), overtake),
        ("alltime", "cat", None, 1, ("bob", "ann"), entry),  # above both now: bob below it, ann gone
        ("alltime", "bob", 1, 2, (), entry),
        ("alltime", "ann", 2, None, (), entry),
    }
    assert not any(m[0] == "alltime" and m[5] == alltime[0].version for m in want)  # first board: no baseline
