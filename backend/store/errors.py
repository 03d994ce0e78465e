"""Errors raised by :class:`backend.store.Store`.

They subclass :class:`LookupError` / :class:`RuntimeError` so callers that do not know the
store can still catch them generically (the API maps them to 404 / 409).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store error."""


class RunNotFound(StoreError, LookupError):
    """No run with this id (never created, or deleted)."""

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class RunFinished(StoreError, RuntimeError):
    """The run is already terminal (succeeded, failed or cancelled): it cannot be cancelled."""

    def __init__(self, run_id: str, status: str):
        super().__init__(f"run {run_id!r} already finished with status {status!r}")
        self.run_id = run_id
        self.status = status


class ArtifactNotFound(StoreError, KeyError):
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

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Fenced(StoreError, RuntimeError):
    """A write carried a claim that is no longer the run's: the run was requeued (and maybe
    claimed by another worker), cancelled, finished or deleted since. The writer must stop
    without touching the run again."""

    def __init__(self, run_id: str, claim: object):
        super().__init__(f"run {run_id!r}: claim {claim} is no longer the run's; write refused")
        self.run_id, self.claim = run_id, claim


class RunNotResumable(StoreError, RuntimeError):
    """Only a run that failed through an environment fault can be resumed."""

    def __init__(self, run_id: str, status: str, fault: str | None):
        why = f"status {status!r}" if status != "failed" else \
            f"it failed with {'its own error' if fault is None else repr(fault)}"
        super().__init__(f"run {run_id!r} cannot be resumed: {why} (only a run that failed "
                         f"through an environment fault, such as a full disk, can)")
        self.run_id, self.status, self.fault = run_id, status, fault


def _where(kind: str, epoch: int | None, layer: str | None) -> str:
    out = kind
    if epoch is not None:
        out += f" of epoch {epoch}"
    if layer is not None:
        out += f", layer {layer!r}"
    return out


class ArtifactDamaged(StoreError, RuntimeError):
    """An indexed artifact file is missing, truncated or does not match its checksum.
    The API answers 409 naming the run, the epoch and the layer."""

    def __init__(self, run_id: str, kind: str, epoch: int | None, layer: str | None,
                 path: str, reason: str):
        super().__init__(f"run {run_id!r}: the {_where(kind, epoch, layer)} artifact "
                         f"({path}) is damaged: {reason}")
        self.run_id, self.kind, self.epoch, self.layer = run_id, kind, epoch, layer
        self.path, self.reason = path, reason


class ArtifactUnavailable(StoreError, RuntimeError):
    """The artifact store could not be reached (a network or permission error, not a bad
    file). The API answers 503."""

    def __init__(self, run_id: str, kind: str, epoch: int | None, layer: str | None,
                 reason: str):
        super().__init__(f"run {run_id!r}: the {_where(kind, epoch, layer)} artifact cannot be "
                         f"read now: {reason}")
        self.run_id, self.kind, self.epoch, self.layer = run_id, kind, epoch, layer
        self.reason = reason
