"""Runs: launch, list, get, cancel, resume, delete, a run's artifact health, and its classes,
layers and epochs."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from backend import executors
from backend.api.deps import DispatcherDep, ProjectionsDep, RunDep, StoreDep, TokenDep
from backend.api.executor_params import LaunchExecutorDep
from backend.api.schemas import (
    Classes,
    DamagedArtifact,
    Epochs,
    Layers,
    Run,
    RunHealth,
    RunStatus,
    to_run,
)
from backend.resources import check_memory
from backend.runconfig import RunConfig
from backend.store.errors import RunFinished, RunNotFound
from backend.store.footprint import run_footprint

router = APIRouter(prefix="/runs", tags=["runs"])

_LAUNCH_EXAMPLES = {
    "digits-demo": {"summary": "the CPU demo: digits, MLP, input mixup",
                    "value": {"dataset": "digits", "method": "input-mixup", "alpha": 1.0,
                              "epochs": 100, "name": "digits mixup"}},
    "erm": {"summary": "the same with plain ERM",
            "value": {"dataset": "digits", "method": "erm", "epochs": 100}},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Run,
             dependencies=[TokenDep], summary="Launch a run",
             responses={401: {"description": "token required"},
                        422: {"description": "invalid run config, or one beyond the worker's "
                                              "memory (the fields are named)"}})
def launch(config: Annotated[RunConfig, Body(openapi_examples=_LAUNCH_EXAMPLES)],
           store: StoreDep, dispatcher: DispatcherDep,
           executor: LaunchExecutorDep) -> Run:
    """Create a run from ``config`` (status ``queued``) and send it to the workers, or
    submit it as a Slurm job (``executor=slurm`` and its resources: ``GET /api/executor``).

    A config estimated to need more memory than a worker has (``MIXSCOPE_WORKER_MEMORY``) is
    refused with a 422 naming the fields that drive the estimate."""
    check_memory(config, store.settings.worker_memory)  # MemoryBudgetError -> 422
    run = store.create_run(config)
    if executor is not None or store.settings.executor != "celery":  # kept with the run
        store.update_run_info(run.id, summary={"executor": executor or {"name": "celery"}})
    dispatcher.send_run(run.id)
    return to_run(store.get_run(run.id) or run)


@router.get("", response_model=list[Run], summary="List runs, newest first",
            responses={200: {"headers": {"X-Total-Count": {
                "description": "runs matching the filters, all pages together",
                "schema": {"type": "integer"}}}}})
def list_runs(store: StoreDep, response: Response,
              status_: Annotated[RunStatus | None, Query(alias="status")] = None,
              sweep_id: Annotated[str | None, Query(max_length=64)] = None,
              dataset: Annotated[str | None, Query(max_length=100)] = None,
              model: Annotated[str | None, Query(max_length=100)] = None,
              method: Annotated[str | None, Query(max_length=32)] = None,
              q: Annotated[str | None, Query(max_length=200,
                                             description="substring of the name, any case")] = None,
              limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
              offset: Annotated[int, Query(ge=0)] = 0) -> list[Run]:
    """Runs matching every filter given, newest first. Without ``limit`` every match is
    listed (the original, unpaginated answer); with it one page, and ``X-Total-Count`` says
    how many match in all."""
    filters = {"status": status_, "sweep_id": sweep_id, "dataset": dataset, "model": model,
                   "method": method, "text": q}
    runs = store.list_runs(limit=limit, offset=offset, **filters)
    total = (offset + len(runs) if limit is None or (len(runs) < limit and (runs or not offset))
             else store.count_runs(**filters))
    response.headers["X-Total-Count"] = str(total)
    return [to_run(r) for r in runs]


@router.get("/{run_id}", response_model=Run, summary="One run",
            responses={404: {"description": "no such run"}})
def get_run(run: RunDep, store: StoreDep) -> Run:
    return to_run(executors.refresh(store, run))  # a Slurm run: its job's state and reason


@router.post("/{run_id}/cancel", response_model=Run, dependencies=[TokenDep],
             summary="Cancel a queued or running run",
             responses={404: {"description": "no such run"},
                        409: {"description": "the run already finished"}})
def cancel(run: RunDep, store: StoreDep) -> Run:
    """A queued run is cancelled at once; a running one stops within one training step."""
    info = store.request_cancel(run.id)  # RunFinished -> 409 (app's handler)
    executors.cancel_job(run)  # a Slurm run: scancel its job
    return to_run(info)


@router.post("/{run_id}/resume", response_model=Run, dependencies=[TokenDep],
             summary="Resume a run that failed through an environment fault",
             responses={401: {"description": "token required"},
                        404: {"description": "no such run"},
                        409: {"description": "the run is not resumable (only a run failed by "
                                             "a full or read-only disk or a lost connection "
                                             "is)"}})
def resume(run: RunDep, store: StoreDep, dispatcher: DispatcherDep) -> Run:
    """Queue the run again; a worker resumes it from its last good rolling checkpoint (the
    latest, or the one before it when the latest is damaged)."""
    info = store.resume_run(run.id)  # RunNotResumable -> 409 (app's handler)
    dispatcher.send_run(run.id)
    return to_run(info)


@router.get("/{run_id}/health", response_model=RunHealth,
            summary="Which artifact files of a run are damaged",
            responses={404: {"description": "no such run"},
                       503: {"description": "the artifact store cannot be reached"}})
def health(run: RunDep, store: StoreDep) -> RunHealth:
    """Reads every artifact file of the run back and compares its size and SHA-256 with
    what was recorded when it was written; lists the missing, truncated or corrupted ones."""
    damaged = store.damaged_artifacts(run.id)  # ArtifactUnavailable -> 503
    checked = len(store.list_artifacts(run.id))
    return RunHealth(run_id=run.id, ok=not damaged, checked=checked,
                     damaged=[DamagedArtifact(**d) for d in damaged])


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[TokenDep],
               summary="Delete a run with its metrics and artifacts",
               responses={404: {"description": "no such run"},
                          503: {"description": "the rows are gone but the files could not "
                                               "be removed now"}})
def delete(run: RunDep, store: StoreDep, projections: ProjectionsDep) -> Response:
    """Cancels the run if it is still going, then removes its rows and its folder. Deleting
    the row fences its worker off (no write of it lands afterwards), so the folder's removal
    does not race the worker; the worker stops at its next step."""
    if not run.finished:
        with contextlib.suppress(RunFinished, RunNotFound):  # finished or deleted meanwhile
            store.request_cancel(run.id)
    with contextlib.suppress(RunNotFound):  # a concurrent delete got there first
        store.delete_run(run.id)
    if not run.finished:
        executors.cancel_job(run)  # a Slurm run: scancel its job
    projections.forget_run(run.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{run_id}/footprint", summary="Bytes a run stores",
            responses={404: {"description": "no such run"}})
def footprint(run: RunDep, store: StoreDep) -> dict:
    """``{"bytes_total", "bytes_per_recorded_epoch", "recorded_epochs", "by_kind"}`` from the
    artifact index (no file is read)."""
    return run_footprint(store, run.id)


@router.get("/{run_id}/classes", response_model=Classes, summary="Class names of a run")
def classes(run: RunDep) -> Classes:
    return Classes(classes=list(run.class_names))


@router.get("/{run_id}/layers", response_model=Layers, summary="Recorded layers of a run")
def layers(run: RunDep) -> Layers:
    return Layers(layers=list(run.layers))


@router.get("/{run_id}/epochs", response_model=Epochs, summary="Recorded epochs of a run")
def epochs(run: RunDep) -> Epochs:
    return Epochs(epochs=list(run.recorded_epochs))
