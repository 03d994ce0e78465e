"""Runs as Slurm jobs (issue 22), through the API with real ``sbatch`` on a one-node cluster
(``scripts/slurm-cluster.sh``; ``scripts/run-tests.sh`` starts one and exports
``SLURM_CONF``; without it, this module starts its own when ``slurmctld`` is installed and
the tests run as root, else it skips).

Every wait is on an event (the run's row, the job's state in Slurm, the pause file the
trainer writes at a known epoch), bounded by ``timing.wait_until``. Slurm holds a requeued
job for two minutes (``BeginTime``) before it may start again; the tests wait for that
state and then let it start now (``scontrol update StartTime=now``), as an admin would, once
the second of the requeue has passed (:func:`_let_requeued_start`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import local_client
from paths import ROOT
from test_lifecycle import HEARTBEAT_TIMEOUT_S, Worker, tiny
from timing import wait_until

from backend.settings import Settings

pytestmark = pytest.mark.slow

TIMING_KEYS = {"epoch_time_s", "metrics_time_s", "metrics_wait_s", "samples_per_s"}


def _ping() -> bool:
    return subprocess.run(["scontrol", "ping"], capture_output=True, text=True,
                          check=False).stdout.count("UP") > 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``SLURM_CONF`` of a running one-node cluster (the suite's, or one started here)."""
    if shutil.which("sbatch") is None or shutil.which("slurmctld") is None:
        pytest.skip("Slurm is not installed (scripts/install-system.sh installs slurm-wlm "
                    "and munge)")
    if os.environ.get("SLURM_CONF") and _ping():
        yield os.environ["SLURM_CONF"]
        return
    if os.geteuid() != 0:
        pytest.skip("no Slurm cluster running (SLURM_CONF) and not root to start one")
    folder = tmp_path_factory.mktemp("slurm")
    script = str(ROOT / "scripts" / "slurm-cluster.sh")
    out = subprocess.run([script, "start", str(folder)], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        pytest.skip(f"the one-node Slurm cluster did not start: {out.stderr[-500:]}")
    conf = str(folder / "slurm.conf")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        subprocess.run([script, "stop", str(folder)], check=False)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


def _slurm_settings(folder: Path, **over) -> Settings:
    return Settings(store=folder, _env_file=None, executor="slurm", slurm_shared_store=True,
                    heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S, **over)


@pytest.fixture
def slurm_api(cluster, tmp_path, monkeypatch):
    """An API whose runs are Slurm jobs (SQLite on a path every 'node' sees)."""
    from backend.api.app import create_app

    # the job's python imports this checkout (sbatch passes the environment on)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    app = create_app(_slurm_settings(tmp_path / "store", slurm_time="10"))
    with local_client(app) as client:
        yield client
    for job in _our_jobs(tmp_path):
        subprocess.run(["scancel", job], check=False)


def _our_jobs(tmp_path: Path) -> list[str]:
    folder = tmp_path / "store" / "slurm"
    return [p.name for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []


def _run(client, rid):
    r = client.get(f"/api/runs/{rid}")
    assert r.status_code == 200, r.text
    return r.json()


def _job(run) -> dict:
    return run["summary"].get("executor") or {}


def _wait_run(client, rid, accept, what, timeout=300.0):
    return wait_until(lambda: _run(client, rid), accept, timeout=timeout, what=what,
                      seen=lambda: _describe(client, rid))


def _describe(client, rid) -> str:
    run = _run(client, rid)
    logs = client.get(f"/api/runs/{rid}/logs")
    return (f"status {run['status']}, epoch {run['current_epoch']}, error {run['error']}, "
            f"job {_job(run)}\n--- job stderr ---\n{logs.text[-2500:]}")


def _scontrol_job(job_id: str) -> dict[str, str]:
    import re

    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                         text=True, check=False).stdout
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", out))


def _held_after_requeue(job: dict[str, str]) -> bool:
    return job.get("JobState") == "PENDING" and job.get("Reason") == "BeginTime"


def _let_requeued_start(job_id: str) -> None:
    """Let a requeued job held back by Slurm (``BeginTime``) start now, once the clock's
    second has turned since it was seen held. Slurm holds a requeued job because slurmd
    revokes the job's credential at the requeue, to the second: an incarnation allocated
    within that second gets a credential counted as revoked, and slurmctld ends the job
    FAILED (NonZeroExitCode) without starting it ("Killing non-startable batch JobId=…: Job
    credential revoked"; seen in CI, and reproduced with sbatch/requeue/update alone)."""
    seen = int(time.time())
    wait_until(lambda: int(time.time()), lambda now: now > seen, timeout=5,
               what="the clock's next second")
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=False)


def _start_requeued_now(job_id: str) -> None:
    """Wait until the requeued job is held back (``BeginTime``), then let it start now."""
    job = wait_until(lambda: _scontrol_job(job_id), lambda j: _held_after_requeue(j)
                     or j.get("JobState") == "RUNNING",
                     timeout=120, what=f"job {job_id} requeued")
    if _held_after_requeue(job):
        _let_requeued_start(job_id)


def _metrics(client, rid) -> list[dict]:
    epochs = client.get(f"/api/runs/{rid}/metrics").json()["epochs"]
    return [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in epochs]


def test_two_runs_under_slurm_match_the_same_runs_on_a_celery_worker(slurm_api, tmp_path):
    from backend.api.app import create_app

    configs = [tiny(3, seed=1, name="slurm a"), tiny(3, seed=2, method="erm", name="slurm b")]
    ids = []
    for cfg in configs:
        r = slurm_api.post("/api/runs", json=cfg)
        assert r.status_code == 201, r.text
        job = _job(r.json())
        assert job["name"] == "slurm" and job["job_id"], r.json()["summary"]
        ids.append(r.json()["id"])
    for rid in ids:
        run = _wait_run(slurm_api, rid, lambda r: r["status"] in ("succeeded", "failed",
                                                                  "cancelled"),
                        f"Slurm run {rid} to finish")
        assert run["status"] == "succeeded", _describe(slurm_api, rid)
        assert run["worker"] == f"slurm-job:{_job(run)['job_id']}"
        assert "claimed by slurm-job:" in slurm_api.get(f"/api/runs/{rid}/logs").text

    # the same configs through a Celery worker on a store of its own
    celery_settings = Settings(store=tmp_path / "celery", _env_file=None,
                               heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)
    worker = Worker(celery_settings, tmp_path / "worker.log")
    try:
        with local_client(create_app(celery_settings)) as celery_api:
            twins = []
            for cfg in configs:
                r = celery_api.post("/api/runs", json=cfg)
                assert r.status_code == 201 and "executor" not in r.json()["summary"]
                twins.append(r.json()["id"])
            for rid in twins:
                run = wait_until(lambda rid=rid: _run(celery_api, rid),
                                 lambda r: r["status"] in ("succeeded", "failed"),
                                 timeout=300, what=f"Celery run {rid} to finish",
                                 seen=lambda: worker.log.read_text()[-3000:])
                assert run["status"] == "succeeded"
            for rid, twin in zip(ids, twins):
                ours, theirs = _metrics(slurm_api, rid), _metrics(celery_api, twin)
                assert len(ours) == 4 and ours == theirs
    finally:
        worker.stop()


def test_cancel_during_training_scancels_the_job(slurm_api, tmp_path, monkeypatch):
    pause = tmp_path / "paused"
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_AFTER_EPOCH", "1")
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_FILE", str(pause))
    rid = slurm_api.post("/api/runs", json=tiny(6)).json()["id"]
    wait_until(pause.exists, timeout=300, what="the Slurm run paused after epoch 1",
               seen=lambda: _describe(slurm_api, rid))
    run = _run(slurm_api, rid)
    assert run["status"] == "running" and _job(run)["state"] == "RUNNING"
    r = slurm_api.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 200, r.text
    run = _wait_run(slurm_api, rid, lambda r: r["status"] == "cancelled",
                    "the cancelled run's row")
    job_id = _job(run)["job_id"]
    wait_until(lambda: _scontrol_job(job_id).get("JobState"),
               lambda s: s == "CANCELLED", timeout=120, what=f"job {job_id} cancelled")
    assert len(_metrics(slurm_api, rid)) <= 3


def test_requeue_of_a_running_job_resumes_from_its_checkpoint(slurm_api, tmp_path,
                                                               monkeypatch):
    pause = tmp_path / "paused"
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_AFTER_EPOCH", "2")
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_FILE", str(pause))
    cfg = tiny(4, record={"epochs": [0, 4], "checkpoint_every": 1})
    rid = slurm_api.post("/api/runs", json=cfg).json()["id"]
    wait_until(pause.exists, timeout=300, what="the Slurm run paused after epoch 2",
               seen=lambda: _describe(slurm_api, rid))
    job_id = _job(_run(slurm_api, rid))["job_id"]
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    # the job's SIGTERM releases the run to the queue (no death counted)
    _wait_run(slurm_api, rid, lambda r: r["status"] == "queued", "the run released")
    _start_requeued_now(job_id)
    run = _wait_run(slurm_api, rid, lambda r: r["status"] in ("succeeded", "failed"),
                    "the requeued job to finish the run")
    assert run["status"] == "succeeded", _describe(slurm_api, rid)
    assert (run["attempt"], run["deaths"]) == (2, 0)
    assert _job(run)["restarts"] >= 1
    log = slurm_api.get(f"/api/runs/{rid}/logs").text
    assert "resumes after epoch 2" in log
    assert [e["epoch"] for e in _metrics(slurm_api, rid)] == [0, 1, 2, 3, 4]


def test_time_limit_warning_checkpoints_requeues_and_finishes(cluster, tmp_path, monkeypatch):
    """A one-minute job warned 50 s before its end (SIGUSR2 at most ~10 s in): the trainer
    checkpoints the epoch in progress, the job requeues itself, the next incarnation
    resumes from that checkpoint; the pause after epoch 1 keeps the first incarnation
    training until its warning arrives."""
    from backend.api.app import create_app

    pause = tmp_path / "paused"
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_AFTER_EPOCH", "1")
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_FILE", str(pause))
    settings = _slurm_settings(tmp_path / "store", slurm_time="1", slurm_signal_delay_s=50)
    with local_client(create_app(settings)) as api:
        cfg = tiny(3, record={"epochs": [0, 3], "checkpoint_every": 10})
        rid = api.post("/api/runs", json=cfg).json()["id"]
        job_id = None
        try:
            run = _wait_run(api, rid, lambda r: _job(r).get("job_id"), "the job id")
            job_id = _job(run)["job_id"]

            def step(_):
                run = _run(api, rid)
                if run["status"] == "queued" and run["attempt"] >= 1 and \
                        _held_after_requeue(_scontrol_job(job_id)):
                    _let_requeued_start(job_id)
                return run
            run = wait_until(lambda: step(None), lambda r: r["status"] in (
                "succeeded", "failed", "cancelled"), timeout=600,
                what="the run to finish across requeues", seen=lambda: _describe(api, rid))
            assert run["status"] == "succeeded", _describe(api, rid)
            assert run["attempt"] >= 2 and run["deaths"] == 0
            log = api.get(f"/api/runs/{rid}/logs").text
            assert "requeueing Slurm job" in log and "resumes after epoch" in log
            assert [e["epoch"] for e in _metrics(api, rid)] == [0, 1, 2, 3]
        finally:
            if job_id:
                subprocess.run(["scancel", job_id], check=False)


def test_a_job_stuck_pending_shows_its_reason_and_is_cancelled(slurm_api):
    cpus = os.cpu_count() or 1
    r = slurm_api.post(f"/api/runs?cpus={cpus + 1}", json=tiny(2))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    run = _wait_run(slurm_api, rid, lambda r: _job(r).get("reason") not in (None, "None"),
                    "Slurm's reason for the pending job", timeout=120)
    job = _job(run)
    assert run["status"] == "queued" and job["state"] == "PENDING"
    assert job["status"] == f"PENDING ({job['reason']})" and job["resources"]["cpus"] == cpus + 1
    assert slurm_api.post(f"/api/runs/{rid}/cancel").json()["status"] == "cancelled"
    wait_until(lambda: _scontrol_job(job["job_id"]).get("JobState"),
               lambda s: s == "CANCELLED", timeout=120, what="the pending job cancelled")


def test_a_slurm_launch_on_a_local_store_is_refused_naming_what_to_set(tmp_path):
    from backend.api.app import create_app

    settings = Settings(store=tmp_path / "store", _env_file=None)
    with local_client(create_app(settings)) as api:
        r = api.post("/api/runs?executor=slurm", json=tiny(1))
        assert r.status_code == 422
        body = r.json()
        assert body["detail"][0]["loc"] == ["query", "executor"]
        assert "MIXSCOPE_DATABASE_URL" in body["message"]
        assert "MIXSCOPE_SLURM_SHARED_STORE" in body["message"]
        r = api.post("/api/runs?gpus=1", json=tiny(1))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "gpus"]
        assert api.get("/api/runs").json() == []
        info = api.get("/api/executor").json()
        assert info["executor"] == "celery" and info["slurm"]["store_reachable"] is False


def test_reproduce_with_the_slurm_executor_submits_each_run_once(cluster, tmp_path,
                                                                 monkeypatch):
    import json

    from click.testing import CliRunner

    from mixscope.cli import main

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MIXSCOPE_SLURM_SHARED_STORE", "true")
    store = tmp_path / "store"
    args = ["reproduce", "000/fig3", "--scale", "cpu", "--executor", "slurm", "--store",
            str(store), "--json"]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    rows = json.loads(first.output.strip().splitlines()[-1])["submitted"]
    jobs = [r["slurm"] for r in rows]
    try:
        assert rows and all(jobs) and len(set(jobs)) == len(rows)
        assert all(r["status"] in ("queued", "running") for r in rows)
        again = CliRunner().invoke(main, args, catch_exceptions=False)
        assert again.exit_code == 0, again.output
        # their jobs are still queued or running: none is submitted a second time
        assert [r["slurm"] for r in json.loads(again.output.strip().splitlines()[-1])[
            "submitted"]] == jobs
    finally:
        for job in jobs:
            subprocess.run(["scancel", job], check=False)


@pytest.mark.parametrize(("text", "minutes"), [("90", 90), ("1:30", 2), ("2:00:00", 120),
                                               ("1-0", 1440), ("1-2:30", 1590),
                                               ("0:0:30", 1)])
def test_slurm_time_forms_in_minutes(text, minutes):
    from backend.executors import parse_extra, time_minutes

    assert time_minutes(text) == minutes
    assert parse_extra("constraint=a100, --exclude=node3") == {"constraint": "a100",
                                                                "exclude": "node3"}
    with pytest.raises(ValueError, match="not a Slurm time"):
        time_minutes("soon")


def test_a_job_ended_outside_mixscope_fails_the_run_resumably(slurm_api):
    """A queued run whose job ends without training it (cancelled by an admin, or failed on
    a broken node) is not left queued forever: it fails, resumably; resuming submits a new
    job."""
    cpus = os.cpu_count() or 1
    rid = slurm_api.post(f"/api/runs?cpus={cpus + 1}", json=tiny(2)).json()["id"]
    first = _job(_run(slurm_api, rid))["job_id"]
    subprocess.run(["scancel", first], check=True)   # behind mixscope's back
    run = _wait_run(slurm_api, rid, lambda r: r["status"] != "queued",
                    "the run failed after its job ended", timeout=120)
    assert (run["status"], run["fault"], run["resumable"]) == ("failed", "environment", True)
    assert f"Slurm job {first} ended CANCELLED" in run["error"]
    resumed = slurm_api.post(f"/api/runs/{rid}/resume")
    assert resumed.status_code == 200, resumed.text
    second = _job(_run(slurm_api, rid))["job_id"]
    assert second and second != first
    run = _wait_run(slurm_api, rid, lambda r: _job(r).get("state") == "PENDING",
                    "the new job pending", timeout=120)
    assert run["status"] == "queued"
    assert slurm_api.post(f"/api/runs/{rid}/cancel").json()["status"] == "cancelled"
