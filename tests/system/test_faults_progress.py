"""Issue 24, item 2, with real ``mixscope worker`` processes SIGKILLed mid-run: worker deaths
fail a run only when they come without progress between (a newly recorded epoch resets the
count), and a run that did fail through worker deaths is resumed from its last checkpoint.
Every wait is on an event of the store (a claim, an epoch row), never on time."""

from __future__ import annotations

import pytest
from conftest import local_client
from test_lifecycle import HEARTBEAT_TIMEOUT_S, Worker, status_of, tiny, wait_for

from backend.api.app import create_app
from backend.settings import Settings

pytestmark = pytest.mark.slow


def _settings(tmp_path) -> Settings:
    return Settings(store=tmp_path / "store", database_url=None, artifact_url=None,
                    broker_url=None, _env_file=None, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)


def _last_epoch(store, rid) -> int:
    return max((e["epoch"] for e in store.epoch_metrics(rid)), default=-1)


def _claimed(store, rid, n) -> bool:
    run = store.get_run(rid)
    return run.attempt == n and run.status == "running"


def test_deaths_with_progress_between_never_fail_a_run(tmp_path):
    """max_worker_deaths 2, three workers SIGKILLed, each after the run recorded new epochs:
    the run is claimed a fourth time (before: failed "worker died 2 times" after the
    second kill, and never claimed again)."""
    settings = _settings(tmp_path)
    app = create_app(settings)
    store = app.state.store
    env = {"MIXSCOPE_MAX_WORKER_DEATHS": "2"}
    with local_client(app) as client:
        rid = client.post("/api/runs", json=tiny(3000, record={
            "epochs": [0, 3000], "checkpoint_every": 2})).json()["id"]
        for n in (1, 2, 3):
            w = Worker(settings, tmp_path / f"w{n}.log", extra_env=env)
            try:
                wait_for(lambda n=n: _claimed(store, rid, n), 120, f"claim {n}", w)
                assert store.get_run(rid).deaths <= 1   # never more than the last death
                before = _last_epoch(store, rid)
                # progress under this claim: an epoch past every earlier one
                wait_for(lambda b=before: _last_epoch(store, rid) >= b + 2, 120,
                         f"new epochs under claim {n}", w)
                assert store.get_run(rid).deaths == 0   # forgiven by the progress
            finally:
                w.kill()
        last = Worker(settings, tmp_path / "w4.log", extra_env=env)
        try:
            wait_for(lambda: _claimed(store, rid, 4), 120, "a fourth claim", last)
            run = store.get_run(rid)
            assert run.error is None and run.fault is None and run.deaths <= 1
            before = _last_epoch(store, rid)
            wait_for(lambda: _last_epoch(store, rid) > before, 120, "training again", last)
            assert client.post(f"/api/runs/{rid}/cancel").status_code == 200
            wait_for(lambda: status_of(client, rid) == "cancelled", 120, "cancelled", last)
        finally:
            last.stop()


def test_a_run_failed_by_worker_deaths_resumes_from_its_last_checkpoint(tmp_path):
    """max_worker_deaths 1: one SIGKILL fails the run (fault worker-died); resume accepts it
    (before: 409) and the next worker goes on from the checkpoint: the epochs recorded
    before are kept, not retrained."""
    settings = _settings(tmp_path)
    app = create_app(settings)
    store = app.state.store
    env = {"MIXSCOPE_MAX_WORKER_DEATHS": "1"}
    with local_client(app) as client:
        rid = client.post("/api/runs", json=tiny(3000, record={
            "epochs": [0, 3000], "checkpoint_every": 2})).json()["id"]
        w = Worker(settings, tmp_path / "w1.log", extra_env=env)
        try:
            wait_for(lambda: _last_epoch(store, rid) >= 5, 120, "epochs 0-5", w)
        finally:
            w.kill()
        kept = {e["epoch"]: e["epoch_time_s"] for e in store.epoch_metrics(rid)}
        sweeper = Worker(settings, tmp_path / "w2.log", extra_env=env)
        try:
            wait_for(lambda: status_of(client, rid) == "failed", 120, "the verdict", sweeper)
            run = client.get(f"/api/runs/{rid}").json()
            assert run["fault"] == "worker-died" and run["resumable"] is True, run
            assert run["error"] == "worker died 1 times; last exit: killed"
            r = client.post(f"/api/runs/{rid}/resume")
            assert r.status_code == 200 and r.json()["status"] == "queued", r.text
            assert r.json()["deaths"] == 0
            top = max(kept)
            wait_for(lambda: _last_epoch(store, rid) > top, 120, "epochs past the kill",
                     sweeper)
            after = {e["epoch"]: e["epoch_time_s"] for e in store.epoch_metrics(rid)}
            # everything up to the last checkpoint (every 2 epochs) is kept as it was
            for e in range(top - 2):
                assert after[e] == kept[e], e
            assert client.post(f"/api/runs/{rid}/cancel").status_code == 200
            wait_for(lambda: status_of(client, rid) == "cancelled", 120, "cancelled", sweeper)
        finally:
            sweeper.stop()
