"""Who may act through the dashboard: cross-site refusal, the login form and the session.

Two modes, chosen when the app is built (``create_app(..., login=...)``):

- **Local** (the dashboard listens on loopback, e.g. plain ``mixscope up``): the dashboard
  holds the API token of its environment (``MIXSCOPE_API_TOKEN``, or ``MIXSCOPE_READ_TOKEN``
  for a read-only one) and attaches it to its calls. Only this machine can reach it; requests
  naming another host (a DNS-rebinding page) are refused with 403.
- **Login** (the dashboard listens beyond loopback, or ``MIXSCOPE_DASHBOARD_LOGIN=1``): the
  dashboard holds no token. A user logs in at ``/login`` with the API token (may act) or the
  read token (may read); the token stays on the server, in memory, keyed by a random id in a
  signed, ``HttpOnly``, ``SameSite=Strict`` session cookie; ``/logout`` forgets it. Anonymous
  users read (unless the API needs a read token, then they are sent to ``/login``) and every
  write is refused before it reaches the API.

Every mutating request to the dashboard (Dash's ``POST /_dash-update-component``, the login
and logout forms) coming from another site (``Sec-Fetch-Site``/``Origin``) is answered 403,
so a hostile page cannot make a logged-in browser launch, cancel or delete.

**A new mutating callback opts in by doing nothing special**: it calls the API through
:func:`dashboard.common.api` (``ApiClient``), whose non-GET requests (and lab requests that
queue work) carry the session's token and are refused for anonymous users; its Dash request
goes through the cross-site guard like every callback. Never call the API with another
client or read a token from the environment in a page.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, has_request_context, redirect, request, session
from markupsafe import escape

from dashboard.client import ApiClient, ApiError

SESSION_TTL_S = 12 * 3600
#: Paths an anonymous user reaches even when reading needs a token (the login page's own).
PUBLIC_PREFIXES = ("/login", "/logout", "/assets/", "/_dash-component-suites/",
                   "/_favicon.ico")
LOGIN_HINT = "log in (top right) with the API token to launch, cancel or delete"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    h = host_header.strip()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def foreign_origin(headers: Any, scheme: str, trusted: tuple[str, ...] = ()) -> str | None:
    """Why a browser request comes from another site's page, or None (same rule as the
    API's ``backend.api.security.foreign_origin``; the dashboard imports nothing of it)."""
    origin = (headers.get("Origin") or "").rstrip("/")
    if origin and origin in trusted:
        return None
    site = (headers.get("Sec-Fetch-Site") or "").lower()
    if site in ("cross-site", "same-site"):
        return f"a {site} request (Origin {origin or 'unknown'})"
    if site in ("same-origin", "none"):
        return None
    if origin == "null":
        return "a request from an opaque origin"
    if origin and origin != f"{scheme}://{headers.get('Host', '')}":
        return f"a request from origin {origin}"
    return None


@dataclass
class _Login:
    token: str
    write: bool
    expires: float


@dataclass
class Access:
    """The dashboard's access policy (``app.server.config["MIXSCOPE_ACCESS"]``)."""

    login: bool
    trusted_origins: tuple[str, ...] = ()
    _sessions: dict[str, _Login] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _read_protected: bool | None = None

    # -- sessions ---------------------------------------------------------------------------
    def current(self) -> _Login | None:
        sid = session.get("sid") if has_request_context() else None
        if not sid:
            return None
        with self._lock:
            entry = self._sessions.get(sid)
            if entry is not None and entry.expires < time.time():
                self._sessions.pop(sid, None)
                entry = None
        return entry

    def open(self, token: str, write: bool) -> None:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            for k in [k for k, v in self._sessions.items() if v.expires < now]:
                del self._sessions[k]
            self._sessions[sid] = _Login(token, write, now + SESSION_TTL_S)
        session.clear()
        session["sid"] = sid

    def close(self) -> None:
        sid = session.pop("sid", None)
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)
        session.clear()

    def read_protected(self, base: ApiClient) -> bool:
        """Whether the API needs a token to read (asked once it answers)."""
        if self._read_protected is None:
            try:
                self._read_protected = bool(base.auth().get("read_token_configured"))
            except ApiError:
                return False  # the API is down: pages will say so
        return self._read_protected

    # -- the API client of this request ------------------------------------------------------
    def client(self, base: ApiClient) -> ApiClient:
        if not self.login:
            return base
        entry = self.current()
        if entry is None:
            return base.view(token=None, read_only=LOGIN_HINT)
        return base.view(token=entry.token, read_only=None if entry.write else
                         "this login may only read: log in with the API token to change runs")


def client_for_request() -> ApiClient | None:
    """The API client for the user of the current request (None outside a Dash app)."""
    base = current_app.config.get("MIXSCOPE_API")
    access: Access | None = current_app.config.get("MIXSCOPE_ACCESS")
    if base is None or access is None:
        return base
    return access.client(base)


def logged_in() -> bool | None:
    """True/False in login mode, None when the dashboard is local (no login)."""
    access: Access | None = current_app.config.get("MIXSCOPE_ACCESS") \
        if has_request_context() else None
    if access is None or not access.login:
        return None
    return access.current() is not None


def install(server: Flask, *, login: bool, trusted_origins: tuple[str, ...] = (),
            secure_cookie: bool = False) -> Access:
    """Add the guard, ``/login`` and ``/logout`` to the dashboard's Flask ``server``."""
    access = Access(login=login, trusted_origins=tuple(o.rstrip("/") for o in trusted_origins))
    server.config["MIXSCOPE_ACCESS"] = access
    # The cookie only names a server-side session; a fresh key per process is enough (a
    # restart logs everyone out, which is what forgetting the in-memory tokens means anyway).
    server.secret_key = secrets.token_bytes(32)
    server.config.update(SESSION_COOKIE_NAME="mixscope_session", SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=secure_cookie)

    @server.before_request
    def _guard():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            why = foreign_origin(request.headers, request.scheme, access.trusted_origins)
            if why:
                return {"detail": f"cross-site requests are refused: {why}"}, 403
        if not access.login:
            if not is_loopback(_host_name(request.host or "")):
                return {"detail": "this dashboard serves only its loopback address"}, 403
            return None
        if request.path.startswith(PUBLIC_PREFIXES) or access.current() is not None:
            return None
        if access.read_protected(server.config["MIXSCOPE_API"]):
            if request.method == "GET" and not request.path.startswith("/_dash"):
                return redirect(f"/login?next={quote(request.path)}")
            return {"detail": "log in to read this dashboard"}, 401
        return None

    @server.route("/login", methods=["GET", "POST"])
    def _login():
        nxt = request.values.get("next", "/explore")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/explore"  # never an open redirect
        if not access.login:  # a local dashboard acts with its environment's token alone
            note = ("This dashboard listens on this machine only and acts with the token of "
                    "the environment it was started in (MIXSCOPE_API_TOKEN), so a token given "
                    "here is not used. Start it with MIXSCOPE_API_TOKEN set, or with "
                    "MIXSCOPE_DASHBOARD_LOGIN=1 to log in here.")
            return _login_page(nxt, note), (200 if request.method == "GET" else 409)
        if request.method == "GET":
            return _login_page(nxt, "")
        token = (request.form.get("token") or "").strip()
        base: ApiClient = server.config["MIXSCOPE_API"]
        try:
            allowed = base.view(token=token or None, read_only=None).auth() if token else {}
        except ApiError as exc:
            return _login_page(nxt, f"The API did not answer ({exc.status})."), 502
        if allowed.get("write"):
            access.open(token, write=True)
        elif allowed.get("read") and allowed.get("read_token_configured"):
            access.open(token, write=False)
        elif token and not allowed.get("token_configured"):
            return _login_page(nxt, "The API has no token configured (MIXSCOPE_API_TOKEN), "
                                    "so this dashboard cannot let anyone change runs."), 403
        else:
            time.sleep(0.5)  # a small brake on guessing
            return _login_page(nxt, "Wrong token."), 401
        return redirect(nxt)

    @server.route("/logout", methods=["POST"])
    def _logout():
        access.close()
        return redirect("/explore")

    return access


def _login_page(nxt: str, error: str):
    """A plain form (works without JavaScript); the token is never written back into it."""
    err = f'<p class="login-error" id="login-error">{escape(error)}</p>' if error else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>mixscope · log in</title>
<link rel="stylesheet" href="/assets/palette.css">
<link rel="stylesheet" href="/assets/style.css"></head><body class="login-body">
<main class="login-card"><h1>mixscope</h1>
<p>Paste the API token (<code>MIXSCOPE_API_TOKEN</code>) to launch, cancel and delete runs,
or the read token to look around.</p>{err}
<form method="post" action="/login" id="login-form">
<input type="hidden" name="next" value="{escape(nxt)}">
<input type="password" name="token" id="login-token" autocomplete="current-password"
 placeholder="token" autofocus required>
<button type="submit" class="btn btn-primary" id="login-submit">Log in</button>
</form><p><a href="/explore">Continue without logging in</a></p></main></body></html>"""
