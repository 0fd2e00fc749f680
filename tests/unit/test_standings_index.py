"""The rank index (sse_server/standings.py) against a brute-force sort, and its record checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sse_server.standings import BoardRanks, StandingsIndex, rank_key

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SCORES = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SMALL = st.integers(min_value=-5, max_value=5)  # many ties: the tie-breaks are exercised
USERS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs",)),
                min_size=1, max_size=6)


def brute_force(totals: dict[str, tuple[int, int]]) -> list[tuple[str, int]]:
    """The board's one ordering, as the worker sorts it: score descending, then since, then user_id."""
    order = sorted(totals.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))
    return [(user, score) for user, (score, _) in order]


@given(st.lists(st.tuples(USERS, st.one_of(SMALL, SCORES), st.integers(0, 3), st.booleans()), max_size=120))
@settings(max_examples=300, deadline=None)
def test_ranks_equal_a_brute_force_sort_through_increases_decreases_and_removals(
    ops: list[tuple[str, int, int, bool]],
) -> None:
    ranks, totals = BoardRanks(), {}
    for user, score, since, remove in ops:
        if remove:
            ranks.remove(user)
            totals.pop(user, None)
        else:
            ranks.upsert(user, score, since)
            totals[user] = (score, since)
    want = brute_force(totals)
    assert [(row.user_id, row.score) for row in ranks.rows(0, len(want) + 5)] == want
    for position, (user, score) in enumerate(want, 1):
        assert ranks.rank(user) == (position, user, score)
    assert len(ranks) == len(want)


@given(st.lists(st.tuples(USERS, SMALL, st.integers(0, 3)), max_size=60))
@settings(max_examples=100, deadline=None)
def test_bulk_load_then_seal_equals_updates_one_by_one(ops: list[tuple[str, int, int]]) -> None:
    bulk, live = BoardRanks(), BoardRanks()
    bulk.unsorted = True
    for user, score, since in ops:
        bulk.upsert(user, score, since)
        live.upsert(user, score, since)
    bulk.seal()
    assert bulk.rows(0, 100) == live.rows(0, 100)


@given(SCORES, SCORES, st.integers(0, 2**62), st.integers(0, 2**62), USERS, USERS)
def test_rank_keys_sort_as_score_desc_since_asc_user_id(s1: int, s2: int, t1: int, t2: int, u1: str, u2: str) -> None:
    assert (rank_key(u1, s1, t1) < rank_key(u2, s2, t2)) == ((-s1, t1, u1) < (-s2, t2, u2))


def test_rows_page_and_ends() -> None:
    ranks = BoardRanks()
    for i in range(10):
        ranks.upsert(f"u{i}", i, 0)
    assert [r.user_id for r in ranks.rows(8, 20)] == ["u1", "u0"]
    assert ranks.rows(10, 20) == [] and ranks.rows(-3, 1)[0].rank == 1


def record(user: str, boards: dict[str, tuple[int, int]], name: str | None = None) -> tuple[bytes, bytes]:
    value = {"user_id": user, "username": name, "boards": {b: {"score": s, "since": t} for b, (s, t) in boards.items()}}
    return user.encode(), orjson.dumps(value)


def test_index_moves_users_between_boards_and_forgets_tombstoned_users() -> None:
    index = StandingsIndex(timedelta(days=7))
    out = list(index.apply_batch([record("a", {"alltime": (5, 1), "daily:2026-12-01": (5, 1)}, "Ann"),
                                  record("b", {"alltime": (7, 2)})], NOW))
    assert [o for o, _ in out] == ["applied", "applied"]
    index.seal()
    first = index.version
    list(index.apply_batch([record("a", {"alltime": (9, 3)})], NOW))  # the daily board is gone from a's state
    assert index.version > first
    alltime, daily = index.board("alltime"), index.board("daily:2026-12-01")
    assert alltime is not None and daily is not None
    assert [r.user_id for r in alltime.rows(0, 5)] == ["a", "b"] and len(daily) == 0
    assert index.names == {}  # the last record of a has no username
    list(index.apply_batch([(b"b", None)], NOW))
    assert [r.user_id for r in alltime.rows(0, 5)] == ["a"]


@pytest.mark.parametrize(("key", "value", "reason"), [
    (None, b"{}", "no key"),
    (b"\xff", b"{}", "not UTF-8"),
    (b"a", b"not json", "not JSON"),
    (b"a", b"[]", "not a JSON object"),
    (b"a", orjson.dumps({"user_id": "b", "boards": {}}), "does not match"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"alltime": {"score": "1", "since": 0}}}), "integers"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"alltime": {"score": True, "since": 0}}}), "integers"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"alltime": {"score": 2**63, "since": 0}}}), "64-bit"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"hourly:1": {"score": 1, "since": 0}}}), "not a board id"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"daily:2026-13-01": {"score": 1, "since": 0}}}), "month"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"daily:9999-12-31": {"score": 1, "since": 0}}}), "years"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"weekly:9999-W52": {"score": 1, "since": 0}}}), "years"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"weekly:\u0662\u0660\u0662\u0666-W49": {"score": 1, "since": 0}}}),
     "not a board id"),
    (b"a", orjson.dumps({"user_id": "a", "boards": {"alltime": {"since": 0}}}), "score"),
    (b"a", orjson.dumps({"user_id": "a", "username": 5, "boards": {}}), "username"),
])
def test_a_record_that_does_not_decode_is_refused_with_a_reason_and_changes_nothing(
    key: bytes | None, value: bytes, reason: str,
) -> None:
    index = StandingsIndex(timedelta(days=7))
    list(index.apply_batch([record("a", {"alltime": (1, 1)})], NOW))
    version = index.version
    [(outcome, detail)] = index.apply_batch([(key, value)], NOW)
    assert outcome == "invalid" and reason in detail
    assert index.version == version
    alltime = index.board("alltime")
    assert alltime is not None and alltime.rank("a") == (1, "a", 1)


def test_expired_periods_are_not_indexed_and_are_pruned() -> None:
    index = StandingsIndex(timedelta(days=1))
    list(index.apply_batch([record("a", {"daily:2026-11-01": (1, 1), "daily:2026-11-30": (1, 1)})], NOW))
    assert set(index.boards) == {"daily:2026-11-30"}
    assert index.prune(NOW + timedelta(days=2)) == ["daily:2026-11-30"] and index.boards == {}
