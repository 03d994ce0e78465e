"""Sending side of dispatch: what the API (and ``mixscope up``) use to enqueue work.

Messages carry ids only, sent by task name, so the sender never imports the trainer or torch.
"""

from __future__ import annotations

import logging
import threading

from backend.dispatch.celery_app import (
    DEFORMATIONS,
    EXTRACT_TRIPLE,
    LAB_JOB,
    RUN_TRAINING,
    broker_reachable,
    make_celery,
)
from backend.errors import Unavailable
from backend.settings import Settings

log = logging.getLogger("mixscope.dispatch")


class BrokerUnavailable(Unavailable):
    """A message could not be handed to the broker (it is down or unreachable): 503."""

    service = "broker"

    def __init__(self, what: str, exc: BaseException):
        # the exception's type, not its text: a broker URL may carry a password
        super().__init__(f"the broker cannot be reached now ({type(exc).__name__}): {what} "
                         "was not sent; retry later")


class Dispatcher:
    """Enqueue training and extraction messages on the broker of ``settings``.

    The Celery app is created on first use; sending opens (and pools) a broker connection."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._app = None
        self._lock = threading.Lock()

    @property
    def app(self):
        with self._lock:
            if self._app is None:
                self._app = make_celery(self.settings)
            return self._app

    def _send(self, task: str, ident: str, what: str) -> None:
        """Send ``task(ident)``; :class:`BrokerUnavailable` when the broker cannot take it."""
        try:
            self.app.send_task(task, args=[ident])
        except Exception as exc:  # kombu's OperationalError, redis/socket errors, timeouts
            log.warning("could not send %s %s: %s", what, ident, type(exc).__name__)
            raise BrokerUnavailable(f"{what} {ident}", exc) from exc

    def ping(self, timeout: float = 3.0) -> bool:
        """Whether the broker accepts a connection now (``/api/health``)."""
        return broker_reachable(self.app, timeout)

    def send_run(self, run_id: str) -> None:
        """Ask a worker to train ``run_id`` (a duplicate is harmless: claims are conditional)."""
        self._send(RUN_TRAINING, run_id, "run")
        log.info("sent run %s", run_id)

    def send_extract(self, job_id: str) -> None:
        """Ask a worker to run extraction job ``job_id``."""
        self._send(EXTRACT_TRIPLE, job_id, "extract job")
        log.info("sent extract job %s", job_id)

    def send_lab(self, job_id: str) -> None:
        """Ask a worker to compute lab job ``job_id`` (an experiment of ``/api/lab``)."""
        self._send(LAB_JOB, job_id, "lab job")
        log.info("sent lab job %s", job_id)

    def send_deformations(self, job_id: str) -> None:
        """Ask a worker to evaluate deformation job ``job_id`` (003 Table 9)."""
        self._send(DEFORMATIONS, job_id, "deformations job")
        log.info("sent deformations job %s", job_id)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
