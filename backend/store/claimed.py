"""The store as the holder of one claim sees it.

A worker that claimed a run (``store.claim_run`` returned attempt ``n``) trains through
``ClaimedStore(store, run_id, Claim(worker, n))``: every write to that run (heartbeat, epoch
metrics, run info, artifacts, finish) carries the claim, so once the run is requeued,
claimed again, cancelled by the sweeper or deleted, the old worker's writes are refused with
:class:`backend.store.errors.Fenced` and it stops. Everything else passes through unchanged.
"""

from __future__ import annotations

from typing import Any

from backend.store.info import Claim


class ClaimedStore:
    """``store`` with ``claim`` attached to every write to ``run_id``."""

    def __init__(self, store: Any, run_id: str, claim: Claim):
        self.store, self.run_id, self.claim = store, run_id, claim

    @property
    def settings(self) -> Any:  # the wrapped store's (a Store always has settings)
        return self.store.settings

    def __getattr__(self, name: str) -> Any:  # reads, and writes to other runs
        return getattr(self.store, name)

    def __repr__(self) -> str:
        return f"ClaimedStore({self.store!r}, {self.run_id!r}, {self.claim})"

    def _for(self, run_id: str) -> Claim | None:
        return self.claim if run_id == self.run_id else None

    def heartbeat(self, run_id: str, epoch: int, progress: float, eta_s: float | None) -> None:
        self.store.heartbeat(run_id, epoch, progress, eta_s, claim=self._for(run_id))

    def record_epoch(self, run_id: str, epoch: int, metrics: Any) -> None:
        self.store.record_epoch(run_id, epoch, metrics, claim=self._for(run_id))

    def record_epochs(self, run_id: str, epochs: Any) -> None:
        self.store.record_epochs(run_id, epochs, claim=self._for(run_id))

    def update_run_info(self, run_id: str, **fields: Any) -> None:
        self.store.update_run_info(run_id, claim=self._for(run_id), **fields)

    def put_arrays(self, run_id: str, kind: str, arrays: Any, **kw: Any) -> Any:
        return self.store.put_arrays(run_id, kind, arrays, claim=self._for(run_id), **kw)

    def put_tensors(self, run_id: str, kind: str, tensors: Any, **kw: Any) -> Any:
        return self.store.put_tensors(run_id, kind, tensors, claim=self._for(run_id), **kw)

    def move_artifact(self, run_id: str, kind: str, new_kind: str, **kw: Any) -> bool:
        return self.store.move_artifact(run_id, kind, new_kind, claim=self._for(run_id), **kw)

    def recover_move(self, run_id: str, kind: str, new_kind: str, **kw: Any) -> bool:
        return self.store.recover_move(run_id, kind, new_kind, claim=self._for(run_id), **kw)

    def finish_run(self, run_id: str, status: str, error: str | None = None,
                   fault: str | None = None) -> None:
        self.store.finish_run(run_id, status, error=error, fault=fault,
                              claim=self._for(run_id))

    def cancel_requested(self, run_id: str) -> bool:
        return self.store.cancel_requested(run_id, claim=self._for(run_id))
