"""The admin routes (``/admin/...``, OpenAPI tag ``moderation``): ban, unban, revert and the ledger.

They are cold (an operator's clicks, rate limited per admin key), so they are ordinary FastAPI routes with their
OpenAPI for free. The ``X-ADMIN-KEY`` check, the admin rate limit and the body limit are the middlewares'
(``middleware``); here each request becomes one ``ModerationCommand`` (``schemas.moderation``, the interface
with the stream worker) on the ``moderation`` topic, which is also the audit record of the action: what, on whom,
why, which admin key *id* (never the key), when.

- ban / unban / ledger: one record keyed by ``user_id`` (the same murmur2 partitioner as ``score-events``, so it
  lands in the partition that owns the user's events, and the worker applies it in order with them).
- revert: one record per partition of ``moderation`` (explicit partition, key = the event id, one command id):
  the API cannot know whose event an id is; the partition whose journal holds it acts.

The answer is worked out by ``moderation_answers`` from the produce outcome and the worker's answers, collected
by ``moderation_results`` (registered before producing).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from starlette.responses import Response

from producer_api.auth import AdminKey
from producer_api.errors import BadRequest, from_pydantic, json_response, problem, summary
from producer_api.kafka_io import EventLogUnavailable, OutcomeUnknown
from producer_api.models import BadRequestBody, ErrorBody, documented
from producer_api.moderation_answers import (
    Answer,
    accepted,
    ledger_answer,
    ledger_timeout,
    not_written,
    revert_answer,
    revert_timeout,
    unknown,
)
from producer_api.moderation_results import settle
from producer_api.state import ApiState, State
from schemas.boards import GLOBAL, Board, Boards
from schemas.events import UserId, check_characters
from schemas.leaderboard import Window
from schemas.moderation import MAX_LEDGER, MAX_REASON, Action, LedgerEntry, ModerationCommand
from schemas.periods import first_day
from schemas.runtime.docs import SchemaRef, extend_openapi

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["moderation"])

# words for the audit record: printable text (no control or bidi characters: it is shown in tools and logs)
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON),
                   AfterValidator(check_characters)]
USER_ID = TypeAdapter(UserId)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "cheating: bot traffic"}]})

    reason: Reason = Field(description=f"why (1-{MAX_REASON} characters); recorded on `moderation`")


class CommandAcceptedBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "accepted", "command_id": "5f0c6f6e0c1d4b8f9a2e7d3c1b0a9f8e"}]})

    status: Literal["accepted"]
    command_id: str
    event_id: str | None = Field(None, description="revert only")
    detail: str | None = Field(None, description="revert only: why the worker's answer is not known yet")


class RevertedBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "reverted", "event_id": "idem-3f1c9a27d5e84b0c6a1f2e9d7b5c3a1e0f9d8c7b", "user_id": "u-0042",
         "points": 25, "command_id": "5f0c6f6e0c1d4b8f9a2e7d3c1b0a9f8e"}]})

    status: Literal["reverted", "already_reverted"]
    event_id: str
    user_id: str | None
    points: int | None = Field(description="the points taken off")
    command_id: str


class CommandErrorBody(BaseModel):
    detail: str
    command_id: str
    event_id: str | None = None


class CommandFailedBody(BaseModel):
    """503 (``not_written``: nothing was recorded) or 504 (``unknown``: sent, not acknowledged)."""

    status: Literal["not_written", "unknown"]
    command_id: str
    detail: str


class LedgerBody(BaseModel):
    user_id: str
    board: str
    window: Window
    period: str | None
    data: list[LedgerEntry] = Field(description="the applied events that make up the score there, newest first")


FAILED: dict[int | str, dict[str, Any]] = {
    401: documented("Missing or invalid `X-ADMIN-KEY` (an API key is not an admin key)", ErrorBody),
    404: documented("No such route here: the admin routes are off (no SCOREBOARD_ADMIN_KEYS outside dev)",
                    ErrorBody),
    400: documented("A bad path parameter, query parameter or body (the message names it)", BadRequestBody),
    413: documented("Request body larger than SCOREBOARD_MAX_BODY_BYTES", ErrorBody),
    429: documented("The admin key's rate limit (SCOREBOARD_ADMIN_RATE_LIMIT) is exceeded; wait `Retry-After` "
                    "seconds", ErrorBody),
    503: documented("Nothing was recorded: the moderation log (Kafka) is unavailable; retry after `Retry-After`",
                    CommandFailedBody),
    504: documented("Sent to the moderation log but not acknowledged in time: it may be recorded and applied; a "
                    "retry is safe", CommandFailedBody),
}


def user_of(user_id: str) -> str:
    try:
        return USER_ID.validate_python(user_id)
    except ValidationError as exc:
        errors = from_pydantic(exc.errors(), ("path", "user_id"))
        raise BadRequest(summary("invalid request", errors), errors) from None


def command(action: Action, admin: AdminKey, **fields: Any) -> ModerationCommand:
    return ModerationCommand(command_id=uuid.uuid4().hex, action=action, admin_key_id=admin.key_id,
                             requested_at=datetime.now(UTC), **fields)


def respond(state: ApiState, cmd: ModerationCommand, answer: Answer) -> Response:
    state.metrics.admin_actions.labels(cmd.action, answer.outcome).inc()
    target = cmd.user_id if cmd.event_id is None else cmd.event_id
    log.info("admin %s of %r by admin key %s (command %s): %d %s", cmd.action, target, cmd.admin_key_id,
             cmd.command_id, answer.status, answer.outcome)
    return json_response(answer.status, answer.body, answer.headers)


def _value(cmd: ModerationCommand) -> bytes:
    """The record's value: the fields set, and the board only on a ledger (the one command that names one)."""
    return cmd.model_dump_json(exclude_none=True, exclude=None if cmd.action == "ledger" else {"board"}).encode()


async def record_for_user(state: ApiState, cmd: ModerationCommand) -> int | Answer:
    """One record keyed by the user: its partition, or the failure's answer."""
    if state.event_log is None:
        return not_written(cmd)
    assert cmd.user_id is not None  # noqa: S101 (ModerationCommand checks it for every action but revert)
    try:
        return await state.event_log.produce_to(state.settings.topics.moderation, cmd.user_id.encode(), _value(cmd))
    except EventLogUnavailable:
        return not_written(cmd)
    except OutcomeUnknown:
        return unknown(cmd)


async def record_everywhere(state: ApiState, cmd: ModerationCommand) -> list[int] | Answer:
    """One record per partition of ``moderation`` (a revert): the partitions written, or the failure's answer —
    503 when none was written, 504 when any may have been."""
    event_log, topic = state.event_log, state.settings.topics.moderation
    if event_log is None:
        return not_written(cmd)
    try:
        partitions = await event_log.partitions_of(topic)
    except EventLogUnavailable:
        return not_written(cmd)
    assert cmd.event_id is not None  # noqa: S101 (ModerationCommand checks it for a revert)
    key, value = cmd.event_id.encode(), _value(cmd)
    sent = await asyncio.gather(*(event_log.produce_to(topic, key, value, p) for p in partitions),
                                return_exceptions=True)
    failed = [s for s in sent if isinstance(s, BaseException)]
    if not failed:
        return partitions
    if all(isinstance(f, EventLogUnavailable) for f in failed) and len(failed) == len(sent):
        return not_written(cmd)
    for f in failed:
        if not isinstance(f, (EventLogUnavailable, OutcomeUnknown)):
            raise f
    return unknown(cmd)


async def user_action(state: ApiState, cmd: ModerationCommand) -> Response:
    written = await record_for_user(state, cmd)
    return respond(state, cmd, written if isinstance(written, Answer) else accepted(cmd))


UserIdPath = Annotated[str, Path(description="the user (1-128 characters, as on `POST /scores`)")]
EventIdPath = Annotated[str, Path(min_length=1, max_length=255, description="the `event_id` of an applied event "
                                                                             "(`POST /scores` answers it)"),
                        AfterValidator(check_characters)]  # as event ids on score-events: no control characters


@router.post("/users/{user_id}/ban", status_code=202, response_model=CommandAcceptedBody,
             summary="Ban a user: gone from every board, window, period and standing; their events still count",
             responses={202: documented("Recorded on `moderation`: the worker applies it within a second",
                                        CommandAcceptedBody), **FAILED})
async def ban(user_id: UserIdPath, body: ReasonBody, admin: AdminKey, state: State) -> Response:
    """Recorded on `moderation` (key `user_id`); `202` once durably written. Within a second the user is gone from
    every board and standings endpoint; `POST /scores` for them answers as usual, and what they score while banned
    counts when they are unbanned. Banning a banned user changes nothing."""
    return await user_action(state, command("ban", admin, user_id=user_of(user_id), reason=body.reason))


@router.delete("/users/{user_id}/ban", status_code=202, response_model=CommandAcceptedBody,
               summary="Unban a user: back everywhere with the exact totals, events received while banned included",
               responses={202: documented("Recorded on `moderation`: the worker applies it within a second",
                                          CommandAcceptedBody), **FAILED})
async def unban(user_id: UserIdPath, admin: AdminKey, state: State,
                reason: Annotated[Reason | None, Query(description="why (optional), recorded")] = None) -> Response:
    """Recorded on `moderation` (key `user_id`); `202` once durably written. Unbanning a user who is not banned
    changes nothing."""
    return await user_action(state, command("unban", admin, user_id=user_of(user_id), reason=reason))


@router.post("/events/{event_id}/revert", status_code=202, response_model=RevertedBody | CommandAcceptedBody,
             summary="Revert an event: its points are taken off every board and period it counted in, exactly once",
             responses={
                 200: documented("Already reverted (by an earlier request): nothing changed", RevertedBody),
                 202: documented("`reverted`: done, `points` taken off `user_id`'s boards (their next `new_score` "
                                 "reflects it). `accepted`: recorded, but the worker did not answer within "
                                 "SCOREBOARD_MODERATION_TIMEOUT_MS; it will apply it, once",
                                 RevertedBody | CommandAcceptedBody),
                 404: documented("No applied event with this id (within the revert horizon), or the admin routes "
                                 "are off", CommandErrorBody | ErrorBody),
                 410: documented("The event is past the revert horizon (SCOREBOARD_REVERT_DAYS)", CommandErrorBody),
                 422: documented("The stream worker refused the revert (`detail` is its reason)", CommandErrorBody),
                 **{k: v for k, v in FAILED.items() if k != 404},
             })
async def revert(event_id: EventIdPath, body: ReasonBody, admin: AdminKey, state: State) -> Response:
    """Recorded on every partition of `moderation` (key `event_id`, one `command_id`); the worker owning the event
    takes its points off every board and period it counted in (past periods included while kept)."""
    cmd = command("revert", admin, event_id=event_id, reason=body.reason)
    if state.moderation is None:
        return respond(state, cmd, not_written(cmd))
    pending = state.moderation.register(cmd.command_id)
    try:
        written = await record_everywhere(state, cmd)
        if isinstance(written, Answer):
            return respond(state, cmd, written)
        days, partitions = state.settings.revert_days, written
        answer = await settle(pending, lambda found: revert_answer(cmd, found, partitions, days),
                              state.settings.moderation_timeout)
        return respond(state, cmd, answer or revert_timeout(cmd, state.settings.moderation_timeout_ms))
    finally:
        state.moderation.discard(cmd.command_id)


PERIOD_EXAMPLES = {"daily": "2026-11-26", "weekly": "2026-W48", "monthly": "2026-11"}


def _bad_query(name: str, message: str) -> BadRequest:
    return BadRequest(f"{name}: {message}", [problem(("query", name), message, "value_error")])


def ledger_board(boards: Boards, name: str, window: Window) -> Board:
    """The board asked for, with ``window`` one of its windows; ``BadRequest`` naming what is wrong."""
    try:
        board = boards.get(name)
    except ValueError as exc:
        raise _bad_query("board", str(exc)) from None
    if window not in board.windows:
        raise _bad_query("window", f"board {board.name!r} has no {window} window (its windows: "
                                   f"{', '.join(board.windows)})")
    return board


def ledger_period(board: Board, window: Window, period: str | None) -> str | None:
    """The period asked for (default: the current one in the board's zone), as the read API's ``period``;
    ``BadRequest`` if bad."""
    if period is None:
        return board.period(window, datetime.now(UTC))
    if window == "alltime":
        raise _bad_query("period", "the alltime window has no periods")
    try:
        first_day(window, period)
    except ValueError:
        raise _bad_query("period", f"{period[:40]!r} is not a {window} period (e.g. "
                                   f"{PERIOD_EXAMPLES[window]!r})") from None
    return period


def ledger_period_out_of_range(cmd: ModerationCommand, boards: Boards, revert_days: int) -> Answer | None:
    """A period that has not begun is unknown (404, as on the read API); one that ended before the revert horizon
    has no ledger any more (410). Told here, without asking the worker (it would answer an empty list). Bounds
    are the board's: its periods are local days, weeks and months of its zone."""
    window = cmd.window or "alltime"
    bounds = None if cmd.period is None else boards.bounds(boards.get(cmd.board).key(window, cmd.period))
    if bounds is None:
        return None
    start, end = bounds
    now = datetime.now(UTC)
    where = f"{window}" if cmd.board == GLOBAL else f"{window} of board {cmd.board!r}"
    if start > now:
        return Answer(404, {"detail": f"period {cmd.period!r} of {where} has not begun",
                            "command_id": cmd.command_id}, "unknown_period")
    if end < now - timedelta(days=revert_days):
        return Answer(410, {"detail": f"period {cmd.period!r} of {where} ended before the revert horizon "
                                      f"(SCOREBOARD_REVERT_DAYS={revert_days} days)", "command_id": cmd.command_id},
                      "past_horizon")
    return None


@router.get("/users/{user_id}/events", response_model=LedgerBody,
            summary="The applied events that make up a user's score on a board, newest first",
            responses={
                200: documented("The events, newest first (`data` is empty for a user with none there)", LedgerBody),
                404: documented("No such period for this user (the worker's message, or a period that has not "
                                "begun), or the admin routes are off", CommandErrorBody | ErrorBody),
                410: documented("That period is past the revert horizon", CommandErrorBody),
                422: documented("The stream worker refused the request (`detail` is its reason)", CommandErrorBody),
                504: documented("The stream worker did not answer within SCOREBOARD_MODERATION_TIMEOUT_MS (nothing "
                                "changes: retry), or the request was not acknowledged by Kafka",
                                CommandErrorBody | CommandFailedBody),
                **{k: v for k, v in FAILED.items() if k not in (404, 504)},
            })
async def ledger(
    user_id: UserIdPath, admin: AdminKey, state: State,
    window: Annotated[Window, Query(description="alltime, daily, weekly or monthly: one of the board's windows")
                      ] = "alltime",
    period: Annotated[str | None, Query(description="a period of the window within the revert horizon, in the "
                                                    "board's zone, e.g. 2026-11-26, 2026-W48 or 2026-11 (default: "
                                                    "the current one)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LEDGER, description="at most this many events")] = 100,
    board: Annotated[str, Query(max_length=64, description="a board of SCOREBOARD_BOARDS_FILE")] = GLOBAL,
) -> Response:
    """Each entry: `event_id`, `action_id`, `points` (what it scored on the board: its points, or its value on a
    value board), `occurred_at`, `reverted`; within the revert horizon. An unknown board, or a window the board does
    not have, is `400`. The request is recorded on `moderation` like every admin action, and answered by the worker
    owning the user."""
    chosen = ledger_board(state.boards, board, window)
    cmd = command("ledger", admin, user_id=user_of(user_id), window=window,
                  period=ledger_period(chosen, window, period), limit=limit, board=chosen.name)
    out_of_range = ledger_period_out_of_range(cmd, state.boards, state.settings.revert_days)
    if out_of_range is not None:
        return respond(state, cmd, out_of_range)
    if state.moderation is None:
        return respond(state, cmd, not_written(cmd))
    pending = state.moderation.register(cmd.command_id)
    try:
        written = await record_for_user(state, cmd)
        if isinstance(written, Answer):
            return respond(state, cmd, written)
        answer = await settle(pending, lambda found: ledger_answer(cmd, found), state.settings.moderation_timeout)
        return respond(state, cmd, answer or ledger_timeout(cmd, state.settings.moderation_timeout_ms))
    finally:
        state.moderation.discard(cmd.command_id)


def document(app: FastAPI) -> None:
    """Drop FastAPI's generated ``422 Validation Error`` from the admin operations: a bad parameter or body is a
    400 here (``errors``); a documented 422 (the worker's refusal) is kept."""

    def drop_validation_errors(schema: dict[str, Any], _: SchemaRef) -> None:
        for path, operations in schema["paths"].items():
            for operation in operations.values() if path.startswith("/admin/") else ():
                responses = operation.get("responses", {})
                if responses.get("422", {}).get("description") == "Validation Error":
                    del responses["422"]
        components = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" not in str(schema["paths"]):
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)

    extend_openapi(app, drop_validation_errors)
