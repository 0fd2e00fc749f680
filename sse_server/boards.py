"""The latest board per board key, as read from ``leaderboard-updates``, and which board a window shows now.

Pure in-memory state (no I/O) so the rules are unit-tested directly:
- a record's key is the board key (``alltime``, ``daily:2026-11-26``, ``weekly:2026-W48`` for the ``global`` board,
  ``<board>/<window>[:<period>]`` for the others, :mod:`schemas.boards`) of a board and window this deployment
  defines, and must match the value's ``board``/``window``/``period``; a value that does not validate is rejected
  with the reason;
- a tombstone (value ``None``) removes the board;
- ``version`` only grows per board key: an older or equal version (a replay or a duplicate) is ignored;
- a windowed board shows the board of its *current* period, in the board's time zone; before that board exists
  an empty board is shown whose version is its own — ``max(highest version seen for the board's window + 1, the
  period's start in µs)``, the same rule the worker uses when it opens the period — so ids only grow across a
  rollover, and a client holding the old period's id is never told it is current.

The definitions (:class:`schemas.boards.Boards`) are those the process loaded at start; without a boards file
that is the one ``global`` board (:data:`DEFAULT_BOARDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from schemas.boards import GLOBAL, Boards
from schemas.catalog import ActionCatalog
from schemas.leaderboard import LeaderboardSnapshot, Window

Outcome = Literal["applied", "removed", "stale", "invalid"]
Channel = tuple[str, Window]  # (board name, window): what a stream follows and a frame shows
DEFAULT_BOARDS = Boards.default(ActionCatalog({}))  # no boards file: the one global board


@dataclass(frozen=True)
class ApplyResult:
    """What one record did: ``board`` is the affected board key (``None`` when the key was unusable)."""

    outcome: Outcome
    board: str | None
    reason: str = ""


def window_of(key: str, boards: Boards = DEFAULT_BOARDS) -> Window | None:
    """The window of a board key; None for anything that is not a key of a board and window defined here."""
    try:
        return boards.parse(key).window
    except ValueError:
        return None


def current_board_id(window: Window, now: datetime, board: str = GLOBAL, boards: Boards = DEFAULT_BOARDS) -> str:
    """The key a board's window shows at ``now``: e.g. ``alltime``, ``daily:<local date>``, ``weekly:<ISO week>``
    of the board's zone (UTC for the default ``global`` board)."""
    return boards.current_key(board, window, now)


class BoardStore:
    """Latest snapshot per board key plus the highest version seen per (board, window)."""

    def __init__(self, definitions: Boards = DEFAULT_BOARDS) -> None:
        self.definitions = definitions
        self.boards: dict[str, LeaderboardSnapshot] = {}
        self.max_version: dict[Channel, int] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> ApplyResult:
        if key is None:
            return ApplyResult("invalid", None, "record has no key (the board id)")
        try:
            board = key.decode("utf-8")
        except UnicodeDecodeError:
            return ApplyResult("invalid", None, f"key is not UTF-8: {key[:80]!r}")
        if value is None:
            if self.boards.pop(board, None) is None:
                return ApplyResult("stale", board, "tombstone for an unknown board")
            return ApplyResult("removed", board)
        try:
            snapshot = LeaderboardSnapshot.model_validate_json(value)
        except ValidationError as exc:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()[:5]
            )
            return ApplyResult("invalid", board, reason)
        try:
            parts = self.definitions.parse(board)
        except ValueError as exc:
            return ApplyResult("invalid", board, f"{board[:100]!r} is not a board id: {exc}")
        expected = parts.board.key(snapshot.window, snapshot.period)
        if expected != board or snapshot.board != parts.board.name:
            return ApplyResult("invalid", board, f"key {board!r} does not match board/window/period "
                                                 f"({snapshot.board!r}: {expected!r})")
        old = self.boards.get(board)
        if old is not None and snapshot.version <= old.version:
            return ApplyResult("stale", board, f"version {snapshot.version} <= current {old.version}")
        self.boards[board] = snapshot
        channel = (parts.board.name, parts.window)
        self.max_version[channel] = max(self.max_version.get(channel, 0), snapshot.version)
        return ApplyResult("applied", board)

    def current(self, window: Window, now: datetime, board: str = GLOBAL) -> LeaderboardSnapshot:
        """The board ``board``'s ``window`` shows at ``now`` (an empty board while the current period has none)."""
        key = self.definitions.current_key(board, window, now)
        found = self.boards.get(key)
        if found is not None:
            return found
        return LeaderboardSnapshot(
            data=[], timestamp=now, window=window, period=self.definitions.parse(key).period,
            version=max(self.max_version.get((board, window), 0) + 1, self.definitions.period_start_us(key)),
            board=board,
        )
