"""``/docs``: Swagger UI from files the app serves itself (no CDN), under the app's CSP.

FastAPI's own page loads its assets from a CDN and starts the UI with an inline script; this
one takes both from ``cloud/api/static/swagger-ui`` so ``script-src 'self'`` holds. ReDoc is
off: one documentation UI is enough, and it would need a second vendored bundle.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_VERSION: Final = "5.35.0"
"""swagger-ui-dist from the npm registry; see ``static/swagger-ui/README.md``."""
ASSETS_PATH: Final = "/docs/assets"
ASSETS_DIR: Final = Path(__file__).parent / "static" / "swagger-ui"


def docs_page(*, title: str, openapi_url: str) -> str:
    """The HTML of ``/docs``: local CSS and scripts only, no inline script."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{escape(title)} - API documentation</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css?v={SWAGGER_UI_VERSION}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}"></script>
<script src="{ASSETS_PATH}/vitalgate-init.js?v={SWAGGER_UI_VERSION}"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets; the app must be built with ``docs_url=None``."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    page = docs_page(title=app.title, openapi_url=app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)
