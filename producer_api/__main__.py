"""``python -m producer_api`` / ``scoreboard-api``: validate settings and catalog, then serve with uvicorn.

HTTP runs on uvicorn's httptools protocol with a deadline on receiving a request and a bound on its headers
(``schemas.runtime.uvicorn_internals``, ``SCOREBOARD_HTTP_REQUEST_TIMEOUT_S``/``SCOREBOARD_HTTP_MAX_HEADER_BYTES``).
A configuration problem (no API keys outside dev, a bad catalog or boards file, a bad value, a broker refusing the TLS
handshake or the SASL login) prints one clear line and exits 2, without a traceback.
"""

from __future__ import annotations

import gc
import logging
import sys

import uvicorn
from pydantic import ValidationError

from producer_api.app import create_app
from producer_api.settings import ApiSettings
from schemas.boards import BoardsError
from schemas.catalog import CatalogError
from schemas.runtime.kafka import refused_at_start
from schemas.runtime.uvicorn_internals import bounded_httptools
from schemas.settings import describe_invalid


def main() -> int:
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        print(f"producer_api: invalid settings: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except (CatalogError, BoardsError) as exc:  # BoardsError names the board and the field
        print(f"producer_api: {exc}", file=sys.stderr)
        return 2
    refused = refused_at_start(settings)
    if refused is not None:
        print(f"producer_api: {refused}", file=sys.stderr)
        return 2
    gc.collect()  # what is built by now lives as long as the process: keep full collections off it
    gc.freeze()
    uvicorn.run(
        app, host=settings.api_host, port=settings.api_port, loop="uvloop",
        http=bounded_httptools(settings.http_request_timeout_s, settings.http_max_header_bytes),
        access_log=False,  # producer_api.access logs method, path, status and latency: never headers
        log_config=None, timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
