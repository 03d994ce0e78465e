
"""The mixscope dashboard: a Dash (Pages) app that is a client of the HTTP API only.

``create_app(api_url)`` builds the app; ``python -m dashboard.app --api-url URL --port 8050``
serves it (``mixscope dashboard`` / ``mixscope up`` do the same). Every page lives in
``dashboard/pages/`` and registers itself with ``dash.register_page``; the navigation bar is
built from the page registry, so a new page file (e.g. ``pages/lab.py``) appears by itself.
All JavaScript and CSS are served locally (no CDN): the app works without internet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dash
from dash import Input, Output, dcc, html
from flask import redirect, request

from dashboard.client import ApiClient, ApiError
from dashboard.common import api

HERE = Path(__file__).resolve().parent


def _navbar() -> html.Header:
    links = [
        dcc.Link(page["name"], href=page["relative_path"], className="nav-link",
                 id=f"nav-{page['module'].rsplit('.', 1)[-1]}")
        for page in sorted(dash.page_registry.values(), key=lambda p: p.get("order") or 99)
        if page["path"] != "/"
    ]
    return html.Header(
        html.Div([
            dcc.Link([html.Span(className="brand-mark"), html.Span("mixscope")],
                     href="/explore", className="brand"),
            html.Nav(links, className="nav-links"),
            html.Div([html.Span(className="dot", id="api-dot"),
                      html.Span("API", id="api-status")], className="api-status",
                     title="Is the mixscope API reachable?"),
        ], className="navbar-inner"),
        className="navbar",
    )


def _shell() -> html.Div:
    return html.Div([
        # Shared state that outlives a page: the run the user last looked at.
        dcc.Store(id="shared-run", storage_type="session"),
        dcc.Interval(id="health-interval", interval=15_000),
        _navbar(),
        html.Main(dash.page_container, className="page"),
        html.Footer("mixscope — the geometry of mixup, epoch by epoch", className="footer"),
    ])


def create_app(api_url: str) -> dash.Dash:
    """A Dash app talking to the mixscope API at ``api_url`` (``http://host:port``)."""
    app = dash.Dash(
        "dashboard",
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        serve_locally=True,
        title="mixscope",
        update_title=None,
        suppress_callback_exceptions=True,
    )
    app.server.config["MIXSCOPE_API"] = ApiClient(api_url)
    app.layout = _shell

    @app.server.before_request
    def _home():  # the landing page is Explore (the demo run's channels)
        if request.path == "/":
            return redirect("/explore" + (f"?{request.query_string.decode()}"
                                          if request.query_string else ""))
        return None

    @app.callback(Output("api-status", "children"), Output("api-dot", "className"),
                  Input("health-interval", "n_intervals"))
    def _health(_n):
        try:
            info = api().health()
            return f"API {info.get('version', '')}".strip(), "dot dot-ok"
        except ApiError:
            return "API offline", "dot dot-bad"

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the mixscope dashboard.")
    parser.add_argument("--api-url", default=None,
                        help="the mixscope API (default: MIXSCOPE_API_URL or http://127.0.0.1:8000)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    import os
    url = args.api_url or os.environ.get("MIXSCOPE_API_URL", "http://127.0.0.1:8000")
    app = create_app(url)
    app.run(host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
