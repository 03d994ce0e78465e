"""The FastAPI application: ``create_app(settings)`` (``uvicorn --factory
backend.api.app:create_app`` or ``mixscope api``).

Everything lives under ``/api``; the OpenAPI schema is at ``/api/openapi.json`` and the
interactive docs at ``/api/docs``. One router per resource in ``backend/api/routers``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from backend.api.limits import UPLOAD_PREFIXES, BodyLimit, echoed_errors
from backend.api.projection import ProjectionService, QueryError
from backend.api.security import AccessMiddleware
from backend.dispatch.client import Dispatcher
from backend.resources import MemoryBudgetError
from backend.settings import Settings, get_settings
from backend.version import __version__

log = logging.getLogger("mixscope.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for ``settings`` (default: the environment's). Migrates the store."""
    from backend.api.routers import (
        calibration,
        deformations,
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
    dispatcher = Dispatcher(settings)

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
        openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
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
                   theory, sweeps, jobs, lab, deformations, papers, ingest):
        app.include_router(module.router, prefix="/api")
    _install_error_handlers(app)
    # Outermost of ours: a body over its limit is refused before anything reads it.
    app.add_middleware(BodyLimit, default=settings.max_body_bytes,
                       prefixes={p: settings.max_upload_bytes for p in UPLOAD_PREFIXES})
    return app


def _install_error_handlers(app: FastAPI) -> None:
    from backend.store.errors import (
        ArtifactDamaged,
        ArtifactNotFound,
        ArtifactUnavailable,
        RunFinished,
        RunNotFound,
        RunNotResumable,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's errors name the field only in `loc`; say it in the message too. The echo
        # is JSON-safe (a NaN input would make the answer itself fail) and capped in size.
        errors, total = echoed_errors(exc.errors())
        message = "; ".join(e["msg"] for e in errors)
        if total > len(errors):
            message += f"; … and {total - len(errors)} more errors"
        return JSONResponse({"detail": errors, "message": message, "error_count": total},
                            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(MemoryBudgetError)
    async def _too_big(request: Request, exc: MemoryBudgetError) -> JSONResponse:
        detail = [{"type": "memory_budget", "loc": ["body", *f.split(".")], "msg": f"{f}: "
                   f"{exc.reason}"} for f in exc.fields]
        return JSONResponse({"detail": detail, "message": str(exc), "error_count": len(detail)},
                            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(QueryError)
    async def _bad_query(request: Request, exc: QueryError) -> JSONResponse:
        return query_error_response(exc.field, str(exc), getattr(exc, "where", "query"))

    @app.exception_handler(RunNotFound)
    async def _missing(request: Request, exc: RunNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(RunFinished)
    async def _finished(request: Request, exc: RunFinished) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(RunNotResumable)
    async def _not_resumable(request: Request, exc: RunNotResumable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(ArtifactDamaged)
    async def _damaged(request: Request, exc: ArtifactDamaged) -> JSONResponse:
        # A file that is missing, truncated or corrupted: named, never a bare 500.
        return JSONResponse({"detail": str(exc), "run_id": exc.run_id, "kind": exc.kind,
                             "epoch": exc.epoch, "layer": exc.layer, "reason": exc.reason},
                            status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(ArtifactUnavailable)
    async def _unavailable(request: Request, exc: ArtifactUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "run_id": exc.run_id, "kind": exc.kind,
                             "epoch": exc.epoch, "layer": exc.layer},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(ArtifactNotFound)
    async def _no_artifact(request: Request, exc: ArtifactNotFound) -> JSONResponse:
        # An index row the run should have but lacks (still running, or deleted meanwhile).
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)


def query_error_response(field: str, message: str, where: str = "query") -> JSONResponse:
    """A 422 shaped like FastAPI's own (``detail[].loc``) with the field in the message."""
    msg = f"{field}: {message}"
    return JSONResponse({"detail": [{"type": "value_error", "loc": [where, field], "msg": msg}],
                         "message": msg}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
