"""A sweep or a grid whose runs would be Slurm jobs on a store compute nodes cannot reach
(SQLite and artifacts on local paths) is refused with a 422 naming ``executor`` and what to
configure, before any row is created (issue 22): no sweep, no run remains. The same holds
for the executor chosen per launch (query parameters as for ``POST /api/runs``). No Slurm
is needed: the refusal comes before anything is submitted."""

from __future__ import annotations

import pytest
from conftest import local_client

from backend.settings import Settings

BASE = {"dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
        "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": 2}
SWEEP = {"base": BASE, "field": "lr", "values": [0.01, 0.1]}
GRID = {"base": BASE, "columns": {"field": "alpha", "values": [0.4, 1.0]}, "seeds": [0, 1]}


def _app(tmp_path, **over):
    from backend.api.app import create_app

    return create_app(Settings(store=tmp_path / "store", _env_file=None, **over))


def _nothing_created(api) -> None:
    assert api.get("/api/runs").json() == []
    assert api.get("/api/sweeps").json() == []


@pytest.mark.parametrize(("path", "body"), [("/api/sweeps", SWEEP),
                                            ("/api/grid/launch", GRID)])
def test_a_slurm_sweep_on_a_local_store_is_refused_before_any_row(tmp_path, path, body):
    with local_client(_app(tmp_path, executor="slurm")) as api:
        r = api.post(path, json=body)
        assert r.status_code == 422, r.text
        err = r.json()
        assert err["detail"][0]["loc"] == ["query", "executor"]
        assert "MIXSCOPE_DATABASE_URL" in err["message"]
        assert "MIXSCOPE_SLURM_SHARED_STORE" in err["message"]
        _nothing_created(api)


@pytest.mark.parametrize(("path", "body"), [("/api/sweeps", SWEEP),
                                            ("/api/grid/launch", GRID)])
def test_the_executor_chosen_per_launch_is_checked_before_any_row(tmp_path, path, body):
    with local_client(_app(tmp_path)) as api:   # Celery by default
        r = api.post(f"{path}?executor=slurm", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", "executor"]
        assert "MIXSCOPE_ARTIFACT_URL" in r.json()["message"]
        r = api.post(f"{path}?gpus=1", json=body)   # a Slurm resource for a Celery launch
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "gpus"]
        _nothing_created(api)


def test_a_grid_dry_run_on_celery_still_estimates(tmp_path):
    with local_client(_app(tmp_path)) as api:
        r = api.post("/api/grid/launch?executor=celery", json={**GRID, "dry_run": True})
        assert r.status_code == 200, r.text
        assert r.json()["estimate"]["runs"] == 4
        _nothing_created(api)
