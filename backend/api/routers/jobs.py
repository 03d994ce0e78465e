"""``GET /api/jobs/{id}``: the status of an on-demand job (a triple extraction, a lab
experiment)."""

from __future__ import annotations

from fastapi import APIRouter

from backend import executors
from backend.api.deps import StoreDep
from backend.api.queries import JobId
from backend.api.schemas import Job
from backend.store.errors import JobNotFound

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=Job, summary="Status of an on-demand job",
            responses={404: {"description": "no such job"}})
def get_job(job_id: JobId, store: StoreDep) -> Job:
    """The job's status; a job pending on Slurm whose Slurm job has ended without finishing
    it answers ``failed`` with why (``backend.executors.refresh_short_job``)."""
    job = executors.refresh_short_job(store, store.get_job(job_id))
    if job is None:
        raise JobNotFound(job_id)
    p = job.params or {}
    if job.kind != "extract_triple":  # a lab job: its params are the experiment's query
        return Job(id=job.id, kind=job.kind, status=job.status, run_id=job.run_id,
                   error=job.error)
    return Job(id=job.id, kind=job.kind, status=job.status, run_id=job.run_id,
               epoch=(p.get("epochs") or [None])[-1] if "epochs" in p else p.get("epoch"),
               layer=p.get("layer"), classes=p.get("classes"), error=job.error)
