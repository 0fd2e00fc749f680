"""Swagger UI served by the service itself: ``/docs`` works offline (no CDN), for both APIs.

FastAPI's default ``/docs`` page loads Swagger UI's script and stylesheet from a CDN, so it is blank on a machine
without the internet (a laptop on a plane, an air-gapped cluster). The same files ship in the ``fastapi-offline``
package (pinned); they are mounted at ``/docs-assets`` and the page is FastAPI's own ``get_swagger_ui_html``
pointed at them. Build the app with ``docs_url=None`` and call :func:`serve_docs` before any catch-all mount.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
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
