"""``/api/health`` of a Slurm-only API against the real one-node cluster of ``test_slurm``
(issue 22): the executor is reported, Slurm's controller answers (``sinfo``), and no broker
is checked where none is configured."""

from __future__ import annotations

import pytest
import test_slurm

pytestmark = pytest.mark.slow
cluster = test_slurm.cluster        # the one-node cluster and an API whose runs are Slurm jobs
slurm_api = test_slurm.slurm_api


def test_health_of_a_slurm_only_api_checks_the_cluster(slurm_api):
    h = slurm_api.get("/api/health")
    assert h.status_code == 200
    body = h.json()
    assert (body["executor"], body["slurm"], body["broker"]) == ("slurm", "ok",
                                                                 "not configured"), body
    assert body["status"] == "ok", body
    assert slurm_api.get("/api/executor").json()["executors"] == ["slurm"]
