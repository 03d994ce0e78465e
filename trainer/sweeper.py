"""Finding runs and jobs whose worker died, and sending them again.

Store operations plus a liveness check of local processes; no Celery app and no torch, so
``mixscope up`` can requeue the runs its last session left behind before it starts a worker.
The worker's sweeper thread (:mod:`trainer.worker`) calls these periodically.
"""

from __future__ import annotations

import logging
import os
import time

from backend.dispatch.celery_app import DEFORMATIONS, EXTRACT_TRIPLE, LAB_JOB
from backend.executors import slurm_record
from backend.store.workers import local_pid, pid_alive

log = logging.getLogger("mixscope.dispatch")


def sweep_stale(store, send, timeout_s: float, *, resend_queued: bool = False,
                count_deaths: bool = True) -> list[str]:
    """Requeue runs with a heartbeat older than ``timeout_s`` and re-send them with ``send``.

    ``send(run_id)`` enqueues a training message. With ``resend_queued`` every queued run is
    re-sent too. ``count_deaths`` False: the heartbeats may have stopped for an outage, not
    a death (see :class:`OutageAwareSweep`). Returns the ids sent."""
    ids = list(store.requeue_stale(timeout_s, count_deaths=count_deaths))
    if resend_queued:
        ids += [r.id for r in store.list_runs(status="queued") if r.id not in ids]
    # a Slurm run is its job's to train (a requeued job claims it again), never a worker's
    ids = [i for i in ids if slurm_record(store.get_run(i)) is None]
    for run_id in ids:
        send(run_id)
    if ids:
        log.warning("re-sent runs %s", ", ".join(ids))
    return ids


_outage = {"at": None}  # when this process last failed to reach the database or broker


def note_outage(clock=time.monotonic) -> None:
    """Remember that this process could not reach a backing service just now (the
    keep-alive thread of a run calls it when a heartbeat cannot be written)."""
    _outage["at"] = clock()


class OutageAwareSweep:
    """A worker's periodic stale-run sweep that remembers outages of the database or the
    broker (a sweep that raised, or :func:`note_outage`): for ``remember_s`` (default the
    heartbeat timeout) after the last one, runs found stale
    are requeued without counting a worker death. Their heartbeats stopped because nothing
    could be written, not because their worker died (issue 24: a PostgreSQL outage used to
    cost every running run a death)."""

    def __init__(self, timeout_s: float, remember_s: float | None = None,
                 clock=time.monotonic) -> None:
        self.timeout_s = timeout_s   # a heartbeat older than this is stale
        self.remember_s = timeout_s if remember_s is None else remember_s
        self.clock = clock
        self.last_outage: float | None = None

    def outage_recent(self) -> bool:
        seen = [t for t in (self.last_outage, _outage["at"]) if t is not None]
        return bool(seen) and self.clock() - max(seen) < self.remember_s

    def __call__(self, store, send, *, resend_queued: bool = False) -> list[str]:
        try:
            return sweep_stale(store, send, self.timeout_s, resend_queued=resend_queued,
                               count_deaths=not self.outage_recent())
        except Exception:
            self.last_outage = self.clock()
            raise


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


def requeue_dead_local(store, floor_s: float = 10.0) -> list[str]:
    """Requeue running runs whose worker was a process on this host that no longer exists
    (stopped with ``mixscope up``'s Ctrl-C, or killed), without waiting for the heartbeat
    timeout. Waits until their last heartbeat is ``floor_s`` old (the trainer beats every
    2 s), then calls ``store.requeue_stale(floor_s)``. Returns the ids requeued."""
    dead = []
    for r in store.list_runs(status="running"):
        pid = local_pid(r.worker)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            dead.append(r)
    if not dead:
        return []
    beats = [r.heartbeat_at or r.started_at for r in dead]
    newest = max(b.timestamp() for b in beats if b is not None) if any(beats) else 0.0
    wait = floor_s - (time.time() - newest)
    if wait > 0:
        time.sleep(wait + 0.1)
    return store.requeue_stale(floor_s, last_exit="killed")


def clean_orphan_files(store) -> list[str]:
    """Remove the temporary artifact files that writers killed mid-write left behind
    (``ArtifactFiles.clean_orphans``). Returns their paths."""
    removed = store.files.clean_orphans()
    if removed:
        log.warning("removed %d orphan temporary file(s): %s", len(removed),
                    ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else ""))
    return removed
