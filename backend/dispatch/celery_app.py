"""The Celery application that carries "run this id" messages to trainer workers.

The broker only carries run ids; the SQL row is the truth (see ``docs/contracts.md``).
Broker: SQLite through kombu's SQLAlchemy transport by default
(``sqla+sqlite:///<store>/broker.db``), Redis when ``MIXSCOPE_BROKER_URL`` says so.
No result backend: task outcomes live in the store.

Settings for long GPU jobs: one task at a time (``--pool solo``, so the training runs in the
worker process itself and dies with it), prefetch multiplier 1 (a worker never hoards
messages another worker could run), late acknowledgement (a message is acked after the task
returns) and ``task_reject_on_worker_lost`` (a lost worker's message goes back to the queue
where the broker supports it; for the SQLite broker the worker's stale-run sweep covers the
same case).

This module holds only what both sides share: the task names and :func:`make_celery`. The
task bodies live on the worker side (``trainer.tasks``, app ``trainer.worker:app``); the API
sends by name (:class:`backend.dispatch.client.Dispatcher`), so it never imports the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from celery import Celery

from backend.settings import Settings

#: Task names: the API sends by name so it never imports the trainer.
RUN_TRAINING = "mixscope.run_training"
EXTRACT_TRIPLE = "mixscope.extract_triple"
LAB_JOB = "mixscope.lab_job"
DEFORMATIONS = "mixscope.deformations"
SWEEP_STALE = "mixscope.sweep_stale"
QUEUE = "mixscope"


def make_celery(settings: Settings, include: Sequence[str] = ()) -> Celery:
    """A Celery app for ``settings``. Creating it opens no connection. ``include``: modules
    that define tasks (the worker's ``trainer.tasks``; none for a sender)."""
    broker = settings.resolved_broker_url
    if broker.startswith("sqla+sqlite:///"):
        # kombu's SQLAlchemy transport creates its tables but not the folder.
        Path(broker.removeprefix("sqla+sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app = Celery("mixscope", broker=broker, include=list(include))
    app.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,
        result_backend=None,
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_concurrency=1,
        worker_pool="solo",
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # (kombu's SQLAlchemy transport hands broker_transport_options to create_engine, so
        # none are set here; it polls the queue table once a second.)
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
    )
    return app



def broker_reachable(app: Celery, timeout: float = 3.0) -> bool:
    """Whether ``app``'s broker accepts a connection now (the API's health check, and a
    worker's sweeper, which re-sends queued runs when the broker comes back)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 (any failure: unreachable)
        return False
