"""A Slurm-only setup (``MIXSCOPE_EXECUTOR=slurm`` and no broker configured, issue 22): no
Celery worker can exist there, so a launch, sweep or grid asking for ``executor=celery`` is
refused (422 naming ``executor``, saying why) before any row, ``GET /api/executor`` offers
Slurm only, and ``/api/health`` reports the executor and checks what is used: Slurm's
controller (bounded by a timeout), not a broker nothing is sent to. No Slurm is needed:
the refusals come before anything is submitted, and the health checks here are of a Slurm
that cannot answer (a frozen ``sinfo``, no controller)."""

from __future__ import annotations

import os
import time

import pytest
from conftest import local_client

from backend.settings import Settings

BASE = {"dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
        "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": 2}
LAUNCHES = [("/api/runs", BASE),
            ("/api/sweeps", {"base": BASE, "field": "lr", "values": [0.01, 0.1]}),
            ("/api/grid/launch", {"base": BASE, "columns": {"field": "alpha",
                                                           "values": [0.4, 1.0]}})]


def _app(tmp_path, **over):
    from backend.api.app import create_app

    return create_app(Settings(store=tmp_path / "store", _env_file=None,
                               slurm_shared_store=True, **over))


@pytest.mark.parametrize(("path", "body"), LAUNCHES)
def test_celery_per_launch_is_refused_with_slurm_only(tmp_path, path, body):
    with local_client(_app(tmp_path, executor="slurm")) as api:
        r = api.post(f"{path}?executor=celery", json=body)
        assert r.status_code == 422, r.text
        err = r.json()
        assert err["detail"][0]["loc"] == ["query", "executor"]
        assert "no Celery broker is configured" in err["message"]
        assert "MIXSCOPE_BROKER_URL" in err["message"]
        assert api.get("/api/runs").json() == []
        assert api.get("/api/sweeps").json() == []


def test_celery_per_launch_is_accepted_where_a_broker_is_configured(tmp_path):
    broker = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    with local_client(_app(tmp_path, executor="slurm", broker_url=broker)) as api:
        r = api.post("/api/runs?executor=celery", json=BASE)
        assert r.status_code == 201, r.text
        assert r.json()["summary"]["executor"] == {"name": "celery"}


@pytest.mark.parametrize(("over", "offered"), [
    ({"executor": "slurm"}, ["slurm"]),
    ({"executor": "slurm", "short_jobs": "celery"}, ["celery", "slurm"]),
    ({"executor": "slurm", "broker_url": "redis://127.0.0.1:1/0"}, ["celery", "slurm"]),
    ({}, ["celery", "slurm"]),
])
def test_the_executor_route_offers_celery_only_where_a_worker_can_exist(tmp_path, over,
                                                                      offered):
    with local_client(_app(tmp_path, **over)) as api:
        info = api.get("/api/executor").json()
    assert info["executors"] == offered
    assert info["executor"] == over.get("executor", "celery")


def test_health_with_slurm_only_checks_slurm_and_no_broker(tmp_path, monkeypatch):
    # a Slurm whose controller cannot be found: sinfo fails (or is not installed)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "no-such-slurm.conf"))
    with local_client(_app(tmp_path, executor="slurm")) as api:
        h = api.get("/api/health")
    assert h.status_code == 200
    body = h.json()
    assert body["executor"] == "slurm"
    assert body["broker"] == "not configured"
    assert body["slurm"] == "unreachable" and body["status"] == "degraded", body
    assert body["database"] == "ok" and body["object_store"] == "ok"


def test_a_frozen_slurm_controller_is_unreachable_within_the_health_timeout(tmp_path,
                                                                           monkeypatch):
    """``sinfo`` that never answers (a controller that accepts and hangs): the check is
    killed after its timeout, so health answers instead of hanging with it."""
    from backend.api.routers.health import HEALTH_TIMEOUT_S

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sinfo"
    started = tmp_path / "sinfo-started"
    fake.write_text(f"#!/bin/sh\ntouch {started}\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with local_client(_app(tmp_path, executor="slurm")) as api:
        t0 = time.monotonic()
        body = api.get("/api/health").json()
        took = time.monotonic() - t0
    assert started.exists()                      # the frozen sinfo was the one asked
    assert body["slurm"] == "unreachable" and body["status"] == "degraded", body
    # bounded by the check's timeout, nowhere near the 600 s the controller would take
    assert took < 10 * (HEALTH_TIMEOUT_S + 1), took


def test_health_with_celery_reports_the_broker_and_does_not_ask_slurm(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "sinfo-asked"
    (bin_dir / "sinfo").write_text(f"#!/bin/sh\ntouch {asked}\nexit 1\n")
    (bin_dir / "sinfo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with local_client(_app(tmp_path)) as api:
        body = api.get("/api/health").json()
    assert (body["executor"], body["broker"], body["slurm"]) == ("celery", "ok", "not used")
    assert body["status"] == "ok" and not asked.exists()
