"""``GET /api/runs/{run_id}/deformations``: a finished run's accuracy on test sets with the
deformations of 003 Table 9 (rotation, shearing, zoom in and out).

The evaluation runs the network over the test set 17 times, so a worker computes it: the
first request creates a job of kind ``deformations`` (params ``{"epoch", "seed"}``) and
answers 202 ``{"job_id", "status": "pending"}``; ``GET /api/jobs/{id}`` says when it is done,
and the same request then answers 200 with the result the worker stored with the job
(``trainer.deformations.evaluate_deformations`` describes it). ``mixscope eval deformations``
computes the same in-process and stores it the same way. No torch here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from backend.api.deps import DispatcherDep, RunDep, StoreDep, admit_job, send_job
from backend.api.schemas import JobAccepted
from backend.errors import Conflict, QueryError
from backend.runconfig import IMAGE_DATASETS

router = APIRouter(prefix="/runs/{run_id}", tags=["evaluation"])

from backend.vocab import DEFORMATION_JOB  # noqa: E402  (the worker's task: trainer.tasks.deformations_job)


def deformation_params(run, epoch: int | None, seed: int) -> dict[str, Any]:
    """The job params of a request, checked against the run (QueryError names the field)."""
    dataset = (run.config or {}).get("dataset")
    if dataset not in IMAGE_DATASETS:
        raise QueryError("run_id", f"deformations need a run on an image dataset "
                         f"({', '.join(IMAGE_DATASETS)}), this one trained on {dataset!r}")
    recorded = list(run.recorded_epochs or [])
    if not recorded:
        raise QueryError("run_id", "the run has no recorded epoch (no model snapshot) yet")
    if epoch is None:
        epoch = max(recorded)
    elif epoch not in recorded:
        raise QueryError("epoch", f"epoch {epoch} is not recorded; recorded: {recorded}")
    return {"epoch": int(epoch), "seed": int(seed)}


@router.get("/deformations", summary="Accuracy on deformed test sets (003 Table 9)",
            responses={202: {"model": JobAccepted, "description": "not computed yet: a worker "
                             "computes it (poll GET /api/jobs/{job_id}), then ask again"},
                       401: {"description": "queueing the job needs the API token"},
                       404: {"description": "no such run"},
                       409: {"description": "the run has not finished"},
                       422: {"description": "not an image dataset, or an unrecorded epoch"}})
def deformations(request: Request, run: RunDep, store: StoreDep, dispatcher: DispatcherDep,
                 epoch: Annotated[int | None, Query(ge=0, le=1_000_000, description=
                                                    "recorded epoch (default: the last)")] = None,
                 seed: Annotated[int, Query(ge=0, le=2**31 - 1, description=
                                            "seed of the random deformation parameters")] = 0
                 ) -> dict[str, Any]:
    """``{"run_id", "epoch", "seed", "dataset", "n_test", "clean_accuracy", "paper_columns",
    "deformations": [{"kind", "param", "label", "accuracy", "paper"}]}``; 202 with a job id
    while a worker computes it. Accuracies are fractions; ``paper`` holds 003's (in %)."""
    if run.status != "succeeded":
        raise Conflict(f"run {run.id} is {run.status}: evaluate a finished run")
    params = deformation_params(run, epoch, seed)
    job = store.find_job(run.id, DEFORMATION_JOB, params)
    if job is not None and job.status == "done":
        result = store.job_result(job.id)
        if result is not None:
            return JSONResponse(result)
    if job is None or job.status in ("done", "failed"):
        # reading a stored result is a read; queueing work is a write (like the lab's jobs)
        client = admit_job(request, store, run.id)  # 401/403/429 before anything is queued
    if job is not None and job.status == "done":
        store.finish_job(job.id, "pending")
        send_job(store, dispatcher.send_deformations, job.id)
    elif job is None or job.status == "failed":
        job = store.create_job(run.id, DEFORMATION_JOB, params, client=client)
        send_job(store, dispatcher.send_deformations, job.id)
    return JSONResponse(JobAccepted(job_id=job.id).model_dump(),
                        status_code=status.HTTP_202_ACCEPTED)
