"""``GET /api/health``: liveness, version and whether the database answers; ``GET /api/vocab``:
the vocabularies (``backend.vocab``); ``GET /api/auth``:
what the presented token allows (the dashboard's login form checks a token with it)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend.api.deps import SettingsDep, StoreDep
from backend.api.security import bearer, may_read, write_refusal
from backend.api.schemas import Health
from backend.version import __version__

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Health and version")
def health(store: StoreDep) -> Health:
    ok = store.ping()
    return Health(status="ok" if ok else "degraded", version=__version__,
                  database="ok" if ok else "unreachable")


@router.get("/auth", summary="What the presented token allows")
def auth(request: Request, settings: SettingsDep) -> dict[str, bool]:
    """``{"token_configured", "read_token_configured", "read", "write"}`` for this request's
    ``Authorization: Bearer`` token: ``write`` when it may launch, cancel and delete. The
    token itself is never echoed."""
    return {"token_configured": bool(settings.api_token),
            "read_token_configured": bool(settings.read_token),
            "read": may_read(settings, request.headers),
            "write": bool(settings.api_token) and bearer(request.headers) is not None
            and write_refusal(request) is None}


@router.get("/vocab", summary="The vocabularies: run and job statuses, job kinds, datasets, "
            "methods, losses")
def vocab() -> dict[str, list[str]]:
    """``backend.vocab`` as JSON, so the dashboard (which imports nothing of the backend)
    offers the same choices as the API validates."""
    from backend import vocab as v

    return v.as_dict()
