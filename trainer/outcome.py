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
