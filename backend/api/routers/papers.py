"""The Papers catalogue: every figure and table of the source documents, published beside
computed.

- ``GET /api/papers`` → ``[{"id", "title", "paper", "kind", "status", "verdict", "error"}]``
  (``?paper=000&status=done&verdict=differs`` filter; status and verdict are the cpu
  scale's, derived from the store; ``error``: what a check that raised said, else null).
- ``GET /api/papers/summary`` → ``{verdict: count}`` over the whole catalogue (cpu scale).
- ``GET /api/papers/{id}?scale=cpu|paper`` → the entry (claim, published, tolerance, expect,
  errata, recipes) with ``computed``, ``verdict``, ``compared``, ``not_compared``,
  ``parts``, ``seeds``, ``reasons``, ``differs``, ``error``, ``run_ids``, ``job_ids``,
  ``runs``, ``jobs``, ``missing``, ``status``, ``scale`` (``backend.papers.verdict``).
- ``POST /api/papers/{id}/runs`` body ``{"scale": "cpu"|"paper"}`` (token rules as for
  launching a run) → 202 ``{"id", "scale", "runs", "jobs", "created_runs", "created_jobs"}``:
  the entry's missing runs and lab jobs are created and sent to the workers; existing ones
  (same config, same params) are reused. 409 naming ``scale`` when that scale lacks data or a
  GPU worker here (with ``missing``: what and how to provide it), 422 for an unknown scale.

A GPU worker cannot be seen from the API: set ``MIXSCOPE_GPU_WORKERS=1`` where the queue has
one, so paper-scale entries that need a GPU may be launched. Ids contain a slash (``000/fig1``):
the routes take the paper and the entry as two path segments.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from backend.api.deps import DispatcherDep, SettingsDep, StoreDep, TokenDep
from backend.api.reads import gpu_workers, papers_list, papers_rows
from backend.errors import NotFound
from backend.papers import runner
from backend.papers.catalogue import STATUSES, load_catalogue
from backend.papers.verdict import VERDICTS

router = APIRouter(prefix="/papers", tags=["papers"])


def _gpu() -> bool:
    return gpu_workers()


def _entry(paper: str, name: str):
    entry = load_catalogue().get(f"{paper}/{name}")
    if entry is None:
        raise NotFound(f"no catalogue entry {paper}/{name!r}")
    return entry


class LaunchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: Literal["cpu", "paper"] = "cpu"


StatusQ = Literal[STATUSES]  # type: ignore[valid-type]
VerdictQ = Literal[VERDICTS]  # type: ignore[valid-type]


@router.get("", summary="Every figure and table of the sources, with status and verdict")
def list_papers(store: StoreDep, settings: SettingsDep,
                paper: Annotated[Literal["000", "001", "002", "003"] | None, Query()] = None,
                status_: Annotated[StatusQ | None, Query(alias="status")] = None,
                verdict: Annotated[VerdictQ | None, Query()] = None) -> list[dict[str, Any]]:
    return papers_list(store, settings.resolved_data_dir, paper, status_, verdict)


@router.get("/summary", summary="How many entries have each verdict (cpu scale)")
def papers_summary(store: StoreDep, settings: SettingsDep) -> dict[str, int]:
    return runner.summary(papers_rows(store, settings.resolved_data_dir))


@router.get("/{paper}/{name}", summary="One entry: published beside computed",
            responses={404: {"description": "no such entry"}})
def get_paper(paper: str, name: str, store: StoreDep, settings: SettingsDep,
              scale: Annotated[Literal["cpu", "paper"], Query()] = "cpu") -> dict[str, Any]:
    entry = _entry(paper, name)
    return runner.report(store, entry, scale, settings.resolved_data_dir, gpu=_gpu())


@router.post("/{paper}/{name}/runs", dependencies=[TokenDep], status_code=202,
             summary="Launch the entry's missing runs and lab jobs",
             responses={404: {"description": "no such entry"},
                        409: {"description": "the scale lacks data or a GPU here (`scale`)"},
                        422: {"description": "bad body (the field is named)"}})
def launch(paper: str, name: str, store: StoreDep, dispatcher: DispatcherDep,
           settings: SettingsDep,
           body: Annotated[LaunchBody | None, Body()] = None) -> JSONResponse:
    entry = _entry(paper, name)
    scale = (body or LaunchBody()).scale
    if entry.out_of_scope:
        return JSONResponse({"detail": [{"loc": ["path", "name"], "msg": f"{entry.id} is "
                             f"out of scope: {entry.out_of_scope}"}]},
                            status_code=status.HTTP_409_CONFLICT)
    missing = runner.what_is_missing(entry, scale, settings.resolved_data_dir, gpu=_gpu())
    if missing:
        msg = f"scale: {scale} scale of {entry.id} cannot run here: " + "; ".join(missing)
        return JSONResponse({"detail": [{"type": "missing", "loc": ["body", "scale"],
                                         "msg": msg}], "message": msg, "missing": missing},
                            status_code=status.HTTP_409_CONFLICT)
    ids = runner.launch(store, dispatcher, entry, scale)  # RecipeError: 422 naming `scale`
    return JSONResponse({"id": entry.id, "scale": scale, **ids}, status_code=202)
