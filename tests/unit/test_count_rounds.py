"""Stage 1's count rounds: a list whose only change is its player count waits for its partition's round (at most
once a second), and holds the partition's watermark back until it went; a list whose top changed goes at once."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from faust.types import TP

from stream_app.agents import register_partition_timer
from stream_app.count_rounds import CountRounds
from stream_app.ingest import UserChange
from stream_app.ranking import LocalTopK
from stream_app.scoring import UserState

pytestmark = pytest.mark.unit


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Sent:
    """What stage 1 needs of a ``RecordBatches``: the records it added, decoded (lists and watermarks)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        assert value is not None
        self.records.append(orjson.loads(value))

    async def send(self) -> None:
        return None

    def take(self) -> list[dict[str, Any]]:
        out, self.records = self.records, []
        return out


def _stage1(top_k: int = 2) -> tuple[LocalTopK, _Sent, _Clock]:
    sent, clock = _Sent(), _Clock()
    stage1 = LocalTopK(cast(Any, sent), "cands", top_k=top_k, retention=timedelta(days=3650), interval_s=0,
                       counts=CountRounds(every_s=1.0, clock=clock))
    stage1.rebuild(0, [])
    return stage1, sent, clock


def _event(offset: int, ms: int) -> Any:
    return SimpleNamespace(partition=0, offset=offset, timestamp=ms / 1000)


async def _score(stage1: LocalTopK, offset: int, user: str, score: int, boards: tuple[str, ...] = ("alltime",)) -> None:
    state = UserState(offset, None, {board: (score, offset) for board in boards})
    stage1.handled([_event(offset, 1_000 * offset)])
    await stage1.on_changes([UserChange(0, user, state, frozenset(boards))])


def _lists(records: list[dict[str, Any]]) -> list[tuple[str, list[str], int]]:
    return [(r["board"], [e[0] for e in r["entries"]], r["count"]) for r in records if "entries" in r]


def _watermarks(records: list[dict[str, Any]]) -> list[int]:
    return [r["watermark"] for r in records if "watermark" in r]


async def test_a_count_only_list_waits_for_its_round_and_holds_the_watermark_until_it_went() -> None:
    stage1, sent, clock = _stage1()
    await _score(stage1, 1, "ann", 50)
    await _score(stage1, 2, "bob", 40)
    assert _lists(sent.take()) == [("alltime", ["ann"], 1), ("alltime", ["ann", "bob"], 2)]  # the top moved
    await _score(stage1, 3, "cat", 10)  # below the top 2: only the count moved; the first round goes at once
    records = sent.take()
    assert _lists(records) == [("alltime", ["ann", "bob"], 3)] and _watermarks(records) == [3_000]

    await _score(stage1, 4, "dan", 5)  # inside that round's second: the list waits, and the watermark with it
    records = sent.take()
    assert _lists(records) == [] and _watermarks(records) == []
    assert stage1.counts.held() == {0} and not stage1.counts.ready()

    clock.now += 1.0  # the partition's next round is due: the timer flushes what waits
    assert stage1.counts.ready()
    await stage1.flush()
    records = sent.take()
    assert _lists(records) == [("alltime", ["ann", "bob"], 4)]
    assert _watermarks(records) == [4_000]  # after the list that counts every player it covers
    assert stage1.counts.held() == set() and not stage1.counts.ready()


async def test_a_list_whose_top_changed_goes_at_once_with_its_count_inside_a_round() -> None:
    stage1, sent, clock = _stage1()
    await _score(stage1, 1, "ann", 50)
    await _score(stage1, 2, "bob", 10)
    await _score(stage1, 3, "cat", 5)  # count only, and the round goes
    assert [count for _, _, count in _lists(sent.take())] == [1, 2, 3]
    await _score(stage1, 4, "eve", 4)  # count only: waits
    assert _lists(sent.take()) == []
    await _score(stage1, 5, "dan", 99)  # a new leader: the list goes now, and it carries every player
    records = sent.take()
    assert _lists(records) == [("alltime", ["dan", "ann"], 5)]
    assert _watermarks(records) == [5_000]  # nothing waits any more
    clock.now += 5
    assert not stage1.counts.ready()


async def test_every_waiting_list_of_a_partition_goes_in_the_same_round() -> None:
    stage1, sent, clock = _stage1(top_k=1)
    boards = ("alltime", "weekly:2026-W49")
    await _score(stage1, 1, "ann", 50, boards)
    await _score(stage1, 2, "bob", 10, boards)  # count only on both boards: one round, both lists
    assert [count for _, _, count in _lists(sent.take())] == [1, 1, 2, 2]
    clock.now += 0.4
    await _score(stage1, 3, "cat", 5, boards[:1])
    clock.now += 0.3
    await _score(stage1, 4, "dan", 6, boards[1:])
    assert _lists(sent.take()) == []
    clock.now += 0.3
    await stage1.flush()
    assert sorted(_lists(sent.take())) == [("alltime", ["ann"], 3), ("weekly:2026-W49", ["ann"], 3)]


def test_a_dropped_partition_forgets_what_waited() -> None:
    rounds = CountRounds(every_s=1.0, clock=lambda: 5.0)
    rounds.start()
    assert rounds.holds((0, "alltime")) is False  # the first round is due at once
    rounds.finish()
    rounds.start()
    assert rounds.holds((0, "alltime")) is True
    assert rounds.held() == {0}
    rounds.drop(0)
    assert rounds.held() == set() and rounds.start() == set()


async def test_fewer_players_go_at_once_inside_a_round() -> None:
    """A ban below the top lowers the count: a final sealed right after must not count the banned player."""
    stage1, sent, _ = _stage1()
    await _score(stage1, 1, "ann", 50)
    await _score(stage1, 2, "bob", 40)
    await _score(stage1, 3, "cat", 10)  # count only: the round goes at once
    sent.take()
    stage1.handled([_event(4, 4_000)])
    await stage1.on_changes([UserChange(0, "cat", UserState(4, None, {}), frozenset({"alltime"}))])  # cat leaves
    records = sent.take()
    assert _lists(records) == [("alltime", ["ann", "bob"], 2)] and _watermarks(records) == [4_000]


async def test_a_resend_of_one_partition_never_moves_the_watermark_of_another_with_lists_unsent() -> None:
    """Between two flushes (the coalescer holds a run back) a partition's lists may have changed; the partition
    timer's resend of another partition sends watermarks, but not that one's."""
    stage1, sent, _ = _stage1()
    stage1.rebuild(1, [])
    stage1.coalescer.offer = _no_run  # type: ignore[method-assign]  # the flush is held back by the rate limit
    await _score(stage1, 1, "ann", 50)  # partition 0 changed, not flushed
    stage1.handled([SimpleNamespace(partition=1, offset=9, timestamp=9.0)])
    await stage1.resend(1)
    assert _watermarks(sent.take()) == [9_000]  # partition 1's only
    await stage1.flush()
    records = sent.take()
    assert _lists(records) == [("alltime", ["ann"], 1)] and _watermarks(records) == [1_000]


async def _no_run(_: None) -> None:
    return None


async def _not_caught_up(_: Any) -> bool:
    return False


async def test_a_flush_that_fails_keeps_its_lists_and_their_watermarks_for_the_next() -> None:
    stage1, sent, _ = _stage1()
    stage1.coalescer.offer = _no_run  # type: ignore[method-assign]
    await _score(stage1, 1, "ann", 50)
    index = stage1.indexes[0]["alltime"]
    top = index.top

    def broken(k: int) -> Any:
        raise RuntimeError("a bug")

    index.top = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await stage1.flush()
    assert sent.take() == [] and stage1.dirty == {(0, "alltime")}
    index.top = top  # type: ignore[method-assign]
    await stage1.flush()
    records = sent.take()
    assert _lists(records) == [("alltime", ["ann"], 1)] and _watermarks(records) == [1_000]


async def test_the_partition_timer_sends_the_lists_whose_round_is_due() -> None:
    """No change may come after the last new player: the worker's partition timer starts the round."""
    stage1, sent, clock = _stage1()
    await _score(stage1, 1, "ann", 50)
    await _score(stage1, 2, "bob", 40)
    await _score(stage1, 3, "cat", 10)  # opens a round
    await _score(stage1, 4, "dan", 5)  # waits
    sent.take()
    app = SimpleNamespace(rebalancing=False, in_recovery=False, timer=lambda interval, name: lambda f: f,
                          assignor=SimpleNamespace(assigned_actives=lambda: {TP("score-events", 0)}),
                          consumer=SimpleNamespace(caught_up=_not_caught_up))
    tick = register_partition_timer(app, "score-events", table=None, stage1=stage1)
    await tick()
    assert _lists(sent.take()) == []  # not due yet
    clock.now += 1.0
    await tick()
    records = sent.take()
    assert _lists(records) == [("alltime", ["ann", "bob"], 4)] and _watermarks(records) == [4_000]
