"""Errors raised by :class:`backend.store.Store`.

Each is a :class:`backend.errors.MixscopeError` of its HTTP class (``NotFound`` 404,
``Conflict`` 409, ``Unavailable`` 503), so it also is the :class:`LookupError` /
:class:`RuntimeError` callers that do not know the store catch generically; the API maps
them in one place (``backend.api.app``). A missing run is :class:`RunNotFound` everywhere
(store, API, trainer).
"""

from __future__ import annotations

from backend.errors import Conflict, MixscopeError, NotFound, Unavailable


class StoreError(MixscopeError):
    """Base class of every store error."""


class RunNotFound(StoreError, NotFound):
    """No run with this id (never created, or deleted): the one "missing run" error."""

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id!r} not found", field="run_id", where="path")
        self.run_id = run_id


class JobNotFound(StoreError, NotFound):
    """No job with this id."""

    def __init__(self, job_id: str):
        super().__init__(f"job {job_id!r} not found", field="job_id", where="path")
        self.job_id = job_id


class RunFinished(StoreError, Conflict):
    """The run is already terminal (succeeded, failed or cancelled): it cannot be cancelled."""

    def __init__(self, run_id: str, status: str):
        super().__init__(f"run {run_id!r} already finished with status {status!r}")
        self.run_id = run_id
        self.status = status


class ArtifactNotFound(StoreError, NotFound, KeyError):
    """No artifact row for (run, kind, epoch, layer). A ``KeyError`` so ``except KeyError``
    works, but printed without KeyError's quoting."""

    def __init__(self, run_id: str, kind: str, epoch: int | None, layer: str | None):
        msg = f"no {kind!r} artifact for run {run_id!r}"
        if epoch is not None:
            msg += f" at epoch {epoch}"
        if layer is not None:
            msg += f", layer {layer!r}"
        super().__init__(msg)
        self.run_id, self.kind, self.epoch, self.layer = run_id, kind, epoch, layer


class Fenced(StoreError, Conflict):
    """A write carried a claim that is no longer the run's: the run was requeued (and maybe
    claimed by another worker), cancelled, finished or deleted since. The writer must stop
    without touching the run again."""

    def __init__(self, run_id: str, claim: object):
        super().__init__(f"run {run_id!r}: claim {claim} is no longer the run's; write refused")
        self.run_id, self.claim = run_id, claim


class RunNotResumable(StoreError, Conflict):
    """Only a run that failed through an environment fault or worker deaths can be
    resumed."""

    def __init__(self, run_id: str, status: str, fault: str | None):
        why = f"status {status!r}" if status != "failed" else \
            f"it failed with {'its own error' if fault is None else repr(fault)}"
        super().__init__(f"run {run_id!r} cannot be resumed: {why} (only a run that failed "
                         f"through an environment fault, such as a full disk, or through "
                         f"its workers' deaths can)")
        self.run_id, self.status, self.fault = run_id, status, fault


def _where(kind: str, epoch: int | None, layer: str | None) -> str:
    out = kind
    if epoch is not None:
        out += f" of epoch {epoch}"
    if layer is not None:
        out += f", layer {layer!r}"
    return out


class ArtifactDamaged(StoreError, Conflict):
    """An indexed artifact file is missing, truncated or does not match its checksum.
    The API answers 409 naming the run, the epoch and the layer."""

    def __init__(self, run_id: str, kind: str, epoch: int | None, layer: str | None,
                 path: str, reason: str):
        super().__init__(f"run {run_id!r}: the {_where(kind, epoch, layer)} artifact "
                         f"({path}) is damaged: {reason}")
        self.run_id, self.kind, self.epoch, self.layer = run_id, kind, epoch, layer
        self.path, self.reason = path, reason


class ArtifactUnavailable(StoreError, Unavailable):
    """The artifact store could not be reached (a network or permission error, not a bad
    file). The API answers 503."""

    service = "object store"

    def __init__(self, run_id: str, kind: str, epoch: int | None, layer: str | None,
                 reason: str):
        super().__init__(f"run {run_id!r}: the {_where(kind, epoch, layer)} artifact cannot be "
                         f"read now: {reason}")
        self.run_id, self.kind, self.epoch, self.layer = run_id, kind, epoch, layer
        self.reason = reason
