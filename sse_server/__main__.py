"""``python -m sse_server`` / ``scoreboard-sse``: the read/stream API under uvicorn (SIGINT/SIGTERM stop).

Sized for about 10,000 open streams per process: the open-file limit is raised to its hard limit (one socket
per client), uvicorn runs on uvloop with the httptools parser and a listen backlog of 4096. The streams are capped
(``SCOREBOARD_SSE_MAX_STREAMS``, :mod:`sse_server.admission`), and so is what a connection may take before its
request is in (``schemas.runtime.uvicorn_internals``: a deadline on receiving a request, a bound on its headers).
A bad setting, an invalid action catalog or boards file (the reason names the board and field), or a broker
refusing the TLS handshake or the SASL login prints one line and exits 2.
"""

from __future__ import annotations

import gc
import logging
import resource
import sys

import uvicorn
from pydantic import ValidationError

from schemas.boards import BoardsError
from schemas.catalog import CatalogError
from schemas.runtime.kafka import refused_at_start
from schemas.runtime.uvicorn_internals import bounded_httptools
from schemas.settings import describe_invalid
from sse_server.app import create_app, load_boards
from sse_server.settings import SseSettings

log = logging.getLogger("sse_server")


def raise_open_files_limit(max_streams: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("sse: could not raise the open-files limit from %d to %d: %s", soft, hard, exc)
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log.info("sse: open-files limit %d (was %d, hard %d): about %d streams", now, soft, hard, max(0, now - 100))
    if now - 100 < max_streams:
        log.warning("sse: SCOREBOARD_SSE_MAX_STREAMS=%d but the open-files limit %d leaves room for about %d: "
                    "past that, connections fail before the cap answers 503", max_streams, now, max(0, now - 100))


def main() -> int:
    try:
        settings = SseSettings()
    except ValidationError as exc:
        print(f"sse_server: invalid settings: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        boards = load_boards(settings)
    except (CatalogError, BoardsError) as exc:
        print(f"sse_server: configuration error: {exc}", file=sys.stderr)
        return 2
    refused = refused_at_start(settings)
    if refused is not None:
        print(f"sse_server: {refused}", file=sys.stderr)
        return 2
    raise_open_files_limit(settings.sse_max_streams)
    gc.collect()  # what is built by now lives as long as the process: keep full collections off it
    gc.freeze()
    uvicorn.run(
        create_app(settings, boards=boards), host=settings.sse_host, port=settings.sse_port,
        log_level=settings.log_level.lower(), loop="uvloop",
        http=bounded_httptools(settings.http_request_timeout_s, settings.http_max_header_bytes),
        forwarded_allow_ips=settings.sse_forwarded_allow_ips,
        log_config=None, access_log=False, timeout_graceful_shutdown=5, backlog=4096,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
