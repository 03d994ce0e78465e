"""The entry point of a run's Slurm job (submitted by ``backend.executors.submit`` through
submitit, which calls :func:`main` on the compute node).

The job trains through the very code a Celery worker runs (``trainer.tasks.train_claimed``:
the conditional claim, fencing, the keep-alive thread, checkpoints, the metrics thread); its
worker name is ``slurm-job:<job id>``, the same for every incarnation of a requeued job.

Signals:

* ``SIGUSR2`` (sbatch ``--signal=USR2@<delay>``: the time limit or a preemption is near):
  the loop checkpoints at the end of the epoch in progress and stops; the job releases the
  run to the queue and requeues itself (``scontrol requeue``), so its next incarnation
  claims the run again and resumes from that checkpoint.
* ``SIGTERM`` (``scancel``, ``scontrol requeue``, a node going down): training stops at
  once and the run is released; when its cancel was asked it is marked cancelled, else the
  requeued job resumes it from its latest rolling checkpoint. A job killed outright (a node
  failure) leaves the run ``running`` under its name: the next incarnation of the same job
  takes it back at start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

from backend.dispatch.celery_app import DEFORMATIONS, EXTRACT_TRIPLE, LAB_JOB
from backend.store.workers import slurm_worker_name
from trainer import preemption

log = logging.getLogger("mixscope.slurm")


class SlurmStopping(BaseException):
    """Slurm is ending this job (SIGTERM): not a failure of the run."""


def job_worker_name(job_id: str | None = None) -> str:
    return slurm_worker_name(job_id or os.environ.get("SLURM_JOB_ID", "unknown"))


def process_started_at() -> float | None:
    """When this process started (unix time, to the kernel's clock tick), from
    ``/proc/self/stat`` (None where there is none): the start of a job's start-up, which the
    job logs (``python started at``) and ``benchmarks/bench_slurm.py`` reads."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])   # field 22, starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - age


def _on_term(signum, _frame):
    raise SlurmStopping(signal.Signals(signum).name)


def main(run_id: str, environment: dict[str, str]) -> str:
    """Train ``run_id`` in this Slurm job with the API's settings (``environment``: the
    ``MIXSCOPE_*`` variables of ``backend.settings.settings_environment``). Returns what
    happened: the run's status, ``"requeued"``, ``"stopped"`` or ``"skipped"``."""
    # first of all: a warning from now on must reach the loop, a stop must release the run
    preemption.clear()
    signal.signal(signal.SIGUSR2, lambda *_: preemption.request())
    signal.signal(signal.SIGTERM, _on_term)
    try:
        return _train(run_id, environment)
    except preemption.Preempted as exc:  # released by train_claimed
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.warning("run %s: %s; requeueing Slurm job %s", run_id, exc, job_worker_name())
        _requeue_self()
        return "requeued"
    except SlurmStopping as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.warning("run %s: Slurm stops this job (%s); the run is released", run_id, exc)
        from trainer.tasks import worker_store

        store = worker_store()
        run = store.get_run(run_id)
        if run is not None and run.status == "queued" and run.cancel_requested:
            with contextlib.suppress(LookupError, RuntimeError):
                store.request_cancel(run_id)   # queued + cancel asked -> cancelled
        return "stopped"


def _train(run_id: str, environment: dict[str, str]) -> str:
    os.environ.update(environment)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from backend.settings import Settings
    from backend.store.info import Claim
    from trainer.tasks import configure_worker, train_claimed, worker_store

    configure_worker(Settings(), migrate=False)   # the submitter migrated the store
    store = worker_store()
    worker = job_worker_name()
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    started = process_started_at()
    log.info("run %s in Slurm job %s (restart %s) on %s; python started at %s", run_id,
             worker, restarts, os.uname().nodename,
             "unknown" if started is None else f"{started:.3f}")
    run = store.get_run(run_id)
    if run is not None and run.status == "running" and run.worker == worker:
        # this job's previous incarnation died holding the run: take it back
        store.release_run(run_id, Claim(worker, run.attempt))
        log.warning("run %s: taken back from this job's previous incarnation", run_id)
    status = train_claimed(run_id, worker)
    log.info("run %s: %s", run_id, status)
    return status


def _requeue_self() -> None:
    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id:
        log.error("not in a Slurm job: cannot requeue; the run stays queued")
        return
    subprocess.run(["scontrol", "requeue", job_id], check=False, timeout=60)


#: the short jobs a Slurm job may run: the Celery task names and their bodies in trainer.tasks
SHORT_TASKS = {EXTRACT_TRIPLE: "extract_triple_job", LAB_JOB: "lab_job",
               DEFORMATIONS: "deformations_job"}


def short_job(task: str, job_id: str, environment: dict[str, str]) -> str:
    """Run short job ``job_id`` (``task``: its Celery task name, one of :data:`SHORT_TASKS`)
    in this Slurm job through the Celery task's own body, as a worker would. A job that
    stops before its body has marked it (the time limit, scancel) is marked failed, so
    asking again queues a new one instead of waiting on a job nothing runs."""
    os.environ.update(environment)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_term)
    from backend.settings import Settings
    from trainer import tasks

    body = getattr(tasks, SHORT_TASKS[task])
    tasks.configure_worker(Settings(), migrate=False)   # the submitter migrated the store
    log.info("%s job %s in Slurm job %s on %s", task, job_id, job_worker_name(),
             os.uname().nodename)
    try:
        status = body(job_id)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            store = tasks.worker_store()
            job = store.get_job(job_id)
            if job is not None and job.status == "pending":
                store.finish_job(job_id, "failed", error=(
                    f"Slurm job {job_worker_name()} stopped ({type(exc).__name__}: {exc}) "
                    "before the job finished; ask again to queue a new one"))
        raise
    log.info("%s job %s: %s", task, job_id, status)
    return status
