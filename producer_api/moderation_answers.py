"""The HTTP answer of each admin request, as pure functions of what is known: the command, whether it was written,
and the stream worker's answers on ``moderation-results`` so far (``schemas.moderation``).

Kept apart from the routes so that the mapping — which set of per-partition answers is a 202, a 200, a 404, a
410 — is tested without a broker or a worker, case by case (``tests/unit/test_moderation_answers.py``).

- ban / unban: 202 once the command is durably on ``moderation`` (the worker applies it in order with the user's
  events; its answer is not waited for).
- revert: recorded on every partition; only the partition whose journal holds the event acts. One decisive answer
  (``applied``, ``already_reverted``, ``expired``, ``refused``) decides at once; otherwise the request waits for
  every partition it wrote to, and all of them answering that the event is not theirs is a 404. No decision
  within ``SCOREBOARD_MODERATION_TIMEOUT_MS``: 202 ``accepted`` — the command is recorded, and the worker applies
  it (once) when it reaches it.
- ledger: the owning partition's answer; none in time is a 504 (a read: nothing to apply later).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.moderation import ModerationCommand, ModerationResult

DECISIVE = ("applied", "already_reverted", "expired", "refused")  # in this order of precedence
RETRY_AFTER = {"Retry-After": "1"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    outcome: str  # the metrics label (scoreboard_api_admin_actions)
    headers: dict[str, str] = field(default_factory=dict)


def accepted(command: ModerationCommand) -> Answer:
    """ban / unban, durably recorded."""
    return Answer(202, {"status": "accepted", "command_id": command.command_id}, "accepted")


def not_written(command: ModerationCommand) -> Answer:
    return Answer(503, {"status": "not_written", "command_id": command.command_id,
                        "detail": "the moderation log (Kafka) is unavailable and nothing was recorded; retry after "
                                  "the Retry-After header's seconds"}, "not_written", RETRY_AFTER)


def unknown(command: ModerationCommand) -> Answer:
    return Answer(504, {"status": "unknown", "command_id": command.command_id,
                        "detail": "the command was sent to the moderation log (Kafka) but not acknowledged in time: "
                                  "it may or may not be recorded and applied; retrying is safe (a ban, unban or "
                                  "revert applied twice changes nothing)"}, "unknown", RETRY_AFTER)


def revert_answer(command: ModerationCommand, results: Sequence[ModerationResult], written: Collection[int],
                  revert_days: int) -> Answer | None:
    """The answer to a revert written to the partitions ``written``, from the answers so far; None: wait on."""
    cid, event_id = command.command_id, command.event_id
    mine = [r for r in results if r.command_id == cid]
    for status in DECISIVE:
        found = next((r for r in mine if r.status == status), None)
        if found is None:
            continue
        if status == "applied":
            return Answer(202, {"status": "reverted", "event_id": event_id, "user_id": found.user_id,
                                "points": found.points, "command_id": cid}, "reverted")
        if status == "already_reverted":
            return Answer(200, {"status": "already_reverted", "event_id": event_id, "user_id": found.user_id,
                                "points": found.points, "command_id": cid}, "already_reverted")
        if status == "expired":
            return Answer(410, {"detail": f"event {event_id!r} is past the revert horizon (SCOREBOARD_REVERT_DAYS="
                                          f"{revert_days} days): it can no longer be reverted",
                                "event_id": event_id, "command_id": cid}, "expired")
        return Answer(422, {"detail": found.detail or "the stream worker refused the revert",
                            "event_id": event_id, "command_id": cid}, "refused")
    if written and set(written) <= {r.partition for r in mine}:  # every partition answered: not theirs
        return Answer(404, {"detail": f"no applied event with id {event_id!r} (within the revert horizon)",
                            "event_id": event_id, "command_id": cid}, "not_found")
    return None


def revert_timeout(command: ModerationCommand, timeout_ms: int) -> Answer:
    return Answer(202, {"status": "accepted", "event_id": command.event_id, "command_id": command.command_id,
                        "detail": f"recorded on the moderation log; the stream worker did not answer within "
                                  f"{timeout_ms} ms and will apply it (once) when it reaches it"}, "timeout")


def ledger_answer(command: ModerationCommand, results: Sequence[ModerationResult]) -> Answer | None:
    """The answer to a ledger request from the owning partition's answer; None: wait on."""
    cid = command.command_id
    found = next((r for r in results if r.command_id == cid and r.status != "not_here"), None)
    if found is None:
        return None
    if found.status in ("applied", "unchanged"):
        events = [e.model_dump(mode="json") for e in found.events or ()]
        return Answer(200, {"user_id": command.user_id, "board": command.board, "window": command.window,
                            "period": command.period, "data": events}, "listed")
    detail = found.detail or {"not_found": "no such board or period for this user",
                              "expired": "that period is past the revert horizon",
                              "already_reverted": "unexpected answer"}.get(found.status, "refused by the worker")
    status, outcome = {"not_found": (404, "not_found"), "expired": (410, "expired")}.get(
        found.status, (422, "refused"))
    return Answer(status, {"detail": detail, "command_id": cid}, outcome)


def ledger_timeout(command: ModerationCommand, timeout_ms: int) -> Answer:
    return Answer(504, {"detail": f"the stream worker did not answer within {timeout_ms} ms "
                                  "(SCOREBOARD_MODERATION_TIMEOUT_MS): it may be down or catching up; retry",
                        "command_id": command.command_id}, "timeout", RETRY_AFTER)
