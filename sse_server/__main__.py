"""``python -m sse_server`` / ``scoreboard-sse``: the read/stream API under uvicorn (SIGINT/SIGTERM stop)."""

from __future__ import annotations

import logging

import uvicorn

from sse_server.app import create_app
from sse_server.settings import SseSettings


def main() -> None:
    settings = SseSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    uvicorn.run(
        create_app(settings), host=settings.sse_host, port=settings.sse_port,
        log_level=settings.log_level.lower(),
        log_config=None, access_log=False, timeout_graceful_shutdown=5, backlog=4096,
    )


if __name__ == "__main__":
    main()
