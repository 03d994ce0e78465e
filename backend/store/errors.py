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
