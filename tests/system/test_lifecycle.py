"""Run lifecycle with a real Celery worker process (``mixscope worker``) on a SQLite broker
(and on Redis when ``MIXSCOPE_TEST_REDIS_URL`` is set): launch -> running -> succeeded with
epochs visible while it runs, an on-demand triple extraction, cancel, and a worker killed
with SIGKILL mid-run whose run is requeued and resumes from its latest checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from paths import ROOT
from timing import patience, wait_until

from backend.api.app import create_app
from backend.settings import Settings

pytestmark = pytest.mark.slow

REDIS_ENV = "MIXSCOPE_TEST_REDIS_URL"
# A run whose heartbeat is this old is requeued. Stretched to the load: a live worker starved
# of CPU on a busy machine must never look dead (tests wait for the requeue as an event).
HEARTBEAT_TIMEOUT_S = patience(5.0)


def tiny(epochs: int, **over) -> dict:
    """A digits run of ~0.2 s per epoch on one CPU thread."""
    cfg = {"dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
               "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": epochs,
               "batch_size": 32, "seed": 1,
               "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2, "trajectory_pairs": 0},
               "record": {"epochs": [0, epochs], "checkpoint_every": 5}}
    cfg.update(over)
    return cfg


class Worker:
    """``mixscope worker`` in its own process group, logging to a file."""

    def __init__(self, settings: Settings, log: Path, extra_env: dict | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIXSCOPE_")}
        env.update(MIXSCOPE_STORE=str(settings.store), OMP_NUM_THREADS="1",
                   MIXSCOPE_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S), **(extra_env or {}))
        if settings.broker_url:
            env["MIXSCOPE_BROKER_URL"] = settings.broker_url
        self.log = log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mixscope.cli", "worker", "--store", str(settings.store),
                 "--loglevel", "INFO"], env=env, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=ROOT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(patience(10))
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(pred, timeout: float, what: str, worker: Worker | None = None, step=0.2):
    """Poll ``pred`` until truthy (``timing.wait_until``: the timeout is stretched to the
    machine's load); fail with the worker's log, at once if the worker has exited."""
    return wait_until(
        pred, timeout=timeout, what=what, step=step,
        stop=lambda: ("the worker exited" if worker is not None
                      and worker.proc.poll() is not None else None),
        seen=lambda: ("--- worker log ---\n" + worker.log.read_text()[-3000:]
                      if worker is not None else "(no worker)"))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def stack(request, tmp_path_factory):
    """A store, the API on it (TestClient) and one worker process."""
    tmp = tmp_path_factory.mktemp(f"life-{request.param}")
    broker = None
    if request.param == "redis":
        broker = os.environ.get(REDIS_ENV)
        if not broker:
            pytest.skip(f"{REDIS_ENV} not set (no Redis server)")
    settings = Settings(store=tmp / "store", database_url=None, artifact_url=None,
                        broker_url=broker, _env_file=None,
                        heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)
    app = create_app(settings)
    worker = Worker(settings, tmp / "worker.log")
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        yield client, app.state.store, worker
    worker.stop()


def status_of(client, rid):
    return client.get(f"/api/runs/{rid}").json()["status"]


def _row_write_times(store, rid) -> dict:
    """epoch -> when its metrics row was last written."""
    import sqlalchemy as sa

    from backend.store.models import EpochMetric

    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(EpochMetric.epoch, EpochMetric.updated_at)
                            .where(EpochMetric.run_id == rid)).all()
    return dict(rows)


def test_launch_runs_to_success_with_epochs_visible_while_running(stack):
    client, store, worker = stack
    epochs = 25
    # the probe covers only the triple (0, 1, 2): any other triple is extracted on demand
    body = tiny(epochs, probe={"clean_per_class": 3, "pairs_per_class_pair": 2,
                                   "trajectory_pairs": 0, "triples": [[0, 1, 2]],
                                   "max_all_pairs_classes": 3})
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201 and r.json()["status"] == "queued"
    rid = r.json()["id"]
    wait_for(lambda: status_of(client, rid) == "succeeded", 120, "success", worker)
    run = client.get(f"/api/runs/{rid}").json()
    assert run["worker"] and run["started_at"]
    assert run["progress"] == 1.0 and run["recorded_epochs"] == [0, epochs]
    recs = client.get(f"/api/runs/{rid}/metrics").json()["epochs"]
    assert [e["epoch"] for e in recs] == list(range(epochs + 1))
    # the epochs were visible while the run trained: their rows were written before it
    # finished, over the run (not all at its end). Read from the rows' write times, not by
    # catching the run mid-way, which a fast machine finishes between two polls
    written = _row_write_times(store, rid)
    finished = store.get_run(rid).finished_at
    assert written[0] < finished and len(set(written.values())) >= 2, (written, finished)
    # the trained run's projection (real arrays from a real run)
    p = client.get(f"/api/runs/{rid}/projection?classes=0,1,2")
    assert p.status_code == 200 and p.json()["epoch"] == epochs
    # a triple outside the probe: 202, the worker extracts it from the checkpoint, then 200
    url = f"/api/runs/{rid}/projection?epoch={epochs}&classes=3,4,5"
    r = client.get(url)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    wait_for(lambda: client.get(f"/api/jobs/{job}").json()["status"] != "pending", 90,
             "the extraction job", worker)
    assert client.get(f"/api/jobs/{job}").json()["status"] == "done"
    r = client.get(url)
    assert r.status_code == 200 and r.json()["classes"] == [3, 4, 5]


def test_cancel_stops_a_running_run(stack):
    client, store, worker = stack
    rid = client.post("/api/runs", json=tiny(2000)).json()["id"]
    wait_for(lambda: len(store.epoch_metrics(rid)) >= 2, 90, "a few epochs", worker)
    r = client.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 200
    # the cancel takes effect (an event; how fast is the benchmarks' business, not a test's)
    wait_for(lambda: status_of(client, rid) == "cancelled", 30, "cancelled", worker)
    assert store.get_run(rid).current_epoch < 2000
    assert client.post(f"/api/runs/{rid}/cancel").status_code == 409


def test_killed_worker_run_is_requeued_and_resumes_from_checkpoint(tmp_path):
    settings = Settings(store=tmp_path / "store", database_url=None, artifact_url=None,
                        broker_url=None, _env_file=None, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)
    app = create_app(settings)
    store = app.state.store
    epochs, every = 40, 5
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        rid = client.post("/api/runs", json=tiny(epochs)).json()["id"]
        # the first worker pauses after epoch 13 (an event: the file it writes), then dies
        paused = tmp_path / "paused-at-13"
        first = Worker(settings, tmp_path / "w1.log", extra_env={
            "MIXSCOPE_TEST_PAUSE_AFTER_EPOCH": "13", "MIXSCOPE_TEST_PAUSE_FILE": str(paused)})
        try:
            wait_for(paused.exists, 120, "the run paused after epoch 13", first)
        finally:
            first.kill()                                         # SIGKILL, mid-run
        before = {e["epoch"]: e for e in store.epoch_metrics(rid)}
        dead = store.get_run(rid)
        assert dead.status == "running" and sorted(before) == list(range(14))
        second = Worker(settings, tmp_path / "w2.log")
        try:
            wait_for(lambda: status_of(client, rid) == "succeeded", 180, "resumed success",
                     second)
        finally:
            second.stop()
        run = store.get_run(rid)
        assert run.worker != dead.worker                         # claimed again after requeue
        after = {e["epoch"]: e for e in store.epoch_metrics(rid)}
        assert sorted(after) == list(range(epochs + 1))
        # epochs up to the last checkpoint were kept (not retrained); only those after it
        # were trained again: at most `every` epochs lost
        redone = [e for e in sorted(before) if after[e]["epoch_time_s"] != before[e]["epoch_time_s"]]
        kept = [e for e in sorted(before) if e not in redone]
        assert kept and kept == list(range(len(kept))), (kept, redone)
        assert len(redone) <= every, redone
        assert max(kept) % every == 0 or max(kept) == max(before)


def test_a_pending_job_whose_message_was_lost_is_done_by_the_next_worker(tmp_path):
    """The API answers 202 while a job is pending; if its broker message is lost (a wiped
    broker, a worker that died mid-job) a starting worker re-sends it, so 202 is not forever."""
    settings = Settings(store=tmp_path / "store", database_url=None, artifact_url=None,
                        broker_url=None, _env_file=None, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)
    app = create_app(settings)
    store = app.state.store
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        q = "/api/lab/alternating-line?alpha=32&runs=2&epochs=50&hidden=16"
        r = client.get(q)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        (settings.store / "broker.db").unlink()            # the message is gone
        worker = Worker(settings, tmp_path / "w.log")
        try:
            wait_for(lambda: store.get_job(job_id).status == "done", 120, "the lab job",
                     worker)
        finally:
            worker.stop()
        done = client.get(q)
        assert done.status_code == 200, done.text
        assert done.json()["labels"] == [1, 2, 1]


def test_deformation_evaluation_is_a_worker_job(stack):
    """003 Table 9 on a finished run: 202, the worker's ``mixscope.deformations`` task
    evaluates the stored model on the deformed test sets, then 200 with the accuracies."""
    client, _store, worker = stack
    body = {"dataset": "rotated-digit", "dataset_args": {"task": "C", "samples": 60,
                                                          "test_fraction": 0.25},
            "model": "mlp", "model_args": {"width": 16, "depth": 1, "feature_dim": 8},
            "method": "factor-mixup", "epochs": 2, "batch_size": 20, "seed": 1,
            "probe": {"clean_per_class": 3, "pairs_per_class_pair": 1, "trajectory_pairs": 0}}
    rid = client.post("/api/runs", json=body).json()["id"]
    wait_for(lambda: status_of(client, rid) == "succeeded", 120, "success", worker)
    r = client.get(f"/api/runs/{rid}/deformations")
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    wait_for(lambda: client.get(f"/api/jobs/{job}").json()["status"] != "pending", 90,
             "the deformations job", worker)
    assert client.get(f"/api/jobs/{job}").json()["status"] == "done"
    r = client.get(f"/api/runs/{rid}/deformations")
    assert r.status_code == 200
    res = r.json()
    assert res["epoch"] == 2 and res["n_test"] == 20 and len(res["deformations"]) == 17
    last = client.get(f"/api/runs/{rid}/metrics").json()["epochs"][-1]
    assert abs(res["clean_accuracy"] - last["test_accuracy"]) < 1e-6
