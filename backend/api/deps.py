"""FastAPI dependencies (``Annotated`` aliases): settings, store, dispatcher, the projection
service, the current run, and the token check of mutating routes. Routers take these as
parameters and never read ``request.app.state`` themselves.

The getters of app state are ``async def``: they never block, and FastAPI runs a sync
dependency in its thread pool, a hop per dependency per request (four of them were a sixth
of a frames request's time under load)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.api.projection import ProjectionService
from backend.api.queries import RunId  # noqa: F401 (re-exported: the path parameter type)
from backend.api.security import is_loopback, write_refusal  # noqa: F401 (re-exported)
from backend.dispatch.client import BrokerUnavailable, Dispatcher
from backend.errors import TooManyRequests
from backend.settings import Settings
from backend.store.errors import RunNotFound


async def app_settings(request: Request) -> Settings:
    """The settings this app was created with (``backend.settings.get_settings`` is the
    environment's, read once per process; the app's may differ, e.g. ``--store``)."""
    return request.app.state.settings


async def app_store(request: Request):
    return request.app.state.store


async def app_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


async def app_projections(request: Request) -> ProjectionService:
    return request.app.state.projections


SettingsDep = Annotated[Settings, Depends(app_settings)]
StoreDep = Annotated[Any, Depends(app_store)]  # a backend.store.Store
DispatcherDep = Annotated[Dispatcher, Depends(app_dispatcher)]
ProjectionsDep = Annotated[ProjectionService, Depends(app_projections)]


def get_run(run_id: RunId, store: StoreDep):
    """The run of the path, or ``RunNotFound`` (404)."""
    run = store.get_run(run_id)
    if run is None:
        raise RunNotFound(run_id)
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


#: Seconds a client told 429 waits before asking again (a job takes seconds to minutes).
QUEUE_RETRY_AFTER_S = 10


def client_name(request: Request) -> str:
    """Who is asking, for the per-client bound of queued jobs: the connection's peer."""
    return request.client.host if request.client else "unknown"


def admit_job(request: Request, store: Any, run_id: str | None) -> str:
    """Check that this request may queue a worker job (of ``run_id``, or of no run) and
    return the client to store with it: queueing work is a write, so the token and origin
    rules of writes apply (401/403), and at most ``max_queued_jobs`` jobs may be pending for
    the run and for the client (429 with ``Retry-After``). Call it only when a job is about
    to be created or sent again; answering a stored result or a job in flight is a read."""
    require_token(request, None)
    limit = request.app.state.settings.max_queued_jobs
    client = client_name(request)
    if run_id is not None and store.pending_jobs(run_id=run_id) >= limit:
        raise TooManyRequests(f"run {run_id} has {limit} jobs queued already (the most "
                              "MIXSCOPE_MAX_QUEUED_JOBS allows): ask again when one is done",
                              retry_after=QUEUE_RETRY_AFTER_S)
    if store.pending_jobs(client=client) >= limit:
        raise TooManyRequests(f"this client has {limit} jobs queued already (the most "
                              "MIXSCOPE_MAX_QUEUED_JOBS allows): ask again when one is done",
                              retry_after=QUEUE_RETRY_AFTER_S)
    return client


def send_job(store: Any, send: Any, job_id: str) -> None:
    """``send(job_id)`` (a ``Dispatcher.send_*``); when the broker cannot take it the job is
    marked failed (asking again queues a new one) and the 503 goes on to the client: no job
    is left pending that no message will ever run."""
    try:
        send(job_id)
    except BrokerUnavailable:
        store.finish_job(job_id, "failed", error="not sent: the broker could not be reached")
        raise
