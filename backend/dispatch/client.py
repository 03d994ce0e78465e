"""Sending side of dispatch: what the API (and ``mixscope up``) use to enqueue work.

Messages carry ids only, sent by task name, so the sender never imports the trainer or torch.
"""

from __future__ import annotations

import logging
import threading

from backend.dispatch.celery_app import (DEFORMATIONS, EXTRACT_TRIPLE, LAB_JOB, RUN_TRAINING,
                                         make_celery)
from backend.settings import Settings

log = logging.getLogger("mixscope.dispatch")


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

    def send_run(self, run_id: str) -> None:
        """Ask a worker to train ``run_id`` (a duplicate is harmless: claims are conditional)."""
        self.app.send_task(RUN_TRAINING, args=[run_id])
        log.info("sent run %s", run_id)

    def send_extract(self, job_id: str) -> None:
        """Ask a worker to run extraction job ``job_id``."""
        self.app.send_task(EXTRACT_TRIPLE, args=[job_id])
        log.info("sent extract job %s", job_id)

    def send_lab(self, job_id: str) -> None:
        """Ask a worker to compute lab job ``job_id`` (an experiment of ``/api/lab``)."""
        self.app.send_task(LAB_JOB, args=[job_id])
        log.info("sent lab job %s", job_id)

    def send_deformations(self, job_id: str) -> None:
        """Ask a worker to evaluate deformation job ``job_id`` (003 Table 9)."""
        self.app.send_task(DEFORMATIONS, args=[job_id])
        log.info("sent deformations job %s", job_id)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
