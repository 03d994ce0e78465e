"""FastAPI dependencies (``Annotated`` aliases): settings, store, dispatcher, the current run,
and the token check of mutating routes."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.dispatch.client import Dispatcher
from backend.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request):
    return request.app.state.store


def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Any, Depends(get_store)]  # a backend.store.Store
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]

RunId = Annotated[str, Path(description="run id", min_length=1, max_length=64,
                            examples=["3f2a9c1d"])]


def get_run(run_id: RunId, store: StoreDep):
    """The run of the path, or 404."""
    run = store.get_run(run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run {run_id!r} not found")
    return run


RunDep = Annotated[Any, Depends(get_run)]  # a backend.store RunInfo


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (what only this machine can reach)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_bearer = HTTPBearer(auto_error=False, description="Needed by launch, cancel and delete when "
                     "the API listens beyond loopback and MIXSCOPE_API_TOKEN is set.")


def require_token(
    settings: SettingsDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries ``Authorization: Bearer <settings.api_token>``.

    Checked only when the API listens beyond loopback (``settings.api_host``). Such an API
    without a configured token refuses every mutation: listening on the network must not
    leave launching open (``mixscope api/up`` generate a token in that case)."""
    if is_loopback(settings.api_host):
        return
    token = settings.api_token
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "this API listens beyond loopback and has no token configured; "
                            "set MIXSCOPE_API_TOKEN", headers={"WWW-Authenticate": "Bearer"})
    given = creds.credentials if creds is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "missing or wrong token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})


TokenDep = Depends(require_token)
