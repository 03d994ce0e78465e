"""How a run's execution ends, whichever executor ran it (a Celery worker's task, a Slurm
job, ``mixscope train``): the cooperative ``Cancelled``, which failures are the machine's
rather than the run's (``environment_fault``: resumable), and recording a failure while the
database may itself be what failed (``finish_failed``). ``trainer.loop`` trains; this module
only classifies and records how training stopped.
"""

from __future__ import annotations

import errno
import logging
import time

import sqlalchemy as sa

from backend.store.errors import ArtifactUnavailable, Fenced, RunNotFound

log = logging.getLogger("mixscope.trainer")

#: errno values of faults of the machine, not of the run (see environment_fault)
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EIO,
                      errno.EACCES, errno.EPERM, errno.ENOMEM}


class Cancelled(Exception):
    """Raised inside training when the run's cancel was requested."""


def environment_fault(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a fault of the machine, not of the run: a full
    or read-only disk, an I/O or permission error, a lost database connection. A run failed
    by one can be resumed (``POST /api/runs/{id}/resume``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            return True
        if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)) or (
                isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated):
            return True
        if isinstance(exc, ArtifactUnavailable):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


#: what a driver's OperationalError says when the server is not there (psycopg, PyMySQL)
_CONNECTION_WORDS = ("connection", "connect to", "server closed", "terminating connection",
                     "could not receive data", "lost connection")


def database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the database being unreachable (a refused or
    lost connection), not an error of the run: the run is given back to the queue once the
    database answers again (:func:`release_after_outage`) instead of failing. Other
    operational errors (a locked or read-only SQLite file) stay environment faults."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa.exc.DBAPIError) and (
                exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError) or (
                    isinstance(exc, sa.exc.OperationalError)
                    and any(w in str(exc.orig).lower() for w in _CONNECTION_WORDS))):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def release_after_outage(store, run_id: str, claim, exc: BaseException) -> str:
    """The database went away under a claimed run: no failure of the run and no worker's
    death. Give the run back to the queue (``store.release_run``) once the database answers,
    retrying for three heartbeat timeouts: ``"released"`` (the caller sends it again), or
    ``"fenced"`` when the claim was lost meanwhile or the database stayed down (the row
    then stays ``running``; the sweepers requeue it when its heartbeat is stale, as an
    outage, not a death)."""
    from trainer.sweeper import note_outage

    log.warning("run %s: the database is unreachable (%s); the run goes back to the queue "
                "when it answers", run_id, type(exc).__name__)
    note_outage()
    deadline = time.monotonic() + 3 * store.settings.heartbeat_timeout_s
    pause = 0.5
    while True:
        try:
            return "released" if store.release_run(run_id, claim) else "fenced"
        except (Fenced, RunNotFound):
            return "fenced"
        except Exception:  # noqa: BLE001 - the database is still down: retry
            if time.monotonic() >= deadline:
                log.warning("run %s: the database is still down; leaving the run to the "
                            "sweepers", run_id)
                return "fenced"
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def run_gone(store, run_id: str) -> bool:
    """Whether the run was deleted (a missing row, with the database answering)."""
    try:
        return store.get_run(run_id) is None
    except sa.exc.SQLAlchemyError:  # the database is down too: not known to be deleted
        return False


def finish_failed(store, run_id: str, msg: str, fault: str | None,
                  tries: int = 5, wait_s: float = 1.0) -> bool:
    """Mark the run failed, retrying while the database is unreachable (the fault may be
    a lost connection). False when the claim was lost or the run deleted meanwhile."""
    for i in range(tries):
        try:
            store.finish_run(run_id, "failed", error=msg, fault=fault)
            return True
        except (Fenced, RunNotFound):
            return False
        except Exception:
            if i == tries - 1:
                raise
            log.warning("run %s: could not record the failure yet; retrying", run_id,
                        exc_info=True)
            time.sleep(wait_s * (i + 1))
    return False
