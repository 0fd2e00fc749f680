"""Apply ``moderation`` commands (ban, unban, revert, ledger) to the ``state`` table, exactly once per command.

``moderation`` is co-partitioned with ``score-events``, so Faust's assignor gives this worker the commands of the
users whose events it owns, and a batch of them is applied between two batches of events (never in the middle of
one). Exactly once, like the events: each user's state carries the offset of the last command applied to it
(``mod_offset``, written in the same value as the totals), so a replayed command is answered again and changes
nothing; a revert also marks the event's journal entry with its ``command_id``, written before the user's state
in the same changelog partition (if the state made it, the mark did too; a mark without the state is finished on
the replay).

- ban / unban: the user's ``banned`` flag; the totals keep counting. The boards (stage 1) and ``user-standings``
  show a banned user nowhere (``UserState.visible_boards``), so an unban brings back the exact totals.
- revert: the event's journal entry (``stream_app.idempotency``: the ``e:`` record, found by the ``v:`` index);
  it comes off every board and period it counted on that the user still holds (``stream_app.reverts``);
  ``already_reverted`` when marked by another
  command, ``expired`` past ``SCOREBOARD_REVERT_DAYS`` (by the command's broker time: a replay decides the same),
  ``not_here`` in a partition that does not hold the event (a revert is sent to every partition).
- ledger: the user's journal, newest first, filtered to one board key (board, window and period; a windowed
  window without a period means the period current at the request, in the board's zone) — read only.

A command that is not a valid :class:`schemas.moderation.ModerationCommand`, or about a user but not keyed by the
user's id in its partition, is a dead letter with the reason; a command that cannot be applied is answered
``refused`` with the reason. Nothing here stops the worker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from schemas.boards import Board, Boards
from schemas.moderation import LedgerEntry, ModerationCommand, ModerationResult
from stream_app.dlq import DeadLetters
from stream_app.idempotency import EVENT, EVENT_KEY_SEP, EventRecord, event_key, owner_prefix
from stream_app.ingest import Pending, PendingUser, UserChange, add_standings
from stream_app.record_batches import RecordBatches
from stream_app.reverts import revert_event, scores_of
from stream_app.scoring import ScoreOutOfRange, UserState
from stream_app.settings import WorkerSettings
from stream_app.tables import USER, PartitionStore, prefixed_items

log = logging.getLogger(__name__)

DEFAULT_LEDGER = 100


class EveryBoard:
    """Every board holds every applied event (no board is being filled)."""

    def counted(self, partition: int, offset: int, board: Board, state: UserState) -> bool:
        return True


class Answer(NamedTuple):
    status: str
    detail: str | None = None
    user_id: str | None = None
    event_id: str | None = None
    points: int | None = None
    events: list[LedgerEntry] | None = None


class Moderator:
    """``process`` applies one batch of ``moderation`` records; returns the users whose boards changed."""

    def __init__(self, store: PartitionStore, batches: RecordBatches, source_topic: str, results_topic: str,
                 standings_topic: str, dead_letters: DeadLetters, settings: WorkerSettings, boards: Boards) -> None:
        self.source_topic = source_topic
        self.boards = boards
        self.gate: Any = EveryBoard()  # which boards hold an event yet (stream_app.backfill's fill, in the app)
        self.store = store
        self.batches = batches
        self.results_topic = results_topic
        self.standings_topic = standings_topic
        self.dead = dead_letters
        self.horizon_ms = settings.revert_horizon_ms
        self.marked: dict[tuple[int, str], EventRecord] = {}

    async def process(self, messages: list[Any]) -> list[UserChange]:
        users: Pending = {}
        writes: dict[int, list[tuple[str, Any]]] = {}
        self.marked = {}  # journal entries this batch reverted, not written yet
        answers: list[tuple[Any, ModerationCommand, Answer]] = []
        partitions = await self.batches.partition_count(messages[0].topic) if messages else 0
        for message in messages:
            try:
                command = ModerationCommand.model_validate_json(message.value or b"")
            except ValidationError as exc:
                errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".removeprefix(": ")
                                   for e in exc.errors(include_url=False, include_input=False))
                await self.dead.send(message, f"invalid moderation command: {errors}"[:500])
                continue
            misplaced = self._misplaced(message, command, partitions)
            if misplaced is not None:
                await self.dead.send(message, misplaced[:500])
                continue
            try:
                answer = self._apply(message, command, users, writes)
            except Exception as exc:  # an input kind nobody foresaw: answered, never the worker's end
                log.exception("moderation command %s[%s]@%s could not be applied", message.topic,
                              message.partition, message.offset)
                answer = Answer("refused", f"cannot be applied: {exc!r}"[:500])
            answers.append((message, command, answer))
        changes: list[UserChange] = []
        for (partition, user_id), (state, boards) in users.items():
            writes.setdefault(partition, []).append((USER + user_id, state.to_json()))  # after the journal marks
            if boards:
                changes.append(UserChange(partition, user_id, state, frozenset(boards)))
        for partition, items in writes.items():
            self.store.write(partition, items)
        for message, command, answer in answers:
            self._answer(message, command, answer)
        await add_standings(self.batches, self.standings_topic, self.source_topic, users)
        await self.batches.send()
        return changes

    def _misplaced(self, message: Any, command: ModerationCommand, partitions: int) -> str | None:
        """Why a command about a user is not where the user's events are (None when it is): it must be keyed by the
        user_id and in that key's partition (Java's default partitioner), or another worker owns the user and
        this one would change a state nobody reads. A revert goes to every partition by design."""
        if command.action == "revert" or command.user_id is None:
            return None
        key = command.user_id.encode()
        if message.key != key or self.batches.partition_for(key, partitions) != message.partition:
            return (f"moderation command for user {command.user_id!r} must be keyed by the user_id and in its "
                    f"partition of {partitions} by Java's default partitioner (murmur2), as score-events are")
        return None

    def _state(self, partition: int, user_id: str, users: Pending) -> UserState:
        pending = users.get((partition, user_id))
        return pending.state if pending else UserState.from_json(self.store.get(partition, USER + user_id))

    def _apply(self, message: Any, command: ModerationCommand, users: Pending,
               writes: dict[int, list[tuple[str, Any]]]) -> Answer:
        partition, offset = message.partition, message.offset
        if command.action == "ledger":
            assert command.user_id is not None  # noqa: S101 - the model requires it for a ledger
            return self._ledger(partition, command, int(message.timestamp * 1000))
        if command.action == "revert":
            return self._revert(message, command, users, writes)
        user_id = command.user_id
        assert user_id is not None  # noqa: S101 - the model requires it for a ban/unban
        state = self._state(partition, user_id, users)
        if offset <= state.mod_offset:  # a replay after a crash: applied before
            return Answer("applied", user_id=user_id)
        banned = command.action == "ban"
        status = "applied" if state.banned != banned else "unchanged"
        state = state._replace(banned=banned, mod_offset=offset)
        self._change(partition, user_id, state, set(state.boards), users)
        return Answer(status, user_id=user_id)

    def _change(self, partition: int, user_id: str, state: UserState, boards: set[str], users: Pending) -> None:
        pending = users.get((partition, user_id))
        changed = pending.boards if pending else set()
        changed.update(boards)
        users[(partition, user_id)] = PendingUser(state, changed)

    def _revert(self, message: Any, command: ModerationCommand, users: Pending,
                writes: dict[int, list[tuple[str, Any]]]) -> Answer:
        partition, offset = message.partition, message.offset
        event_id = command.event_id
        assert event_id is not None  # noqa: S101 - the model requires it for a revert
        owners = [key[len(owner_prefix(event_id)):] for key, _ in
                  prefixed_items(self.store.table, partition, owner_prefix(event_id))]
        if not owners:
            return Answer("not_here", event_id=event_id)
        answer = Answer("not_found", event_id=event_id)
        for user_id in owners:  # one id is one event per user; an id reused for two users reverts both
            answer = self._revert_one(partition, offset, command, user_id, event_id, users, writes,
                                      int(message.timestamp * 1000))
        return answer

    def _revert_one(self, partition: int, offset: int, command: ModerationCommand, user_id: str, event_id: str,
                    users: Pending, writes: dict[int, list[tuple[str, Any]]], now_ms: int) -> Answer:
        key = event_key(user_id, event_id)
        # a revert earlier in this batch is not in the store yet: its mark must count (two reverts, one fetch)
        record = self.marked.get((partition, key)) or EventRecord.from_json(self.store.get(partition, key))
        if record is None:
            return Answer("not_found", user_id=user_id, event_id=event_id)
        state = self._state(partition, user_id, users)
        scored = record.points if record.value is None else record.value  # a value event: its value
        done = Answer("applied", user_id=user_id, event_id=event_id, points=scored)
        if record.reverted_by is not None and record.reverted_by != command.command_id:
            return Answer("already_reverted", user_id=user_id, event_id=event_id, points=scored)
        if offset <= state.mod_offset:  # a replay: the state already has it
            return done
        if record.reverted_by is None and now_ms - record.at_ms > self.horizon_ms:
            return Answer("expired", f"applied more than {self.horizon_ms // 86_400_000} days ago", user_id,
                          event_id)
        try:
            counted_state = state
            state, boards = revert_event(state, record, self.boards, offset,
                                         lambda: self._journal(partition, user_id),
                                         lambda board: self.gate.counted(partition, record.offset, board,
                                                                         counted_state))
        except ScoreOutOfRange as exc:
            return Answer("refused", str(exc), user_id, event_id)
        marked = self.marked[(partition, key)] = record._replace(reverted_by=command.command_id)
        writes.setdefault(partition, []).append((key, marked.to_json()))
        self._change(partition, user_id, state, set(boards), users)
        return done

    def _journal(self, partition: int, user_id: str) -> list[EventRecord]:
        """The user's journal records, with this batch's revert marks (not written yet) in place."""
        prefix = f"{EVENT}{user_id}{EVENT_KEY_SEP}"
        found = []
        for key, value in prefixed_items(self.store.table, partition, prefix):
            record = self.marked.get((partition, key)) or EventRecord.from_json(value)
            if record is not None:
                found.append(record)
        return found

    def _ledger(self, partition: int, command: ModerationCommand, now_ms: int) -> Answer:
        user_id = command.user_id or ""
        window = command.window or "alltime"
        # the board asked for: all-time, or a period of the window (the one current when asked, if none is named)
        try:
            definition = self.boards.get(command.board)
        except ValueError as exc:
            return Answer("refused", str(exc), user_id)
        board = definition.key(window, command.period or definition.period(window, command.requested_at))
        prefix = f"{EVENT}{user_id}{EVENT_KEY_SEP}"
        entries: list[tuple[int, int, LedgerEntry]] = []
        for key, value in prefixed_items(self.store.table, partition, prefix):
            record = EventRecord.from_json(value)
            if record is None or now_ms - record.at_ms > self.horizon_ms:
                continue  # past the revert horizon (kept a week more only to answer 410)
            scored = next((x for b, x in scores_of(record, self.boards) if b is definition), None)
            if scored is None or board not in definition.keys_at(record.occurred):
                continue  # another board's
            entries.append((record.occurred, record.offset, LedgerEntry(
                event_id=key[len(prefix):], action_id=record.action_id, points=scored,
                occurred_at=datetime.fromtimestamp(record.occurred / 1000, UTC),
                reverted=record.reverted_by is not None)))
        entries.sort(key=lambda item: (item[0], item[1]), reverse=True)  # same millisecond: the later record first
        limit = command.limit or DEFAULT_LEDGER
        return Answer("applied", user_id=user_id, events=[entry for _, _, entry in entries[:limit]])

    def _answer(self, message: Any, command: ModerationCommand, answer: Answer) -> None:
        result = ModerationResult(command_id=command.command_id, partition=message.partition, status=answer.status,
                                  detail=answer.detail, user_id=answer.user_id, event_id=answer.event_id,
                                  points=answer.points, events=answer.events)
        value = orjson.dumps(result.model_dump(mode="json", exclude_none=True))
        self.batches.add(self.results_topic, message.partition, command.command_id.encode(), value)
