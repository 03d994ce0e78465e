"""FastAPI dependencies (``Annotated`` aliases): settings, store, dispatcher, the current run,
and the token check of mutating routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.api.security import is_loopback, write_refusal  # noqa: F401 (re-exported)
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


_bearer = HTTPBearer(auto_error=False, description="Needed by every mutating route (launch, "
                     "cancel, delete, sweeps, lab jobs) when MIXSCOPE_API_TOKEN is set.")


def require_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401/403 unless this request may write (``backend.api.security.write_refusal``).

    With a token configured it is always required, whatever address the server listens on;
    without one only loopback peers (naming a loopback host) may write. Cross-site browser
    requests are refused either way. (``creds`` documents the scheme in the OpenAPI schema.)"""
    refusal = write_refusal(request)
    if refusal is not None:
        code, detail = refusal
        raise HTTPException(code, detail, headers={"WWW-Authenticate": "Bearer"}
                            if code == status.HTTP_401_UNAUTHORIZED else None)


TokenDep = Depends(require_token)
