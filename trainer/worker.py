"""The worker side of dispatch: the Celery app a trainer worker runs, and what every worker
does besides its tasks (:mod:`trainer.tasks`).

``celery -A trainer.worker worker`` (or ``mixscope worker``, which adds the settings below)
finds the module attribute ``app``, built from the environment's settings with
:func:`backend.dispatch.celery_app.make_celery`; the API only sends by task name
(:class:`backend.dispatch.client.Dispatcher`) and never imports this package.

A worker that dies (SIGKILL, power loss) leaves its run ``running`` with a heartbeat that
stops moving. Every worker runs a small sweeper thread (at start, then every
``heartbeat_timeout_s / 3``) that turns such runs back to ``queued`` (``store.requeue_stale``)
and re-sends them; the trainer resumes from the run's latest checkpoint. At start the
sweeper also re-sends every queued run, so runs whose messages were lost (a deleted broker
file) are not stranded, and removes the temporary files of writers killed mid-write.
"""

from __future__ import annotations

import logging
import signal
import threading

from celery.exceptions import WorkerTerminate
from celery.signals import worker_ready, worker_shutdown

from backend.dispatch.celery_app import RUN_TRAINING, make_celery
from backend.settings import get_settings
from trainer.sweeper import (
    clean_orphan_files,
    requeue_dead_local,
    resend_pending_jobs,
    sweep_stale,
)
from trainer.tasks import worker_store

log = logging.getLogger("mixscope.dispatch")

app = make_celery(include=["trainer.tasks"])


# --- the stale-run sweeper -------------------------------------------------------------------

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
                if first:  # temporary files of writers killed mid-write
                    clean_orphan_files(worker_store())
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
    _sweeper = _Sweeper(getattr(sender, "app", None) or app)
    _sweeper.start()


@worker_shutdown.connect
def _stop_sweeper(**_kw) -> None:
    if _sweeper is not None:
        _sweeper.stop.set()


# --- stopping fast ------------------------------------------------------------------------------

class WorkerStopping(WorkerTerminate):
    """Raised in the training thread by SIGTERM/SIGINT (``mixscope worker``): unlike Celery's
    warm shutdown it does not wait for a training run to end. Not an ``Exception``, so the
    trainer does not mark the run failed: the task releases the run to the queue
    (``store.release_run``, not counted as a worker death), the next worker start re-sends
    it and it resumes from its latest checkpoint. A ``WorkerTerminate`` (Celery's cold
    shutdown), so Celery exits quietly."""


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
