"""Who may act on the API: the token, the request's peer and origin, and the read token.

The rules (``docs/contracts.md`` "Security"):

- **Writes** (launch, cancel, delete, sweeps, resume, and lab requests that queue a worker
  job) need ``Authorization: Bearer <MIXSCOPE_API_TOKEN>`` whenever a token is configured,
  whatever address the server was started on. Without a token only a loopback *peer* (the
  address the connection really comes from, not the configured host) that named a loopback
  host (``Host: 127.0.0.1:8000``, which a DNS-rebinding page cannot send) may write. The
  decision never reads how the app was started, so ``mixscope api``, ``mixscope up``,
  ``uvicorn --factory backend.api.app:create_app`` and gunicorn's uvicorn worker all behave
  the same.
- **Cross-site requests cannot write.** A browser page of another origin can send a POST that
  needs no preflight (``text/plain``, ``mode: "no-cors"``) with the user's network position.
  Every mutating method whose ``Sec-Fetch-Site`` says ``cross-site``/``same-site`` or whose
  ``Origin`` is not the API's own is answered 403, unless that origin is listed in
  ``MIXSCOPE_CORS_ORIGINS``. Requests without these headers (curl, the dashboard's server,
  the CLI) are not browsers acting for a page and pass on to the token rule.
- **CORS** headers are sent only for the origins listed in ``MIXSCOPE_CORS_ORIGINS`` (empty
  by default: no CORS at all).
- **Host names**: only those the API serves (``MIXSCOPE_ALLOWED_HOSTS``; default the bound
  address, ``localhost``, ``127.0.0.1`` and ``::1``, and for a server bound to every address
  this machine's names and IP literals) are answered; any other ``Host`` gets 400, before
  anything is read. A DNS-rebinding page reaches the API under its own domain name, so it
  can read nothing.
- **Reads** stay open unless ``MIXSCOPE_READ_TOKEN`` is set; then every ``/api`` route except
  ``/api/health``, ``/api/auth`` and the OpenAPI docs needs the read token or the API token.

Tokens are compared in constant time and never echoed in an answer or a log line.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Reachable without the read token: liveness (compose's health check), the login check, docs.
OPEN_PATHS = ("/api/health", "/api/auth", "/api/docs", "/api/openapi.json")
#: A client that only reads says so (the dashboard's anonymous users): it never writes, even
#: where its loopback address alone would let it.
ANONYMOUS_HEADER = "x-mixscope-anonymous"
_BROWSER_FOREIGN = frozenset({"cross-site", "same-site"})  # Sec-Fetch-Site values


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (what only this machine can reach)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """``127.0.0.1`` from ``127.0.0.1:8000``, ``::1`` from ``[::1]:8000``."""
    h = host_header.strip()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class HostPolicy:
    """Which ``Host`` names this API answers (see the module doc); built once per app."""

    def __init__(self, settings: Any) -> None:
        listed = tuple(settings.allowed_host_list)
        self.any = "*" in listed
        bound = (settings.api_host or "").strip().lower()
        wildcard = bound in WILDCARD_HOSTS
        if listed:
            names = set(listed)
            self.any_ip = False
        else:
            names = {"localhost", "127.0.0.1", "::1"}
            if not wildcard:
                names.add(bound.strip("[]"))
            self.any_ip = wildcard  # every address of this machine (a rebinding page
            if wildcard:            # sends a domain name, never an IP literal)
                host = socket.gethostname().lower()
                names |= {host, socket.getfqdn().lower()}
        self.names = frozenset(n.strip("[]").rstrip(".") for n in names)

    def allows(self, host_header: str) -> bool:
        if self.any:
            return True
        host = host_name(host_header).lower().rstrip(".")
        return host in self.names or (self.any_ip and _is_ip(host))


def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an unset expected token matches nothing."""
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer(headers: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def foreign_origin(headers: Any, scheme: str, allowed: tuple[str, ...] = ()) -> str | None:
    """Why a browser request comes from a foreign page (None when it does not).

    ``headers`` maps lower-case names to values; ``allowed`` are extra trusted origins."""
    origin = (headers.get("origin") or "").rstrip("/")
    if origin and origin in allowed:
        return None
    site = (headers.get("sec-fetch-site") or "").lower()
    if site in _BROWSER_FOREIGN:
        return f"a {site} request (Origin {origin or 'unknown'})"
    if site in ("same-origin", "none"):  # the browser's own verdict (pages cannot forge it)
        return None
    if origin and origin != "null":
        own = f"{scheme}://{headers.get('host', '')}"
        if origin != own:
            return f"a request from origin {origin}"
    elif origin == "null":  # sandboxed frames and some redirects send the literal "null"
        return "a request from an opaque origin"
    return None


def write_refusal(request: Request) -> tuple[int, str] | None:
    """``(status, reason)`` when this request may not write, else None (see module doc)."""
    settings = request.app.state.settings
    why = foreign_origin(request.headers, request.url.scheme, settings.cors_origin_list)
    if why:
        return 403, f"cross-origin writes are refused: {why}"
    if request.headers.get(ANONYMOUS_HEADER):
        return 401, "an anonymous dashboard user may only read: log in with the API token"
    if settings.api_token:
        if token_matches(bearer(request.headers), settings.api_token):
            return None
        return 401, "missing or wrong token: send 'Authorization: Bearer <token>'"
    peer = request.client.host if request.client else ""
    if not is_loopback(peer):
        return 401, ("this API has no token configured (MIXSCOPE_API_TOKEN), so only this "
                     "machine (loopback) may launch, cancel or delete")
    if not is_loopback(host_name(request.headers.get("host", ""))):
        return 403, "without a token the API accepts writes only for a loopback host name"
    return None


def may_read(settings: Any, headers: Any) -> bool:
    """Whether a read is allowed: open, or the read or API token is presented."""
    if not settings.read_token:
        return True
    given = bearer(headers)
    return token_matches(given, settings.read_token) or token_matches(given, settings.api_token)


class AccessMiddleware:
    """Refuses host names the API does not serve (400), cross-site mutating requests (403)
    and unauthenticated reads when a read token is configured (401), before any route runs. Token checks of writes stay in the routes
    (:func:`backend.api.deps.require_token`), which know what they mutate."""

    def __init__(self, app: ASGIApp, settings: Any) -> None:
        self.app = app
        self.settings = settings
        self.hosts = HostPolicy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        answer: JSONResponse | None = None
        host = request.headers.get("host", "")
        if not self.hosts.allows(host):
            answer = JSONResponse(
                {"detail": f"host {host_name(host)[:100]!r} is not a name this API serves "
                           "(MIXSCOPE_ALLOWED_HOSTS)"}, status_code=400)
        elif method in MUTATING_METHODS:
            why = foreign_origin(request.headers, request.url.scheme,
                                 self.settings.cors_origin_list)
            if why:
                answer = JSONResponse({"detail": f"cross-origin writes are refused: {why}"},
                                      status_code=403)
        if (answer is None and method != "OPTIONS" and path.startswith("/api")
                and not path.startswith(OPEN_PATHS) and not may_read(self.settings,
                                                                     request.headers)):
            answer = JSONResponse(
                {"detail": "this API needs a token to read (MIXSCOPE_READ_TOKEN): send "
                           "'Authorization: Bearer <token>'"},
                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)
