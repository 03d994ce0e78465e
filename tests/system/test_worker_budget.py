"""Issue 24, item 3, with a real ``mixscope worker``: admission compares a run's estimate
with what a worker may use. The worker publishes its memory budget (``MIXSCOPE_WORKER_MEMORY``
here) in the store's ``workers`` table at its start; while it lives, ``POST /api/runs``,
sweeps and grid launches refuse a run estimated past it, naming the field, the budget and the
worker; a run within it is admitted and trains. Once no worker is live (stopped, or killed),
the old rule applies again: the memory available to the API less a margin. Every wait is on
an event (the worker's row, a run's status), never on time."""

from __future__ import annotations

import pytest
from conftest import local_client
from test_lifecycle import HEARTBEAT_TIMEOUT_S, Worker, status_of, tiny, wait_for

from backend.api.app import create_app
from backend.resources import default_worker_budget, estimate_memory, format_bytes
from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store.models import Worker as WorkerRow

pytestmark = pytest.mark.slow

BUDGET = 1200 << 20   # the worker's MIXSCOPE_WORKER_MEMORY: 1.2 GiB


def _big() -> dict:
    """A gaussian-mixture run estimated at about 1.5 GiB (mostly its dataset)."""
    return {"dataset": "gaussian-mixture",
            "dataset_args": {"samples": 60_000, "dim": 2048, "classes": 4},
            "model": "mlp", "model_args": {"width": 16, "depth": 1, "feature_dim": 8},
            "epochs": 1, "batch_size": 256, "seed": 1,
            "probe": {"clean_per_class": 2, "pairs_per_class_pair": 2, "trajectory_pairs": 0},
            "record": {"epochs": [0], "checkpoint_every": 1, "default_triple": [0, 1, 2]}}


def _estimate(cfg: dict) -> int:
    return estimate_memory(RunConfig.model_validate(cfg)).total


def _rows(store) -> list[str]:
    """Every worker row, live or not (names)."""
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return [r.name for r in conn.execute(sa.select(WorkerRow.__table__.c.name))]


def _settings(tmp_path) -> Settings:
    return Settings(store=tmp_path / "store", database_url=None, artifact_url=None,
                    broker_url=None, _env_file=None, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_admission_uses_the_live_workers_published_budget(tmp_path, how):
    settings = _settings(tmp_path)
    assert settings.worker_memory is None   # the API has no setting of its own
    big, small = _big(), tiny(2)
    assert _estimate(small) < BUDGET < _estimate(big) < default_worker_budget() // 2, \
        "the test's sizes no longer frame the budget"
    app = create_app(settings)
    store = app.state.store
    worker = Worker(settings, tmp_path / "worker.log",
                    extra_env={"MIXSCOPE_WORKER_MEMORY": str(BUDGET)})
    try:
        with local_client(app) as client:
            live = wait_for(lambda: store.live_workers(), 300, "the worker's row", worker)
            assert [(w.memory_budget, w.name.rpartition(":")[2]) for w in live] == \
                [(BUDGET, str(worker.proc.pid))]
            name = live[0].name

            # a run past the worker's budget: 422 naming the field, the budget, the worker
            r = client.post("/api/runs", json=big)
            assert r.status_code == 422, r.text
            body = r.json()
            assert [e["loc"] for e in body["detail"]] == \
                [["body", "dataset"], ["body", "dataset_args", "samples"]]
            msg = body["detail"][0]["msg"]
            assert msg.startswith("dataset: this run needs about")
            assert format_bytes(BUDGET) in msg and f"worker {name}" in msg, msg
            assert "MIXSCOPE_WORKER_MEMORY" in msg
            ctx = body["detail"][0]["ctx"]
            assert ctx == {"estimate": _estimate(big), "budget": BUDGET,
                           "budget_source": "workers", "workers": [name]}
            assert store.list_runs() == []
            # a sweep and a grid launch with such a value: refused before any run
            r = client.post("/api/sweeps", json={"base": big, "field": "dataset_args.samples",
                                                 "values": [600, 60_000]})
            assert r.status_code == 422, r.text
            assert "dataset_args.samples=60000" in r.text and name in r.text
            assert format_bytes(BUDGET) in r.text
            r = client.post("/api/grid/launch", json={
                "base": big, "columns": {"field": "dataset_args.samples",
                                         "values": [600, 60_000]}, "seeds": [0]})
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "columns", "values"]
            assert name in r.text and format_bytes(BUDGET) in r.text
            assert store.list_runs() == [] and store.list_sweeps() == []

            # a run within the budget is admitted and the worker trains it
            rid = client.post("/api/runs", json=small).json()["id"]
            wait_for(lambda: status_of(client, rid) == "succeeded", 300, "the small run",
                     worker)

            # no live worker: the old rule (the memory available to the API) admits it
            if how == "stop":
                worker.stop()
                assert worker.proc.returncode is not None
                assert _rows(store) == []   # a clean stop withdraws the budget
            else:
                worker.kill()
                assert _rows(store) == [name]   # its row stays, but its process is gone
            assert store.live_workers() == []
            r = client.post("/api/runs", json=big)
            assert r.status_code == 201, r.text
    finally:
        worker.stop()
