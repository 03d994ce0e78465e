"""Admission against the workers' published budgets (``backend.resources.admission_budget``):
the API's ``MIXSCOPE_WORKER_MEMORY`` wins; else the largest budget among the live workers
(named in the 422); else the memory available to the API less a margin. The worker rows are
written as a worker writes them (``Store.publish_worker``); the real worker process is in
``tests/system/test_worker_budget.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import local_client

from backend.resources import (
    Budget,
    MemoryBudgetError,
    admission_budget,
    check_memory,
    default_worker_budget,
    estimate_memory,
    format_bytes,
)
from backend.runconfig import RunConfig
from backend.store.models import Worker, utcnow

#: about 1.5 GiB, mostly its dataset
BIG = {"dataset": "gaussian-mixture", "dataset_args": {"samples": 60_000, "dim": 2048,
                                                       "classes": 4},
       "model_args": {"width": 16, "depth": 1, "feature_dim": 8}, "epochs": 1}
SMALL = {"dataset": "digits", "epochs": 1}


def _est(cfg: dict) -> int:
    return estimate_memory(RunConfig.model_validate(cfg)).total


def test_the_budget_comes_from_the_setting_then_the_live_workers_then_the_api(store):
    assert admission_budget(store).source == "api"
    assert admission_budget(store).bytes > 0
    store.publish_worker("gpu-a:11", 2 << 30)
    store.publish_worker("gpu-b:12", 6 << 30)
    store.publish_worker("gpu-c:13", 6 << 30)
    store.publish_worker("gpu-d:14", None)
    assert admission_budget(store) == Budget(6 << 30, "workers", ("gpu-b:12", "gpu-c:13"))
    # a Slurm launch trains on no Celery worker: the old rule
    assert admission_budget(store, {"name": "slurm"}).source == "api"
    # the API's own setting always wins
    store.settings = store.settings.model_copy(update={"worker_memory": 1 << 30})
    assert admission_budget(store) == Budget(1 << 30, "setting")


def test_the_refusal_names_the_budget_and_the_workers():
    cfg = RunConfig.model_validate(BIG)
    with pytest.raises(MemoryBudgetError) as info:
        check_memory(cfg, Budget(1 << 30, "workers", ("gpu-b:12", "gpu-c:13")))
    text = str(info.value)
    assert "more than a worker's 1.0 GiB" in text
    assert "published by workers gpu-b:12, gpu-c:13" in text
    assert "MIXSCOPE_WORKER_MEMORY" in text
    assert info.value.budget == 1 << 30
    assert info.value.ctx == {"estimate": _est(BIG), "budget": 1 << 30,
                              "budget_source": "workers", "workers": ["gpu-b:12", "gpu-c:13"]}
    with pytest.raises(MemoryBudgetError) as info:   # a plain number: the setting
        check_memory(cfg, 1 << 30)
    assert "(MIXSCOPE_WORKER_MEMORY)" in str(info.value)


def test_the_api_admits_against_the_largest_live_budget(settings):
    from backend.api.app import create_app

    app = create_app(settings)
    store = app.state.store
    small_budget = (_est(SMALL) + _est(BIG)) // 2
    assert _est(SMALL) < small_budget < _est(BIG) < default_worker_budget() // 2
    store.publish_worker("gpu-a:11", small_budget)
    store.publish_worker("gpu-b:12", small_budget // 2)
    with local_client(app) as c:
        r = c.post("/api/runs", json=BIG)
        assert r.status_code == 422, r.text
        entry = r.json()["detail"][0]
        assert entry["loc"] == ["body", "dataset"] and entry["type"] == "memory_budget"
        assert format_bytes(small_budget) in entry["msg"]
        assert "worker gpu-a:11" in entry["msg"] and "gpu-b:12" not in entry["msg"]
        assert entry["ctx"]["workers"] == ["gpu-a:11"]
        assert entry["ctx"]["budget"] == small_budget
        assert c.post("/api/runs", json=SMALL).status_code == 201

        # a larger worker comes: the run is admitted
        store.publish_worker("gpu-c:13", 4 * _est(BIG))
        assert c.post("/api/runs", json=BIG).status_code == 201

        # no live worker (their heartbeats are past the timeout): the API's own memory
        t = Worker.__table__
        old = utcnow() - timedelta(seconds=store.settings.heartbeat_timeout_s + 1)
        with store.engine.begin() as conn:
            conn.execute(sa.update(t).values(heartbeat_at=old))
        assert store.live_workers() == []
        store.publish_worker("gpu-a:11", small_budget)   # ...until one beats again
        assert c.post("/api/runs", json=BIG).status_code == 422
        store.remove_worker("gpu-a:11")
        assert c.post("/api/runs", json=BIG).status_code == 201
