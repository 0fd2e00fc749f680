"""How a revert takes an applied event off a user's boards — the pure part of ``stream_app.moderator``.

On a ``sum`` board the event's score comes off every period of its time the user still holds (exact, whatever
happened since). On ``max``, ``min`` and ``latest`` boards nothing can be subtracted: when the reverted event is
what holds the score there, the score is worked out again from the user's journal (the events of the revert
horizon, not reverted, in the order they were applied); a period left with no event leaves the board. Past the
journal's reach (an all-time best older than ``SCOREBOARD_REVERT_DAYS`` + 7 days) an older best is not seen: the
README says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from schemas.boards import Board, Boards
from stream_app.idempotency import EventRecord
from stream_app.scoring import UserState, combine, revert_sum


def scores_of(record: EventRecord, boards: Boards) -> tuple[tuple[Board, int], ...]:
    """The boards a journaled event counted on and what it scored on each (points, or its value on value boards);
    a record from before actions were journaled counted on ``global`` only."""
    if record.action_id is None:
        return ((boards.get("global"), record.points),)
    return tuple((b, record.value if b.value and record.value is not None else record.points)
                 for b in boards.counting(record.action_id))


def revert_event(state: UserState, record: EventRecord, boards: Boards, mod_offset: int,
                 journal: Callable[[], Iterable[EventRecord]],
                 counted: Callable[[Board], bool] = lambda board: True) -> tuple[UserState, list[str]]:
    """The user's state without ``record``'s event, and the keys that changed. ``journal`` yields the user's other
    journal records (asked only when a ``max``/``min``/``latest`` score must be worked out again); ``counted``
    says whether the event is on a board yet (a board being filled from the audit log may not have reached it)."""
    counting = tuple((board, x) for board, x in scores_of(record, boards) if counted(board))
    state, changed = revert_sum(state, counting, record.occurred, mod_offset)
    held = dict(state.boards)
    others: list[EventRecord] | None = None
    for board, x in counting:
        if board.aggregation == "sum":
            continue
        for key in board.keys_at(record.occurred):
            if key not in held or held[key][0] != x:
                continue  # the reverted event does not hold this score: nothing changes
            if others is None:
                others = sorted((r for r in journal() if r.reverted_by is None and r.offset != record.offset),
                                key=lambda r: r.offset)
            value: tuple[int, int] | None = None
            for other in others:
                if key not in board.keys_at(other.occurred):
                    continue
                for scored_on, y in scores_of(other, boards):
                    if scored_on is board:
                        value = combine(board.aggregation, value, y, other.occurred) or value
            if value is None:
                del held[key]
            else:
                held[key] = value
            changed.append(key)
    return state._replace(boards=held), changed
