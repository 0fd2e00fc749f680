"""The classic design of the spec, minimal: FastAPI + a Redis sorted set + Redis pub/sub to SSE (sse-starlette).

``POST /scores`` checks the API key, validates the body, looks up the points, and in one Redis transaction
does ``ZINCRBY`` (the user's all-time score), ``INCR`` (the board version) and ``ZREVRANGE 0 K-1 WITHSCORES``
(the top K); it then ``PUBLISH``es the board and answers ``200 {"status": "success", "new_score": N}``.
``GET /leaderboard`` reads the sorted set itself. The standings lookups of the standings bench are there too,
as a Redis design serves them: ``GET /leaderboard/users/{id}`` (``ZREVRANK`` + ``ZSCORE`` + ``ZCARD`` + the name
from a hash, one round trip) and ``GET /leaderboard/around/{id}?radius=5`` (``ZREVRANK``, then ``ZREVRANGE`` and
``HMGET`` of the names: two round trips), on the sorted set ``lb:<board id>`` of ``?window=`` (``lb:alltime``,
``lb:daily:2026-12-01``, ...); equal scores are ordered by member (Redis's rule), not by who got there first.
K is 10, the spec's "fetches Top 10 leaderboard". ``GET /leaderboard/stream`` is an SSE stream of the same
board JSON as ours (event ``leaderboard_update``, ``id:`` = version). One pub/sub subscriber per process keeps
the latest board, encoded once as an SSE frame; each client is woken for the latest one (a slow client skips
boards, as ours does), so the reference is not handicapped by per-client queues or per-client encoding. The
Redis client uses hiredis, as a production deployment would. No durable log, no exactly-once, no replay,
all-time board only: that is what it leaves out.

``python -m bench.baselines.redis_app PORT REDIS_PORT API_KEY``
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from schemas.catalog import EXAMPLE_CATALOG, ActionCatalog
from schemas.leaderboard import WINDOWS, Window
from schemas.periods import board_id, period_for

SCORES, VERSION, CHANNEL, NAMES = "lb:alltime", "lb:version", "lb:updates", "lb:names"
TOP_K = 10  # the spec: "Fetches Top 10 leaderboard"


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def board_key(window: str, now: datetime) -> str | None:
    """The sorted set of ``window``'s current board (None: not a window)."""
    if window not in WINDOWS:
        return None
    current: Window = window
    return f"lb:{board_id(current, period_for(current, now))}"


class Latest:
    """The latest board and a future every waiting client shares, replaced at each new board."""

    def __init__(self) -> None:
        self.version = 0
        self.frame = b""
        self.changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def publish(self, version: int, payload: bytes) -> None:
        if version <= self.version:
            return
        self.version = version
        self.frame = b"id: %d\nevent: leaderboard_update\ndata: %s\n\n" % (version, payload)
        changed, self.changed = self.changed, asyncio.get_running_loop().create_future()
        changed.set_result(None)

    async def follow(self) -> AsyncIterator[bytes]:
        sent = 0
        while True:
            if self.version > sent:
                sent = self.version
                yield self.frame  # sse-starlette sends bytes as they are
            await asyncio.shield(self.changed)


async def subscribe(client: aioredis.Redis, latest: Latest) -> None:
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    async for message in pubsub.listen():
        if message["type"] == "message":
            data = message["data"]
            latest.publish(orjson.loads(data)["version"], data)


def create_app(redis_url: str, api_keys: frozenset[str], catalog: ActionCatalog) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(redis_url, max_connections=256)
        app.state.redis, app.state.latest = client, Latest()
        listener = asyncio.create_task(subscribe(client, app.state.latest))
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await client.aclose()

    app = FastAPI(title="classic Redis leaderboard (reference)", lifespan=lifespan)

    @app.post("/scores")
    async def post_score(request: Request) -> Response:
        if request.headers.get("x-api-key") not in api_keys:
            return json_response(401, {"detail": "missing or invalid X-API-KEY"})
        try:
            body = orjson.loads(await request.body())
            user_id, action_id = body["user_id"], body["action_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return json_response(400, {"detail": "body must be {user_id, action_id}"})
        if not isinstance(user_id, str) or not 0 < len(user_id) <= 128 or not isinstance(action_id, str):
            return json_response(400, {"detail": "invalid user_id or action_id"})
        points = catalog.points(action_id)
        if points is None:
            return json_response(422, {"detail": f"unknown action_id '{action_id}'"})
        client: aioredis.Redis = request.app.state.redis
        async with client.pipeline(transaction=True) as pipe:
            pipe.zincrby(SCORES, points, user_id)
            pipe.incr(VERSION)
            pipe.zrevrange(SCORES, 0, TOP_K - 1, withscores=True)
            new_score, version, top = await pipe.execute()
        data = [{"rank": i + 1, "user_id": uid.decode(), "username": None, "score": int(score)}
                for i, (uid, score) in enumerate(top)]
        board = {"data": data, "timestamp": datetime.now(UTC).isoformat(), "window": "alltime", "version": version}
        await client.publish(CHANNEL, orjson.dumps(board))
        return json_response(200, {"status": "success", "new_score": int(new_score)})

    @app.get("/leaderboard")
    async def leaderboard(request: Request) -> Response:
        """The board read straight from the sorted set (what a Redis design's GET does): its own writes at once."""
        client: aioredis.Redis = request.app.state.redis
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(VERSION)
            pipe.zrevrange(SCORES, 0, TOP_K - 1, withscores=True)
            version, top = await pipe.execute()
        data = [{"rank": i + 1, "user_id": uid.decode(), "username": None, "score": int(score)}
                for i, (uid, score) in enumerate(top)]
        return json_response(200, {"data": data, "timestamp": datetime.now(UTC).isoformat(), "window": "alltime",
                                   "version": int(version or 0)})

    @app.get("/leaderboard/users/{user_id}")
    async def user_standing(request: Request, user_id: str, window: str = "alltime") -> Response:
        now = datetime.now(UTC)
        key = board_key(window, now)
        if key is None:
            return json_response(400, {"detail": "window: unknown window"})
        client: aioredis.Redis = request.app.state.redis
        async with client.pipeline(transaction=False) as pipe:
            pipe.zrevrank(key, user_id)
            pipe.zscore(key, user_id)
            pipe.zcard(key)
            pipe.hget(NAMES, user_id)
            pipe.get(VERSION)
            rank, score, total, name, version = await pipe.execute()
        if rank is None:
            return json_response(404, {"detail": f"user {user_id!r} has no score on {key[3:]}"})
        return json_response(200, {"user_id": user_id, "username": name.decode() if name else None,
                                   "score": int(score), "rank": rank + 1,
                                   "top_percent": round(100 * (rank + 1) / total, 2), "window": window,
                                   "total_players": total, "version": int(version or 0),
                                   "timestamp": now.isoformat()})

    @app.get("/leaderboard/around/{user_id}")
    async def around(request: Request, user_id: str, window: str = "alltime", radius: int = 5) -> Response:
        now = datetime.now(UTC)
        key = board_key(window, now)
        if key is None or not 0 <= radius <= 50:
            return json_response(400, {"detail": "window or radius: out of range"})
        client: aioredis.Redis = request.app.state.redis
        rank = cast(int | None, await client.zrevrank(key, user_id))
        if rank is None:
            return json_response(404, {"detail": f"user {user_id!r} has no score on {key[3:]}"})
        start = max(0, rank - radius)
        async with client.pipeline(transaction=False) as pipe:
            pipe.zrevrange(key, start, rank + radius, withscores=True)
            pipe.zcard(key)
            pipe.get(VERSION)
            rows, total, version = await pipe.execute()
        names = await client.hmget(NAMES, [uid for uid, _ in rows]) if rows else []
        data = [{"rank": start + i + 1, "user_id": text(uid), "username": text(name) if name else None,
                 "score": int(score)} for i, ((uid, score), name) in enumerate(zip(rows, names, strict=True))]
        return json_response(200, {"data": data, "window": window, "total_players": total,
                                   "version": int(version or 0), "timestamp": now.isoformat()})

    @app.get("/leaderboard/stream")
    async def stream(request: Request) -> EventSourceResponse:
        return EventSourceResponse(request.app.state.latest.follow(), ping=15, sep="\n",
                                   ping_message_factory=lambda: ServerSentEvent(comment="ping", sep="\n"))

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        await request.app.state.redis.ping()
        return json_response(200, {"status": "ready"})

    return app


def main() -> int:
    port, redis_port, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    app = create_app(f"redis://127.0.0.1:{redis_port}/0", frozenset({key}), ActionCatalog.load(EXAMPLE_CATALOG))
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False,
                log_config=None, backlog=4096)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
