"""Celery task bodies: train a run, extract a triple or compute a lab experiment on demand.

Registered by name (``backend.dispatch.celery_app``'s constants) on the worker's app
(:mod:`trainer.worker`); the API sends those names and never imports this module.

Every task takes ids only; the SQL row is the truth. ``run_training`` claims the run with one
conditional UPDATE (queued -> running), so a duplicated or redelivered message is harmless:
the second claim fails and the task returns at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from functools import lru_cache

from celery import shared_task

from backend.dispatch.celery_app import DEFORMATIONS, EXTRACT_TRIPLE, LAB_JOB, RUN_TRAINING
from backend.executors import slurm_record
from backend.settings import Settings, get_settings
from backend.store.errors import Fenced, RunNotFound
from backend.store.info import Claim
from backend.store.workers import worker_name
from trainer.sweeper import note_outage

log = logging.getLogger("mixscope.dispatch")

_settings: Settings | None = None
#: whether worker_store() runs the migrations (see configure_worker)
_migrate = True


def configure_worker(settings: Settings, *, migrate: bool = True) -> None:
    """Make ``settings`` this worker process's (``mixscope worker --store`` passes its own);
    without a call the environment's are used (``celery -A trainer.worker worker``).
    ``migrate=False``: the store is known to be migrated already (a Slurm job: whoever
    submitted it, the API or ``mixscope reproduce``, migrated it with the same code), so
    :func:`worker_store` skips Alembic's upgrade check, a fixed cost every job would pay."""
    global _settings, _migrate
    _settings = settings
    _migrate = migrate
    worker_store.cache_clear()


def worker_settings() -> Settings:
    """The settings of this worker process (see :func:`configure_worker`)."""
    return _settings if _settings is not None else get_settings()


@lru_cache(maxsize=1)
def worker_store():
    """The store of this worker process (from :func:`worker_settings`), migrated once."""
    from backend.store import Store

    store = Store(worker_settings())
    if _migrate:
        store.migrate()
    return store


@shared_task(name=RUN_TRAINING, acks_late=True, reject_on_worker_lost=True)
def run_training(run_id: str) -> str:
    """Claim ``run_id`` and train it to the end (or until cancelled). Returns what happened."""
    return train_claimed(run_id, worker_name())


def train_claimed(run_id: str, worker: str) -> str:
    """:func:`run_training`'s body for a claimant named ``worker`` (a Celery worker, or a
    Slurm job: ``trainer.slurm_job``): claim, keep-alive, train, finish or release."""
    store = worker_store()
    attempt = store.claim_run(run_id, worker)
    if attempt is None:
        run = store.get_run(run_id)
        log.info("run %s not claimed (status %s): duplicate or stale message", run_id,
                 run.status if run else "deleted")
        return "skipped"
    _configure_torch()
    from trainer.loop import execute_run  # lazily: importing the tasks stays cheap

    claim = Claim(worker, attempt)
    log.info("run %s claimed by %s (attempt %d)", run_id, worker, attempt)
    keepalive = KeepAlive(store, run_id, claim, store.settings.heartbeat_timeout_s)
    keepalive.start()
    try:
        status = execute_run(store, run_id, worker=worker, attempt=attempt)
    except Exception as exc:  # the trainer normally finishes the row itself
        with contextlib.suppress(Fenced, RunNotFound):  # not ours any more: leave it
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}\n"
                             + traceback.format_exc(limit=8), claim=claim)
        log.exception("run %s failed", run_id)
        return "failed"
    except BaseException:  # the worker is stopping (WorkerStopping): not a death
        with contextlib.suppress(Exception):
            if store.release_run(run_id, claim):
                log.warning("run %s released to the queue; it resumes from its checkpoint",
                            run_id)
        raise
    finally:
        keepalive.stop.set()
    if status == "fenced":
        return status
    if status == "released":   # a database outage: train it again from its checkpoint
        try:
            if slurm_record(store.get_run(run_id)) is not None:
                return status   # a Slurm run is its job's (the executor sees it queued)
            run_training.apply_async(args=[run_id])
            log.warning("run %s sent again after a database outage", run_id)
        except Exception:  # the broker too: re-sent by a sweeper once it is back
            note_outage()
            log.warning("run %s released but not sent; a sweeper sends it", run_id,
                        exc_info=True)
        return status
    run = store.get_run(run_id)
    return run.status if run else "deleted"


class KeepAlive(threading.Thread):
    """Heartbeats a claimed run while this worker process lives.

    The trainer heartbeats between steps, but loading data, building the model or one long
    step or extraction can outlast the heartbeat timeout, and the sweeper would then requeue
    a run that is still training. This thread re-sends the run's own last heartbeat values
    whenever its heartbeat is older than a third of the timeout, so "stale heartbeat" means
    exactly "the worker process died" (a SIGKILL stops this thread too)."""

    def __init__(self, store, run_id: str, claim: Claim, timeout_s: float):
        super().__init__(name=f"keepalive-{run_id}", daemon=True)
        self.store, self.run_id, self.claim = store, run_id, claim
        self.every = max(timeout_s / 3.0, 0.2)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every / 2):
            try:
                run = self.store.get_run(self.run_id)
                if run is None or (run.status, run.worker, run.attempt) != (
                        "running", self.claim.worker, self.claim.attempt):
                    return  # finished, deleted, or no longer ours
                beat = run.heartbeat_at
                if beat is None or time.time() - beat.timestamp() >= self.every:
                    self.store.heartbeat(self.run_id, run.current_epoch, run.progress,
                                         run.eta_s, claim=self.claim)
            except (Fenced, RunNotFound):
                return
            except Exception:  # a locked or unreachable database: try again next time
                note_outage()  # stale heartbeats meanwhile are no worker's death
                log.debug("keepalive of %s failed", self.run_id, exc_info=True)


@shared_task(name=EXTRACT_TRIPLE, acks_late=True)
def extract_triple_job(job_id: str) -> str:
    """Extract a triple the probe set does not cover, for the job's epochs and layer.

    The job row (``store.create_job``, kind ``extract_triple``, params ``{"epochs": [...],
    "layer": L, "classes": [a, b, c]}``) holds the parameters; the task marks it done or
    failed. Each epoch is cached by the trainer as kind ``extract_cache``."""
    store = worker_store()
    job = store.get_job(job_id)
    if job is None:
        log.warning("extract job %s unknown (run deleted?)", job_id)
        return "unknown"
    if job.status == "done":
        return "done"
    _configure_torch()
    from trainer.extract import extract_triple

    p = job.params
    try:
        for epoch in p["epochs"]:
            extract_triple(store, job.run_id, int(epoch), p["layer"], tuple(p["classes"]))
    except Exception as exc:
        log.exception("extract job %s failed", job_id)
        try:
            store.finish_job(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        except LookupError:  # deleted with its run meanwhile
            pass
        return "failed"
    store.finish_job(job_id, "done")
    return "done"


@shared_task(name=LAB_JOB, acks_late=True)
def lab_job(job_id: str) -> str:
    """Compute a lab experiment (``/api/lab/...``) and store its JSON with the job."""
    store = worker_store()
    return execute_lab_job(store, job_id, store.settings)


def execute_lab_job(store, job_id: str, settings) -> str:
    """Run lab job ``job_id`` of ``store`` in this process: the job's params (kind ``lab``,
    ``{"experiment": "alternating-line" | "two-moons" | "assumption-check", ...}``, as the
    API normalised them) go to ``trainer.lab``; the result is kept with the job
    (``store.finish_job(..., result=...)``), or the error when it fails. Returns the status."""
    job = store.get_job(job_id)
    if job is None:
        log.warning("lab job %s unknown", job_id)
        return "unknown"
    if job.status == "done" and store.job_result(job_id) is not None:
        return "done"  # a duplicated message
    _configure_torch()
    try:
        result = compute_lab(dict(job.params), settings.resolved_data_dir)
    except Exception as exc:  # bad data, a missing dataset, out of memory: the job says why
        log.exception("lab job %s failed", job_id)
        store.finish_job(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        return "failed"
    store.finish_job(job_id, "done", result=result)
    return "done"


def compute_lab(params: dict, data_dir) -> dict:
    """The JSON answer of one lab experiment, from the API's normalised params."""
    from trainer import lab  # lazily: the API never imports torch through us

    p = dict(params)
    experiment = p.pop("experiment")
    if experiment == "assumption-check":
        return lab.assumption_check(p["dataset"], alpha=p["alpha"], subsample=p["subsample"],
                                    seed=p["seed"], data_dir=data_dir, allow_download=False,
                                    dataset_args=p.get("dataset_args") or {},
                                    procedure=p.get("procedure", "authors"))
    s = lab.LabSettings(alpha=p["alpha"], runs=p["runs"], epochs=p["epochs"], seed=p["seed"],
                        hidden=p["hidden"], lr=p["lr"], loop=p.get("loop", "correct"),
                        optimizer_state=p.get("optimizer_state", "per-run"))
    if experiment == "alternating-line":
        return lab.alternating_line(p["points"], p["classes"], s, eps=p["eps"])
    if experiment == "two-moons":
        return lab.two_moons(p["samples"], p["noise"], p["separation"], s,
                             grid_size=p["grid"], eps=p["eps"], draw=p.get("draw", "per-run"))
    raise ValueError(f"experiment: unknown lab experiment {experiment!r}")


@shared_task(name=DEFORMATIONS, acks_late=True)
def deformations_job(job_id: str) -> str:
    """Evaluate a finished run on 003 Table 9's deformed test sets; the result is kept with
    the job (``trainer.deformations.execute_deformations_job``)."""
    _configure_torch()
    from trainer.deformations import execute_deformations_job  # lazily: importing stays cheap

    store = worker_store()
    return execute_deformations_job(store, job_id, store.settings)


def _configure_torch() -> None:
    import torch

    torch.set_num_threads(worker_settings().torch_threads)


