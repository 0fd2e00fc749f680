"""``rank-changes``: the pure diff of two emitted tops (hand-worked cases and a brute-force property) and the
emitter sending one record per move under the version of the board it came with."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.standings import RankChange
from stream_app.emitter import Emitter, encode_move
from stream_app.rank_changes import RankMove, diff_tops
from stream_app.topk import Entry

pytestmark = pytest.mark.unit


def test_an_overtake_moves_both_users_and_only_the_riser_passed_someone() -> None:
    assert diff_tops(["a", "b", "c"], ["b", "a", "c"]) == [RankMove("b", 2, 1, ["a"]), RankMove("a", 1, 2, [])]


def test_an_entry_from_outside_passes_everyone_it_now_beats_and_pushes_the_last_one_out() -> None:
    assert diff_tops(["a", "b"], ["c", "a"]) == [
        RankMove("c", None, 1, ["a", "b"]),  # a is now below c, b is gone: c overtook both
        RankMove("a", 1, 2, []),
        RankMove("b", 2, None, []),  # left the top: new_rank None, passed nobody
    ]


def test_an_entry_below_the_others_passes_only_who_left() -> None:
    # d enters at 3 while b drops out: d overtook b (above it before, gone now), not a or c
    assert diff_tops(["a", "b", "c"], ["a", "c", "d"]) == [
        RankMove("c", 3, 2, ["b"]),
        RankMove("d", None, 3, ["b"]),
        RankMove("b", 2, None, []),
    ]


def test_a_user_whose_rank_is_unchanged_gets_no_record_even_when_it_passed_someone() -> None:
    # u keeps rank 2 although v fell from 1 to 3 below it: the contract has one record per user who *moves*
    assert diff_tops(["v", "u", "w"], ["w", "u", "v"]) == [RankMove("w", 3, 1, ["v", "u"]), RankMove("v", 1, 3, [])]


def test_no_change_no_record_and_the_edges() -> None:
    assert diff_tops(["a", "b"], ["a", "b"]) == []
    assert diff_tops([], []) == []
    assert diff_tops([], ["a", "b"]) == [RankMove("a", None, 1, []), RankMove("b", None, 2, [])]
    assert diff_tops(["a", "b"], []) == [RankMove("a", 1, None, []), RankMove("b", 2, None, [])]
    assert diff_tops(["a"], ["b"]) == [RankMove("b", None, 1, ["a"]), RankMove("a", 1, None, [])]


def test_a_drop_within_the_top_passes_nobody_and_the_risers_pass_it() -> None:
    assert diff_tops(["a", "b", "c", "d"], ["b", "c", "d", "a"]) == [
        RankMove("b", 2, 1, ["a"]), RankMove("c", 3, 2, ["a"]), RankMove("d", 4, 3, ["a"]), RankMove("a", 1, 4, []),
    ]


def brute_force(old: list[str], new: list[str]) -> set[tuple[str, int | None, int | None, tuple[str, ...]]]:
    """The contract's definition, literally: every user of either top, ranks None outside, passed by pairs."""
    inf = float("inf")
    o = {u: i + 1 for i, u in enumerate(old)}
    n = {u: i + 1 for i, u in enumerate(new)}
    out = set()
    for u in set(old) | set(new):
        if o.get(u) == n.get(u):
            continue
        passed: tuple[str, ...] = ()
        if u in n:
            passed = tuple(v for v in old if v != u and o[v] < o.get(u, inf) and n.get(v, inf) > n[u])
        out.add((u, o.get(u), n.get(u), passed))
    return out


users = st.lists(st.sampled_from([f"u{i}" for i in range(14)]), unique=True, max_size=10)


@settings(max_examples=3000, deadline=None)
@given(old=users, new=users)
def test_diff_equals_the_brute_force_definition(old: list[str], new: list[str]) -> None:
    moves = diff_tops(old, new)
    assert {(m.user_id, m.old_rank, m.new_rank, tuple(m.passed)) for m in moves} == brute_force(old, new)
    assert len({m.user_id for m in moves}) == len(moves)  # one record per user
    staying = [m.new_rank for m in moves if m.new_rank is not None]
    leaving = [m.old_rank for m in moves if m.new_rank is None]
    assert staying == sorted(staying) and leaving == sorted(r for r in leaving if r is not None)


class _Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))

    async def send_all(self, records: list[tuple[bytes, bytes]]) -> None:
        self.sent.extend(records)


def test_a_move_is_encoded_exactly_as_the_contract_model_dumps() -> None:
    fast = encode_move("daily:2026-12-01", RankMove("bob", None, 1, ["ann", "cat"]), 17)
    model = RankChange.model_validate_json(fast)
    assert model.model_dump_json().encode() == fast
    assert (model.old_rank, model.new_rank, model.passed, model.version) == (None, 1, ["ann", "cat"], 17)


async def test_the_emitter_sends_each_move_keyed_by_user_under_the_version_of_the_board_it_sent() -> None:
    updates, changes, generation = _Sink(), _Sink(), {"id": 1}
    emitter = Emitter(updates, interval_s=0, rank_changes=changes, generation=lambda: generation["id"])
    await emitter.offer("alltime", [Entry("ann", 50, 1), Entry("bob", 10, 2)])
    assert len(updates.sent) == 1 and changes.sent == []  # first board since start: nothing known before it
    await emitter.offer("alltime", [Entry("bob", 60, 3), Entry("ann", 50, 1)])
    version = orjson.loads(updates.sent[-1][1])["version"]
    records = [(k, RankChange.model_validate_json(v)) for k, v in changes.sent]
    assert [(k, r.board, r.old_rank, r.new_rank, r.passed, r.version) for k, r in records] == [
        (b"bob", "alltime", 2, 1, ["ann"], version), (b"ann", "alltime", 1, 2, [], version)]
    await emitter.offer("alltime", [Entry("bob", 61, 3), Entry("ann", 50, 1)])  # a score, no rank moved
    assert len(updates.sent) == 3 and len(changes.sent) == 2
    generation["id"] = 2  # a rebalance: another worker may have emitted in between; this top is not a baseline
    await emitter.offer("alltime", [Entry("ann", 70, 4), Entry("bob", 61, 3)])
    assert len(updates.sent) == 4 and len(changes.sent) == 2
    await emitter.offer("alltime", [Entry("cat", 99, 5), Entry("ann", 70, 4)])
    assert [(k, RankChange.model_validate_json(v).passed) for k, v in changes.sent[2:]] == [
        (b"cat", ["ann", "bob"]), (b"ann", []), (b"bob", [])]


async def test_a_period_opened_empty_is_a_known_baseline_its_first_scores_enter() -> None:
    updates, changes = _Sink(), _Sink()
    emitter = Emitter(updates, interval_s=0, rank_changes=changes)
    await emitter.open_period("weekly:2026-W49", 1_000)
    await emitter.offer("weekly:2026-W49", [Entry("ann", 5, 1)])
    assert [(k, v) for k, v in changes.sent] == [
        (b"ann", encode_move("weekly:2026-W49", RankMove("ann", None, 1, []), emitter.version["weekly:2026-W49"]))]
