"""Where a :class:`~mixscope.Recorder` writes: a store on this machine (:class:`LocalSink`) or
a running mixscope API (:class:`RemoteSink`, in ``remote.py``). Both end in the same
``backend.recorded`` checks and writes, the API's ``/api/ingest`` routes calling them for a
remote recorder."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend import recorded
from backend.runconfig import RunConfig


def open_store(store: Any):
    """A :class:`backend.store.Store` from a Store, a database URL, a folder or None."""
    from backend.settings import Settings
    from backend.store import Store

    if isinstance(store, Store):
        return store
    if store is not None and "://" in str(store):  # a database URL
        st = Store(Settings(database_url=str(store)))
        st.migrate()
        return st
    return Store.open(store)


class LocalSink:
    """Write straight into a store (folder, database URL or an open Store)."""

    def __init__(self, store: Any):
        self.store = open_store(store)
        self.run_id: str | None = None
        self.claim = None

    def start(self, config: RunConfig, class_names: list[str]) -> str:
        run, self.claim = recorded.start_run(self.store, config, class_names)
        self.run_id = run.id
        return run.id

    def put_probe(self, probe: dict[str, np.ndarray], mixing: str | None = None) -> None:
        recorded.write_probe(self.store, self.store.require_run(self.run_id), probe,
                             self.claim, mixing=mixing)

    def put_epoch(self, parts: recorded.EpochParts) -> None:
        run = self.store.require_run(self.run_id)
        recorded.check_epoch(parts, num_classes=len(run.class_names), num_probe=run.num_probe,
                             widths=recorded.recorded_widths(self.store, run))
        recorded.write_epoch(self.store, run, parts, self.claim)

    def flush(self) -> None:
        """Nothing is pending: local writes are done when ``put_epoch`` returns."""

    def finish(self, status: str, error: str | None) -> None:
        self.store.finish_run(self.run_id, status, error, claim=self.claim)

    def close(self) -> None:
        """The store stays open (``rec.store``): the caller may still read it."""
