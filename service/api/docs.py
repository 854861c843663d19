"""/docs (Swagger UI) and /redoc with every file they load served by the service itself,
so that the reference works offline and in a container with no way out.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc its fonts from
Google); here the assets come from ``fastapi-offline``, a maintained package that ships
both bundles (MIT), mounted under ``/docs/assets``. Swagger UI's validator badge, which
would call validator.swagger.io, is switched off.
"""
from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_URL = "/docs/assets"
# the bundles ship inside the package, beside its code
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc (the app is made with docs_url=None, redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} {app.version}"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _unframed(get_swagger_ui_html(
            openapi_url=openapi_url, title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png", swagger_ui_parameters={"validatorUrl": None},
        ))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _unframed(get_redoc_html(
            openapi_url=openapi_url, title=title, redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False,
        ))


def _unframed(page: HTMLResponse) -> HTMLResponse:
    """No other site may frame the pages: Swagger UI's "Try it out" sends same-origin requests
    that pass the Origin guard, so a page that framed it could click them (clickjacking).
    Only frame-ancestors: a fuller policy would need the inline script FastAPI's pages hold."""
    page.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    page.headers["X-Frame-Options"] = "DENY"
    return page
