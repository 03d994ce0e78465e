"""Where a run trains: a Celery worker, or one Slurm job per run (submitted through submitit).

The executor of a run is chosen at launch (``MIXSCOPE_EXECUTOR``, or the launch request's
``executor``) and kept with the run as ``summary["executor"]``: ``{"name": "slurm",
"resources": {...}, "job_id", "state", "reason", "stdout", "stderr"}``. The Slurm job runs
``trainer.slurm_job.main`` (:class:`SlurmEntry`: named, never imported here: the API sends work by name, as it
does Celery's), which claims the run and trains it through the same code a Celery worker
runs (claim, fencing, heartbeats, checkpoints, metrics thread).

A Slurm job trains on a compute node, so the store must be one every node reaches:
PostgreSQL (or another server database) and an S3 bucket, or local paths on a shared
filesystem (``MIXSCOPE_SLURM_SHARED_STORE=true``). A launch on a local SQLite file or artifact
folder without that setting is refused (422 naming what to configure).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import time
from datetime import timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from backend.dispatch.celery_app import DEFORMATIONS, EXTRACT_TRIPLE, LAB_JOB
from backend.dispatch.client import Dispatcher
from backend.errors import InvalidInput, Unavailable
from backend.settings import Settings
from backend.slurm_jobs import (
    SlurmEntry,
    SlurmShortEntry,
    job_states,
    jobs_named,
    sbatch_job,
    scancel,
)
from backend.store.info import Claim
from backend.store.workers import slurm_worker_name

log = logging.getLogger("mixscope.executors")

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$")
#: Slurm job states after which nothing changes any more
_SLURM_ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
#: a pending short job no Slurm job carries yet is being submitted for this long (Slurm keeps
#: ended jobs visible for MinJobAge, 300 s by default, so none is missed)
_SUBMIT_GRACE_S = 60.0
#: the launch's query parameter of a resource field, where the names differ
_QUERY_NAME = {"extra": "sbatch"}
_SBATCH_KEY = re.compile(r"^[a-z][a-z0-9-]*$")
_OPTION_START = re.compile(r",(?=\s*(?:--)?[a-z][a-z0-9-]*=)")


class SlurmResources(BaseModel):
    """What one run's Slurm job asks for (from the settings, overridden per launch)."""

    partition: str | None = Field(None, max_length=100)
    gpus: int = Field(0, ge=0, le=64)
    cpus: int = Field(1, ge=1, le=1024)
    mem: str | None = Field(None, pattern=r"^\d+[KMGT]?$", description="e.g. '16G'")
    time: str = Field("60", description="minutes, 'HH:MM:SS' or 'D-HH:MM:SS'")
    account: str | None = Field(None, max_length=100)
    qos: str | None = Field(None, max_length=100)
    extra: dict[str, str] = Field(default_factory=dict,
                                  description="further sbatch options (name without '--')")
    signal_delay_s: int = Field(90, ge=1, le=3600)

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        time_minutes(v)  # raises ValueError naming the form
        return v

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not _SBATCH_KEY.match(k):
                raise ValueError(f"{k!r} is not an sbatch option name (e.g. 'constraint')")
            if "\n" in str(val):
                raise ValueError(f"the value of {k!r} has a line break")
        return v

    @property
    def minutes(self) -> int:
        return time_minutes(self.time)


def time_minutes(text: str) -> int:
    """Slurm's time forms (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``) in
    whole minutes, at least 1."""
    m = _TIME.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a Slurm time (minutes, 'HH:MM:SS' or 'D-HH:MM:SS')")
    days, a, b, c = m.groups()
    if days is not None:  # D-H[:M[:S]]
        minutes = int(days) * 1440 + int(a) * 60 + int(b or 0) + (1 if c and int(c) else 0)
    elif c is not None:   # H:M:S
        minutes = int(a) * 60 + int(b) + (1 if int(c) else 0)
    elif b is not None:   # M:S
        minutes = int(a) + (1 if int(b) else 0)
    else:
        minutes = int(a)
    return max(minutes, 1)


def parse_extra(text: str) -> dict[str, str]:
    """``"constraint=a100,exclude=node3"`` (or a list of such texts) as a dict. A comma
    starts a new option only before ``name=``, so values keep theirs
    (``"exclude=node1,node2,constraint=a100"``)."""
    texts = text if isinstance(text, (list, tuple)) else [text]
    items = [i for t in texts for i in _OPTION_START.split(str(t or ""))]
    out = {}
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r} is not 'option=value'")
        out[key.strip().removeprefix("--")] = value.strip()
    return out


def default_resources(settings: Settings) -> SlurmResources:
    return SlurmResources(partition=settings.slurm_partition, gpus=settings.slurm_gpus,
                          cpus=settings.slurm_cpus, mem=settings.slurm_mem,
                          time=settings.slurm_time, account=settings.slurm_account,
                          qos=settings.slurm_qos, extra=parse_extra(settings.slurm_extra),
                          signal_delay_s=settings.slurm_signal_delay_s)


def unreachable_store(settings: Settings) -> str | None:
    """Why compute nodes could not reach this store (None: they can)."""
    if settings.slurm_shared_store:
        return None
    db = settings.resolved_database_url
    artifacts = settings.resolved_artifact_url
    local_art = "://" not in artifacts or artifacts.startswith("file://")
    if db.startswith("sqlite"):
        return (f"the database is SQLite on a local path ({db}), which Slurm compute nodes "
                "cannot reach: set MIXSCOPE_DATABASE_URL to a server database (PostgreSQL) "
                "and MIXSCOPE_ARTIFACT_URL to s3://..., or MIXSCOPE_SLURM_SHARED_STORE=true "
                "when the store folder is on a filesystem every node mounts")
    if local_art:
        return (f"the artifact store is a local folder ({artifacts}), which Slurm compute "
                "nodes cannot reach: set MIXSCOPE_ARTIFACT_URL to s3://..., or "
                "MIXSCOPE_SLURM_SHARED_STORE=true when it is on a shared filesystem")
    return None


def offered(settings: Settings) -> list[str]:
    """The executors a launch may choose here (``GET /api/executor``): Celery only where a
    Celery worker can exist (:attr:`Settings.celery_configured`), and Slurm."""
    return (["celery"] if settings.celery_configured else []) + ["slurm"]


def launch_choice(settings: Settings, executor: str | None = None,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The executor record of a launch (None: Celery), validated: ``executor`` (default
    the settings') and per-launch resource ``overrides`` of the settings' defaults.
    Raises :class:`InvalidInput` naming the field (``executor``, ``partition``, ...)."""
    name = executor or settings.executor
    if name not in ("celery", "slurm"):
        raise InvalidInput(f"executor: {name!r} is not one of celery, slurm",
                           field="executor")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if name == "celery" and not settings.celery_configured:
        raise InvalidInput("executor: celery is not available here: no Celery broker is "
                           "configured (MIXSCOPE_EXECUTOR=slurm and no MIXSCOPE_BROKER_URL), "
                           "so no Celery worker would ever run it; use executor=slurm, or "
                           "set MIXSCOPE_BROKER_URL where Celery workers listen",
                           field="executor")
    if name == "celery":
        if given:
            field = _QUERY_NAME.get(min(given), min(given))
            raise InvalidInput(f"{field}: Slurm resources need executor=slurm", field=field)
        return None
    why = unreachable_store(settings)
    if why:
        raise InvalidInput(f"executor: {why}", field="executor")
    if shutil.which("sbatch") is None:
        raise InvalidInput("executor: Slurm's sbatch is not on this API host's PATH "
                           "(run the API on a login or service node of the cluster)",
                           field="executor")
    base = default_resources(settings).model_dump()
    if "extra" in given:
        try:
            given["extra"] = {**base["extra"], **parse_extra(given["extra"])}
        except ValueError as exc:
            raise InvalidInput(f"sbatch: {exc}", field="sbatch") from exc
    try:
        res = SlurmResources.model_validate({**base, **given})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "executor"
        field = _QUERY_NAME.get(field, field)
        raise InvalidInput(f"{field}: {err['msg']}", field=field) from exc
    return {"name": "slurm", "resources": res.model_dump()}


# --- the Slurm side ------------------------------------------------------------------------

def short_resources(settings: Settings) -> SlurmResources:
    """What a short job's Slurm job asks for: no GPU, ``slurm_short_cpus`` and
    ``slurm_short_time``; partition, memory, account, QOS and extra options as a run's."""
    return default_resources(settings).model_copy(update={
        "gpus": 0, "cpus": settings.slurm_short_cpus,
        "time": SlurmResources(time=settings.slurm_short_time).time})


def submit(settings: Settings, run_id: str, resources: SlurmResources) -> dict[str, Any]:
    """Submit ``run_id`` as one Slurm job; returns ``{"job_id", "stdout", "stderr"}``."""
    return sbatch_job(settings, resources, f"mixscope-{run_id}", SlurmEntry(), run_id,
                      requeue=True)


def submit_short(settings: Settings, task: str, job_id: str) -> dict[str, Any]:
    """Submit short job ``job_id`` (``task``: its Celery task name, e.g.
    ``mixscope.lab_job``) as one small Slurm job named ``mixscope-job-<job_id>``."""
    return sbatch_job(settings, short_resources(settings), f"mixscope-job-{job_id}",
                      SlurmShortEntry(), task, job_id, requeue=False)


def keep_choice(store, run_id: str, choice: dict[str, Any] | None) -> None:
    """Keep a launch's executor (:func:`launch_choice`) with its new run, before it is
    sent: ``summary.executor`` (a Celery run keeps none where Celery is the default)."""
    if choice is not None or store.settings.executor != "celery":
        store.update_run_info(run_id, summary={"executor": choice or {"name": "celery"}})


def slurm_record(run) -> dict[str, Any] | None:
    """The run's Slurm record (``summary["executor"]``), or None for a Celery run."""
    rec = (run.summary or {}).get("executor") if run is not None else None
    return rec if isinstance(rec, dict) and rec.get("name") == "slurm" else None


def _live(run) -> str | None:
    """The job id of a Slurm run whose state may still change (None: nothing to ask)."""
    rec = slurm_record(run)
    if rec is None or not rec.get("job_id") or (run.finished and rec.get("state") in
                                                _SLURM_ENDED):
        return None
    return str(rec["job_id"])


def refresh(store, run):
    """``run`` with its Slurm job's state and reason read from Slurm, when it is a Slurm
    run still queued or running (``summary.executor.state``, ``.reason``, and ``.status``:
    ``"PENDING (Resources)"``)."""
    job_id = _live(run)
    if job_id is None:
        return run
    seen = job_states([job_id]).get(job_id)
    return run if seen is None else _apply(store, run, seen)


def refresh_all(store, runs: list) -> list:
    """:func:`refresh` of a page of runs with one ``scontrol`` call for all their jobs (the
    runs list follows Slurm's states)."""
    live = {run.id: _live(run) for run in runs}
    if not any(live.values()):
        return runs
    seen = job_states([j for j in live.values() if j])
    return [_apply(store, run, seen[live[run.id]]) if live[run.id] in seen else run
            for run in runs]


def _apply(store, run, seen: dict[str, Any]):
    rec = slurm_record(run)
    status = seen["state"] + (f" ({seen['reason']})" if seen["reason"] not in
                              (None, "", "None") else "")
    if (rec.get("state"), rec.get("reason"), rec.get("restarts")) == (
            seen["state"], seen["reason"], seen["restarts"]):
        return run
    try:
        store.update_run_info(run.id, summary={"executor": {**rec, **seen, "status": status}})
        if run.status == "queued" and seen["state"] in _SLURM_ENDED:
            # nothing will train it any more: the job failed before it claimed the run (a
            # broken environment on the node) or was cancelled outside mixscope
            tail = (read_log(run, "stderr", 4000) or "").strip().splitlines()[-6:]
            store.finish_run(run.id, "failed", fault="environment", error=(
                f"Slurm job {rec['job_id']} ended {status} without training the run "
                "(resume it to submit a new job); its stderr ends:\n" + "\n".join(tail)))
        elif run.status == "running" and seen["state"] in _SLURM_ENDED and \
                run.worker == slurm_worker_name(rec["job_id"]):
            # the job ended while its process held the run: it was killed without a word
            # (SIGKILL, out of memory, its time limit past the warning); no Celery sweeper
            # watches a Slurm run, so it fails here, resumably from its last checkpoint
            tail = (read_log(run, "stderr", 4000) or "").strip().splitlines()[-6:]
            store.finish_run(run.id, "failed", fault="worker-died", claim=Claim(
                run.worker, run.attempt), error=(
                f"Slurm job {rec['job_id']} ended {status} while training the run (resume "
                "it to continue from its last checkpoint in a new job); its stderr ends:\n"
                + "\n".join(tail)))
    except (LookupError, RuntimeError):  # deleted, or claimed meanwhile
        return run
    return store.get_run(run.id) or run


def refresh_short_job(store, job):
    """``job`` (a short job's row), failed when it is pending on Slurm but its Slurm job
    (``mixscope-job-<id>``, submitted since the row was last set pending) has ended, or
    Slurm no longer knows it, without finishing it (a node failure, an admin's scancel, a
    kill the job could not see): asking again then queues a new one instead of waiting
    forever. Unchanged when Slurm cannot answer."""
    if job is None or job.status != "pending" or not store.settings.short_jobs_on_slurm:
        return job
    jobs = jobs_named(f"mixscope-job-{job.id}")
    since = job.updated_at.replace(tzinfo=job.updated_at.tzinfo or timezone.utc).timestamp()
    # Slurm's submit times have whole seconds: a job submitted within the second counts
    if jobs is None or any(state not in _SLURM_ENDED for state, _ in jobs) or (
            jobs and max(t for _, t in jobs) < int(since)) or (
            not jobs and time.time() - since < _SUBMIT_GRACE_S):
        return job   # Slurm cannot say, a job is live, or the (re-)send is not submitted yet
    with contextlib.suppress(LookupError):
        again = store.get_job(job.id)   # it may have finished while squeue answered
        if again is None or again.status != "pending":
            return again
        ended = "/".join(state for state, _ in jobs) or "(no longer known to Slurm)"
        store.finish_job(job.id, "failed", error=(
            f"its Slurm job mixscope-job-{job.id} ended {ended} before finishing it; ask "
            "again to queue a new one"))
    return store.get_job(job.id)


def cancel_job(run) -> bool:
    """scancel the run's Slurm job, if it has one."""
    rec = slurm_record(run)
    return bool(rec and rec.get("job_id")) and scancel(rec["job_id"])


def read_log(run, which: Literal["stdout", "stderr"], max_bytes: int = 1 << 20) -> str | None:
    """The tail (``max_bytes``) of the run's Slurm job's stdout or stderr (None: none)."""
    rec = slurm_record(run)
    path = rec.get(which) if rec else None
    if not path or not Path(path).is_file():
        return None
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        return f.read().decode("utf-8", "replace")


class ExecutorDispatcher(Dispatcher):
    """The API's dispatcher: a run whose executor (``summary["executor"]``, or the settings'
    when it has none) is Slurm is submitted as a Slurm job; other runs go to the Celery
    workers. Short jobs (extraction, lab, deformations) go to the Celery workers too, or,
    with Slurm only (``Settings.short_jobs_on_slurm``), each becomes one small Slurm job."""

    def send_extract(self, job_id: str) -> None:
        self._send_short(EXTRACT_TRIPLE, job_id) or super().send_extract(job_id)

    def send_lab(self, job_id: str) -> None:
        self._send_short(LAB_JOB, job_id) or super().send_lab(job_id)

    def send_deformations(self, job_id: str) -> None:
        self._send_short(DEFORMATIONS, job_id) or super().send_deformations(job_id)

    def _send_short(self, task: str, job_id: str) -> bool:
        """Submit short job ``job_id`` to Slurm when short jobs run there (True: sent).
        When sbatch refuses, the job is marked failed (asking again queues a new one) and
        the 503 goes on, as when the broker cannot take a message."""
        if not self.settings.short_jobs_on_slurm:
            return False
        try:
            job = submit_short(self.settings, task, job_id)
        except (Unavailable, InvalidInput):
            if self.store is not None:
                with contextlib.suppress(LookupError):
                    self.store.finish_job(job_id, "failed",
                                          error="not sent: sbatch refused the Slurm job")
            raise
        log.info("%s job %s submitted as Slurm job %s", task, job_id, job["job_id"])
        return True

    def __init__(self, settings: Settings, store=None):
        super().__init__(settings)
        self.store = store

    def send_run(self, run_id: str) -> None:
        run = self.store.get_run(run_id) if self.store is not None else None
        rec = slurm_record(run)
        if rec is None and run is not None and "executor" not in (run.summary or {}) \
                and self.settings.executor == "slurm":
            # a run made elsewhere in the API (a sweep, a grid, a paper's runs)
            rec = launch_choice(self.settings)
        if rec is None:
            return super().send_run(run_id)
        res = SlurmResources.model_validate(rec["resources"])
        job = submit(self.settings, run_id, res)
        self.store.update_run_info(run_id, summary={"executor": {
            **rec, **job, "state": "PENDING", "reason": None, "restarts": 0,
            "status": "PENDING"}})
        log.info("run %s submitted as Slurm job %s", run_id, job["job_id"])
