"""The runs list follows Slurm (issue 22): ``GET /api/runs`` (what the Runs table polls)
carries each live Slurm run's job id and Slurm's state and reason, read with one ``squeue``
call, so a queued run shows ``PENDING (Resources)`` and then its job running and done without
anyone opening the run. Real ``sbatch`` on the one-node cluster of ``test_slurm``; every
wait is on the state the test then asserts, read through the list only."""

from __future__ import annotations

import os

import pytest
import test_slurm
from test_lifecycle import tiny
from test_slurm import _describe
from timing import wait_until

pytestmark = pytest.mark.slow
cluster = test_slurm.cluster        # the one-node cluster and an API whose runs are Slurm jobs
slurm_api = test_slurm.slurm_api


def _listed(client, rid: str) -> dict:
    r = client.get("/api/runs")
    assert r.status_code == 200, r.text
    rows = {run["id"]: run for run in r.json()}
    assert rid in rows, f"run {rid} not listed"
    return rows[rid]


def _job(run: dict) -> dict:
    return run["summary"].get("executor") or {}


def test_the_runs_list_follows_a_slurm_run_from_pending_to_done(slurm_api, tmp_path,
                                                                 monkeypatch):
    pause = tmp_path / "paused"
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_AFTER_EPOCH", "1")
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_FILE", str(pause))
    cpus = os.cpu_count() or 1
    # A holds every CPU of the node while it waits after epoch 1
    a = slurm_api.post(f"/api/runs?cpus={cpus}", json=tiny(2, name="holds the node"))
    assert a.status_code == 201, a.text
    a = a.json()["id"]
    wait_until(pause.exists, timeout=300, what="run A paused after epoch 1",
               seen=lambda: _describe(slurm_api, a))
    # B waits for A's CPUs: Slurm says PENDING (Resources), and the list says so
    b = slurm_api.post("/api/runs", json=tiny(2, name="waits")).json()["id"]
    b_job = _job(_listed(slurm_api, b))["job_id"]
    run = wait_until(lambda: _listed(slurm_api, b),
                     lambda r: _job(r).get("status") == "PENDING (Resources)", timeout=120,
                     what="run B listed as PENDING (Resources)", seen=lambda: _job(
                         _listed(slurm_api, b)))
    assert run["status"] == "queued" and _job(run)["job_id"] == b_job
    assert (_job(run)["state"], _job(run)["reason"]) == ("PENDING", "Resources")
    assert _job(_listed(slurm_api, a))["status"] == "RUNNING"

    pause.unlink()   # A goes on and ends; B starts and pauses after its epoch 1 in turn
    wait_until(lambda: _listed(slurm_api, a), lambda r: r["status"] == "succeeded",
               timeout=300, what="run A to finish", seen=lambda: _describe(slurm_api, a))
    wait_until(pause.exists, timeout=300, what="run B paused after epoch 1",
               seen=lambda: _describe(slurm_api, b))
    run = wait_until(lambda: _listed(slurm_api, b), lambda r: _job(r).get("state") == "RUNNING",
                     timeout=120, what="run B listed as RUNNING",
                     seen=lambda: _job(_listed(slurm_api, b)))
    assert run["status"] == "running" and _job(run)["status"] == "RUNNING"

    pause.unlink()
    run = wait_until(lambda: _listed(slurm_api, b),
                     lambda r: _job(r).get("state") not in ("PENDING", "RUNNING",
                                                             "COMPLETING"),
                     timeout=300, what="run B's job listed as ended",
                     seen=lambda: _describe(slurm_api, b))
    assert (run["status"], _job(run)["state"], _job(run)["job_id"]) == (
        "succeeded", "COMPLETED", b_job)
