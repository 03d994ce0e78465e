"""Worker deaths count only without progress (issue 24, item 2): a recorded epoch past every
earlier one resets ``runs.deaths``; an epoch recorded again (after a resume from an older
checkpoint) does not. A run failed through worker deaths is resumable."""

from __future__ import annotations

import pytest

from backend.runconfig import RunConfig
from backend.store import Claim, RunNotResumable


def _die(store, rid, worker) -> None:
    assert store.claim_run(rid, worker)
    store.requeue_stale(0.0, max_deaths=2, last_exit="killed")


def test_progress_between_deaths_resets_the_count(any_store):
    store = any_store
    rid = store.create_run(RunConfig(epochs=50)).id
    for n, epoch in enumerate((3, 7, 12)):
        a = store.claim_run(rid, f"w{n}")
        store.record_epoch(rid, epoch, {"train_loss": 1.0}, claim=Claim(f"w{n}", a))
        assert store.get_run(rid).deaths == 0
        store.requeue_stale(0.0, max_deaths=2, last_exit="killed")
        got = store.get_run(rid)
        assert (got.status, got.deaths) == ("queued", 1), got  # never 2: progress between
    # an epoch recorded again is no progress: two deaths in a row fail the run
    a = store.claim_run(rid, "w9")
    store.record_epoch(rid, 12, {"train_loss": 0.5}, claim=Claim("w9", a))
    store.requeue_stale(0.0, max_deaths=2, last_exit="killed")
    got = store.get_run(rid)
    assert (got.status, got.fault) == ("failed", "worker-died")
    assert got.error == "worker died 2 times; last exit: killed"


def test_a_run_failed_by_worker_deaths_is_resumable(any_store):
    store = any_store
    rid = store.create_run(RunConfig(epochs=50)).id
    _die(store, rid, "a")
    _die(store, rid, "b")
    got = store.get_run(rid)
    assert got.status == "failed" and got.fault == "worker-died" and got.resumable
    again = store.resume_run(rid)
    assert (again.status, again.deaths, again.fault, again.error) == ("queued", 0, None, None)
    # a run's own error stays final
    assert store.claim_run(rid, "c")
    store.finish_run(rid, "failed", error="ValueError: its own bug")
    with pytest.raises(RunNotResumable):
        store.resume_run(rid)


def test_an_outage_requeues_without_counting_a_death(any_store):
    store = any_store
    rid = store.create_run(RunConfig(epochs=50)).id
    for n in range(4):   # more than max_deaths stale sweeps, none a death
        assert store.claim_run(rid, f"w{n}")
        assert store.requeue_stale(0.0, max_deaths=2, count_deaths=False) == [rid]
        got = store.get_run(rid)
        assert (got.status, got.deaths) == ("queued", 0)


def test_progress_shows_the_last_recorded_epoch_after_a_failure(any_store):
    """A run failed (disk full) right after recording epochs 0-4, its heartbeats never
    written: it shows epoch 4, not 0 (issue 24, item 12)."""
    store = any_store
    rid = store.create_run(RunConfig(epochs=20)).id
    a = store.claim_run(rid, "w")
    for e in range(5):
        store.record_epoch(rid, e, {"train_loss": 1.0}, claim=Claim("w", a))
    store.finish_run(rid, "failed", error="OSError: [Errno 28] full", fault="environment",
                     claim=Claim("w", a))
    got = store.get_run(rid)
    assert (got.status, got.current_epoch) == ("failed", 4)
    assert got.progress == pytest.approx(4 / 20)
    # an epoch recorded again after a resume from an older checkpoint never rewinds it
    store.resume_run(rid)
    a = store.claim_run(rid, "w2")
    store.record_epoch(rid, 2, {"train_loss": 1.0}, claim=Claim("w2", a))
    assert store.get_run(rid).current_epoch == 4
