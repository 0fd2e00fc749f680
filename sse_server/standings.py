"""Exact ranks of every user on every board, built from ``user-standings`` — the pure part (no I/O).

Per board key (:mod:`schemas.boards`) one :class:`BoardRanks`: a ``sortedcontainers.SortedList`` of *rank keys*
(an order-statistic list: insert, remove and position in O(log n)) and a dict user -> key. A rank key is one
``bytes`` object that sorts as the board's one ordering: 8 bytes of the score — flipped on a ``desc`` board
(higher first), as is on an ``asc`` one (lower first: fastest times, fewest moves) —, 8 bytes of ``since``
(earlier first: ties go to who reached the score first), then the ``user_id`` in UTF-8, whose byte order is its
code point order (the order of ``str``, the worker's tie-break). So a position is the rank the worker's top-K
gives, whichever the board's order. One object per user and board, compared in C, that also carries the user id: about
60-70 bytes plus a list slot, where a tuple of (score, since, user_id) cost about three times that
(``python -m bench --only standings`` measures the bytes per user per board).

:class:`StandingsIndex` applies records in batches (one ``version`` per batch: every lookup made between two
batches sees the same state and names that version); a lookup never waits for a rebuild. While the feed
catches up at start, boards collect keys unsorted and are sorted once (:meth:`StandingsIndex.seal`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import orjson
from sortedcontainers import SortedList

from schemas.boards import Boards
from sse_server.boards import DEFAULT_BOARDS

_FLIP = 2**63 - 1  # score s -> _FLIP - s: 0..2**64-1 for every signed 64-bit score, higher scores first
_SHIFT = 2**63  # since t -> t + 2**63: unsigned, same order
Outcome = Literal["applied", "removed", "invalid"]


def rank_key(user_id: str, score: int, since: int, ascending: bool = False) -> bytes:
    """The bytes whose order is the board's: score (descending, or ascending on an ``asc`` board), then
    ``since``, then ``user_id``."""
    head = score + _SHIFT if ascending else _FLIP - score
    return head.to_bytes(8, "big") + (since + _SHIFT).to_bytes(8, "big") + user_id.encode()


def score_of(key: bytes, ascending: bool = False) -> int:
    head = int.from_bytes(key[:8], "big")
    return head - _SHIFT if ascending else _FLIP - head


class Row(NamedTuple):
    rank: int
    user_id: str
    score: int


def _row(rank: int, key: bytes, ascending: bool) -> Row:
    return Row(rank, key[16:].decode(), score_of(key, ascending))


class BoardRanks:
    """Every user with a score on one board, in the board's order (``ascending``: an ``asc`` board)."""

    __slots__ = ("keys", "by_user", "unsorted", "ascending")

    def __init__(self, ascending: bool = False) -> None:
        self.ascending = ascending
        self.keys: SortedList[bytes] = SortedList()
        self.by_user: dict[str, bytes] = {}
        self.unsorted = False  # True while bulk loading: ``keys`` is rebuilt from ``by_user`` by ``seal``

    def __len__(self) -> int:
        return len(self.by_user)

    def upsert(self, user_id: str, score: int, since: int) -> bool:
        """Place the user; False when nothing changed."""
        key = rank_key(user_id, score, since, self.ascending)
        old = self.by_user.get(user_id)
        if old == key:
            return False
        self.by_user[user_id] = key
        if not self.unsorted:
            if old is not None:
                self.keys.remove(old)
            self.keys.add(key)
        return True

    def remove(self, user_id: str) -> bool:
        old = self.by_user.pop(user_id, None)
        if old is None:
            return False
        if not self.unsorted:
            self.keys.remove(old)
        return True

    def seal(self) -> None:
        if self.unsorted:
            self.keys = SortedList(self.by_user.values())
            self.unsorted = False

    def rank(self, user_id: str) -> Row | None:
        key = self.by_user.get(user_id)
        if key is None:
            return None
        self.seal()
        return _row(self.keys.bisect_left(key) + 1, key, self.ascending)

    def rows(self, start: int, stop: int) -> list[Row]:
        """Rows at 0-based positions ``start`` up to ``stop`` (fewer at the end)."""
        self.seal()
        start, stop = max(0, start), min(stop, len(self.keys))
        if stop <= start:
            return []
        return [_row(start + i + 1, key, self.ascending) for i, key in enumerate(self.keys.islice(start, stop))]


class StandingsIndex:
    """Every board's :class:`BoardRanks` and every user's name; ``version`` names the state (one per batch).
    ``definitions``: the boards this process knows (keys of other boards are skipped, see :func:`_decode`)."""

    def __init__(self, retention: timedelta, definitions: Boards = DEFAULT_BOARDS) -> None:
        self.retention = retention
        self.definitions = definitions
        self.boards: dict[str, BoardRanks] = {}
        self.names: dict[str, str] = {}
        self.version = 0
        self.bulk = True  # until ``seal``: boards are sorted once, after the catch-up

    def board(self, board_id: str) -> BoardRanks | None:
        return self.boards.get(board_id)

    def apply_batch(self, records: list[tuple[bytes | None, bytes | None]], now: datetime,
                    ) -> Iterator[tuple[Outcome, str]]:
        """Apply records in order; yields each record's outcome and, for ``invalid``, the reason (else the
        user). The version moves once for the whole batch, when anything changed."""
        changed = False
        for key, value in records:
            outcome, detail = self._apply(key, value, now)
            changed = changed or outcome != "invalid"
            yield outcome, detail
        if changed:
            self.version = max(self.version + 1, time.time_ns() // 1000)

    def _apply(self, key: bytes | None, value: bytes | None, now: datetime) -> tuple[Outcome, str]:
        try:
            user_id = key.decode() if key is not None else None
        except UnicodeDecodeError:
            return "invalid", f"key is not UTF-8: {key[:80]!r}" if key else "key is not UTF-8"
        if not user_id:
            return "invalid", "record has no key (the user_id)"
        if value is None:  # a tombstone: the user is on no board
            for ranks in self.boards.values():
                ranks.remove(user_id)
            self.names.pop(user_id, None)
            return "removed", user_id
        try:
            boards, username = _decode(user_id, value, self.definitions)
        except (ValueError, TypeError, KeyError) as exc:
            return "invalid", str(exc)[:300]
        for board_id, ranks in self.boards.items():
            if board_id not in boards:
                ranks.remove(user_id)
        for board_id, (score, since) in boards.items():
            board = self.boards.get(board_id)
            if board is None:
                if self.definitions.is_expired(board_id, now, self.retention):
                    continue
                board = self.boards[board_id] = BoardRanks(self.definitions.parse(board_id).board.ascending)
                board.unsorted = self.bulk
            board.upsert(user_id, score, since)
        if username is None:
            self.names.pop(user_id, None)
        elif self.names.get(user_id) != username:
            self.names[user_id] = username
        return "applied", user_id

    def seal(self) -> None:
        """The catch-up is over: sort every board once; from now on each update keeps its board sorted."""
        self.bulk = False
        for ranks in self.boards.values():
            ranks.seal()

    def prune(self, now: datetime) -> list[str]:
        """Forget boards whose period (plus the retention) is over; returns their ids."""
        gone = [b for b in self.boards if self.definitions.is_expired(b, now, self.retention)]
        for board_id in gone:
            del self.boards[board_id]
        return gone


def _decode(user_id: str, value: bytes, definitions: Boards) -> tuple[dict[str, tuple[int, int]], str | None]:
    """A ``user-standings`` value checked by hand (a million of them are read at start): ValueError with the
    reason when it is not one. The key of a board this process does not define (``<board>/...``: a board removed
    from the file, or added by a worker that was deployed first) is skipped, not the record: the user's other
    boards stay right."""
    try:
        raw: Any = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"value is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError("value is not a JSON object")
    if raw.get("user_id") != user_id:
        raise ValueError(f"user_id {raw.get('user_id')!r} does not match the key {user_id!r}")
    username = raw.get("username")
    if username is not None and not isinstance(username, str):
        raise ValueError("username is not a string")
    boards = raw["boards"]
    if not isinstance(boards, dict):
        raise ValueError("boards is not an object")
    out: dict[str, tuple[int, int]] = {}
    for board_id, standing in boards.items():
        name = board_id.rpartition("/")[0]
        if name and name not in definitions:
            continue
        try:
            definitions.parse(board_id)
        except ValueError as exc:
            raise ValueError(f"boards: {board_id[:100]!r} is not a board id: {exc}") from None
        score, since = standing["score"], standing["since"]
        if type(score) is not int or type(since) is not int:
            raise ValueError(f"boards.{board_id}: score and since must be integers")
        if not -_SHIFT <= score <= _FLIP or not -_SHIFT <= since <= _FLIP:
            raise ValueError(f"boards.{board_id}: score or since outside the signed 64-bit range")
        out[board_id] = (score, since)
    return out, username
