"""The FastAPI application: ``create_app(settings)`` (``uvicorn --factory
backend.api.app:create_app`` or ``mixscope api``).

Everything lives under ``/api``; the OpenAPI schema is at ``/api/openapi.json`` and the
interactive docs at ``/api/docs``. One router per resource in ``backend/api/routers``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import sqlalchemy.exc as sa_exc
from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.docs import install_docs
from backend.api.limits import (
    BODY_PARSE_FAILED,
    UPLOAD_PREFIXES,
    BodyLimit,
    body_parse_error,
    echoed_errors,
    json_invalid_message,
)
from backend.api.projection import ProjectionService
from backend.api.security import AccessMiddleware
from backend.errors import MixscopeError, Unavailable
from backend.executors import ExecutorDispatcher
from backend.settings import Settings, get_settings
from backend.store.errors import ArtifactDamaged, ArtifactUnavailable
from backend.version import __version__

log = logging.getLogger("mixscope.api")

#: ``Retry-After`` (seconds) of a 503 for a backing service that is down.
OUTAGE_RETRY_AFTER_S = 5


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for ``settings`` (default: the environment's). Migrates the store."""
    from backend.api.routers import (
        artifacts,
        calibration,
        deformations,
        executor,
        grid,
        grid_launch,
        health,
        ingest,
        jobs,
        lab,
        metrics,
        papers,
        projection,
        runs,
        spectra,
        sweeps,
        theory,
        trajectory,
    )
    from backend.store import Store

    settings = settings or get_settings()
    store = Store(settings)
    store.migrate()
    dispatcher = ExecutorDispatcher(settings, store)  # Celery, or Slurm per run (issue 22)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        dispatcher.close()
        store.close()  # pooled connections back to the database (the engine stays usable)

    app = FastAPI(
        title="mixscope API",
        version=__version__,
        summary="Runs, metrics and simplex projections of mixup-trained networks.",
        description="Arrays travel as b64 arrays: `{dtype, shape, data}` with `data` the "
                    "base64 of the little-endian bytes. Mutating routes (launch, cancel, "
                    "delete, sweeps, lab jobs) need `Authorization: Bearer <token>` when "
                    "MIXSCOPE_API_TOKEN is set (else they are open to loopback clients "
                    "only); cross-site browser writes are refused.",
        # the docs page is install_docs's: Swagger UI from installed files, not a CDN
        openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.dispatcher = dispatcher
    app.state.projections = ProjectionService(store)

    # No CORS unless origins are configured: the dashboard calls the API from its server,
    # never from the browser. Cross-site writes and token-less reads (when MIXSCOPE_READ_TOKEN
    # is set) are refused before any route runs (backend/api/security.py).
    app.add_middleware(AccessMiddleware, settings=settings)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origin_list),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    for module in (health, runs, projection, metrics, calibration, spectra, trajectory,
                   theory, sweeps, jobs, lab, deformations, papers, ingest, grid,
                   grid_launch, artifacts, executor):
        app.include_router(module.router, prefix="/api")
    install_docs(app)
    _install_error_handlers(app)
    # Outermost of ours: a body over its limit is refused before anything reads it.
    app.add_middleware(BodyLimit, default=settings.max_body_bytes,
                       prefixes={p: settings.max_upload_bytes for p in UPLOAD_PREFIXES})
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """The one place errors become HTTP answers: FastAPI's validation errors, and every
    :class:`backend.errors.MixscopeError` by its ``status_code`` (see :func:`error_response`)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's errors name the field only in `loc`; say it in the message too. The echo
        # is JSON-safe (a NaN input would make the answer itself fail) and capped in size.
        errors, total = echoed_errors(exc.errors())
        for e in errors:  # say where the JSON broke: line and column, not only the offset
            if e.get("type") == "json_invalid":
                reason = (e.get("ctx") or {}).get("error", "JSON decode error")
                e["msg"] = json_invalid_message(exc.body, e["loc"][-1], reason)
        message = "; ".join(e["msg"] for e in errors)
        if total > len(errors):
            message += f"; … and {total - len(errors)} more errors"
        return JSONResponse({"detail": errors, "message": message, "error_count": total},
                            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        # FastAPI answers a body its parser fails on (not UTF-8, nested too deep, a number
        # too long) with a bare 400 "There was an error parsing the body": name where
        cause = exc.__cause__
        if exc.status_code == 400 and exc.detail == BODY_PARSE_FAILED and cause is not None:
            body = getattr(request, "_body", b"")
            kind, message, loc = body_parse_error(body, cause)
            return JSONResponse({"detail": [{"type": kind, "loc": ["body", *loc],
                                             "msg": message}],
                                 "message": message, "error_count": 1},
                                status_code=status.HTTP_400_BAD_REQUEST)
        return await http_exception_handler(request, exc)

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)
    @app.exception_handler(sa_exc.DisconnectionError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        # the connection failed or was lost (a PostgreSQL outage, a locked SQLite file):
        # 503 naming the database, never a bare 500. The driver's text can hold the URL,
        # so only the exception's type is said.
        cause = getattr(exc, "orig", None) or exc
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    type(cause).__name__)
        err = Unavailable(f"the database cannot be reached now ({type(cause).__name__}); "
                          "retry later")
        err.service = "database"
        return error_response(err)

    @app.exception_handler(MixscopeError)
    async def _mixscope_error(request: Request, exc: MixscopeError) -> JSONResponse:
        if isinstance(exc, ArtifactDamaged):  # found damaged: nothing cached of it is served
            request.app.state.projections.forget_damaged(exc.run_id, [exc.path])
        return error_response(exc)


def error_response(exc: MixscopeError) -> JSONResponse:
    """The answer to ``exc``:

    - 422 (:class:`InvalidInput`, e.g. ``QueryError``, ``MemoryBudgetError``,
      ``RecordedRunError``): shaped like FastAPI's own, ``{"detail": [{"type", "loc": [where,
      *field], "msg": "<field>: ..."[, "ctx"]}], "message", "error_count"}``, one entry per
      field (``ctx``: what the error adds, e.g. a ``MemoryBudgetError``'s budget);
    - ``ArtifactDamaged`` (409) / ``ArtifactUnavailable`` (503): ``{"detail", "run_id",
      "kind", "epoch", "layer"[, "reason"]}``;
    - every 503 (:class:`Unavailable`: database, broker, object store) adds ``"service"``
      and a ``Retry-After`` header; a 429 its ``Retry-After``;
    - anything else (404 ``RunNotFound`` and the other ``NotFound``, 409 ``Conflict``):
      ``{"detail": message}``.
    """
    code = exc.status_code
    if code == status.HTTP_422_UNPROCESSABLE_CONTENT:
        return _invalid_input(exc)
    body: dict = {"detail": str(exc)}
    if isinstance(exc, (ArtifactDamaged, ArtifactUnavailable)):
        # A file that is missing, truncated or corrupted (or unreachable): named, never a 500.
        body.update(run_id=exc.run_id, kind=exc.kind, epoch=exc.epoch, layer=exc.layer)
        if isinstance(exc, ArtifactDamaged):
            body["reason"] = exc.reason
    retry = getattr(exc, "retry_after", None)  # 429 and 503: when to ask again
    if isinstance(exc, Unavailable):  # a backing service is down: say which, and when
        body["service"] = exc.service or "backing service"
        retry = OUTAGE_RETRY_AFTER_S if retry is None else retry
    headers = {"Retry-After": str(int(retry))} if retry is not None else None
    return JSONResponse(body, status_code=code, headers=headers)


def _invalid_input(exc: MixscopeError) -> JSONResponse:
    text = str(exc)
    fields = list(getattr(exc, "fields", None) or [exc.field])
    error_type = getattr(exc, "error_type", "value_error")
    detail = []
    for field in fields:
        if field is None:
            detail.append({"type": error_type, "loc": [exc.where], "msg": text})
            continue
        reason = getattr(exc, "reason", None) or text.removeprefix(f"{field}: ")
        detail.append({"type": error_type, "loc": [exc.where, *field.split(".")],
                       "msg": f"{field}: {reason}"})
    if ctx := getattr(exc, "ctx", None):  # e.g. a memory_budget's estimate and budget
        for entry in detail:
            entry["ctx"] = ctx
    message = detail[0]["msg"] if len(detail) == 1 else text
    return JSONResponse({"detail": detail, "message": message, "error_count": len(detail)},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
