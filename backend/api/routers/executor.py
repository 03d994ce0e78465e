"""Where runs train (``backend.executors``): the executor and Slurm resources a launch would
use (shown before launch), and a Slurm run's job output. The launch's parameters that
choose them: ``backend.api.executor_params``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from backend import executors
from backend.api.deps import RunDep, SettingsDep
from backend.errors import NotFound

router = APIRouter(tags=["executor"])


@router.get("/executor", summary="Where a launch would train, with its Slurm resources")
def executor_info(settings: SettingsDep) -> dict[str, Any]:
    """``{"executor", "executors", "slurm": {"resources", "store_reachable", "why_not",
    "sbatch"}}``: the default executor, the executors a launch may choose here (no
    ``celery`` where no Celery broker is configured: Slurm only) and the resources a Slurm
    launch asks for unless it says others."""
    import shutil

    why = executors.unreachable_store(settings)
    return {"executor": settings.executor, "executors": executors.offered(settings),
            "slurm": {"resources": executors.default_resources(settings).model_dump(),
                      "store_reachable": why is None, "why_not": why,
                      "sbatch": shutil.which("sbatch") is not None}}


@router.get("/runs/{run_id}/logs", response_class=PlainTextResponse,
            summary="A Slurm run's job output (stdout or stderr)",
            responses={404: {"description": "no such run, or it has no Slurm output yet"}})
def run_logs(run: RunDep,
             stream: Annotated[Literal["stdout", "stderr"], Query()] = "stderr") -> str:
    """The last MiB of the Slurm job's ``stream`` (every incarnation of a requeued job
    appends to the same file); the trainer logs to stderr."""
    text = executors.read_log(run, stream)
    if text is None:
        raise NotFound(f"run {run.id!r} has no Slurm {stream} (not a Slurm run, or its job "
                       "has not started)", field="run_id", where="path")
    return text
