"""Sweeps and on-demand jobs (part of :class:`backend.store.Store`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.store.base import StoreBase
from backend.store.common import jsonable, new_id
from backend.store.errors import JobNotFound, RunNotFound
from backend.store.info import JobInfo, SweepInfo
from backend.store.models import JOB_STATUSES, Job, Run, Sweep, utcnow


class JobStore(StoreBase):
    """Named sweeps of runs, and jobs (extraction of an uncovered triple, lab experiments)."""

    # sweeps ---------------------------------------------------------------------
    def create_sweep(self, name: str, field: str, values: Iterable[Any]) -> str:
        """A named group of runs that differ in one config ``field``; returns its id."""
        sweep = Sweep(id=new_id(), name=str(name), field=str(field),
                      values=jsonable(list(values), "values"), created_at=utcnow())
        with self._tx() as s:
            s.add(sweep)
        return sweep.id

    def delete_sweep(self, sweep_id: str) -> None:
        """Remove a sweep's row (its runs, if any are left, keep going without a sweep)."""
        with self._tx() as s:
            s.execute(sa.delete(Sweep).where(Sweep.id == sweep_id))

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
                   params: Mapping[str, Any], client: str | None = None) -> JobInfo:
        """A pending job; if an identical one (same run, kind, params) is pending or done,
        that one is returned instead, so asking twice does the work once. ``run_id`` None:
        a job of no run (a lab experiment). ``client``: who queued it (the API's peer), for
        :meth:`pending_jobs`."""
        p = jsonable(dict(params), "params")
        existing = self.find_job(run_id, kind, p)
        if existing is not None and existing.status != "failed":
            return existing
        now = utcnow()
        job = Job(id=new_id(), run_id=run_id, kind=kind, params=p, status="pending",
                  created_at=now, updated_at=now, client=client)
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

    def pending_jobs(self, *, run_id: str | None = None, client: str | None = None) -> int:
        """How many jobs are pending for ``run_id`` (given) and/or queued by ``client``."""
        q = sa.select(sa.func.count()).select_from(Job).where(Job.status == "pending")
        if run_id is not None:
            q = q.where(Job.run_id == run_id)
        if client is not None:
            q = q.where(Job.client == client)
        with self._read() as s:
            return int(s.scalar(q) or 0)

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
                raise JobNotFound(job_id)

    def job_result(self, job_id: str) -> dict[str, Any] | None:
        """The JSON result stored with a job by :meth:`finish_job`, or None."""
        with self._read() as s:
            return s.scalar(sa.select(Job.result).where(Job.id == job_id))
