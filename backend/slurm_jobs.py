"""Slurm's side of the Slurm executor (``backend.executors``): a job submitted through
submitit (:func:`sbatch_job`) whose entry the compute node finds by name
(:class:`SlurmEntry` for a run, :class:`SlurmShortEntry` for a short job), and the Slurm
commands that read and end jobs (``squeue``, ``scancel``) or ask whether the controller
answers (``sinfo``)."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.errors import InvalidInput, Unavailable
from backend.settings import Settings, settings_environment

#: The job's entry point, imported on the compute node by name (see :class:`SlurmEntry`).
JOB_MODULE = "trainer.slurm_job"
#: Settings never written into a job's files (the job needs the store, not the API's tokens).
_SECRET_ENV = {"MIXSCOPE_API_TOKEN", "MIXSCOPE_READ_TOKEN"}


#: sbatch's refusals of a request (not of the cluster's state), and the launch's field at fault
_REFUSED = [(re.compile(p, re.IGNORECASE), field) for p, field in (
    (r"invalid partition", "partition"), (r"invalid account|account.*not valid", "account"),
    (r"invalid qos|qos.*not valid", "qos"),
    (r"gres|gpu", "gpus"), (r"memory specification", "mem"), (r"time limit", "time"),
    (r"requested node configuration is not available|invalid (option|argument)", "sbatch"),
)]


class SlurmUnavailable(Unavailable):
    """Slurm could not take a job now (its controller down, sbatch missing): 503."""

    service = "slurm"


def sbatch_refusal(message: str) -> Exception:
    """What sbatch's error ``message`` means for the launch: an :class:`InvalidInput` naming
    the launch's field when sbatch refused the request itself (an unknown partition,
    account or QOS, a configuration no node has), else :class:`SlurmUnavailable`."""
    text = f"sbatch refused the job: {message.strip()[-600:]}"
    for pattern, field in _REFUSED:
        if pattern.search(message):
            return InvalidInput(f"{field}: {text}", field=field)
    return SlurmUnavailable(text)


def slurm_folder(settings: Settings) -> Path:
    return Path(settings.slurm_folder or (settings.store / "slurm"))


class SlurmEntry:
    """What a run's Slurm job calls (pickled by reference through submitit): the trainer's
    entry, found by name on the compute node. Checkpointable for submitit: a time-limit or
    preemption warning that arrives before the trainer has installed its own handler (the
    job is still starting, the run not yet claimed) makes submitit requeue the job as is."""

    def __call__(self, run_id: str, environment: dict[str, str]) -> str:
        import importlib

        return importlib.import_module(JOB_MODULE).main(run_id, environment)

    def checkpoint(self, run_id: str, environment: dict[str, str]):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, run_id, environment)


class SlurmShortEntry:
    """What a short job's Slurm job calls (see :class:`SlurmEntry`): the trainer's
    ``short_job(task, job_id, environment)``, which runs the Celery task's own body. Not
    checkpointable: a short job stopped by its time limit fails (asking again queues a new
    one)."""

    def __call__(self, task: str, job_id: str, environment: dict[str, str]) -> str:
        import importlib

        return importlib.import_module(JOB_MODULE).short_job(task, job_id, environment)


def sbatch_job(settings: Settings, resources: Any, name: str, entry: Any, *args: str,
               requeue: bool) -> dict[str, Any]:
    """Submit ``entry(*args, environment)`` as one Slurm job named ``name`` asking for
    ``resources`` (a :class:`backend.executors.SlurmResources`); ``{"job_id", "stdout",
    "stderr"}``. :class:`Unavailable` (503) when sbatch refuses."""
    import submitit

    folder = slurm_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    ex = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=1000)
    params: dict[str, Any] = {
        "job_name": name, "time": resources.minutes, "nodes": 1,
        "ntasks_per_node": 1, "cpus_per_task": resources.cpus,
        "signal_delay_s": resources.signal_delay_s, "stderr_to_stdout": False,
        "additional_parameters": {"requeue" if requeue else "no-requeue": True,
                                  **resources.extra},
    }
    for key, value in (("partition", resources.partition), ("mem", resources.mem),
                       ("account", resources.account), ("qos", resources.qos)):
        if value:
            params[key] = value
    if resources.gpus:
        params["gpus_per_node"] = resources.gpus
    ex.update_parameters(**params)
    env = {k: v for k, v in settings_environment(settings).items() if k not in _SECRET_ENV}
    try:
        job = ex.submit(entry, *args, env)
    except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
        raise sbatch_refusal(str(exc)) from exc
    return {"job_id": str(job.job_id), "stdout": str(job.paths.stdout),
            "stderr": str(job.paths.stderr)}


def job_state(job_id: str) -> dict[str, Any] | None:
    """Slurm's view of a job: ``{"state", "reason", "restarts"}`` (None: unknown to it)."""
    return job_states([job_id]).get(str(job_id))


def job_states(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Slurm's view of these jobs, by job id, from one ``squeue`` call (jobs Slurm no
    longer knows are left out)."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids:
        return {}
    cmd = ["squeue", "-h", "-t", "all", "-j", ",".join(ids),
           "-O", "JobID:|,State:|,Reason:|,RestartCnt:|"]
    try:
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    seen = {}
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 4 and parts[0] in ids:
            seen[parts[0]] = {"state": parts[1], "reason": parts[2],
                              "restarts": int(parts[3]) if parts[3].isdigit() else 0}
    return seen


def jobs_named(name: str) -> list[tuple[str, float]] | None:
    """``(state, submit time as a Unix timestamp)`` of Slurm's jobs named ``name`` (``[]``:
    none it knows; None: ``squeue`` could not answer, so nothing is known). Slurm writes
    times in the controller's local time, read here as this host's."""
    try:
        out = subprocess.run(["squeue", "-h", "-t", "all", "-n", name,
                              "-O", "State:|,SubmitTime:|"],
                             check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    jobs = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[0]:
            try:
                jobs.append((parts[0], datetime.fromisoformat(parts[1]).timestamp()))
            except ValueError:
                jobs.append((parts[0], float("inf")))
    return jobs


def slurm_reachable(timeout: float = 3.0) -> bool:
    """Whether Slurm's controller answers now (``sinfo``, killed after ``timeout`` seconds:
    a controller that does not answer is unreachable, the check never hangs with it)."""
    try:
        return subprocess.run(["sinfo", "-h", "-o", "%P"], check=False, capture_output=True,
                              timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def scancel(job_id: str) -> bool:
    """Cancel a Slurm job (True when scancel accepted it)."""
    try:
        return subprocess.run(["scancel", str(job_id)], check=False,
                              capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
