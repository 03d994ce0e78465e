"""Runs: launch, list, get, cancel, resume, delete, a run's artifact health, and its classes,
layers and epochs."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Annotated

import sqlalchemy.exc as sa_exc
from fastapi import APIRouter, Body, Header, Query, Response, status

from backend import executors
from backend.api.deps import DispatcherDep, ProjectionsDep, RunDep, StoreDep, TokenDep
from backend.api.executor_params import LaunchExecutorDep
from backend.api.schemas import (
    Classes,
    DamagedArtifact,
    Epochs,
    Layers,
    ProbeInfo,
    Run,
    RunHealth,
    RunLabels,
    RunStatus,
    to_run,
)
from backend.config_checks import check_submitted
from backend.errors import InvalidInput, QueryError, Unavailable
from backend.recorded import probe_mixing
from backend.resources import admission_budget, check_memory
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


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="a client's key for this launch: a retry with the same key and config "
    "returns the run the first request created (200, `Idempotent-Replayed: true`) instead "
    "of a second run")]


def idempotent_run_id(key: str) -> str:
    """The id of the run launched with ``Idempotency-Key: key`` (derived, like a recorded
    run's from its client's key: a retry finds the run without another column)."""
    return "k" + hashlib.sha256(f"launch:{key}".encode()).hexdigest()[:15]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Run,
             dependencies=[TokenDep], summary="Launch a run",
             responses={200: {"description": "a retry of an earlier launch with the same "
                                             "Idempotency-Key: that run"},
                        401: {"description": "token required"},
                        422: {"description": "invalid run config, one beyond the worker's "
                                              "memory, or an Idempotency-Key used for another "
                                              "config (the fields are named)"},
                        503: {"description": "the broker cannot be reached: no run was "
                                             "created (Retry-After)"}})
def launch(config: Annotated[RunConfig, Body(openapi_examples=_LAUNCH_EXAMPLES)],
           store: StoreDep, dispatcher: DispatcherDep, response: Response,
           executor: LaunchExecutorDep, idempotency_key: IdempotencyKey = None) -> Run:
    """Create a run from ``config`` (status ``queued``) and send it to the workers, or
    submit it as a Slurm job (``executor=slurm`` and its resources: ``GET /api/executor``).

    What the dataset and model cannot do (a class index past the dataset's classes, a layer
    or mixing point the model lacks, inconsistent dataset arguments) is refused with a 422
    naming the field, before any worker sees the run. A config estimated to need more memory
    than a worker has is refused with a 422 naming the fields that drive the estimate, the
    budget and where it came from: ``MIXSCOPE_WORKER_MEMORY`` when the API has it, else the
    largest budget the live workers published (naming them), else the memory available to
    the API less a margin.

    The row and its message are one unit: when the broker cannot take the message the row
    is removed again and the answer is 503 naming the broker, so a retry never finds a
    stranded run. With ``Idempotency-Key`` a retried launch returns the first one's run."""
    check_submitted(config)  # classes, layers, dataset arguments: QueryError -> 422
    check_memory(config, admission_budget(store, executor))  # MemoryBudgetError -> 422
    if idempotency_key is not None:
        rid = idempotent_run_id(idempotency_key)
        existing = store.get_run(rid)
        if existing is None:
            try:
                run = store.create_run(config, run_id=rid)
            except sa_exc.IntegrityError:  # a concurrent retry created it first
                existing = store.require_run(rid)
        if existing is not None:
            if existing.config != config.model_dump(mode="json"):
                raise QueryError("Idempotency-Key", "this key launched a run with another "
                                 f"config (run {existing.id}): use a new key for a new run",
                                 where="header")
            response.status_code = status.HTTP_200_OK
            response.headers["Idempotent-Replayed"] = "true"
            return to_run(existing)
    else:
        run = store.create_run(config)
    executors.keep_choice(store, run.id, executor)
    try:
        dispatcher.send_run(run.id)
    except (Unavailable, InvalidInput):  # the broker or sbatch did not take it: no row strands
        with contextlib.suppress(RunNotFound):
            store.delete_run(run.id)
        raise
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
    how many match in all. A Slurm run not yet ended carries its job's state and reason
    from Slurm (``summary.executor.status``, e.g. ``PENDING (Resources)``)."""
    filters = {"status": status_, "sweep_id": sweep_id, "dataset": dataset, "model": model,
                   "method": method, "text": q}
    runs = store.list_runs(limit=limit, offset=offset, **filters)
    runs = executors.refresh_all(store, runs)  # Slurm runs: their jobs' state and reason
    total = (offset + len(runs) if limit is None or (len(runs) < limit and (runs or not offset))
             else store.count_runs(**filters))
    response.headers["X-Total-Count"] = str(total)
    return [to_run(r) for r in runs]


@router.get("/labels", response_model=RunLabels,
            summary="The datasets, models and methods the stored runs use")
def run_labels_in_use(store: StoreDep) -> RunLabels:
    """What the ``dataset``, ``model`` and ``method`` filters of ``GET /api/runs`` can match:
    a trained run's config values and a recorded run's own words (``custom`` where the user
    gave none)."""
    return RunLabels(**store.run_labels_in_use())


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
             summary="Resume a run that failed through an environment fault or worker deaths",
             responses={401: {"description": "token required"},
                        404: {"description": "no such run"},
                        409: {"description": "the run is not resumable (only a run failed by "
                                             "a full or read-only disk, a lost connection "
                                             "or its workers' deaths is)"}})
def resume(run: RunDep, store: StoreDep, dispatcher: DispatcherDep) -> Run:
    """Queue the run again; a worker resumes it from its last good rolling checkpoint (the
    latest, or the one before it when the latest is damaged)."""
    info = store.resume_run(run.id)  # RunNotResumable -> 409 (app's handler)
    try:
        dispatcher.send_run(run.id)
    except (Unavailable, InvalidInput):  # failed as before (still resumable): none strands
        store.finish_run(run.id, "failed", error=run.error, fault=run.fault)
        raise
    return to_run(info)


@router.get("/{run_id}/health", response_model=RunHealth,
            summary="Which artifact files of a run are damaged",
            responses={404: {"description": "no such run"},
                       503: {"description": "the artifact store cannot be reached"}})
def health(run: RunDep, store: StoreDep, projections: ProjectionsDep) -> RunHealth:
    """Reads every artifact file of the run back and compares its size and SHA-256 with
    what was recorded when it was written; lists the missing, truncated or corrupted ones.
    What this process caches of a damaged run is dropped: its frames then answer the 409."""
    damaged = store.damaged_artifacts(run.id)  # ArtifactUnavailable -> 503
    if damaged:
        projections.forget_damaged(run.id, [d["path"] for d in damaged])
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


@router.get("/{run_id}/probe", response_model=ProbeInfo,
            summary="How a run's probe points were made")
def probe_info(run: RunDep, store: StoreDep) -> ProbeInfo:
    """``mixing``: the recorder user's own mixing function that built the mixed points
    (``Recorder.probe(mix=fn)``), else the linear input mix."""
    return ProbeInfo(run_id=run.id, num_probe=run.num_probe,
                     mixing=probe_mixing(store, run.id))


@router.get("/{run_id}/epochs", response_model=Epochs, summary="Recorded epochs of a run")
def epochs(run: RunDep) -> Epochs:
    return Epochs(epochs=list(run.recorded_epochs))
