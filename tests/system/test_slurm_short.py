"""Short jobs with Slurm only (issue 22): with ``MIXSCOPE_EXECUTOR=slurm`` and no broker
configured (``MIXSCOPE_SHORT_JOBS=auto``), a lab experiment and the extraction of a triple
the probe set does not cover each run as one small Slurm job (real ``sbatch`` on the
one-node cluster of ``test_slurm``); no Celery worker exists here to run them."""

from __future__ import annotations

import os
import subprocess

import pytest
import test_slurm
from test_lifecycle import tiny
from test_slurm import _describe, _scontrol_job, _wait_run
from timing import wait_until

from backend.settings import Settings

pytestmark = pytest.mark.slow
cluster = test_slurm.cluster        # the one-node cluster and an API whose runs are Slurm jobs
slurm_api = test_slurm.slurm_api


def _job_row(client, job_id: str) -> dict:
    r = client.get(f"/api/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def _slurm_job_of(job_id: str) -> dict[str, str]:
    """The Slurm job named after mixscope's short job ``job_id`` (squeue and scontrol keep
    finished jobs for MinJobAge)."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-n", f"mixscope-job-{job_id}",
                          "-o", "%i"], capture_output=True, text=True, check=False).stdout
    ids = out.split()
    assert len(ids) == 1, f"Slurm jobs named mixscope-job-{job_id}: {ids}"
    return {"JobId": ids[0], **_scontrol_job(ids[0])}


def _wait_job(client, job_id: str, what: str) -> dict:
    return wait_until(lambda: _job_row(client, job_id), lambda j: j["status"] != "pending",
                      timeout=300, what=what, seen=lambda: _scontrol_job(
                          _slurm_job_of(job_id)["JobId"]))


def test_the_settings_say_where_short_jobs_run(tmp_path):
    base = {"store": tmp_path, "_env_file": None}
    assert not Settings(**base).short_jobs_on_slurm                     # Celery only
    assert Settings(**base, executor="slurm").short_jobs_on_slurm       # Slurm only
    assert not Settings(**base, executor="slurm",                       # a broker: workers
                        broker_url="redis://127.0.0.1:6379/0").short_jobs_on_slurm
    assert Settings(**base, short_jobs="slurm").short_jobs_on_slurm
    assert not Settings(**base, executor="slurm", short_jobs="celery").short_jobs_on_slurm


def test_a_lab_experiment_runs_as_a_small_slurm_job(slurm_api, tmp_path):
    q = "/api/lab/alternating-line?runs=1&epochs=5"
    r = slurm_api.get(q)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    job = _slurm_job_of(job_id)
    assert job["NumCPUs"] == "1" and job.get("Requeue") == "0"
    done = _wait_job(slurm_api, job_id, "the lab job done by its Slurm job")
    assert done["status"] == "done", done
    wait_until(lambda: _scontrol_job(job["JobId"]).get("JobState"),
               lambda s: s not in ("PENDING", "RUNNING", "COMPLETING"), timeout=120,
               what=f"Slurm job {job['JobId']} to end")
    assert _scontrol_job(job["JobId"])["JobState"] == "COMPLETED"
    r = slurm_api.get(q)
    assert r.status_code == 200, r.text
    assert set(r.json()) >= {"points", "labels", "mixup", "erm", "settings"}
    assert r.json()["settings"]["epochs"] == 5
    # nothing went through a broker: there is none, and no worker to read it
    assert not (tmp_path / "store" / "broker.db").exists()


def test_an_uncovered_triple_is_extracted_by_a_slurm_job(slurm_api):
    cfg = tiny(2, probe={"clean_per_class": 3, "pairs_per_class_pair": 2,
                         "trajectory_pairs": 0, "triples": [[0, 1, 2]],
                         "max_all_pairs_classes": 3})
    rid = slurm_api.post("/api/runs", json=cfg).json()["id"]
    run = _wait_run(slurm_api, rid, lambda r: r["status"] in ("succeeded", "failed"),
                    "the Slurm run to finish")
    assert run["status"] == "succeeded", _describe(slurm_api, rid)
    url = f"/api/runs/{rid}/projection?epoch=2&classes=3,4,5"
    r = slurm_api.get(url)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    done = _wait_job(slurm_api, job_id, "the extraction done by its Slurm job")
    assert done["status"] == "done", done
    r = slurm_api.get(url)
    assert r.status_code == 200, r.text
    assert r.json()["classes"] == [3, 4, 5]


def test_a_short_job_whose_slurm_job_ended_unfinished_fails_and_is_asked_again(
        cluster, tmp_path, monkeypatch):
    """A lab job whose Slurm job never ran it (it waits for more CPUs than the node has,
    then an admin cancels it) answers ``failed`` saying so; asking again queues a new
    job."""
    from conftest import local_client

    from backend.api.app import create_app

    monkeypatch.setenv("PYTHONPATH", str(test_slurm.ROOT))
    cpus = (os.cpu_count() or 1) + 1
    settings = test_slurm._slurm_settings(tmp_path / "store", slurm_short_cpus=cpus)
    with local_client(create_app(settings)) as api:
        q = "/api/lab/alternating-line?runs=1&epochs=5"
        job_id = api.get(q).json()["job_id"]
        slurm_job = _slurm_job_of(job_id)["JobId"]
        wait_until(lambda: _scontrol_job(slurm_job).get("JobState"),
                   lambda s: s == "PENDING", timeout=60, what=f"Slurm job {slurm_job} pending")
        assert _job_row(api, job_id)["status"] == "pending"   # Slurm still has it
        subprocess.run(["scancel", slurm_job], check=True)   # behind mixscope's back
        row = wait_until(lambda: _job_row(api, job_id), lambda j: j["status"] != "pending",
                         timeout=120, what="the job row after its Slurm job ended")
        assert row["status"] == "failed"
        assert f"mixscope-job-{job_id} ended CANCELLED" in row["error"]
        again = api.get(q)
        assert again.status_code == 202 and again.json()["job_id"] != job_id
        subprocess.run(["scancel", _slurm_job_of(again.json()["job_id"])["JobId"]],
                       check=False)
