"""The rank index and the fan-out with several boards: ascending boards' order against a brute-force sort, keys
of each board in its own index, and streams of one board never sent another's boards (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from sse_server.boards import BoardStore
from sse_server.broadcast import Broadcaster
from sse_server.metrics import SseMetrics
from sse_server.standings import BoardRanks, StandingsIndex, rank_key, score_of
from tests.fixtures.sse import boards_files, named_board_record
from tests.unit.test_sse_broadcast import Sink, updates

pytestmark = pytest.mark.unit

I64 = st.integers(-(2**63), 2**63 - 1)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def boards(tmp_path: Path) -> Boards:
    files = boards_files(tmp_path)
    return Boards.load(files["boards_file"], ActionCatalog.load(files["actions_file"]))


@given(st.integers(-(2**63), 2**63 - 1), st.booleans())
def test_a_rank_key_gives_its_score_back(score: int, ascending: bool) -> None:
    assert score_of(rank_key("u", score, 0, ascending), ascending) == score


@settings(max_examples=300)
@given(st.dictionaries(st.text(min_size=1, max_size=4), st.tuples(st.one_of(I64, st.integers(-3, 3)),
                                                                  st.integers(-5, 5)), max_size=40),
       st.booleans())
def test_ranks_are_the_boards_order_by_brute_force(users: dict[str, tuple[int, int]], ascending: bool) -> None:
    """Score (ascending on an asc board, else descending), then who reached it first, then the user id: what the
    worker's top-K orders by."""
    ranks = BoardRanks(ascending)
    for user, (score, since) in users.items():
        ranks.upsert(user, score, since)
    expected = sorted(users, key=lambda u: (users[u][0] if ascending else -users[u][0], users[u][1], u))
    assert [(r.rank, r.user_id, r.score) for r in ranks.rows(0, len(users))] == \
        [(i, u, users[u][0]) for i, u in enumerate(expected, 1)]
    for rank, user in enumerate(expected, 1):
        assert ranks.rank(user) == (rank, user, users[user][0])


def test_the_index_ranks_each_board_in_its_own_order(boards: Boards) -> None:
    index = StandingsIndex(timedelta(days=7), boards)
    weekly = boards.current_key("fastest", "weekly", NOW)
    records = [(u.encode(), orjson.dumps({"user_id": u, "boards": {
        "alltime": {"score": s, "since": 0}, "fastest/alltime": {"score": s, "since": 0},
        weekly: {"score": s, "since": 0}}})) for u, s in (("a", 30), ("b", 10), ("c", 20))]
    assert [outcome for outcome, _ in index.apply_batch(records, NOW)] == ["applied"] * 3
    index.seal()
    assert [r.user_id for r in index.boards["alltime"].rows(0, 3)] == ["a", "c", "b"]
    assert [r.user_id for r in index.boards["fastest/alltime"].rows(0, 3)] == ["b", "c", "a"]
    assert [r.user_id for r in index.boards[weekly].rows(0, 3)] == ["b", "c", "a"]
    # the week (in Los Angeles) plus the retention is over: forgotten
    assert index.prune(NOW + timedelta(days=16)) == [weekly]


def test_a_stream_of_one_board_is_sent_that_boards_changes_only(boards: Boards) -> None:
    store = BoardStore(boards)
    bc = Broadcaster(store, SseMetrics(), lambda: NOW)
    wins_sink, fastest_sink, global_sink = Sink(), Sink(), Sink()
    bc.subscribe("alltime", None, 3000, wins_sink, board="wins")
    bc.subscribe("alltime", None, 3000, fastest_sink, board="fastest")
    bc.subscribe("alltime", None, 3000, global_sink)
    assert [len(updates(s)) for s in (wins_sink, fastest_sink, global_sink)] == [1, 1, 1]  # the empty boards
    for version in (10, 11):
        key, value = named_board_record(boards.get("wins"), "alltime", version, [("ann", version)], now=NOW)
        assert store.apply(key, value).outcome == "applied"
        bc.board_changed(key.decode())
    assert updates(wins_sink) == [("10", 10), ("11", 11)]
    assert updates(fastest_sink) == updates(global_sink) == []
    assert bc.client_count("alltime") == 3 and bc.client_count(board="wins") == 1
    assert bc.frame("alltime", "wins").body["board"] == "wins"
    assert bc.frame("alltime").body["board"] == "global" and bc.frame("alltime").version == 1
