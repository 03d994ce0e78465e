"""Sweeps and grids as Slurm jobs (issue 22), with real ``sbatch`` on the one-node cluster of
``test_slurm``: each run of a sweep becomes one job with the launch's resources; when sbatch
refuses a job (an unknown partition) the launch is all or nothing: a 422 naming the
resource, no sweep, no run, no job."""

from __future__ import annotations

import os

import pytest
import test_slurm
from test_lifecycle import tiny
from test_slurm import _scontrol_job
from timing import wait_until

pytestmark = pytest.mark.slow
cluster = test_slurm.cluster        # the one-node cluster and an API whose runs are Slurm jobs
slurm_api = test_slurm.slurm_api


def test_each_run_of_a_sweep_is_a_slurm_job_with_the_launchs_resources(slurm_api):
    cpus = (os.cpu_count() or 1) + 1   # more than the node has: they stay pending
    r = slurm_api.post(f"/api/sweeps?cpus={cpus}&sbatch=comment=sweep",
                       json={"base": tiny(2), "field": "lr", "values": [0.01, 0.1]})
    assert r.status_code == 201, r.text
    ids = [run["id"] for run in r.json()["runs"]]
    assert len(ids) == 2
    jobs = []
    for rid in ids:
        job = slurm_api.get(f"/api/runs/{rid}").json()["summary"]["executor"]
        assert job["name"] == "slurm" and job["resources"]["cpus"] == cpus
        assert job["resources"]["extra"] == {"comment": "sweep"}
        assert _scontrol_job(job["job_id"])["NumCPUs"] == str(cpus)
        jobs.append(job["job_id"])
    assert len(set(jobs)) == 2
    for rid, job in zip(ids, jobs):
        assert slurm_api.post(f"/api/runs/{rid}/cancel").json()["status"] == "cancelled"
        wait_until(lambda job=job: _scontrol_job(job).get("JobState"),
                   lambda s: s == "CANCELLED", timeout=120, what=f"job {job} cancelled")


def test_a_grid_whose_job_sbatch_refuses_is_all_or_nothing(slurm_api, tmp_path):
    r = slurm_api.post("/api/grid/launch?partition=nowhere",
                       json={"base": tiny(2), "columns": {"field": "alpha",
                                                          "values": [0.4, 1.0]}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "partition"]
    assert "sbatch refused the job" in r.json()["message"]
    assert "nowhere" in r.json()["message"]
    assert slurm_api.get("/api/runs").json() == []
    assert slurm_api.get("/api/sweeps").json() == []
    assert test_slurm._our_jobs(tmp_path) == []   # no job of this API was submitted
