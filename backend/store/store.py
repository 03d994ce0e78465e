"""``Store``: the one object through which every process reads and writes runs.

SQL (SQLAlchemy 2, SQLite or PostgreSQL) holds runs, per-epoch metrics, sweeps, jobs and the
index of artifacts; the arrays themselves are safetensors files under the artifact root
(see :mod:`backend.store.artifacts`). A file is always complete before the SQL row that
points to it is committed, so readers never see a half-written record.

The store is thread-safe (one engine with a connection pool, one short session per call) and
safe across processes (conditional UPDATEs for state changes, upserts for re-writes).

``Store`` is a thin façade over its parts, one module per seam: connections and migrations
(:mod:`backend.store.base`), runs and epoch metrics (:mod:`backend.store.runs`), jobs and
sweeps (:mod:`backend.store.jobs`), the artifact index (:mod:`backend.store.artifact_index`), the
workers' published memory budgets (:mod:`backend.store.worker_budgets`).
"""

from __future__ import annotations

from backend.store.artifact_index import ArtifactIndex
from backend.store.common import ANY, default_run_name, jsonable, new_id
from backend.store.jobs import JobStore
from backend.store.runs import RunStore
from backend.store.worker_budgets import WorkerStore

__all__ = ["ANY", "Store", "default_run_name", "jsonable", "new_id"]


class Store(RunStore, JobStore, ArtifactIndex, WorkerStore):
    """Runs, metrics, sweeps, jobs and artifacts of one mixscope installation.

    ``Store(settings)`` connects lazily (no I/O until used); call :meth:`migrate` once at
    start-up. ``Store.open(path)`` is the embedded default for a store folder, migrated.
    """
