"""The standings lookups as plain ASGI endpoints on the app's router, documented from the same declarations.

``GET /leaderboard/users/{user_id}``, ``GET /leaderboard/around/{user_id}`` and ``GET /leaderboard/users?ids=``
are the read API's hottest requests (a game asks one per player screen). As FastAPI routes they cost ~180 µs of
CPU each in-process, nearly all of it FastAPI's request wrapper and parameter solving; the lookup and the body
take ~15-45 µs (``python -m bench --only standings --profile``). Each is therefore a :class:`Lookup`: an ASGI app
in an ordinary Starlette ``Route`` of the app's router (so middlewares, CORS, the exception handlers and routing
apply as to every route), ~35 µs in-process. Its parameters are declared once, as :class:`Param`: the same
declarations parse the request (``400`` naming the parameter) and describe it in the OpenAPI (:func:`document`),
so the documentation is generated from what is served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from schemas.boards import GLOBAL
from schemas.leaderboard import ALL_WINDOWS, Window
from schemas.runtime.docs import SchemaRef, extend_openapi
from schemas.standings import FriendsBody, RowsBody, UserStandingBody
from sse_server.standings_reads import BadParameter, StandingsReads, check_user_id, is_current, parse_ids, resolve
from sse_server.standings_reads import Scope as BoardScope

JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


class Answer(Exception):
    """An error answer: status and message (``{"detail": message}``)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Param:
    """One parameter: where it is, its JSON Schema (OpenAPI) and its parser (raises ``BadParameter``)."""

    name: str
    where: str  # query | path
    schema: dict[str, Any]
    description: str
    parse: Callable[[str], Any] = str
    default: Any = None
    required: bool = False

    def value(self, raw: str | None) -> Any:
        if raw is None:
            if self.required:
                raise BadParameter(f"{self.name}: required")
            return self.default
        try:
            return self.parse(raw)
        except BadParameter:
            raise
        except ValueError as exc:
            raise BadParameter(f"{self.name}: {exc}") from None


def _window(raw: str) -> Window:
    if raw not in ALL_WINDOWS:
        raise ValueError(f"must be one of {', '.join(ALL_WINDOWS)} (one the board has)")
    return raw  # narrowed to Window by the membership test


def _radius(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()):  # int() would take " 5", "5_0", "５"
        raise ValueError("must be an integer between 0 and 50")
    radius = int(raw)
    if not 0 <= radius <= 50:
        raise ValueError("must be between 0 and 50")
    return radius


WINDOW_HELP = ("alltime, daily (a day), weekly (an ISO week) or monthly, in the board's time zone; one the board "
               "has (GET /leaderboards). Default: alltime, or the board's first window when it has no alltime")
BOARD_HELP = "the board (GET /leaderboards lists them); an unknown one is 400"
PERIOD_HELP = "a past period still kept, e.g. 2026-11-26, 2026-W48 or 2026-11 (default: the current one)"
WINDOW = Param("window", "query", {"type": "string", "enum": list(ALL_WINDOWS)}, WINDOW_HELP, _window)
PERIOD = Param("period", "query", {"type": "string"}, PERIOD_HELP)
BOARD_PARAM = Param("board", "query", {"type": "string", "default": GLOBAL}, BOARD_HELP, default=GLOBAL)
USER = Param("user_id", "path", {"type": "string", "minLength": 1, "maxLength": 128}, "the player",
             check_user_id, required=True)
RADIUS = Param("radius", "query", {"type": "integer", "minimum": 0, "maximum": 50, "default": 5},
               "rows above and below", _radius, 5)
IDS = Param("ids", "query", {"type": "string"}, "1-100 comma-separated user ids", parse_ids, required=True)
BOARD_PARAMS = (WINDOW, PERIOD, BOARD_PARAM)

Handler = Callable[[StandingsReads, dict[str, Any], BoardScope, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Lookup:
    """A GET endpoint: parse the declared parameters, resolve the board, answer with ``handler``'s body."""

    path: str
    summary: str
    description: str
    params: Sequence[Param]
    model: type[BaseModel]
    handler: Handler
    not_found: bool = True
    responses: dict[str, Any] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = self.answer(scope)
        payload = orjson.dumps(body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [*JSON, (b"content-length", b"%d" % len(payload))]})
        await send({"type": "http.response.body", "body": payload})

    def answer(self, scope: Scope) -> tuple[int, dict[str, Any]]:
        now = datetime.now(UTC)
        try:
            raw = self._raw(scope)
            values = {p.name: p.value(raw.get(p.name)) for p in self.params}
            model = scope["state"]["model"]
            board = resolve(values["window"], values["period"], values["board"], now, model.boards)
            if not kept(model, board, now):
                raise Answer(404, f"period {board.period!r} of {board.window} is unknown or no longer kept")
            return 200, self.handler(model.standings, values, board, now)
        except BadParameter as exc:
            return 400, {"detail": str(exc)}
        except Answer as exc:
            return exc.status, {"detail": exc.detail}

    def _raw(self, scope: Scope) -> dict[str, str]:
        """The request's parameters by name; ``BadParameter`` for bytes that are not UTF-8 (a user id is text) or
        a declared parameter given twice (which one would count is a guess)."""
        try:
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True, errors="strict")
            unquote_to_bytes(scope.get("raw_path") or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise BadParameter("the request's path or query is not UTF-8") from None
        names = [name for name, _ in pairs]
        for param in self.params:
            if names.count(param.name) > 1:
                raise BadParameter(f"{param.name}: given more than once")
        return {**dict(pairs), **scope.get("path_params", {})}

    def operation(self, ref: SchemaRef) -> dict[str, Any]:
        errors = {"400": {"description": "a bad parameter (the message names it)"},
                  "404": {"description": "the period is unknown or no longer kept" + (
                      "; or the user has no score on this board and period" if self.not_found else "")}}
        return {
            "tags": ["standings"], "summary": self.summary, "description": self.description,
            "operationId": self.summary.lower().replace(" ", "_"),
            "parameters": [{"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                            "description": p.description, "schema": p.schema} for p in self.params],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
                "$ref": ref(self.model)}}}}, **errors},
        }


def kept(model: Any, board: BoardScope, now: datetime) -> bool:
    """The current period, or a past one the read side still holds (a board or ranks): else ``404``."""
    return (is_current(board, now, model.boards) or model.broadcaster.keeps(board.board_id)
            or model.standings.index.board(board.board_id) is not None)


def _user(reads: StandingsReads, values: dict[str, Any], board: BoardScope, now: datetime) -> dict[str, Any]:
    body = reads.user(board, values["user_id"], now)
    if body is None:
        raise Answer(404, f"user {values['user_id']!r} has no score on {board.board_id}")
    return body


def _around(reads: StandingsReads, values: dict[str, Any], board: BoardScope, now: datetime) -> dict[str, Any]:
    body = reads.around(board, values["user_id"], values["radius"], now)
    if body is None:
        raise Answer(404, f"user {values['user_id']!r} has no score on {board.board_id}")
    return body


def _friends(reads: StandingsReads, values: dict[str, Any], board: BoardScope, now: datetime) -> dict[str, Any]:
    return reads.friends(board, values["ids"], now)


LOOKUPS = (
    Lookup("/leaderboard/users/{user_id:path}", "User standing",
           "Where one player stands: score, exact rank among `total_players` and `top_percent` "
           "(= round(100 * rank / total_players, 2)).", (USER, *BOARD_PARAMS), UserStandingBody, _user),
    Lookup("/leaderboard/around/{user_id:path}", "Around a user",
           "The player's row with up to `radius` rows above and below (fewer at either end of the board).",
           (USER, *BOARD_PARAMS, RADIUS), RowsBody, _around),
    Lookup("/leaderboard/users", "Friends board",
           "Those players' rows with their global ranks, by rank; `missing` lists the ids with no score on the "
           "board.", (IDS, *BOARD_PARAMS), FriendsBody, _friends, not_found=False),
)


def routes() -> list[Route]:
    return [Route(lookup.path, lookup, methods=["GET"]) for lookup in LOOKUPS]


def document(app: FastAPI) -> None:
    """Add the lookups to the app's OpenAPI (FastAPI documents only its own routes), and document the status a
    bad parameter really gets (400, from the app's validation handler) instead of FastAPI's default 422."""

    def add_lookups(schema: dict[str, Any], ref: SchemaRef) -> None:
        for lookup in LOOKUPS:
            schema["paths"][lookup.path.replace(":path", "")] = {"get": lookup.operation(ref)}
        for operations in schema["paths"].values():  # a bad parameter is answered 400 here, never FastAPI's 422
            for operation in operations.values():
                if operation.get("responses", {}).pop("422", None) is not None:
                    operation["responses"].setdefault("400", {"description": "a bad parameter (the message names it)"})
        stream = schema["paths"].get("/leaderboard/stream", {}).get("get", {}).get("responses", {}).get("200", {})
        stream.get("content", {}).pop("application/json", None)  # it is text/event-stream only
        components = schema["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)

    extend_openapi(app, add_lookups)
