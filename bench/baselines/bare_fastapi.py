"""The framework ceiling of bench 2: ``POST /scores`` in FastAPI that reads the body and answers 202, no Kafka.

Served by uvicorn exactly as ``producer_api`` is (uvloop, httptools, no access log), so the difference between
the two is what our API does per request (key check, validation, catalog, produce, reply) and nothing else.

``python -m bench.baselines.bare_fastapi PORT``
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response


def create_app() -> FastAPI:
    app = FastAPI(title="bare FastAPI ceiling")

    @app.post("/scores")
    async def post_score(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(b'{"status":"accepted"}', status_code=202, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    return app


def main() -> int:
    uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
