"""``Store``: the one object through which every process reads and writes runs.

SQL (SQLAlchemy 2, SQLite or PostgreSQL) holds runs, per-epoch metrics, sweeps, jobs and the
index of artifacts; the arrays themselves are safetensors files under the artifact root
(see :mod:`backend.store.artifacts`). A file is always complete before the SQL row that
points to it is committed, so readers never see a half-written record.

The store is thread-safe (one engine with a connection pool, one short session per call) and
safe across processes (conditional UPDATEs for state changes, upserts for re-writes).
"""

from __future__ import annotations

import math
import os
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from backend.runconfig import RunConfig
from backend.settings import Settings, settings_for_store
from backend.store import db
from backend.store.artifacts import ArtifactFiles, artifact_relpath
from backend.store.errors import ArtifactNotFound, RunFinished, RunNotFound
from backend.store.info import ArtifactInfo, JobInfo, RunInfo, SweepInfo
from backend.store.models import (
    JOB_STATUSES,
    NO_EPOCH,
    NO_LAYER,
    RUN_STATUSES,
    TERMINAL_STATUSES,
    Artifact,
    EpochMetric,
    Job,
    Run,
    Sweep,
    utcnow,
)

if TYPE_CHECKING:
    import torch
    from typing_extensions import Self


class _Any:
    """Marker for "any value" in :meth:`Store.delete_artifacts` (``None`` means "none")."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()

# Engines must not be shared across fork (Celery's prefork pool): a child that inherits
# pooled connections would talk over its parent's sockets. Drop them in the child.
_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for s in list(_STORES):
        s.engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def new_id() -> str:
    """A short random hex id (12 hex digits: 48 bits, ample for one installation)."""
    return uuid.uuid4().hex[:12]


def default_run_name(cfg: RunConfig) -> str:
    return f"{cfg.dataset}-{cfg.model}-{cfg.method}-a{cfg.alpha:g}"


def jsonable(x: Any, where: str = "value") -> Any:
    """``x`` as plain JSON: numpy scalars and small arrays become Python numbers and lists,
    NaN and ±inf become ``None`` (JSON has neither; PostgreSQL rejects them)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist(), where)
    if isinstance(x, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "item") and callable(x.item):  # a torch scalar tensor
        return jsonable(x.item(), where)
    raise TypeError(f"{where}: {type(x).__name__} is not JSON-serialisable")


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


class Store:
    """Runs, metrics, sweeps, jobs and artifacts of one mixscope installation.

    ``Store(settings)`` connects lazily (no I/O until used); call :meth:`migrate` once at
    start-up. ``Store.open(path)`` is the embedded default for a store folder, migrated.
    """

    def __init__(self, settings: Settings | str | os.PathLike | None = None):
        if not isinstance(settings, Settings):  # a store folder, or None for the default
            settings = settings_for_store(settings)
        self.settings = settings
        self.engine = db.make_engine(self.settings.resolved_database_url)
        self.files = ArtifactFiles(self.settings.resolved_artifact_url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_engine = db.writer(self.engine)
        self._write = sessionmaker(self._writer_engine, expire_on_commit=False)
        _STORES.add(self)

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, migrate: bool = True) -> Store:
        """The store in folder ``path`` (``None``: ``MIXSCOPE_*`` settings / per-user folder)."""
        store = cls(settings_for_store(path))
        if migrate:
            store.migrate()
        return store

    def __repr__(self) -> str:
        return (f"Store(db={self.engine.url.render_as_string(hide_password=True)!r}, "
                f"artifacts={self.files.root_url!r})")

    def migrate(self) -> None:
        """Alembic ``upgrade head`` from code: idempotent, safe for concurrent processes."""
        db.migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> bool:
        """True when the database answers (for health checks)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction (takes SQLite's write lock at BEGIN)."""
        with self._write() as s, s.begin():
            yield s

    @contextmanager
    def _core_tx(self) -> Iterator[sa.Connection]:
        """A write transaction on a bare connection: for the per-epoch hot path, where the
        ORM's bookkeeping would cost more than the SQL."""
        with self._writer_engine.begin() as conn:
            yield conn

    # runs -----------------------------------------------------------------------
    def create_run(self, config: RunConfig | Mapping[str, Any],
                   sweep_id: str | None = None) -> RunInfo:
        """A new run with status ``queued``; the config is validated and stored as JSON."""
        cfg = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
        now = utcnow()
        run = Run(id=new_id(), name=cfg.name or default_run_name(cfg), status="queued",
                  config=cfg.model_dump(mode="json"), created_at=now, current_epoch=0,
                  total_epochs=cfg.epochs, progress=0.0, cancel_requested=False,
                  sweep_id=sweep_id, class_names=[], layers=[], recorded_epochs=[],
                  summary={})
        with self._tx() as s:
            if sweep_id is not None and s.get(Sweep, sweep_id) is None:
                raise ValueError(f"sweep_id: no sweep {sweep_id!r}")
            s.add(run)
        return RunInfo.model_validate(run)

    def get_run(self, run_id: str) -> RunInfo | None:
        with self._read() as s:
            run = s.get(Run, run_id)
            return None if run is None else RunInfo.model_validate(run)

    def require_run(self, run_id: str) -> RunInfo:
        """Like :meth:`get_run`, raising :class:`RunNotFound` instead of returning None."""
        run = self.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def list_runs(self, status: str | None = None, sweep_id: str | None = None,
                  limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first, optionally only one status and/or one sweep, at most
        ``limit`` of them."""
        q = sa.select(Run).order_by(Run.created_at.desc(), Run.id)
        if limit is not None:
            q = q.limit(int(limit))
        if status is not None:
            if status not in RUN_STATUSES:
                raise ValueError(f"status: {status!r} is not one of {', '.join(RUN_STATUSES)}")
            q = q.where(Run.status == status)
        if sweep_id is not None:
            q = q.where(Run.sweep_id == sweep_id)
        with self._read() as s:
            return [RunInfo.model_validate(r) for r in s.scalars(q)]

    def claim_run(self, run_id: str, worker: str) -> bool:
        """Move a queued run to running for ``worker``, atomically; False if someone else
        already did (or the run is not queued), so duplicate task messages are harmless."""
        now = utcnow()
        with self._core_tx() as s:
            res = s.execute(
                sa.update(Run)
                .where(Run.id == run_id, Run.status == "queued")
                .values(status="running", worker=worker, heartbeat_at=now, error=None,
                        started_at=sa.func.coalesce(Run.started_at, now))
                .execution_options(synchronize_session=False))
            return res.rowcount == 1

    def heartbeat(self, run_id: str, epoch: int, progress: float,
                  eta_s: float | None) -> None:
        """The worker is alive at ``epoch`` with ``progress`` in [0, 1] and an ETA."""
        p = float(progress)
        p = 0.0 if not math.isfinite(p) else min(max(p, 0.0), 1.0)
        eta = None if eta_s is None or not math.isfinite(float(eta_s)) else float(eta_s)
        with self._core_tx() as s:
            # a beat arriving after the run finished (the worker's keep-alive thread read the
            # row just before) must not rewind its final epoch and progress
            res = s.execute(sa.update(Run).where(
                Run.id == run_id, Run.status.not_in(TERMINAL_STATUSES)).values(
                heartbeat_at=utcnow(), current_epoch=int(epoch), progress=p, eta_s=eta)
                .execution_options(synchronize_session=False))
            if res.rowcount != 1 and s.execute(
                    sa.select(Run.id).where(Run.id == run_id)).first() is None:
                raise RunNotFound(run_id)

    def request_cancel(self, run_id: str) -> RunInfo:
        """Cancel a run. A queued run becomes ``cancelled`` at once; a running one gets its
        ``cancel_requested`` flag, which the training loop checks between steps.
        Raises :class:`RunFinished` for a terminal run, :class:`RunNotFound` for none."""
        for _ in range(10):  # loop only if the status changes under us
            now = utcnow()
            with self._tx() as s:
                run = s.get(Run, run_id)
                if run is None:
                    raise RunNotFound(run_id)
                if run.status in TERMINAL_STATUSES:
                    raise RunFinished(run_id, run.status)
                values: dict[str, Any] = {"cancel_requested": True}
                if run.status == "queued":
                    values.update(status="cancelled", finished_at=now)
                res = s.execute(sa.update(Run)
                                .where(Run.id == run_id, Run.status == run.status)
                                .values(**values)
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    break
        return self.require_run(run_id)

    def cancel_requested(self, run_id: str) -> bool:
        """Should the worker stop? True when cancel was asked, the run is already cancelled,
        or the run no longer exists (deleted while training)."""
        with self._read() as s:
            row = s.execute(sa.select(Run.cancel_requested, Run.status)
                            .where(Run.id == run_id)).first()
        return row is None or bool(row[0]) or row[1] == "cancelled"

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Mark the run terminal: ``succeeded`` (progress 1), ``failed`` or ``cancelled``."""
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(TERMINAL_STATUSES)}")
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error,
                                  "eta_s": None}
        if status == "succeeded":  # the last heartbeat may lag the last epoch by seconds
            values["progress"] = 1.0
            values["current_epoch"] = Run.total_epochs
        with self._core_tx() as s:
            res = s.execute(sa.update(Run).where(Run.id == run_id).values(**values)
                            .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                raise RunNotFound(run_id)

    def requeue_stale(self, timeout_s: float) -> list[str]:
        """Running runs whose heartbeat is older than ``timeout_s`` (their worker died) go
        back to ``queued`` with their artifacts kept, so the next worker resumes from the
        latest checkpoint; a stale run whose cancel was requested becomes ``cancelled``.
        Returns the ids requeued or cancelled."""
        cutoff = utcnow() - timedelta(seconds=float(timeout_s))
        stale = sa.or_(Run.heartbeat_at < cutoff,
                       sa.and_(Run.heartbeat_at.is_(None), Run.started_at < cutoff))
        moved = []
        with self._tx() as s:
            rows = s.execute(sa.select(Run.id, Run.cancel_requested)
                             .where(Run.status == "running", stale)).all()
            for run_id, cancel in rows:
                values: dict[str, Any] = (
                    {"status": "cancelled", "finished_at": utcnow()} if cancel else
                    {"status": "queued", "worker": None, "eta_s": None})
                res = s.execute(sa.update(Run)
                                .where(Run.id == run_id, Run.status == "running", stale)
                                .values(**values)
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    moved.append(run_id)
        return moved

    def delete_run(self, run_id: str) -> None:
        """Delete a run: its files first (so a failure leaves it visible to retry), then its
        rows (metrics, artifacts and jobs cascade), then whatever a still-running worker
        wrote in between."""
        self.require_run(run_id)
        folder = f"runs/{run_id}"
        self.files.remove_tree(folder)
        with self._tx() as s:
            for model in (EpochMetric, Artifact, Job):  # explicit: no reliance on CASCADE
                s.execute(sa.delete(model).where(model.run_id == run_id))
            s.execute(sa.delete(Run).where(Run.id == run_id))
        self.files.remove_tree(folder)

    def update_run_info(self, run_id: str, *, class_names: Iterable[Any] | None = None,
                        layers: Iterable[str] | None = None,
                        recorded_epochs: Iterable[int] | None = None,
                        num_probe: int | None = None,
                        summary: Mapping[str, Any] | None = None) -> None:
        """Set the descriptive fields the trainer learns once the data and model exist.
        Fields left ``None`` are unchanged; ``summary`` is merged into the stored one."""
        values: dict[str, Any] = {}
        if class_names is not None:
            values["class_names"] = [str(c) for c in class_names]
        if layers is not None:
            values["layers"] = [str(x) for x in layers]
        if recorded_epochs is not None:
            values["recorded_epochs"] = sorted({int(e) for e in recorded_epochs})
        if num_probe is not None:
            values["num_probe"] = int(num_probe)
        with self._tx() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise RunNotFound(run_id)
            if summary is not None:
                values["summary"] = {**run.summary, **jsonable(dict(summary), "summary")}
            for k, v in values.items():
                setattr(run, k, v)

    # sweeps ---------------------------------------------------------------------
    def create_sweep(self, name: str, field: str, values: Iterable[Any]) -> str:
        """A named group of runs that differ in one config ``field``; returns its id."""
        sweep = Sweep(id=new_id(), name=str(name), field=str(field),
                      values=jsonable(list(values), "values"), created_at=utcnow())
        with self._tx() as s:
            s.add(sweep)
        return sweep.id

    def _sweep_info(self, s: Session, sweep: Sweep) -> SweepInfo:
        ids = s.scalars(sa.select(Run.id).where(Run.sweep_id == sweep.id)
                        .order_by(Run.created_at, Run.id)).all()
        return SweepInfo(id=sweep.id, name=sweep.name, field=sweep.field, values=sweep.values,
                         created_at=sweep.created_at, run_ids=list(ids))

    def list_sweeps(self) -> list[SweepInfo]:
        with self._read() as s:
            sweeps = s.scalars(sa.select(Sweep).order_by(Sweep.created_at.desc())).all()
            return [self._sweep_info(s, w) for w in sweeps]

    def get_sweep(self, sweep_id: str) -> SweepInfo | None:
        with self._read() as s:
            sweep = s.get(Sweep, sweep_id)
            return None if sweep is None else self._sweep_info(s, sweep)

    # jobs (on-demand work such as extracting an uncovered triple) ---------------
    def create_job(self, run_id: str | None, kind: str,
                   params: Mapping[str, Any]) -> JobInfo:
        """A pending job; if an identical one (same run, kind, params) is pending or done,
        that one is returned instead, so asking twice does the work once. ``run_id`` None:
        a job of no run (a lab experiment)."""
        p = jsonable(dict(params), "params")
        existing = self.find_job(run_id, kind, p)
        if existing is not None and existing.status != "failed":
            return existing
        now = utcnow()
        job = Job(id=new_id(), run_id=run_id, kind=kind, params=p, status="pending",
                  created_at=now, updated_at=now)
        with self._tx() as s:
            if run_id is not None and s.get(Run, run_id) is None:
                raise RunNotFound(run_id)
            s.add(job)
        return JobInfo.model_validate(job)

    def find_job(self, run_id: str | None, kind: str,
                 params: Mapping[str, Any]) -> JobInfo | None:
        """The newest job with exactly these params, if any (``run_id`` None: of no run)."""
        p = jsonable(dict(params), "params")
        of_run = Job.run_id.is_(None) if run_id is None else Job.run_id == run_id
        with self._read() as s:
            for job in s.scalars(sa.select(Job).where(of_run, Job.kind == kind)
                                 .order_by(Job.created_at.desc())):
                if job.params == p:
                    return JobInfo.model_validate(job)
        return None

    def get_job(self, job_id: str) -> JobInfo | None:
        with self._read() as s:
            job = s.get(Job, job_id)
            return None if job is None else JobInfo.model_validate(job)

    def list_jobs(self, run_id: str | None = None,
                  status: str | None = None) -> list[JobInfo]:
        q = sa.select(Job).order_by(Job.created_at, Job.id)
        if run_id is not None:
            q = q.where(Job.run_id == run_id)
        if status is not None:
            q = q.where(Job.status == status)
        with self._read() as s:
            return [JobInfo.model_validate(j) for j in s.scalars(q)]

    def finish_job(self, job_id: str, status: str, error: str | None = None,
                   result: Mapping[str, Any] | None = None) -> None:
        """Mark a job ``done`` or ``failed`` (or back to ``pending``). ``result``: a JSON
        answer to keep with the job (a lab experiment's), read back by :meth:`job_result`."""
        if status not in JOB_STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(JOB_STATUSES)}")
        values: dict[str, Any] = {"status": status, "error": error, "updated_at": utcnow()}
        if result is not None:
            values["result"] = jsonable(dict(result), "result")
        with self._core_tx() as s:
            res = s.execute(sa.update(Job).where(Job.id == job_id).values(**values)
                            .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                raise LookupError(f"job {job_id!r} not found")

    def job_result(self, job_id: str) -> dict[str, Any] | None:
        """The JSON result stored with a job by :meth:`finish_job`, or None."""
        with self._read() as s:
            return s.scalar(sa.select(Job.result).where(Job.id == job_id))

    # per-epoch metrics ------------------------------------------------------------
    def record_epoch(self, run_id: str, epoch: int,
                     metrics: Mapping[str, Any]) -> None:
        """Store (or replace) the metrics of one epoch. Values are numbers, short lists or
        small dicts (never arrays of activations); NaN/inf are stored as null. The run's
        ``summary`` takes the scalar metrics of its latest recorded epoch."""
        epoch = int(epoch)
        m = jsonable(dict(metrics), "metrics")
        if "epoch" in m and m.pop("epoch") != epoch:
            raise ValueError(f"metrics: 'epoch' {metrics['epoch']!r} differs from {epoch}")
        now = utcnow()
        runs = Run.__table__
        with self._core_tx() as conn:
            summary = conn.execute(sa.select(runs.c.summary)
                                   .where(runs.c.id == run_id)).scalar_one_or_none()
            if summary is None:
                raise RunNotFound(run_id)
            self._upsert(conn, EpochMetric, {"run_id": run_id, "epoch": epoch},
                         {"metrics": m, "updated_at": now})
            if epoch >= summary.get("epoch", -1):
                scalars = {k: v for k, v in m.items() if _is_scalar(v)}
                conn.execute(sa.update(runs).where(runs.c.id == run_id)
                             .values(summary={**summary, **scalars, "epoch": epoch}))

    def epoch_metrics(self, run_id: str) -> list[dict[str, Any]]:
        """Every recorded epoch's metrics, sorted by epoch, each with its ``"epoch"``."""
        with self._read() as s:
            rows = s.execute(sa.select(EpochMetric.epoch, EpochMetric.metrics)
                             .where(EpochMetric.run_id == run_id)
                             .order_by(EpochMetric.epoch)).all()
        return [{"epoch": e, **m} for e, m in rows]

    def _upsert(self, conn: sa.Connection, model: type, key: dict[str, Any],
                values: dict[str, Any]) -> None:
        """INSERT, or UPDATE the row with the same unique ``key``, in one statement."""
        table = model.__table__
        name = self.engine.dialect.name
        if name in ("sqlite", "postgresql"):
            if name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(table).values(**key, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))
            return
        where = [table.c[k] == v for k, v in key.items()]
        res = conn.execute(sa.update(table).where(*where).values(**values))
        if res.rowcount == 0:
            conn.execute(sa.insert(table).values(**key, **values))

    # artifacts --------------------------------------------------------------------
    @staticmethod
    def _key(kind: str, epoch: int | None, layer: str | None) -> tuple[str, int, str]:
        if not kind or not isinstance(kind, str):
            raise ValueError(f"kind: expected a non-empty string, got {kind!r}")
        if epoch is not None and (not isinstance(epoch, (int, np.integer)) or epoch < 0):
            raise ValueError(f"epoch: expected None or an integer >= 0, got {epoch!r}")
        if layer is not None and (not isinstance(layer, str) or not layer):
            raise ValueError(f"layer: expected None or a non-empty string, got {layer!r}")
        return kind, NO_EPOCH if epoch is None else int(epoch), NO_LAYER if layer is None \
            else layer

    def _artifact_info(self, a: Any) -> ArtifactInfo:
        return ArtifactInfo(run_id=a.run_id, kind=a.kind,
                            epoch=None if a.epoch == NO_EPOCH else a.epoch,
                            layer=None if a.layer == NO_LAYER else a.layer,
                            path=a.path, url=self.files.url(a.path), size=a.size,
                            meta=a.meta, created_at=a.created_at)

    def _find_artifact(self, run_id: str, kind: str, epoch: int | None,
                       layer: str | None) -> Any:
        """The artifact row (a Core row with the ORM's column names) or None. Core, not
        ORM: every projection request does a few of these."""
        k, e, lay = self._key(kind, epoch, layer)
        t = Artifact.__table__
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t).where(
                t.c.run_id == run_id, t.c.kind == k, t.c.epoch == e, t.c.layer == lay)).first()

    def _put_file(self, run_id: str, kind: str, epoch: int | None, layer: str | None,
                  data: bytes, meta: dict[str, str]) -> ArtifactInfo:
        """Write the file atomically, then commit its row; undo the file if the row fails."""
        k, e, lay = self._key(kind, epoch, layer)
        self.require_run(run_id)
        rel = artifact_relpath(run_id, kind, epoch, layer)
        self.files.write_atomic(rel, data)
        self.files.forget(rel)
        now = utcnow()
        try:
            with self._core_tx() as conn:
                self._upsert(conn, Artifact, {"run_id": run_id, "kind": k, "epoch": e,
                                           "layer": lay},
                             {"path": rel, "size": len(data), "meta": meta,
                              "created_at": now})
        except BaseException:
            # Not indexed, so not visible: remove it unless an older row still points here.
            if self._find_artifact(run_id, kind, epoch, layer) is None:
                self.files.remove(rel)
            raise
        info = self._find_artifact(run_id, kind, epoch, layer)
        assert info is not None
        return self._artifact_info(info)

    def put_arrays(self, run_id: str, kind: str, arrays: Mapping[str, np.ndarray], *,
                   epoch: int | None = None, layer: str | None = None,
                   meta: Mapping[str, str] | None = None) -> ArtifactInfo:
        """Store named numpy arrays as one safetensors file; re-putting the same
        (run, kind, epoch, layer) replaces it."""
        from safetensors.numpy import save

        if not arrays:
            raise ValueError("arrays: at least one array is needed")
        clean = {}
        for name, a in arrays.items():
            if not isinstance(a, np.ndarray):
                raise TypeError(f"arrays[{name!r}]: expected a numpy array, got "
                                f"{type(a).__name__}")
            if a.dtype == object or a.dtype.kind in "USV":
                raise TypeError(f"arrays[{name!r}]: dtype {a.dtype} cannot be stored")
            clean[str(name)] = np.ascontiguousarray(a)
        m = _meta(meta)
        return self._put_file(run_id, kind, epoch, layer, save(clean, metadata=m or None), m)

    def get_arrays(self, run_id: str, kind: str, *, epoch: int | None = None,
                   layer: str | None = None) -> dict[str, np.ndarray]:
        """The arrays of one artifact. Read-only (memory-mapped and cached): copy before
        modifying. Raises :class:`ArtifactNotFound` (a KeyError) when absent."""
        row = self._find_artifact(run_id, kind, epoch, layer)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, layer)
        return self.files.load_numpy(row.path, (row.size, row.created_at.isoformat()))

    def has_arrays(self, run_id: str, kind: str, *, epoch: int | None = None,
                   layer: str | None = None) -> bool:
        return self._find_artifact(run_id, kind, epoch, layer) is not None

    def put_tensors(self, run_id: str, kind: str, tensors: Mapping[str, torch.Tensor], *,
                    epoch: int | None = None,
                    meta: Mapping[str, str] | None = None) -> ArtifactInfo:
        """Store torch tensors (checkpoints) as safetensors; tensors are moved to CPU and
        de-aliased (safetensors refuses tensors that share memory)."""
        import torch
        from safetensors.torch import save

        if not tensors:
            raise ValueError("tensors: at least one tensor is needed")
        clean: dict[str, torch.Tensor] = {}
        seen: set[int] = set()
        for name, t in tensors.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"tensors[{name!r}]: expected a torch.Tensor, got "
                                f"{type(t).__name__}")
            t = t.detach().to("cpu").contiguous()
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen and t.numel() > 0:
                t = t.clone()
            seen.add(ptr)
            clean[str(name)] = t
        m = _meta(meta)
        return self._put_file(run_id, kind, epoch, None, save(clean, metadata=m or None), m)

    def get_tensors(self, run_id: str, kind: str, *,
                    epoch: int | None = None) -> dict[str, torch.Tensor]:
        """The tensors of one artifact (on CPU, owned by the caller)."""
        from safetensors.torch import load, load_file

        row = self._find_artifact(run_id, kind, epoch, None)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, None)
        if self.files.local:
            return load_file(self.files.full(row.path))
        return load(self.files.read_bytes(row.path))

    def list_artifacts(self, run_id: str, kind: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run, sorted by kind, epoch (none first), layer."""
        q = sa.select(Artifact).where(Artifact.run_id == run_id)
        if kind is not None:
            q = q.where(Artifact.kind == kind)
        with self._read() as s:
            rows = s.scalars(q.order_by(Artifact.kind, Artifact.epoch, Artifact.layer)).all()
        return [self._artifact_info(a) for a in rows]

    def delete_artifacts(self, run_id: str, kind: str, *, epoch: Any = ANY,
                         layer: Any = ANY) -> int:
        """Delete artifacts of one kind. Omitted ``epoch``/``layer`` match any value;
        ``None`` matches only artifacts without one. Rows go first (nothing visible points
        to a missing file), then the files. Returns how many were deleted."""
        q = sa.select(Artifact).where(Artifact.run_id == run_id, Artifact.kind == kind)
        if epoch is not ANY:
            q = q.where(Artifact.epoch == (NO_EPOCH if epoch is None else int(epoch)))
        if layer is not ANY:
            q = q.where(Artifact.layer == (NO_LAYER if layer is None else layer))
        with self._tx() as s:
            rows = s.scalars(q).all()
            paths = [a.path for a in rows]
            if rows:
                s.execute(sa.delete(Artifact).where(Artifact.id.in_([a.id for a in rows])))
        for p in paths:
            self.files.remove(p)
        return len(paths)


def _meta(meta: Mapping[str, str] | None) -> dict[str, str]:
    if meta is None:
        return {}
    bad = [k for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise TypeError(f"meta: keys and values must be strings (bad: {bad})")
    return dict(meta)
