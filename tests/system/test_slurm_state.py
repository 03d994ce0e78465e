"""The runs list follows Slurm (issue 22): ``GET /api/runs`` (what the Runs table polls)
carries each live Slurm run's job id and Slurm's state and reason, read with one ``squeue``
call, so a queued run shows ``PENDING (Resources)`` and then its job running and done without
anyone opening the run. Real ``sbatch`` on the one-node cluster of ``test_slurm``; every
wait is on the state the test then asserts, read through the list only."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

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


def _kill_job_python(job_id: str) -> None:
    """SIGKILL the python process training in Slurm job ``job_id`` (its pids from
    ``scontrol listpids``)."""
    out = subprocess.run(["scontrol", "listpids", job_id], capture_output=True, text=True,
                         check=True).stdout
    pids = [int(line.split()[0]) for line in out.splitlines()[1:] if line.split()[:1]
            and line.split()[0].isdigit()]
    def cmdline(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        except OSError:   # gone meanwhile
            return ""

    ours = [pid for pid in pids if "python" in cmdline(pid) and "submitit" in cmdline(pid)]
    assert ours, f"no python among job {job_id}'s pids {pids}"
    for pid in ours:
        os.kill(pid, signal.SIGKILL)


def test_a_job_killed_outright_fails_its_run_resumably(slurm_api, tmp_path, monkeypatch):
    """SIGKILL to the job's python (as the out-of-memory killer does: no handler runs): the
    run is left ``running`` under the job's name with nobody to finish it, and no Celery
    sweeper watches a Slurm run. Once
    Slurm says the job ended, the run fails resumably (``worker-died``); resuming trains it
    in a new job from its checkpoint."""
    pause = tmp_path / "paused"
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_AFTER_EPOCH", "2")
    monkeypatch.setenv("MIXSCOPE_TEST_PAUSE_FILE", str(pause))
    cfg = tiny(3, record={"epochs": [0, 3], "checkpoint_every": 1})
    rid = slurm_api.post("/api/runs", json=cfg).json()["id"]
    wait_until(pause.exists, timeout=300, what="the run paused after epoch 2",
               seen=lambda: _describe(slurm_api, rid))
    first = _job(_listed(slurm_api, rid))["job_id"]
    _kill_job_python(first)
    run = wait_until(lambda: _listed(slurm_api, rid), lambda r: r["status"] != "running",
                     timeout=120, what="the run after its job was killed",
                     seen=lambda: _job(_listed(slurm_api, rid)))
    assert (run["status"], run["fault"], run["resumable"]) == ("failed", "worker-died", True)
    assert f"Slurm job {first} ended" in run["error"]
    pause.unlink()
    assert slurm_api.post(f"/api/runs/{rid}/resume").status_code == 200
    run = wait_until(lambda: _listed(slurm_api, rid), lambda r: r["status"] in (
        "succeeded", "failed"), timeout=300, what="the resumed run to finish",
        seen=lambda: _describe(slurm_api, rid))
    assert run["status"] == "succeeded", _describe(slurm_api, rid)
    assert _job(run)["job_id"] != first
    assert "resumes after epoch 2" in slurm_api.get(f"/api/runs/{rid}/logs").text
