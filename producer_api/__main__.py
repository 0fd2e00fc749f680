"""``python -m producer_api`` / ``scoreboard-api``: validate settings and catalog, then serve with uvicorn.

A configuration problem (no API keys outside dev, a bad catalog file, a bad value) prints one clear line
and exits 2, without a traceback.
"""

from __future__ import annotations

import gc
import logging
import sys

import uvicorn
from pydantic import ValidationError

from producer_api.app import create_app
from producer_api.settings import ApiSettings
from schemas.catalog import CatalogError


def _describe(exc: ValidationError) -> str:
    """One line per problem, naming the setting; never the input values (they may be keys)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in err["loc"])
        lines.append(f"{where}: {msg}" if where else msg)
    return "; ".join(lines)


def main() -> int:
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        print(f"producer_api: invalid settings: {_describe(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except CatalogError as exc:
        print(f"producer_api: {exc}", file=sys.stderr)
        return 2
    gc.collect()  # what is built by now lives as long as the process: keep full collections off it
    gc.freeze()
    uvicorn.run(
        app, host=settings.api_host, port=settings.api_port, loop="uvloop", http="httptools",
        access_log=False,  # producer_api.access logs method, path, status and latency: never headers
        log_config=None, timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
