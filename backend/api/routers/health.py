"""``GET /api/health``: liveness, version, the executor and whether what it uses answers (the
database, the object store, the broker where one is configured, Slurm where it is the
executor); ``GET /api/vocab``: the vocabularies (``backend.vocab``); ``GET /api/auth``:
what the presented token allows (the dashboard's login form checks a token with it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request

from backend.api.deps import DispatcherDep, SettingsDep, StoreDep
from backend.api.schemas import Health
from backend.api.security import bearer, may_read, write_refusal
from backend.slurm_jobs import slurm_reachable
from backend.version import __version__

router = APIRouter(tags=["health"])


#: Seconds each backing service gets to answer the health check (a frozen one is
#: "unreachable", the check never hangs with it).
HEALTH_TIMEOUT_S = 3.0
_checks = ThreadPoolExecutor(max_workers=6, thread_name_prefix="mixscope-health")


def _object_store_ok(store) -> bool:
    files = store.files
    try:
        files.fs.ls(files.root, detail=False)
    except FileNotFoundError:
        return True   # reachable; nothing written yet
    except Exception:  # noqa: BLE001 (any failure: unreachable)
        return False
    return True


@router.get("/health", response_model=Health, summary="Health and version")
def health(store: StoreDep, dispatcher: DispatcherDep, settings: SettingsDep) -> Health:
    """The executor, and whether what it uses answers (within a few seconds each): the
    database, the object store, the broker where one is configured (``"not configured"``
    with Slurm only) and Slurm's controller where Slurm is the executor (``"not used"``
    otherwise). ``status`` is ``degraded`` when one does not answer. Always 200 while the
    API itself runs (liveness)."""
    futures = {"database": _checks.submit(store.ping),
               "object_store": _checks.submit(_object_store_ok, store)}
    if settings.celery_configured:
        futures["broker"] = _checks.submit(dispatcher.ping, HEALTH_TIMEOUT_S)
    if settings.executor == "slurm":
        futures["slurm"] = _checks.submit(slurm_reachable, HEALTH_TIMEOUT_S)
    states = {"broker": "not configured", "slurm": "not used"}
    for name, fut in futures.items():
        try:
            ok = fut.result(timeout=HEALTH_TIMEOUT_S + 1)
        except Exception:  # noqa: BLE001 (a timeout or a crash of the check)
            ok = False
        states[name] = "ok" if ok else "unreachable"
    return Health(status="ok" if all(states[n] == "ok" for n in futures) else "degraded",
                  version=__version__, executor=settings.executor, **states)


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
