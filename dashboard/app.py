
"""The mixscope dashboard: a Dash (Pages) app that is a client of the HTTP API only.

``create_app(api_url)`` builds the app; ``python -m dashboard.app --api-url URL --port 8050``
serves it (``mixscope dashboard`` / ``mixscope up`` do the same). Every page lives in
``dashboard/pages/`` and registers itself with ``dash.register_page``; the navigation bar is
built from the page registry, so a new page file (e.g. ``pages/lab.py``) appears by itself.
All JavaScript and CSS are served locally (no CDN): the app works without internet.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import dash
from dash import Input, Output, dcc, html
from flask import redirect, request

from dashboard.auth import install as install_access
from dashboard.auth import is_loopback, logged_in
from dashboard.client import ApiClient, ApiError
from dashboard.common import api

#: How often the header checks the API (ms): often while it does not answer (it may be
#: starting: ``mixscope up`` starts the dashboard beside it, and a page opened early said
#: "API offline" for the next 15 s), rarely once it does.
HEALTH_CHECK_MS = {"ok": 15_000, "offline": 2_000}

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
            _login_item(),
        ], className="navbar-inner"),
        className="navbar",
    )


def _login_item():
    """Log in / log out, only when this dashboard asks its users for the token."""
    state = logged_in()
    if state is None:
        return html.Span(id="login-state", hidden=True)
    if state:
        return html.Form([html.Button("Log out", type="submit", id="logout-button",
                                      className="nav-link nav-button")],
                         method="POST", action="/logout", id="login-state",
                         className="login-state")
    return html.A("Log in", href="/login", id="login-state", className="nav-link")


def _shell() -> html.Div:
    return html.Div([
        # Shared state that outlives a page: the run the user last looked at.
        dcc.Store(id="shared-run", storage_type="session"),
        dcc.Interval(id="health-interval", interval=HEALTH_CHECK_MS["offline"]),
        _navbar(),
        html.Main(dash.page_container, className="page"),
        html.Footer("mixscope — the geometry of mixup, epoch by epoch", className="footer"),
    ])


def create_app(api_url: str, *, login: bool = False, token: str | None = None,
               trusted_origins: tuple[str, ...] = ()) -> dash.Dash:
    """A Dash app talking to the mixscope API at ``api_url`` (``http://host:port``).

    ``login``: the dashboard holds no token and asks its users for one before any write
    (``dashboard/auth.py``); else it attaches ``token`` (default: ``MIXSCOPE_API_TOKEN``) to
    its calls, which only a loopback-bound dashboard may do. ``trusted_origins``: other
    origins it is reached under (a reverse proxy), for the cross-site check."""
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
    app.server.config["MIXSCOPE_API"] = ApiClient(api_url, token="" if login else token)
    install_access(app.server, login=login, trusted_origins=trusted_origins,
                   secure_cookie=os.environ.get("MIXSCOPE_DASHBOARD_SECURE_COOKIE", "")
                   .lower() in ("1", "true", "yes"))
    app.layout = _shell

    @app.server.before_request
    def _home():  # the landing page is Explore (the demo run's channels)
        if request.path == "/":
            return redirect("/explore" + (f"?{request.query_string.decode()}"
                                          if request.query_string else ""))
        return None

    @app.callback(Output("api-status", "children"), Output("api-dot", "className"),
                  Output("health-interval", "interval"),
                  Input("health-interval", "n_intervals"))
    def _health(_n):
        return api_status(api())

    return app


def api_status(client) -> tuple[str, str, int]:
    """The header's API status: (text, dot class, milliseconds to the next check)."""
    try:
        info = client.health()
    except ApiError:
        return "API offline", "dot dot-bad", HEALTH_CHECK_MS["offline"]
    return f"API {info.get('version', '')}".strip(), "dot dot-ok", HEALTH_CHECK_MS["ok"]


def login_required(host: str) -> bool:
    """A dashboard reachable beyond loopback (or told so) asks its users for the token."""
    forced = os.environ.get("MIXSCOPE_DASHBOARD_LOGIN", "").lower() in ("1", "true", "yes")
    return forced or not is_loopback(host)


def serve(api_url: str, *, host: str, port: int, debug: bool = False) -> None:
    """Serve the dashboard (gunicorn; Flask's development server only with ``debug``)."""
    login = login_required(host)
    # the token of the environment only ever reaches a dashboard that only this machine sees
    token = None if login else (os.environ.get("MIXSCOPE_API_TOKEN")
                                or os.environ.get("MIXSCOPE_READ_TOKEN"))
    origins = tuple(o.strip() for o in os.environ.get("MIXSCOPE_CORS_ORIGINS", "").split(",")
                    if o.strip())

    def factory():
        return create_app(api_url, login=login, token=token, trusted_origins=origins).server

    if debug:
        factory().run(host=host, port=port, debug=True)
        return
    from dashboard.serve import serve as gunicorn_serve

    gunicorn_serve(factory, host=host, port=port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the mixscope dashboard.")
    parser.add_argument("--api-url", default=None,
                        help="the mixscope API (default: MIXSCOPE_API_URL or http://127.0.0.1:8000)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true",
                        help="Flask's development server with reloading (never in production)")
    args = parser.parse_args(argv)
    url = args.api_url or os.environ.get("MIXSCOPE_API_URL", "http://127.0.0.1:8000")
    serve(url, host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
