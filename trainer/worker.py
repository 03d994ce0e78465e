"""The worker side of dispatch: the Celery app a trainer worker runs, and what every worker
does besides its tasks (:mod:`trainer.tasks`).

``mixscope worker --store ...`` builds the app for its settings with :func:`worker_app`;
``celery -A trainer.worker worker`` finds the module attribute ``app``, created on first
access (not at import) from the environment's settings. Either way it is
:func:`backend.dispatch.celery_app.make_celery`'s; the API only sends by task name
(:class:`backend.dispatch.client.Dispatcher`) and never imports this package.

A worker that dies (SIGKILL, power loss) leaves its run ``running`` with a heartbeat that
stops moving. Every worker runs a small sweeper thread (at start, then every
``heartbeat_timeout_s / 3``) that turns such runs back to ``queued`` (``store.requeue_stale``)
and re-sends them; the trainer resumes from the run's latest checkpoint. At start the
sweeper also re-sends every queued run, so runs whose messages were lost (a deleted broker
file) are not stranded, and removes the temporary files of writers killed mid-write. The
sweeper also checks the broker each time: when it comes back after an outage, every queued
run and pending job is sent again (messages the broker lost with it are not waiting for a
worker's restart; duplicates are harmless, claims are conditional). At every sweep it also
publishes the worker's memory budget (:func:`publish_budget`, the store's ``workers`` table),
which the API's admission reads; a clean stop removes it.
"""

from __future__ import annotations

import logging
import signal
import threading

from celery import Celery, bootsteps
from celery.exceptions import WorkerTerminate
from celery.signals import worker_ready, worker_shutdown

from backend.dispatch.celery_app import RUN_TRAINING, broker_reachable, make_celery
from backend.settings import Settings
from backend.store.workers import worker_name
from trainer.sweeper import (
    OutageAwareSweep,
    clean_orphan_files,
    note_outage,
    requeue_dead_local,
    resend_pending_jobs,
)
from trainer.tasks import configure_worker, worker_settings, worker_store

log = logging.getLogger("mixscope.dispatch")

_app: Celery | None = None


def worker_app(settings: Settings | None = None) -> Celery:
    """This process's worker Celery app (tasks of :mod:`trainer.tasks`), created once.
    ``settings`` (``mixscope worker``'s) become the worker's (:func:`configure_worker`);
    without them the environment's are used. Calling it again with other settings after
    the app exists is an error: one worker process serves one store."""
    global _app
    if settings is not None:
        if _app is not None and settings != worker_settings():
            raise RuntimeError("the worker app already exists for other settings")
        configure_worker(settings)
    if _app is None:
        _app = make_celery(worker_settings(), include=["trainer.tasks"])
        _app.steps["consumer"].add(_BrokerConnected)
    return _app


def __getattr__(name: str):
    # `celery -A trainer.worker` reads `app`: created here on first access, not at import
    if name == "app":
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the stale-run sweeper -------------------------------------------------------------------

class _BrokerConnected(bootsteps.StartStopStep):
    """A consumer step: Celery starts it on every connection to the broker, the first and
    each one after the connection was lost. A reconnection may be to a broker restarted
    without its data, so it wakes the sweeper to send every queued run again."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, c) -> None:
        _broker_connected.set()


_broker_connected = threading.Event()   # set on each (re)connection; the sweeper clears it


class _Sweeper(threading.Thread):
    def __init__(self, app) -> None:
        super().__init__(name="mixscope-sweeper", daemon=True)
        self.app = app
        self.stop = threading.Event()

    def _wait(self, seconds: float) -> None:
        """Sleep until the next sweep: ``seconds``, or sooner on a stop or a broker
        (re)connection."""
        _broker_connected.wait(seconds)

    def run(self) -> None:
        settings = worker_settings()
        timeout = settings.heartbeat_timeout_s
        interval = min(max(timeout / 3.0, 0.5), 60.0)
        first = True
        send = lambda rid: self.app.send_task(RUN_TRAINING, [rid])
        sweep = OutageAwareSweep(timeout)  # deaths uncounted just after an outage
        broker_down = False
        while not self.stop.is_set():
            reconnected = False
            publish_budget()   # this worker is alive, with its memory budget
            try:
                if not broker_reachable(self.app):
                    if not broker_down:
                        log.warning("the broker is unreachable; queued runs and pending "
                                    "jobs are sent again once it is back")
                    broker_down = True
                    note_outage()   # stale heartbeats meanwhile are no worker's death
                    self.stop.wait(min(interval, 1.0))
                    continue
                # back from an outage, or reconnected: messages the broker lost (restarted
                # without its data) are sent again, without waiting for a worker's restart
                reconnected = _broker_connected.is_set()
                _broker_connected.clear()
                again = first or broker_down or reconnected
                if first:  # temporary files of writers killed mid-write
                    clean_orphan_files(worker_store())
                if first:  # runs of this host's dead workers need not wait for the timeout
                    for rid in requeue_dead_local(worker_store(), min(10.0, timeout)):
                        send(rid)
                sweep(worker_store(), send, resend_queued=again)
                if again:
                    resend_pending_jobs(worker_store(), self.app)
                if broker_down:
                    log.warning("the broker is reachable again; queued runs re-sent")
                first = broker_down = False
            except Exception:  # a locked database or a broker hiccup: try again later
                log.exception("stale-run sweep failed")
                if reconnected:
                    _broker_connected.set()   # not sent yet: again at the next sweep
            self._wait(interval)


_sweeper: _Sweeper | None = None


def publish_budget() -> None:
    """Write this worker's row in the store's ``workers`` table (its name, its memory
    budget, a fresh heartbeat): the API admits runs against the largest budget among the
    live workers. The sweeper calls it at every sweep; a database outage only delays it."""
    from trainer.guard import worker_budget

    try:
        worker_store().publish_worker(worker_name(), worker_budget(worker_settings()))
    except Exception:
        log.debug("could not publish this worker's memory budget", exc_info=True)


def withdraw_budget() -> None:
    """Remove this worker's row: a stopped worker's budget admits no run."""
    try:
        worker_store().remove_worker(worker_name())
    except Exception:
        log.debug("could not remove this worker's row", exc_info=True)


@worker_ready.connect
def _start_sweeper(sender=None, **_kw) -> None:
    global _sweeper
    from backend.resources import format_bytes
    from trainer.guard import worker_budget

    # the memory budget is what is available now, at the worker's start (less a margin),
    # unless MIXSCOPE_WORKER_MEMORY says: a run past it is stopped with a named error
    log.info("memory budget of this worker: %s", format_bytes(worker_budget(worker_settings())))
    _sweeper = _Sweeper(getattr(sender, "app", None) or worker_app())
    _sweeper.start()


@worker_shutdown.connect
def _stop_sweeper(**_kw) -> None:
    if _sweeper is not None:
        _sweeper.stop.set()
        _broker_connected.set()   # wakes it
        withdraw_budget()


# --- stopping fast ------------------------------------------------------------------------------

class WorkerStopping(WorkerTerminate):
    """Raised in the training thread by SIGTERM/SIGINT (``mixscope worker``): unlike Celery's
    warm shutdown it does not wait for a training run to end. Not an ``Exception``, so the
    trainer does not mark the run failed: the task releases the run to the queue
    (``store.release_run``, not counted as a worker death), the next worker start re-sends
    it and it resumes from its latest checkpoint. A ``WorkerTerminate`` (Celery's cold
    shutdown), so Celery exits quietly."""


def stop_now(signum, _frame) -> None:
    """The SIGTERM/SIGINT handler of ``mixscope worker`` (see WorkerStopping)."""
    from celery.worker import state

    log.warning("%s: stopping now; the run in progress resumes from its checkpoint later",
                signal.Signals(signum).name)
    # Celery's loop stops on this flag at its next turn even where the raise below is lost:
    # Python ignores an exception raised by a handler that ran inside a weakref callback or a
    # __del__ (seen: a SIGTERM during a run's final garbage collection left the worker up)
    state.should_terminate = 0
    raise WorkerStopping(0)


def install_fast_stop() -> None:
    """Make SIGTERM and SIGINT stop this worker process promptly (see WorkerStopping)."""

    @worker_ready.connect(weak=False)
    def _install(**_kw) -> None:  # after Celery has installed its own handlers
        signal.signal(signal.SIGTERM, stop_now)
        signal.signal(signal.SIGINT, stop_now)
