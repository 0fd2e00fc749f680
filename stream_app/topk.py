"""Exact global top-K in two stages — the pure part.

Stage 1 (per source partition): :class:`BoardIndex` holds *every* user of the partition on one board, so the local
top-K stays right when a score goes down (an insert-only top-K set would not); it works the top out lazily, from
the previous top and the users that changed since (a sorted index updated per event cost ~30 µs per event).
Stage 2 (one partition): :func:`merge_top` merges the latest local lists of all partitions.

Why it is exact: a user in the global top-K has fewer than K users above it globally, hence fewer than K above it
in its own partition, so it is in its partition's local top-K; merging the local lists therefore sees every
member of the global top-K. One ordering per board everywhere: score descending (ascending on ``asc`` boards,
e.g. fastest times), then who reached that score first (``since`` in ms), then ``user_id``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import NamedTuple


class Entry(NamedTuple):
    """A user on a board. ``rank_key`` sorts the board: score desc, reached-first, user_id."""

    user_id: str
    score: int
    since: int
    username: str | None = None

    @property
    def rank_key(self) -> tuple[int, int, str]:
        return (-self.score, self.since, self.user_id)


def rank_key(entry: Entry) -> tuple[int, int, str]:
    return entry.rank_key


def rank_key_asc(entry: Entry) -> tuple[int, int, str]:
    """The order of an ``asc`` board: lowest score first, then reached-first, then user_id."""
    return (entry.score, entry.since, entry.user_id)


def order_of(ascending: bool) -> Callable[[Entry], tuple[int, int, str]]:
    return rank_key_asc if ascending else rank_key


class BoardIndex:
    """All users of one partition on one board; ``top(k)`` is worked out lazily.

    Between two ``top`` calls an update only touches dicts. ``top(k)`` then ranks just the previous top plus the
    users that changed: every other user was ranked below the whole previous top and has not moved. Only when a
    member of the previous top got worse (a negative score change) or left does it rank everyone again.
    """

    def __init__(self, ascending: bool = False) -> None:
        self._key = order_of(ascending)
        self._by_user: dict[str, Entry] = {}
        self._top: list[Entry] = []
        self._top_k = 0
        self._top_users: dict[str, Entry] = {}
        self._changed: dict[str, Entry] = {}
        self._rank_all = True  # no valid previous top

    def __len__(self) -> int:
        return len(self._by_user)

    def upsert(self, entry: Entry) -> None:
        user_id = entry.user_id
        self._by_user[user_id] = entry
        if self._rank_all:
            return
        old = self._top_users.get(user_id)
        if old is not None and self._key(entry) > self._key(old):
            self._rank_all = True
        else:
            self._changed[user_id] = entry

    def remove(self, user_id: str) -> None:
        if self._by_user.pop(user_id, None) is not None and user_id in self._top_users:
            self._rank_all = True
        self._changed.pop(user_id, None)

    def top(self, k: int) -> list[Entry]:
        if self._rank_all or k != self._top_k:
            top = heapq.nsmallest(k, self._by_user.values(), key=self._key)
        elif self._changed:
            pool = {e.user_id: e for e in self._top}
            pool.update(self._changed)
            top = heapq.nsmallest(k, pool.values(), key=self._key)
        else:
            return list(self._top)
        self._top, self._top_k, self._rank_all = top, k, False
        self._top_users = {e.user_id: e for e in top}
        self._changed.clear()
        return list(top)


def merge_top(lists: Iterable[list[Entry]], k: int, ascending: bool = False) -> list[Entry]:
    """Global top-K from per-partition top-K lists (each already in the board's rank order)."""
    merged = heapq.merge(*lists, key=order_of(ascending))
    out: list[Entry] = []
    seen: set[str] = set()
    for entry in merged:
        if entry.user_id in seen:  # a user lives in one partition; guard against a stale duplicate anyway
            continue
        seen.add(entry.user_id)
        out.append(entry)
        if len(out) == k:
            break
    return out
