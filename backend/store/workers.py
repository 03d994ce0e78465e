"""Worker names: what a claimant writes into ``runs.worker``, and how this host tells that
such a worker is gone (its process no longer exists).

A Celery worker is ``host:pid``; a CLI training in-process (``mixscope train``,
``mixscope reproduce``) is ``cli:host:pid``; a Slurm job is ``slurm-job:<job id>``
(:func:`slurm_worker_name`, the same for every incarnation of a requeued job); a recorded
run's writer is ``backend.store.runs.EXTERNAL_WORKER``.

A Celery worker also publishes its memory budget in the store's ``workers`` table
(:class:`backend.store.worker_budgets.WorkerStore`), so the API admits runs against what a
worker may use.
"""

from __future__ import annotations

import os
import socket


def worker_name(kind: str | None = None) -> str:
    """This process's worker name: ``host:pid``, or ``kind:host:pid`` (e.g. ``cli``)."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    return name if kind is None else f"{kind}:{name}"


def slurm_worker_name(job_id: str) -> str:
    """The worker name of Slurm job ``job_id`` (``trainer.slurm_job``)."""
    return f"slurm-job:{job_id}"


def local_pid(worker: str | None, kind: str | None = None) -> int | None:
    """The pid of ``worker`` when it names a process of this host of ``kind`` (None: a
    Celery worker, ``host:pid``), else None."""
    if not worker:
        return None
    head, _, pid = worker.rpartition(":")
    want = socket.gethostname() if kind is None else f"{kind}:{socket.gethostname()}"
    if head != want or not pid.isdigit():
        return None
    return int(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (someone else's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def local_worker_dead(worker: str | None, kind: str | None = None) -> bool:
    """A worker of ``kind`` on this host whose process is gone."""
    pid = local_pid(worker, kind)
    return pid is not None and not pid_alive(pid)
