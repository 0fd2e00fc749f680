"""Swagger UI served by the service itself: ``/docs`` works offline (no CDN), for both APIs.

FastAPI's default ``/docs`` page loads Swagger UI's script and stylesheet from a CDN, so it is blank on a machine
without the internet (a laptop on a plane, an air-gapped cluster). The same files ship in the ``fastapi-offline``
package (pinned); they are mounted at ``/docs-assets`` and the page is FastAPI's own ``get_swagger_ui_html``
pointed at them. Build the app with ``docs_url=None`` and call :func:`serve_docs` before any catch-all mount.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode
from starlette.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs-assets"


def serve_docs(app: FastAPI) -> None:
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )


class SchemaRef(Protocol):
    def __call__(self, model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> str: ...


def extend_openapi(app: FastAPI, edit: Callable[[dict[str, Any], SchemaRef], None]) -> None:
    """Let ``edit(schema, ref)`` change the app's OpenAPI once, when it is first generated (what FastAPI does not
    document itself: plain ASGI routes, the 400 a bad parameter really gets). ``ref(model)`` registers a model's
    JSON Schema under ``components/schemas`` and returns its ``$ref``. Several edits chain, in the order given."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})

        def ref(model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> str:
            found = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
            return f"#/components/schemas/{model.__name__}"

        edit(schema, ref)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
