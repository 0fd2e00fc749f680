"""Property: the two-stage top-K equals a brute-force sort, for random events, partitions and decreases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.leaderboard import LeaderboardSnapshot
from stream_app.emitter import Emitter
from stream_app.ingest import UserChange
from stream_app.ranking import GlobalTopK, LocalList, LocalTopK, encode_candidates
from stream_app.scoring import UserState
from stream_app.topk import BoardIndex, Entry, merge_top

pytestmark = pytest.mark.unit

events = st.lists(
    st.tuples(st.integers(0, 40), st.integers(-50, 100), st.integers(0, 20)),  # user, points (may drop), time
    min_size=1, max_size=300,
)


@settings(max_examples=2000, deadline=None)
@given(events=events, partitions=st.integers(1, 8), k=st.integers(1, 15))
def test_two_stage_top_k_equals_brute_force(events: list[tuple[int, int, int]], partitions: int, k: int) -> None:
    totals: dict[str, tuple[int, int]] = {}
    indexes = [BoardIndex() for _ in range(partitions)]
    owner = {f"u{u}": (u * 7919) % partitions for u in range(41)}  # any fixed user -> partition map
    sent: list[list[Entry]] = [[] for _ in range(partitions)]
    for user, points, when in events:
        uid = f"u{user}"
        score, since = totals.get(uid, (0, when))
        totals[uid] = (score + points, when if points else since)
        p = owner[uid]
        indexes[p].upsert(Entry(uid, *totals[uid]))
        sent[p] = indexes[p].top(k)  # stage 1 re-sends the whole local list (replace, never add)
    expected = sorted((Entry(u, s, t) for u, (s, t) in totals.items()), key=lambda e: (-e.score, e.since, e.user_id))
    assert merge_top(sent, k) == expected[:k]


batches = st.lists(
    st.lists(st.tuples(st.integers(0, 60), st.integers(-30, 100), st.integers(0, 20), st.booleans()),
             min_size=0, max_size=40),
    min_size=1, max_size=15,
)


@settings(max_examples=1000, deadline=None)
@given(batches=batches, k=st.integers(1, 12))
def test_lazy_top_between_batches_equals_brute_force(batches: list[list[tuple[int, int, int, bool]]], k: int) -> None:
    """``top`` is asked once per batch of updates (as stage 1 does): rises, drops and removals in between."""
    index = BoardIndex()
    totals: dict[str, tuple[int, int]] = {}
    for batch in batches:
        for user, points, when, leave in batch:
            uid = f"u{user}"
            if leave:
                totals.pop(uid, None)
                index.remove(uid)
                continue
            score, since = totals.get(uid, (0, when))
            totals[uid] = (score + points, when if points else since)
            index.upsert(Entry(uid, *totals[uid]))
        expected = sorted((Entry(u, s, t) for u, (s, t) in totals.items()), key=lambda e: e.rank_key)
        assert index.top(k) == expected[:k]
        assert len(index) == len(totals)


def test_index_handles_decrease_and_removal() -> None:
    index = BoardIndex()
    for uid, score in [("a", 10), ("b", 20), ("c", 30)]:
        index.upsert(Entry(uid, score, 0))
    index.upsert(Entry("c", 5, 1))
    assert [e.user_id for e in index.top(3)] == ["b", "a", "c"]
    index.remove("b")
    assert [e.user_id for e in index.top(3)] == ["a", "c"]
    assert len(index) == 2


def test_ties_broken_by_who_reached_first_then_user_id() -> None:
    index = BoardIndex()
    index.upsert(Entry("zed", 10, 100))
    index.upsert(Entry("amy", 10, 200))
    index.upsert(Entry("bob", 10, 100))
    assert [e.user_id for e in index.top(3)] == ["bob", "zed", "amy"]


class _Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))


async def test_emitter_coalesces_bursts_and_always_sends_the_last_state() -> None:
    sink = _Sink()
    emitter = Emitter(sink, interval_s=0.05)
    for i in range(50):
        await emitter.offer("alltime", [Entry("u", i, 0)])
    assert len(sink.sent) == 2  # the first two go out at once, the rest of the burst waits for the interval
    deadline = asyncio.get_running_loop().time() + 5
    while len(sink.sent) < 3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    bodies = [orjson.loads(v) for _, v in sink.sent]
    assert len(bodies) == 3 and [b["data"][0]["score"] for b in bodies] == [0, 1, 49]
    assert bodies[0]["version"] < bodies[1]["version"] < bodies[2]["version"]


async def test_emitter_never_sends_one_state_twice_when_an_offer_lands_as_the_interval_ends() -> None:
    """The interval's timer fires and, before its run starts, the next change arrives: one run, not two."""
    sink, now = _Sink(), {"t": 0.0}
    emitter = Emitter(sink, interval_s=0.1, clock=lambda: now["t"])
    await emitter.offer("alltime", [Entry("u", 0, 0)])  # quiet before: out at once
    await emitter.offer("alltime", [Entry("u", 1, 0)])  # the burst's second: out at once too
    await emitter.offer("alltime", [Entry("u", 2, 0)])  # the third inside the interval: waits for its end
    coalescer = emitter.coalescer
    now["t"] = 0.1
    coalescer.scheduled["alltime"].cancel()
    coalescer._fire("alltime")  # the timer's callback; its run is a task that has not started yet
    await emitter.offer("alltime", [Entry("u", 3, 0)])  # the change right behind it
    await asyncio.gather(*coalescer.tasks)
    while "alltime" in coalescer.scheduled:  # a run for the latest state is still due: run it as the timer would
        now["t"] += 0.1
        coalescer.scheduled["alltime"].cancel()
        coalescer._fire("alltime")
        await asyncio.gather(*coalescer.tasks)
    states = [[row["score"] for row in orjson.loads(v)["data"]] for _, v in sink.sent]
    assert states[:2] == [[0], [1]] and states[-1] == [3]
    assert all(a != b for a, b in zip(states, states[1:], strict=False))  # no state twice in a row
    versions = [orjson.loads(v)["version"] for _, v in sink.sent]
    assert versions == sorted(set(versions))


class _Outbox:
    async def send(self) -> None:
        return None


class _Store:
    """What stage 2 needs of a :class:`PartitionStore`: writes recorded, an empty table to read lists from."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, object]] = []
        self.batches = _Outbox()
        self.table = SimpleNamespace(data=SimpleNamespace(_dbs={}))

    def write(self, partition: int, items: list[tuple[str, object]]) -> None:
        self.writes.extend(items)


async def test_stage2_takes_its_own_workers_lists_in_process_only_while_it_owns_stage2() -> None:
    sink, store, owns = _Sink(), _Store(), {"now": False}
    stage2 = GlobalTopK(cast(Any, store), Emitter(sink, interval_s=0), top_k=3, retention=timedelta(days=1),
                        owns=lambda: owns["now"])
    entries = [Entry("ann", 30, 1), Entry("bob", 20, 2)]
    await stage2.on_local([LocalList("alltime", 0, 7, entries)])
    assert sink.sent == []  # another worker owns stage 2: it will get the list through the topic
    owns["now"] = True
    await stage2.on_local([LocalList("alltime", 0, 7, entries)])
    assert [row["user_id"] for row in orjson.loads(sink.sent[-1][1])["data"]] == ["ann", "bob"]

    # the same list arriving through the topic is persisted, and changes nothing
    await stage2.on_candidates([SimpleNamespace(value=encode_candidates("alltime", 0, 7, entries))])
    assert store.writes == [("alltime|0", {"seq": 7, "entries": [list(e) for e in entries], "count": 0})]
    assert len(sink.sent) == 1
    # an older list (a worker that lost the partition) is neither kept nor persisted
    await stage2.on_candidates([SimpleNamespace(value=encode_candidates("alltime", 0, 6, [Entry("eve", 99, 0)]))])
    assert len(store.writes) == 1 and len(sink.sent) == 1


def test_emitter_encodes_exactly_what_the_snapshot_model_dumps() -> None:
    emitter = Emitter(_Sink(), interval_s=0)
    emitter.latest["weekly:2026-W48"] = [Entry("ann", 30, 1, "Ann"), Entry("bob", 20, 2, None)]
    fast = emitter.encode("weekly:2026-W48")
    model = LeaderboardSnapshot.model_validate_json(fast)
    assert model.model_dump_json().encode() == fast
    assert (model.window, model.period, [r.rank for r in model.data]) == ("weekly", "2026-W48", [1, 2])
    emitter.latest["alltime"] = []
    assert orjson.loads(emitter.encode("alltime"))["period"] is None


class _CandidateBatches:
    """What stage 1 needs of an :class:`RecordBatches`: records added, then sent."""

    def __init__(self) -> None:
        self.added: list[tuple[str, int, bytes | None, bytes | None]] = []

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        self.added.append((topic, partition, key, value))

    async def send(self) -> None:
        return None


async def test_stage1_takes_a_change_naming_a_board_the_users_state_no_longer_holds() -> None:
    """The issue's batch: one user's event on a period about to expire and a current one in the same batch. The
    first counted on ``daily:D``, the second saw it expire and dropped it, so the change names a board the final
    state lacks (a KeyError that crashed the worker). The user leaves that board; the rest is indexed."""
    stage1 = LocalTopK(cast(Any, _CandidateBatches()), "cands", top_k=3, retention=timedelta(days=3650),
                       interval_s=0)
    stage1.rebuild(0, [("u:bob", UserState(4, None, {"daily:2026-11-18": (5, 1)}).to_json())])
    state = UserState(9, "Ann", {"alltime": (50, 7), "daily:2026-11-26": (25, 7)})
    change = UserChange(0, "ann", state, frozenset({"alltime", "daily:2026-11-18", "daily:2026-11-26"}))
    await stage1.on_changes([change])
    boards = stage1.indexes[0]
    assert [e.user_id for e in boards["alltime"].top(3)] == ["ann"]
    assert [e.user_id for e in boards["daily:2026-11-18"].top(3)] == ["bob"]  # ann is not on it
    assert stage1.seq[0] == 9


async def test_stage1_heals_a_partition_whose_change_cannot_be_indexed_by_rebuilding_it() -> None:
    stage1 = LocalTopK(cast(Any, _CandidateBatches()), "cands", top_k=3, retention=timedelta(days=3650),
                       interval_s=0)
    stage1.rebuild(0, [])
    broken = UserChange(0, "ann", cast(Any, SimpleNamespace(offset=1, boards=None, username=None)),
                        frozenset({"alltime"}))
    await stage1.on_changes([broken])  # never raises: the worker goes on
    assert 0 not in stage1.indexes  # dropped: the partition timer indexes it again from the table


async def test_stage2_opens_each_new_period_with_an_empty_board_of_its_own_version_once() -> None:
    sink, store, owns = _Sink(), _Store(), {"now": True}
    emitter = Emitter(sink, interval_s=0)
    stage2 = GlobalTopK(cast(Any, store), emitter, top_k=3, retention=timedelta(days=1), owns=lambda: owns["now"])
    await emitter.offer("daily:2026-11-29", [Entry("ann", 30, 1)])  # Sunday's board, version ~ now in µs
    sunday_version = orjson.loads(sink.sent[-1][1])["version"]
    monday = datetime(2026, 11, 30, 0, 0, 0, 300_000, tzinfo=UTC)
    await stage2.open_periods(monday)
    opened = {k.decode(): orjson.loads(v) for k, v in sink.sent[1:]}
    start = int(datetime(2026, 11, 30, tzinfo=UTC).timestamp()) * 1_000_000
    assert set(opened) == {"daily:2026-11-30", "weekly:2026-W49"}
    assert all(body["data"] == [] for body in opened.values())
    assert opened["weekly:2026-W49"]["version"] == start  # what every read API shows for the empty week
    assert opened["daily:2026-11-30"]["version"] == max(sunday_version + 1, start)  # never below the window's ids
    await stage2.open_periods(monday + timedelta(seconds=1))
    assert len(sink.sent) == 3  # once per period
    await emitter.offer("daily:2026-11-30", [Entry("bob", 5, 2)])  # the day's first score goes out as usual
    assert orjson.loads(sink.sent[-1][1])["data"][0]["user_id"] == "bob"


async def test_stage2_does_not_open_a_period_it_does_not_own_or_that_already_has_scores() -> None:
    sink, store = _Sink(), _Store()
    stage2 = GlobalTopK(cast(Any, store), Emitter(sink, interval_s=0), top_k=3, retention=timedelta(days=1),
                        owns=lambda: False)
    await stage2.open_periods(datetime(2026, 11, 30, 0, 0, 1, tzinfo=UTC))
    assert sink.sent == []
    stage2.owns = lambda: True
    stage2.lists["daily:2026-11-30"] = {0: (7, [Entry("ann", 30, 1)])}  # a restarted worker, mid-day
    stage2.seen_generation = stage2.generation()
    await stage2.open_periods(datetime(2026, 11, 30, 12, tzinfo=UTC))
    assert [k for k, _ in sink.sent] == [b"weekly:2026-W49"]  # the day is not emptied


async def test_stage1_indexes_a_partition_on_its_first_change_without_waiting_for_the_timer() -> None:
    """The first seconds after a start: a change for a partition the timer has not indexed yet used to be left
    to the timer (the board followed half a second late). It is indexed from the table at once, all its lists go
    out with the flush, and it stays indexed for the generation it was built in."""
    table = {0: [("u:bob", UserState(4, None, {"alltime": (10, 1)}).to_json()),
                 ("u:ann", UserState(9, "Ann", {"alltime": (50, 7)}).to_json())]}
    generation = {"id": 1}
    batches = _CandidateBatches()
    stage1 = LocalTopK(cast(Any, batches), "cands", top_k=3, retention=timedelta(days=3650), interval_s=0,
                       load=lambda p: table[p], generation=lambda: generation["id"])
    change = UserChange(0, "ann", UserState(9, "Ann", {"alltime": (50, 7)}), frozenset({"alltime"}))
    await stage1.on_changes([change])
    assert [e.user_id for e in stage1.indexes[0]["alltime"].top(3)] == ["ann", "bob"]
    [(topic, _, key, value)] = batches.added
    assert (topic, key) == ("cands", b"alltime|0") and value is not None
    assert orjson.loads(value)["seq"] == 9
    assert stage1.stale() == []
    generation["id"] = 2  # a rebalance: the partition timer drops it and indexes it again
    assert stage1.stale() == [0]
