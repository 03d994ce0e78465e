"""Runs and their per-epoch metrics (part of :class:`backend.store.Store`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from backend.jsonsafe import finite_or_none
from backend.runconfig import RunConfig
from backend.runlabels import run_labels, stored_config
from backend.store.base import StoreBase
from backend.store.common import default_run_name, is_scalar, jsonable, new_id
from backend.store.errors import (
    ArtifactUnavailable,
    Fenced,
    RunFinished,
    RunNotFound,
    RunNotResumable,
)
from backend.store.info import Claim, RunInfo
from backend.store.models import (
    FAULTS,
    RUN_STATUSES,
    TERMINAL_STATUSES,
    Artifact,
    EpochMetric,
    Job,
    Run,
    Sweep,
    utcnow,
)
from backend.store.stop_watch import notify_stop

#: The worker name of runs recorded by ``mixscope.Recorder`` (never requeued or trained).
EXTERNAL_WORKER = "recorder"


class RunStore(StoreBase):
    """Create, claim, heartbeat, cancel, finish, requeue and delete runs; record epochs."""

    # runs -----------------------------------------------------------------------
    def create_run(self, config: RunConfig | Mapping[str, Any],
                   sweep_id: str | None = None, run_id: str | None = None) -> RunInfo:
        """A new run with status ``queued``; the config is validated and stored as JSON.
        ``run_id``: the id to give it (a recorded run's, derived from its client's key)."""
        cfg = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
        now = utcnow()
        run = Run(id=run_id or new_id(), name=cfg.name or default_run_name(cfg), status="queued",
                  config=stored_config(cfg), **run_labels(cfg), created_at=now, current_epoch=0,
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

    def _runs_filter(self, q, status: str | None, sweep_id: str | None,
                     dataset: str | None, model: str | None, method: str | None,
                     text: str | None):
        # filters run in SQL on indexed columns (status, sweep, and dataset/model/method:
        # copies of the config's fields, migration 0005) so a page never loads every run
        if status is not None:
            if status not in RUN_STATUSES:
                raise ValueError(f"status: {status!r} is not one of {', '.join(RUN_STATUSES)}")
            q = q.where(Run.status == status)
        if sweep_id is not None:
            q = q.where(Run.sweep_id == sweep_id)
        for column, value in ((Run.dataset, dataset), (Run.model, model), (Run.method, method)):
            if value is not None:
                q = q.where(column == value)
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            q = q.where(sa.func.lower(Run.name).like(pattern, escape="\\"))
        return q

    def list_runs(self, status: str | None = None, sweep_id: str | None = None,
                  limit: int | None = None, *, offset: int = 0, dataset: str | None = None,
                  model: str | None = None, method: str | None = None,
                  text: str | None = None) -> list[RunInfo]:
        """Runs, newest first, optionally filtered by status, sweep, dataset, model, method
        and a case-insensitive substring of the name; ``offset`` runs skipped, at most
        ``limit`` of them."""
        q = self._runs_filter(sa.select(Run), status, sweep_id, dataset, model, method, text)
        q = q.order_by(Run.created_at.desc(), Run.id)
        if offset:
            q = q.offset(int(offset))
        if limit is not None:
            q = q.limit(int(limit))
        with self._read() as s:
            return [RunInfo.model_validate(r) for r in s.scalars(q)]

    def count_runs(self, status: str | None = None, sweep_id: str | None = None, *,
                   dataset: str | None = None, model: str | None = None,
                   method: str | None = None, text: str | None = None) -> int:
        """How many runs :meth:`list_runs` would list with the same filters and no limit."""
        q = self._runs_filter(sa.select(sa.func.count()).select_from(Run), status, sweep_id,
                              dataset, model, method, text)
        with self._read() as s:
            return int(s.scalar(q))

    def run_labels_in_use(self) -> dict[str, list[str]]:
        """The distinct datasets, models and methods of the stored runs (sorted), so that a
        filter can offer a recorded run's own words ("cutmix")."""
        out = {}
        with self._read() as s:
            for name, column in (("dataset", Run.dataset), ("model", Run.model),
                                 ("method", Run.method)):
                out[name] = sorted(v for v in s.scalars(sa.select(column).distinct())
                                   if v is not None)
        return out

    def claim_run(self, run_id: str, worker: str) -> int | None:
        """Move a queued run to running for ``worker``, atomically, and return this claim's
        attempt number (1, 2, ...: ``runs.attempt`` is incremented by each claim); None if
        someone else already did (or the run is not queued), so duplicate task messages are
        harmless. ``Claim(worker, attempt)`` is what the worker's writes then carry."""
        now = utcnow()
        with self._core_tx() as s:
            res = s.execute(
                sa.update(Run)
                .where(Run.id == run_id, Run.status == "queued")
                .values(status="running", worker=worker, heartbeat_at=now, error=None,
                        fault=None, attempt=Run.attempt + 1,
                        started_at=sa.func.coalesce(Run.started_at, now))
                .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                return None
            return int(s.execute(sa.select(Run.attempt).where(Run.id == run_id)).scalar_one())

    @staticmethod
    def _claimed(claim: Claim | None) -> list[Any]:
        """WHERE clauses that hold only while ``claim`` is the run's (none for no claim)."""
        if claim is None:
            return []
        return [Run.status == "running", Run.worker == claim.worker,
                Run.attempt == claim.attempt]

    def _refused(self, s: sa.Connection, run_id: str, claim: Claim | None) -> None:
        """After a conditional UPDATE matched nothing: say why."""
        if s.execute(sa.select(Run.id).where(Run.id == run_id)).first() is None:
            raise RunNotFound(run_id)
        if claim is not None:
            raise Fenced(run_id, claim)

    def holds_claim(self, run_id: str, claim: Claim) -> bool:
        """Whether ``claim`` is still the run's (it is running under that worker and attempt)."""
        with self._read() as s:
            row = s.execute(sa.select(Run.status, Run.worker, Run.attempt)
                            .where(Run.id == run_id)).first()
        return row is not None and tuple(row) == ("running", claim.worker, claim.attempt)

    def heartbeat(self, run_id: str, epoch: int, progress: float,
                  eta_s: float | None, claim: Claim | None = None) -> None:
        """The worker is alive at ``epoch`` with ``progress`` in [0, 1] and an ETA.
        With ``claim``: only while it is the run's (else :class:`Fenced`)."""
        p = float(progress)
        p = 0.0 if not math.isfinite(p) else min(max(p, 0.0), 1.0)
        eta = finite_or_none(eta_s)
        with self._core_tx() as s:
            # a beat arriving after the run finished (the worker's keep-alive thread read the
            # row just before) must not rewind its final epoch and progress
            res = s.execute(sa.update(Run).where(
                Run.id == run_id, Run.status.not_in(TERMINAL_STATUSES),
                *self._claimed(claim)).values(
                heartbeat_at=utcnow(), current_epoch=int(epoch), progress=p, eta_s=eta)
                .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                self._refused(s, run_id, claim)

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
        notify_stop(run_id, "cancelled")
        return self.require_run(run_id)

    def cancel_requested(self, run_id: str, claim: Claim | None = None) -> bool:
        """Should the worker stop? True when cancel was asked, the run is already cancelled,
        or the run no longer exists (deleted while training). With ``claim``: raises
        :class:`Fenced` when the claim is no longer the run's (the trainer polls this often,
        so a fenced worker stops within a step)."""
        with self._read() as s:
            row = s.execute(sa.select(Run.cancel_requested, Run.status, Run.worker,
                                      Run.attempt).where(Run.id == run_id)).first()
        if row is None:
            return True
        if bool(row[0]) or row[1] == "cancelled":
            return True
        if claim is not None and (row[1], row[2], row[3]) != ("running", claim.worker,
                                                            claim.attempt):
            raise Fenced(run_id, claim)
        return False

    def finish_run(self, run_id: str, status: str, error: str | None = None,
                   claim: Claim | None = None, fault: str | None = None) -> None:
        """Mark the run terminal: ``succeeded`` (progress 1), ``failed`` or ``cancelled``.
        ``fault``: why a failed run failed when it is not its own error (``environment``: it
        can be resumed). With ``claim``: only while it is the run's (else :class:`Fenced`)."""
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(TERMINAL_STATUSES)}")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault: {fault!r} is not one of {', '.join(FAULTS)}")
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error,
                                  "eta_s": None, "fault": fault}
        if status == "succeeded":  # the last heartbeat may lag the last epoch by seconds
            values["progress"] = 1.0
            values["current_epoch"] = Run.total_epochs
        with self._core_tx() as s:
            res = s.execute(sa.update(Run).where(Run.id == run_id, *self._claimed(claim))
                            .values(**values).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                self._refused(s, run_id, claim)

    def release_run(self, run_id: str, claim: Claim) -> bool:
        """Give a running run back to the queue (a worker stopping on purpose): ``queued``
        again without counting a death, if ``claim`` is still the run's. Returns whether it
        was released."""
        with self._core_tx() as s:
            res = s.execute(sa.update(Run).where(Run.id == run_id, *self._claimed(claim))
                            .values(status="queued", worker=None, eta_s=None)
                            .execution_options(synchronize_session=False))
            return res.rowcount == 1

    def resume_run(self, run_id: str) -> RunInfo:
        """Queue again a run that failed through a fault that was not its own error (``fault``
        ``environment``, or ``worker-died``: its workers died ``max_worker_deaths`` times
        without progress): the next worker resumes it from its last good checkpoint, with
        its death count reset. Raises :class:`RunNotResumable` otherwise,
        :class:`RunNotFound` for none."""
        with self._core_tx() as s:
            res = s.execute(sa.update(Run).where(
                Run.id == run_id, Run.status == "failed", Run.fault.in_(FAULTS))
                .values(status="queued", error=None, fault=None, finished_at=None, worker=None,
                        eta_s=None, deaths=0, cancel_requested=False)
                .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                row = s.execute(sa.select(Run.status, Run.fault)
                                .where(Run.id == run_id)).first()
                if row is None:
                    raise RunNotFound(run_id)
                raise RunNotResumable(run_id, row.status, row.fault)
        return self.require_run(run_id)

    def requeue_stale(self, timeout_s: float, *, max_deaths: int | None = None,
                      last_exit: str = "heartbeat lost",
                      count_deaths: bool = True) -> list[str]:
        """Running runs whose heartbeat is older than ``timeout_s`` (their worker died) go
        back to ``queued`` with their artifacts kept, so the next worker resumes from the
        latest checkpoint; a stale run whose cancel was requested becomes ``cancelled``.
        Each such death is counted (``runs.deaths``, reset by each epoch of progress); the
        ``max_deaths``-th without progress between (default ``settings.max_worker_deaths``)
        marks the run ``failed`` (resumable) with fault
        ``worker-died`` and the error "worker died N times; last exit: ``last_exit``", so a
        run that kills every worker (out of memory) ends. ``count_deaths`` False: the
        heartbeats stopped during an outage of the database (the sweeper saw it), so the
        runs are requeued without counting a death. Returns the ids requeued or cancelled
        (not those failed)."""
        if max_deaths is None:
            max_deaths = self.settings.max_worker_deaths
        cutoff = utcnow() - timedelta(seconds=float(timeout_s))
        stale = sa.or_(Run.heartbeat_at < cutoff,
                       sa.and_(Run.heartbeat_at.is_(None), Run.started_at < cutoff))
        moved = []
        with self._tx() as s:
            # a run recorded from an external loop (mixscope.Recorder) has no worker to
            # replace: a long user epoch between heartbeats must never queue it for training
            external = sa.and_(Run.worker.is_not(None), Run.worker == EXTERNAL_WORKER)
            rows = s.execute(sa.select(Run.id, Run.cancel_requested, Run.deaths)
                             .where(Run.status == "running", stale, sa.not_(external))).all()
            for run_id, cancel, deaths in rows:
                # count_deaths False: the heartbeats stopped because a backing service was
                # down (the caller saw the outage), not because a worker died
                deaths = (deaths or 0) + (1 if count_deaths else 0)
                poisoned = not cancel and count_deaths and deaths >= max_deaths
                if cancel:
                    values: dict[str, Any] = {"status": "cancelled", "finished_at": utcnow()}
                elif poisoned:
                    values = {"status": "failed", "finished_at": utcnow(), "eta_s": None,
                              "fault": "worker-died",
                              "error": f"worker died {deaths} times; last exit: {last_exit}"}
                else:
                    values = {"status": "queued", "worker": None, "eta_s": None}
                res = s.execute(sa.update(Run)
                                .where(Run.id == run_id, Run.status == "running", stale)
                                .values(deaths=deaths, **values)
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1 and not poisoned:
                    moved.append(run_id)
        return moved

    def delete_run(self, run_id: str) -> None:
        """Delete a run: its rows (metrics, artifacts and jobs too), then its folder.

        Deleting the row fences off every writer: an artifact is moved into the run's folder
        only inside a transaction that first finds (and locks) the run's row, so once this
        transaction has committed nothing lands in the folder any more, and its removal
        cannot race a still-running worker (which stops at its next write or cancel poll).
        Raises :class:`ArtifactUnavailable` (the rows are gone) when the files cannot be
        removed."""
        self.require_run(run_id)
        folder = f"runs/{run_id}"
        with self._tx() as s:
            s.execute(sa.select(Run.id).where(Run.id == run_id).with_for_update())
            for model in (EpochMetric, Artifact, Job):  # explicit: no reliance on CASCADE
                s.execute(sa.delete(model).where(model.run_id == run_id))
            s.execute(sa.delete(Run).where(Run.id == run_id))
        notify_stop(run_id, "deleted")
        try:
            self.files.remove_tree(folder)
        except OSError as exc:
            raise ArtifactUnavailable(run_id, "run folder", None, None,
                                      f"{type(exc).__name__}: {exc}") from exc

    def update_run_info(self, run_id: str, *, class_names: Iterable[Any] | None = None,
                        layers: Iterable[str] | None = None,
                        recorded_epochs: Iterable[int] | None = None,
                        num_probe: int | None = None,
                        summary: Mapping[str, Any] | None = None,
                        claim: Claim | None = None) -> None:
        """Set the descriptive fields the trainer learns once the data and model exist.
        Fields left ``None`` are unchanged; ``summary`` is merged into the stored one.
        With ``claim``: only while it is the run's (else :class:`Fenced`)."""
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
            run = s.get(Run, run_id, with_for_update=True)
            if run is None:
                raise RunNotFound(run_id)
            if claim is not None and (run.status, run.worker, run.attempt) != (
                    "running", claim.worker, claim.attempt):
                raise Fenced(run_id, claim)
            if summary is not None:
                values["summary"] = {**run.summary, **jsonable(dict(summary), "summary")}
            for k, v in values.items():
                setattr(run, k, v)

    # per-epoch metrics ------------------------------------------------------------
    def record_epoch(self, run_id: str, epoch: int,
                     metrics: Mapping[str, Any], claim: Claim | None = None) -> None:
        """Store (or replace) the metrics of one epoch. Values are numbers, short lists or
        small dicts (never arrays of activations); NaN/inf are stored as null. The run's
        ``summary`` takes the scalar metrics of its latest recorded epoch. With ``claim``:
        only while it is the run's (else :class:`Fenced`). An epoch past every one recorded
        before is progress: it resets ``runs.deaths`` (a run fails for worker deaths only
        after ``max_worker_deaths`` of them without progress between; an epoch recorded again
        after a resume from an older checkpoint is not progress)."""
        self.record_epochs(run_id, [(epoch, metrics)], claim=claim)

    def record_epochs(self, run_id: str, epochs: Iterable[tuple[int, Mapping[str, Any]]],
                      claim: Claim | None = None) -> None:
        """:meth:`record_epoch` of several epochs ``(epoch, metrics)``, in order, in one
        transaction (the trainer's metrics thread writes the epochs it has computed
        together: one transaction's statements, not one an epoch)."""
        rows = []
        for epoch, metrics in epochs:
            epoch = int(epoch)
            m = jsonable(dict(metrics), "metrics")
            if "epoch" in m and m.pop("epoch") != epoch:
                raise ValueError(f"metrics: 'epoch' {metrics['epoch']!r} differs from {epoch}")
            rows.append((epoch, m))
        if not rows:
            return
        now = utcnow()
        runs = Run.__table__
        with self._core_tx() as conn:
            self._fence(conn, run_id, claim)
            row = conn.execute(sa.select(runs.c.summary, runs.c.current_epoch,
                                         runs.c.total_epochs, runs.c.progress)
                               .where(runs.c.id == run_id)).first()
            if row is None or row.summary is None:
                raise RunNotFound(run_id)
            self._upsert_many(conn, EpochMetric, ("run_id", "epoch"), [
                {"run_id": run_id, "epoch": e, "metrics": m, "updated_at": now}
                for e, m in rows])
            summary, first_last = row.summary, row.summary.get("epoch", -1)
            for epoch, m in rows:   # as one epoch after the other would leave it
                if epoch >= summary.get("epoch", -1):
                    summary = {**summary, **{k: v for k, v in m.items() if is_scalar(v)},
                               "epoch": epoch}
            if summary is row.summary:
                return
            values: dict[str, Any] = {"summary": summary}
            top = summary["epoch"]
            if top > first_last:  # progress past every epoch before: earlier deaths are
                values["deaths"] = 0  # forgiven (only deaths without progress count)
            if top > (row.current_epoch or 0):
                # the run shows at least its last recorded epoch, whatever happens to
                # its heartbeats after (a failure right after the epoch, a lost worker)
                total = max(int(row.total_epochs or 1), 1)
                values["current_epoch"] = top
                values["progress"] = max(float(row.progress or 0.0), min(top / total, 1.0))
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**values))

    def epoch_metrics(self, run_id: str) -> list[dict[str, Any]]:
        """Every recorded epoch's metrics, sorted by epoch, each with its ``"epoch"``."""
        with self._read() as s:
            rows = s.execute(sa.select(EpochMetric.epoch, EpochMetric.metrics)
                             .where(EpochMetric.run_id == run_id)
                             .order_by(EpochMetric.epoch)).all()
        return [{"epoch": e, **m} for e, m in rows]
