"""The interactive API docs (``/api/docs``) from files installed with the package: Swagger UI's
script and stylesheet come from the ``fastapi-offline`` wheel (Swagger UI 5, which reads
OpenAPI 3.1) and are served under ``/api/docs/static``, so the page works with no network
(issue 19: FastAPI's default page loads them from a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/api/docs"
STATIC_URL = f"{DOCS_URL}/static"
#: the files the page loads (all served from STATIC_URL)
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def static_dir() -> Path:
    """Where the installed Swagger UI files are."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """``GET /api/docs`` (Swagger UI over ``app.openapi_url``) and its static files. The app
    is created with ``docs_url=None`` so FastAPI's CDN page is not served."""
    app.mount(STATIC_URL, StaticFiles(directory=str(static_dir())), name="api-docs-static")
    oauth_url = f"{DOCS_URL}/oauth2-redirect"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} · docs",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon.png",
            oauth2_redirect_url=oauth_url)

    @app.get(oauth_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
