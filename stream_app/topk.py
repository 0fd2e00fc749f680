"""Exact global top-K in two stages — the pure part.

Stage 1 (per source partition): :class:`BoardIndex` is an ordered index over *every* user of the partition on
one board, so the local top-K stays right when a score goes down (an insert-only top-K set would not).
Stage 2 (one partition): :func:`merge_top` merges the latest local lists of all partitions.

Why it is exact: a user in the global top-K has fewer than K users above it globally, hence fewer than K above it
in its own partition, so it is in its partition's local top-K; merging the local lists therefore sees every
member of the global top-K. One ordering everywhere: score descending, then who reached that score first
(``since`` in ms), then ``user_id``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import NamedTuple

from sortedcontainers import SortedList


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


class BoardIndex:
    """All users of one partition on one board, kept in rank order."""

    def __init__(self) -> None:
        self._order: SortedList = SortedList(key=rank_key)
        self._by_user: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._by_user)

    def upsert(self, entry: Entry) -> None:
        old = self._by_user.get(entry.user_id)
        if old is not None:
            self._order.remove(old)
        self._by_user[entry.user_id] = entry
        self._order.add(entry)

    def remove(self, user_id: str) -> None:
        old = self._by_user.pop(user_id, None)
        if old is not None:
            self._order.remove(old)

    def top(self, k: int) -> list[Entry]:
        return list(self._order.islice(0, k))


def merge_top(lists: Iterable[list[Entry]], k: int) -> list[Entry]:
    """Global top-K from per-partition top-K lists (each already in rank order)."""
    merged = heapq.merge(*lists, key=rank_key)
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
