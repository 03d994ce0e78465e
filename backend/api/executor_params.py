"""The launch's executor query parameters (``POST /api/runs?executor=slurm&gpus=1&...``):
a dependency every launching route may take (``backend.executors.launch_choice``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query

from backend import executors
from backend.api.deps import SettingsDep


def launch_executor(
        settings: SettingsDep,
        executor: Annotated[Literal["celery", "slurm"] | None, Query(
            description="where the run trains (default MIXSCOPE_EXECUTOR)")] = None,
        partition: Annotated[str | None, Query(max_length=100)] = None,
        gpus: Annotated[int | None, Query(ge=0, le=64)] = None,
        cpus: Annotated[int | None, Query(ge=1, le=1024)] = None,
        mem: Annotated[str | None, Query(max_length=20, description="e.g. 16G")] = None,
        time: Annotated[str | None, Query(max_length=20,
                                          description="minutes or D-HH:MM:SS")] = None,
        account: Annotated[str | None, Query(max_length=100)] = None,
        qos: Annotated[str | None, Query(max_length=100)] = None,
        sbatch: Annotated[list[str] | None, Query(
            description="extra sbatch option 'name=value' (repeatable)")] = None,
) -> dict[str, Any] | None:
    """The launch's executor record (None: Celery); 422 naming the field when the choice is
    invalid or the store is one Slurm's compute nodes cannot reach."""
    overrides = {"partition": partition, "gpus": gpus, "cpus": cpus, "mem": mem, "time": time,
                 "account": account, "qos": qos, "extra": sbatch or None}
    return executors.launch_choice(settings, executor, overrides)


LaunchExecutorDep = Annotated[dict | None, Depends(launch_executor)]
