"""Export the OpenAPI documents both APIs serve to ``docs/openapi/`` (``make contract``).

``python -m tools.export_contract`` rewrites ``docs/openapi/write-api.json`` and ``docs/openapi/read-api.json``
from the apps themselves (``create_app(...).openapi()``, what ``GET /openapi.json`` answers), with sorted keys so
that a diff shows only what changed; ``tests/unit/test_contract.py`` fails when they are stale. The apps are built
from settings given in code (defaults, dev mode, no broker): neither the environment nor a ``.env`` file of the
machine running it changes the files. The Kafka topics and the SSE stream are described by hand in
``docs/asyncapi.yaml``, whose payloads are the JSON Schemas of ``schemas/jsonschema/`` (``make schemas``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from producer_api.app import create_app as create_write_api
from producer_api.settings import ApiSettings
from schemas.settings import FromCodeOnly
from sse_server.app import create_app as create_read_api
from sse_server.settings import SseSettings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "openapi"
COMMAND = "make contract"


class _ApiSettings(FromCodeOnly, ApiSettings):
    pass


class _SseSettings(FromCodeOnly, SseSettings):
    pass


def documents() -> dict[str, dict[str, Any]]:
    """File name -> the OpenAPI document of each API."""
    write_api = create_write_api(_ApiSettings(env="dev"), with_broker=False)
    read_api = create_read_api(_SseSettings(env="dev"), tail_kafka=False)
    return {"write-api.json": write_api.openapi(), "read-api.json": read_api.openapi()}


def render() -> dict[str, str]:
    """File name -> JSON text of every exported document."""
    return {name: json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            for name, doc in documents().items()}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for filename, text in render().items():
        (OUT / filename).write_text(text, encoding="utf-8")
        print(f"wrote {(OUT / filename).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
