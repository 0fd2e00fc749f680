"""The latest board per board id, as read from ``leaderboard-updates``, and which board a window shows now.

Pure in-memory state (no I/O) so the rules are unit-tested directly:
- a record's key is the board id (``alltime``, ``daily:2026-11-26``, ``weekly:2026-W48``) and must match the
  value's ``window``/``period``; a value that does not validate is rejected with the reason;
- a tombstone (value ``None``) removes the board;
- ``version`` only grows per board: an older or equal version (a replay or a duplicate) is ignored;
- the ``daily``/``weekly`` windows show the board of the *current* UTC period; before that board exists an
  empty board is shown whose version is its own — ``max(highest version seen for the window + 1, the period's
  start in µs)``, the same rule the worker uses when it opens the period — so ids only grow across a rollover,
  and a client holding the old period's id is never told it is current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from schemas.leaderboard import WINDOWS, LeaderboardSnapshot, Window
from schemas.periods import board_id, check_board_id, period_for, period_start_us

Outcome = Literal["applied", "removed", "stale", "invalid"]


@dataclass(frozen=True)
class ApplyResult:
    """What one record did: ``board`` is the affected board id (``None`` when the key was unusable)."""

    outcome: Outcome
    board: str | None
    reason: str = ""


def window_of(board: str) -> Window | None:
    head = board.partition(":")[0]
    return head if head in WINDOWS else None


def current_board_id(window: Window, now: datetime) -> str:
    """The board a window shows at ``now``: ``alltime``, ``daily:<UTC date>`` or ``weekly:<ISO week>``."""
    return board_id(window, period_for(window, now))


class BoardStore:
    """Latest snapshot per board id plus the highest version seen per window."""

    def __init__(self) -> None:
        self.boards: dict[str, LeaderboardSnapshot] = {}
        self.max_version: dict[Window, int] = dict.fromkeys(WINDOWS, 0)

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
        expected = board_id(snapshot.window, snapshot.period)
        if expected != board:
            return ApplyResult("invalid", board, f"key {board!r} does not match window/period ({expected!r})")
        try:
            check_board_id(board)
        except ValueError as exc:
            return ApplyResult("invalid", board, str(exc))
        old = self.boards.get(board)
        if old is not None and snapshot.version <= old.version:
            return ApplyResult("stale", board, f"version {snapshot.version} <= current {old.version}")
        self.boards[board] = snapshot
        window = snapshot.window
        self.max_version[window] = max(self.max_version[window], snapshot.version)
        return ApplyResult("applied", board)

    def current(self, window: Window, now: datetime) -> LeaderboardSnapshot:
        """The board ``window`` shows at ``now`` (an empty board while the current period has none)."""
        board = self.boards.get(current_board_id(window, now))
        if board is not None:
            return board
        return LeaderboardSnapshot(
            data=[], timestamp=now, window=window, period=period_for(window, now),
            version=max(self.max_version[window] + 1, period_start_us(window, now)),
        )
