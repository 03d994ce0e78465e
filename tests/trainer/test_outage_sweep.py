"""An outage of the database is not a worker's death (issue 24, item 10): a worker's sweep
that could not reach the database (or whose keep-alive could not write a heartbeat)
requeues the runs it then finds stale without counting a death; a worker that saw no outage
counts one. Real SQLite store; the outage is the database file replaced by a folder (the
driver cannot open it)."""

from __future__ import annotations

import os

import pytest

from backend.runconfig import RunConfig
from backend.store import Store
from trainer import sweeper
from trainer.sweeper import OutageAwareSweep, note_outage


@pytest.fixture(autouse=True)
def _no_outage_seen():
    sweeper._outage["at"] = None
    yield
    sweeper._outage["at"] = None


def _running_run(store) -> str:
    rid = store.create_run(RunConfig(epochs=5)).id
    assert store.claim_run(rid, "alive-worker")
    return rid


def test_a_sweep_after_an_outage_requeues_without_a_death(settings, store):
    rid = _running_run(store)
    sent = []
    # timeout 0: every running run is stale, as after a long outage; remembered an hour
    sweep = OutageAwareSweep(timeout_s=0.0, remember_s=3600.0)
    db = settings.store / "mixscope.db"
    os.rename(db, settings.store / "aside.db")
    os.mkdir(db)
    down = Store(settings)                      # a fresh engine: no pooled connection
    try:
        with pytest.raises(Exception):           # noqa: B017 (the driver's own error)
            sweep(down, sent.append)
    finally:
        down.close()
        os.rmdir(db)
        os.rename(settings.store / "aside.db", db)
    assert sent == [] and sweep.outage_recent()
    assert sweep(store, sent.append) == [rid] and sent == [rid]
    assert store.get_run(rid).deaths == 0       # before: 1, though no worker died
    # a worker that saw no outage counts the death
    assert store.claim_run(rid, "another")
    assert OutageAwareSweep(timeout_s=0.0)(store, sent.append) == [rid]
    assert store.get_run(rid).deaths == 1


def test_a_failed_keepalive_counts_as_an_outage(store):
    sweep = OutageAwareSweep(timeout_s=0.0, remember_s=3600.0)
    rid = _running_run(store)
    note_outage()                                # a heartbeat could not be written
    assert sweep(store, lambda _rid: None) == [rid]
    assert store.get_run(rid).deaths == 0
