"""Fencing, poison runs and resume, in one process on a real store with real (tiny) training.

The worker-process versions (a paused first worker, SIGKILLed workers, deleting a running
run) are in ``tests/system/test_faults_workers.py``.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest
from click.testing import CliRunner
from test_trainer_loop import tiny

from backend.store import Claim, Fenced, RunNotResumable
from trainer.loop import execute_run

# --- fencing -------------------------------------------------------------------------------

def test_a_requeued_runs_old_claim_cannot_write(any_store):
    store = any_store
    run = store.create_run(tiny())
    first = Claim("w1", store.claim_run(run.id, "w1"))
    assert first.attempt == 1
    store.record_epoch(run.id, 0, {"x": 1.0}, claim=first)
    assert store.requeue_stale(0.0) == [run.id]          # its worker looked dead
    second = Claim("w2", store.claim_run(run.id, "w2"))
    assert second.attempt == 2
    writes = {
        "heartbeat": lambda c: store.heartbeat(run.id, 1, 0.5, None, claim=c),
        "record_epoch": lambda c: store.record_epoch(run.id, 1, {"x": 2.0}, claim=c),
        "update_run_info": lambda c: store.update_run_info(run.id, layers=["a"], claim=c),
        "put_arrays": lambda c: store.put_arrays(run.id, "probe", {"a": np.zeros(3)},
                                                 claim=c),
        "cancel_requested": lambda c: store.cancel_requested(run.id, claim=c),
    }
    for write in writes.values():
        with pytest.raises(Fenced):
            write(first)
        write(second)                                    # the new owner writes freely
    with pytest.raises(Fenced):
        store.finish_run(run.id, "failed", error="late", claim=first)
    assert [m["x"] for m in store.epoch_metrics(run.id)] == [1.0, 2.0]
    store.finish_run(run.id, "succeeded", claim=second)
    with pytest.raises(Fenced):                          # and not after the end either
        store.heartbeat(run.id, 3, 1.0, None, claim=second)
    got = store.get_run(run.id)
    assert (got.status, got.worker, got.attempt, got.error) == ("succeeded", "w2", 2, None)


def test_a_fenced_trainer_stops_quietly_and_the_new_owner_finishes(store):
    run = store.create_run(tiny(epochs=4))
    a1 = store.claim_run(run.id, "w1")

    def requeue_at_2(report):       # while w1 trains, its run is requeued and claimed by w2
        if report.epoch == 2:
            assert store.requeue_stale(0.0) == [run.id]
            state["a2"] = store.claim_run(run.id, "w2")

    state = {}
    assert execute_run(store, run.id, worker="w1", attempt=a1,
                       progress=requeue_at_2) == "fenced"
    mid = store.get_run(run.id)
    assert (mid.status, mid.worker, mid.attempt) == ("running", "w2", 2)
    assert max(e["epoch"] for e in store.epoch_metrics(run.id)) == 2   # nothing after
    assert execute_run(store, run.id, worker="w2", attempt=state["a2"]) == "succeeded"
    done = store.get_run(run.id)
    assert (done.status, done.worker) == ("succeeded", "w2")
    assert [e["epoch"] for e in store.epoch_metrics(run.id)] == [0, 1, 2, 3, 4]


# --- poison runs ---------------------------------------------------------------------------

def test_a_run_whose_worker_dies_three_times_fails_with_the_reason(any_store):
    store = any_store
    assert store.settings.max_worker_deaths == 3
    run = store.create_run(tiny())
    for death in (1, 2):
        assert store.claim_run(run.id, f"w{death}")
        assert store.requeue_stale(0.0, last_exit="killed") == [run.id]
        got = store.get_run(run.id)
        assert (got.status, got.deaths) == ("queued", death)
    assert store.claim_run(run.id, "w3")
    assert store.requeue_stale(0.0, last_exit="killed") == []     # not requeued again
    got = store.get_run(run.id)
    assert got.status == "failed" and got.fault == "worker-died" and got.resumable
    assert got.error == "worker died 3 times; last exit: killed"
    assert store.claim_run(run.id, "w4") is None


def test_a_stopping_worker_releases_its_run_without_a_death(any_store):
    store = any_store
    run = store.create_run(tiny())
    claim = Claim("w1", store.claim_run(run.id, "w1"))
    assert store.release_run(run.id, claim)
    got = store.get_run(run.id)
    assert (got.status, got.deaths, got.worker) == ("queued", 0, None)
    assert not store.release_run(run.id, claim)


# --- resume ---------------------------------------------------------------------------------

class DiskFull:
    """Make the store's artifact writes fail with ENOSPC from the ``after``-th one on, as a
    full disk does (the real ``stage`` otherwise)."""

    def __init__(self, store, after: int):
        self.files, self.after, self.calls = store.files, after, 0
        self.real = store.files.stage
        store.files.stage = self

    def __call__(self, rel, data):
        self.calls += 1
        if self.calls > self.after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(rel, data)

    def clear(self):
        self.files.stage = self.real


def test_a_run_failed_by_a_full_disk_resumes_from_its_last_good_checkpoint(client, app,
                                                                          monkeypatch):
    # each epoch written (and reported) once computed: the disk fills right after epoch 3's
    # row, before epoch 4's row and checkpoint
    monkeypatch.setattr("trainer.epoch_metrics.ROWS_EVERY_S", 0.0)
    store = app.state.store
    cfg = tiny(epochs=6, record={"checkpoint_every": 2, "epochs": [0, 6]})
    run = store.create_run(cfg)
    full = DiskFull(store, after=0)
    full.after = 10 ** 9
    seen = []

    def fill_disk_after_epoch_3(report):
        seen.append(report.epoch)
        if report.epoch == 3:
            full.after = full.calls                       # every later write fails

    attempt = store.claim_run(run.id, "w1")
    assert execute_run(store, run.id, worker="w1", attempt=attempt,
                       progress=fill_disk_after_epoch_3) == "failed"
    failed = store.get_run(run.id)
    assert failed.status == "failed" and failed.fault == "environment" and failed.resumable
    assert "No space left on device" in failed.error
    body = client.get(f"/api/runs/{run.id}").json()
    assert body["resumable"] is True and body["fault"] == "environment"
    before = {e["epoch"]: e for e in store.epoch_metrics(run.id)}
    full.clear()                                          # the operator frees space

    assert client.post(f"/api/runs/{run.id}/resume").status_code == 200
    queued = store.get_run(run.id)
    assert (queued.status, queued.error, queued.fault) == ("queued", None, None)
    again = client.post(f"/api/runs/{run.id}/resume")
    assert again.status_code == 409 and "cannot be resumed" in again.json()["detail"]

    reports = []
    attempt = store.claim_run(run.id, "w2")
    assert attempt == 2
    assert execute_run(store, run.id, worker="w2", attempt=attempt,
                       progress=reports.append) == "succeeded"
    assert reports[0].resumed_from == 2                   # the checkpoint of epoch 2
    after = {e["epoch"]: e for e in store.epoch_metrics(run.id)}
    assert sorted(after) == list(range(7))
    for e in (0, 1, 2):                                   # kept, not retrained
        assert after[e]["epoch_time_s"] == before[e]["epoch_time_s"]
    assert client.get(f"/api/runs/{run.id}/health").json()["ok"] is True


def test_only_environment_faults_are_resumable(client, app):
    store = app.state.store
    run = store.create_run(tiny())
    store.claim_run(run.id, "w")
    store.finish_run(run.id, "failed", error="ValueError: its own bug")
    r = client.post(f"/api/runs/{run.id}/resume")
    assert r.status_code == 409 and "its own error" in r.json()["detail"]
    assert client.post("/api/runs/nope/resume").status_code == 404
    with pytest.raises(RunNotResumable):
        store.resume_run(run.id)


def test_cli_resume(settings, store):
    from mixscope.cli import main

    run = store.create_run(tiny())
    store.claim_run(run.id, "w")
    store.finish_run(run.id, "failed", error="OSError: read-only", fault="environment")
    res = CliRunner().invoke(main, ["runs", "resume", run.id[:6], "--store",
                                    str(settings.store)])
    assert res.exit_code == 0, res.output
    assert "queued again" in res.output and store.get_run(run.id).status == "queued"
    res = CliRunner().invoke(main, ["runs", "resume", run.id, "--store", str(settings.store)])
    assert res.exit_code != 0 and "cannot be resumed" in res.output


def test_environment_faults_are_classified():
    import sqlalchemy as sa

    from trainer.loop import environment_fault

    assert environment_fault(OSError(errno.ENOSPC, "full"))
    assert environment_fault(OSError(errno.EROFS, "read-only"))
    assert environment_fault(sa.exc.OperationalError("SELECT 1", {}, Exception("gone")))
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as exc:
            raise RuntimeError("while saving") from exc
    except RuntimeError as wrapped:
        assert environment_fault(wrapped)
    assert not environment_fault(ValueError("lr: nan"))
    assert not environment_fault(FileNotFoundError(errno.ENOENT, "no dataset"))
