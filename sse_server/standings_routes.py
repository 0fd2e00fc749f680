"""HTTP routes of the standings: one user, around a user, a friends list (``GET /leaderboard/users...``).

The page of any board (``GET /leaderboard?offset=``) is served by ``GET /leaderboard`` in :mod:`sse_server.routes`
with the same reads. Bodies are built by :class:`~sse_server.standings_reads.StandingsReads` and encoded with
orjson; the response models are declared for the OpenAPI description only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from schemas.leaderboard import Window
from schemas.standings import BOARD, FriendsBody, RowsBody, UserStandingBody
from sse_server.standings_reads import BadParameter, Scope, StandingsReads, check_user_id, parse_ids, resolve

NO_STORE = {"Cache-Control": "no-store"}
WindowParam = Annotated[Window, Query(description="alltime, daily (UTC day) or weekly (ISO week)")]
PeriodParam = Annotated[str | None, Query(description="a past period still retained, e.g. 2026-11-26 or "
                                                      "2026-W48 (default: the current one)")]
BoardParam = Annotated[str, Query(description=f"the board ({BOARD!r}: the one board of this deployment)")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "the user has no score on this board and period"},
             400: {"description": "a bad parameter (the message names it)"}}


async def get_reads(request: Request) -> StandingsReads:
    reads: StandingsReads = request.state.model.standings
    return reads


Reads = Annotated[StandingsReads, Depends(get_reads)]
router = APIRouter(tags=["standings"])


def scope_of(window: Window, period: str | None, board: str, now: datetime) -> Scope:
    try:
        return resolve(window, period, board, now)
    except BadParameter as exc:
        raise HTTPException(400, str(exc)) from None


def answer(body: dict[str, Any] | None, user_id: str, scope: Scope) -> Response:
    if body is None:
        raise HTTPException(404, f"user {user_id!r} has no score on {scope.board_id}")
    return Response(orjson.dumps(body), media_type="application/json", headers=NO_STORE)


def checked_user(user_id: str) -> str:
    try:
        return check_user_id(user_id)
    except BadParameter as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/leaderboard/users/{user_id:path}", response_model=UserStandingBody, responses=NOT_FOUND)
async def user_standing(reads: Reads, user_id: str, window: WindowParam = "alltime", period: PeriodParam = None,
                        board: BoardParam = BOARD) -> Response:
    """Where one player stands: score, exact rank among ``total_players`` and ``top_percent``."""
    now = datetime.now(UTC)
    scope = scope_of(window, period, board, now)
    return answer(reads.user(scope, checked_user(user_id), now), user_id, scope)


@router.get("/leaderboard/around/{user_id:path}", response_model=RowsBody, responses=NOT_FOUND)
async def around(reads: Reads, user_id: str, window: WindowParam = "alltime", period: PeriodParam = None,
                 board: BoardParam = BOARD,
                 radius: Annotated[int, Query(ge=0, le=50, description="rows above and below")] = 5) -> Response:
    """The player's row with up to ``radius`` rows above and below (fewer at either end of the board)."""
    now = datetime.now(UTC)
    scope = scope_of(window, period, board, now)
    return answer(reads.around(scope, checked_user(user_id), radius, now), user_id, scope)


@router.get("/leaderboard/users", response_model=FriendsBody,
            responses={400: {"description": "a bad parameter (the message names it)"}})
async def friends(reads: Reads, ids: Annotated[str, Query(description="1-100 comma-separated user ids")],
                  window: WindowParam = "alltime", period: PeriodParam = None, board: BoardParam = BOARD) -> Response:
    """A friends board: those players' rows with their global ranks, by rank; ``missing`` lists the ids with no
    score on the board."""
    now = datetime.now(UTC)
    scope = scope_of(window, period, board, now)
    try:
        wanted = parse_ids(ids)
    except BadParameter as exc:
        raise HTTPException(400, str(exc)) from None
    return Response(orjson.dumps(reads.friends(scope, wanted, now)), media_type="application/json",
                    headers=NO_STORE)
