"""Celery tasks: train a run, extract a triple or compute a lab experiment on demand, requeue
runs whose worker died.

Every task takes ids only; the SQL row is the truth. ``run_training`` claims the run with one
conditional UPDATE (queued -> running), so a duplicated or redelivered message is harmless:
the second claim fails and the task returns at once.

A worker that dies (SIGKILL, power loss) leaves its run ``running`` with a heartbeat that
stops moving. Every worker runs a small sweeper thread (at start, then every
``heartbeat_timeout_s / 3``) that turns such runs back to ``queued`` (``store.requeue_stale``)
and re-sends them; the trainer resumes from the run's latest checkpoint. At start the
sweeper also re-sends every queued run, so runs whose messages were lost (a deleted broker
file) are not stranded.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
from functools import lru_cache

from celery import shared_task
from celery.exceptions import WorkerTerminate
from celery.signals import worker_ready, worker_shutdown

from backend.dispatch.celery_app import DEFORMATIONS, EXTRACT_TRIPLE, LAB_JOB, RUN_TRAINING
from backend.settings import get_settings

log = logging.getLogger("mixscope.dispatch")


@lru_cache(maxsize=1)
def worker_store():
    """The store of this worker process (from the environment's settings), migrated once."""
    from backend.store import Store

    store = Store(get_settings())
    store.migrate()
    return store


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@shared_task(name=RUN_TRAINING, acks_late=True, reject_on_worker_lost=True)
def run_training(run_id: str) -> str:
    """Claim ``run_id`` and train it to the end (or until cancelled). Returns what happened."""
    store = worker_store()
    worker = worker_name()
    if not store.claim_run(run_id, worker):
        run = store.get_run(run_id)
        log.info("run %s not claimed (status %s): duplicate or stale message", run_id,
                 run.status if run else "deleted")
        return "skipped"
    _configure_torch()
    from trainer.loop import execute_run  # lazily: the API never imports torch through us

    log.info("run %s claimed by %s", run_id, worker)
    keepalive = KeepAlive(store, run_id, worker, get_settings().heartbeat_timeout_s)
    keepalive.start()
    try:
        execute_run(store, run_id, worker=worker)
    except Exception as exc:  # the trainer normally finishes the row itself
        run = store.get_run(run_id)
        if run is not None and run.status == "running":
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}\n"
                             + traceback.format_exc(limit=8))
        log.exception("run %s failed", run_id)
        return "failed"
    finally:
        keepalive.stop.set()
    run = store.get_run(run_id)
    return run.status if run else "deleted"


class KeepAlive(threading.Thread):
    """Heartbeats a claimed run while this worker process lives.

    The trainer heartbeats between steps, but loading data, building the model or one long
    step or extraction can outlast the heartbeat timeout, and the sweeper would then requeue
    a run that is still training. This thread re-sends the run's own last heartbeat values
    whenever its heartbeat is older than a third of the timeout, so "stale heartbeat" means
    exactly "the worker process died" (a SIGKILL stops this thread too)."""

    def __init__(self, store, run_id: str, worker: str, timeout_s: float):
        super().__init__(name=f"keepalive-{run_id}", daemon=True)
        self.store, self.run_id, self.worker = store, run_id, worker
        self.every = max(timeout_s / 3.0, 0.2)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every / 2):
            try:
                run = self.store.get_run(self.run_id)
                if run is None or run.status != "running" or run.worker != self.worker:
                    return
                beat = run.heartbeat_at
                if beat is None or time.time() - beat.timestamp() >= self.every:
                    self.store.heartbeat(self.run_id, run.current_epoch, run.progress,
                                         run.eta_s)
            except Exception:  # a locked database: try again next time
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
    return execute_lab_job(worker_store(), job_id, get_settings())


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
    from trainer.deformations import execute_deformations_job  # lazily: no torch in the API

    return execute_deformations_job(worker_store(), job_id, get_settings())


def _configure_torch() -> None:
    import torch

    torch.set_num_threads(get_settings().torch_threads)


# --- the stale-run sweeper -------------------------------------------------------------------

def sweep_stale(store, send, timeout_s: float, *, resend_queued: bool = False) -> list[str]:
    """Requeue runs with a heartbeat older than ``timeout_s`` and re-send them with ``send``.

    ``send(run_id)`` enqueues a training message. With ``resend_queued`` every queued run is
    re-sent too. Returns the ids sent."""
    ids = list(store.requeue_stale(timeout_s))
    if resend_queued:
        ids += [r.id for r in store.list_runs(status="queued") if r.id not in ids]
    for run_id in ids:
        send(run_id)
    if ids:
        log.warning("re-sent runs %s", ", ".join(ids))
    return ids


def resend_pending_jobs(store, app) -> list[str]:
    """Re-send every pending extraction and lab job: a worker that died mid-job, or a lost
    broker message, would otherwise leave the API answering 202 for it forever. Duplicates
    are harmless, since both tasks return at once for a job that is already done."""
    tasks = {"extract_triple": EXTRACT_TRIPLE, "lab": LAB_JOB, "deformations": DEFORMATIONS}
    sent = []
    for job in store.list_jobs(status="pending"):
        if job.kind in tasks:
            app.send_task(tasks[job.kind], [job.id])
            sent.append(job.id)
    if sent:
        log.warning("re-sent pending jobs %s", ", ".join(sent))
    return sent


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def requeue_dead_local(store, floor_s: float = 10.0) -> list[str]:
    """Requeue running runs whose worker was a process on this host that no longer exists
    (stopped with ``mixscope up``'s Ctrl-C, or killed), without waiting for the heartbeat
    timeout. Waits until their last heartbeat is ``floor_s`` old (the trainer beats every
    2 s), then calls ``store.requeue_stale(floor_s)``. Returns the ids requeued."""
    host = socket.gethostname()
    dead = []
    for r in store.list_runs(status="running"):
        h, _, pid = (r.worker or "").rpartition(":")
        if h == host and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            dead.append(r)
    if not dead:
        return []
    beats = [r.heartbeat_at or r.started_at for r in dead]
    newest = max(b.timestamp() for b in beats if b is not None) if any(beats) else 0.0
    wait = floor_s - (time.time() - newest)
    if wait > 0:
        time.sleep(wait + 0.1)
    return store.requeue_stale(floor_s)


class _Sweeper(threading.Thread):
    def __init__(self, app) -> None:
        super().__init__(name="mixscope-sweeper", daemon=True)
        self.app = app
        self.stop = threading.Event()

    def run(self) -> None:
        settings = get_settings()
        timeout = settings.heartbeat_timeout_s
        interval = min(max(timeout / 3.0, 0.5), 60.0)
        first = True
        send = lambda rid: self.app.send_task(RUN_TRAINING, [rid])
        while not self.stop.is_set():
            try:
                if first:  # runs of this host's dead workers need not wait for the timeout
                    for rid in requeue_dead_local(worker_store(), min(10.0, timeout)):
                        send(rid)
                sweep_stale(worker_store(), send, timeout, resend_queued=first)
                if first:
                    resend_pending_jobs(worker_store(), self.app)
                first = False
            except Exception:  # a locked database or a broker hiccup: try again later
                log.exception("stale-run sweep failed")
            self.stop.wait(interval)


_sweeper: _Sweeper | None = None


@worker_ready.connect
def _start_sweeper(sender=None, **_kw) -> None:
    global _sweeper
    app = getattr(sender, "app", None)
    if app is None:
        from backend.dispatch.celery_app import app
    _sweeper = _Sweeper(app)
    _sweeper.start()


@worker_shutdown.connect
def _stop_sweeper(**_kw) -> None:
    if _sweeper is not None:
        _sweeper.stop.set()


# --- stopping fast ------------------------------------------------------------------------------

class WorkerStopping(WorkerTerminate):
    """Raised in the training thread by SIGTERM/SIGINT (``mixscope worker``): unlike Celery's
    warm shutdown it does not wait for a training run to end. Not an ``Exception``, so the
    trainer does not mark the run failed: the run stays ``running``, is requeued (at the next
    start on this host at once, else after the heartbeat timeout) and resumes from its latest
    checkpoint. A ``WorkerTerminate`` (Celery's cold shutdown), so Celery exits quietly."""


def install_fast_stop() -> None:
    """Make SIGTERM and SIGINT stop this worker process promptly (see WorkerStopping)."""

    def _stop(signum, _frame):
        log.warning("%s: stopping now; the run in progress resumes from its checkpoint later",
                    signal.Signals(signum).name)
        raise WorkerStopping(0)

    @worker_ready.connect(weak=False)
    def _install(**_kw) -> None:  # after Celery has installed its own handlers
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
