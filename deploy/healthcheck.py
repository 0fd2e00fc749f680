#!/usr/bin/env python3
"""Container healthcheck of the one Scoreboard image: probes whichever service the container runs.

The service is the first argument (``api``, ``sse``, ``worker``, ``topics``) or, without one, the ``scoreboard-*``
command found in the container's process list. ``api``, ``sse`` and the worker (its health endpoint, when enabled)
must answer ``GET /readyz`` with 200; the one-shot ``topics`` command has nothing to probe. Ports come from the
environment names the services read, with the same defaults. Exit status 0 = healthy, 1 = not. Standard library
only: it runs with the image's Python.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

# service -> (port environment name, default port, path that answers 200 when healthy)
TARGETS: dict[str, tuple[str, int, str]] = {
    "api": ("SCOREBOARD_API_PORT", 8000, "/readyz"),
    "sse": ("SCOREBOARD_SSE_PORT", 8001, "/readyz"),
    "worker": ("SCOREBOARD_WORKER_WEB_PORT", 6066, "/readyz"),
}
SERVICES = (*TARGETS, "topics")
FALSE = {"0", "false", "no", "off"}


def running_service(proc: Path = Path("/proc")) -> str | None:
    """The service of the first ``scoreboard-<service>`` command in the process list, if any."""
    for cmdline in sorted(proc.glob("[0-9]*/cmdline"), key=lambda p: int(p.parent.name)):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in args:
            name = os.path.basename(arg.decode(errors="replace"))
            if name.startswith("scoreboard-") and name.removeprefix("scoreboard-") in SERVICES:
                return name.removeprefix("scoreboard-")
    return None


def probe_url(service: str, environ: Mapping[str, str]) -> str | None:
    """The URL that must answer 200 for ``service``, or None when there is nothing to probe."""
    if service not in TARGETS:
        return None
    if service == "worker" and environ.get("SCOREBOARD_WORKER_WEB_ENABLED", "true").strip().lower() in FALSE:
        return None
    env_name, default, path = TARGETS[service]
    return f"http://127.0.0.1:{int(environ.get(env_name, default))}{path}"


def main(argv: list[str]) -> int:
    service = argv[0] if argv else running_service()
    if service is None or service not in SERVICES:
        print(f"healthcheck: no scoreboard service found (argument {argv!r})", file=sys.stderr)
        return 1
    url = probe_url(service, os.environ)
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (fixed http://127.0.0.1 URL)
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {service} {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
