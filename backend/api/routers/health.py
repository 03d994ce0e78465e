"""``GET /api/health``: liveness, version and whether the database answers."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import StoreDep
from backend.api.schemas import Health
from mixscope import __version__

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Health and version")
def health(store: StoreDep) -> Health:
    ok = store.ping()
    return Health(status="ok" if ok else "degraded", version=__version__,
                  database="ok" if ok else "unreachable")
