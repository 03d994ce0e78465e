"""Workers' published memory budgets (part of :class:`backend.store.Store`).

The budget is what a worker may use for one run: ``MIXSCOPE_WORKER_MEMORY`` when the worker
has it, else the memory available at the worker's start less a margin
(``trainer.guard.worker_budget``). The API runs elsewhere and cannot measure it, so each
Celery worker publishes it here, and the API's admission
(:func:`backend.resources.admission_budget`) compares a run's estimate with the largest
budget among the live workers.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from backend.store.base import StoreBase
from backend.store.info import WorkerInfo
from backend.store.models import Worker, utcnow
from backend.store.workers import local_worker_dead


class WorkerStore(StoreBase):
    """Workers' published memory budgets (part of :class:`backend.store.Store`): a Celery
    worker writes its row at start and at every sweep (:meth:`publish_worker`) and removes
    it when it stops (:meth:`remove_worker`); the API's admission reads
    :meth:`live_workers`."""

    def publish_worker(self, name: str, memory_budget: int | None) -> None:
        """Write (or refresh) worker ``name``'s row with its budget and a fresh heartbeat;
        rows whose heartbeat is older than ten heartbeat timeouts (workers killed long ago)
        are removed on the way."""
        now = utcnow()
        table = Worker.__table__
        old = now - timedelta(seconds=10 * self.settings.heartbeat_timeout_s)
        with self._core_tx() as conn:
            conn.execute(sa.delete(table).where(table.c.heartbeat_at < old))
            res = conn.execute(sa.update(table).where(table.c.name == name)
                               .values(memory_budget=memory_budget, heartbeat_at=now))
            if res.rowcount == 0:
                conn.execute(sa.insert(table).values(name=name, memory_budget=memory_budget,
                                                     started_at=now, heartbeat_at=now))

    def remove_worker(self, name: str) -> None:
        """Worker ``name`` stopped: its budget no longer admits runs."""
        with self._core_tx() as conn:
            conn.execute(sa.delete(Worker.__table__).where(Worker.__table__.c.name == name))

    def live_workers(self, max_age_s: float | None = None) -> list[WorkerInfo]:
        """Workers whose heartbeat is at most ``max_age_s`` old (default the settings'
        ``heartbeat_timeout_s``) and, where one names a process of this host, whose process
        exists; largest budget first."""
        age = self.settings.heartbeat_timeout_s if max_age_s is None else max_age_s
        cutoff = utcnow() - timedelta(seconds=age)
        with self._read() as s:
            rows = s.scalars(sa.select(Worker).where(Worker.heartbeat_at >= cutoff)).all()
            out = [WorkerInfo.model_validate(r) for r in rows]
        out = [w for w in out if not local_worker_dead(w.name)]
        return sorted(out, key=lambda w: (-(w.memory_budget or 0), w.name))
