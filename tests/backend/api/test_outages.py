"""Backing-service outages answer 503 naming the service, with ``Retry-After`` (issue 24,
items 9, 10 and 12), and ``/api/health`` checks the database, the broker and the object store.

Real failures, no mocks: the database file replaced by a folder (SQLite's driver then fails
to open it: the same ``OperationalError`` a stopped PostgreSQL gives), a broker URL where
nothing listens (Redis refused), an artifact root that cannot be listed."""

from __future__ import annotations

import os
import shutil

import pytest
from api_fixtures import synthetic_run
from conftest import local_client

from backend.api.app import create_app

DEAD_REDIS = "redis://127.0.0.1:1/0"   # nothing listens on port 1: connection refused


def _outage_answer(r, service: str) -> None:
    assert r.status_code == 503, (r.status_code, r.text[:300])
    assert r.json()["service"] == service, r.text
    assert service in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0


@pytest.fixture
def db_down(settings):
    """An app whose database goes away after a run was recorded; ``restore()`` brings it
    back."""
    app = create_app(settings)
    rid = synthetic_run(app.state.store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3)
    db = settings.store / "mixscope.db"
    aside = settings.store / "mixscope.db.aside"

    def restore():
        if db.is_dir():
            os.rmdir(db)
            os.rename(aside, db)

    app.state.store.engine.dispose()    # no pooled connection survives the outage
    os.rename(db, aside)
    os.mkdir(db)                        # "unable to open database file"
    with local_client(app) as c:
        yield c, rid, restore
    restore()


def test_a_database_outage_answers_503_naming_it_on_every_route(db_down):
    c, rid, restore = db_down
    for path in ("/api/runs", f"/api/runs/{rid}", f"/api/runs/{rid}/metrics",
                 f"/api/runs/{rid}/projection", f"/api/runs/{rid}/frames", "/api/sweeps"):
        _outage_answer(c.get(path), "database")
    _outage_answer(c.post("/api/runs", json={"epochs": 2}), "database")
    h = c.get("/api/health")
    assert h.status_code == 200
    assert h.json()["status"] == "degraded" and h.json()["database"] == "unreachable"
    assert "mixscope.db" not in c.get("/api/runs").text   # nothing of the URL leaks
    restore()
    assert c.get(f"/api/runs/{rid}").status_code == 200
    assert c.get("/api/health").json()["status"] == "ok"


def test_a_broker_outage_fails_the_launch_with_503_and_leaves_no_row(settings):
    app = create_app(settings.model_copy(update={"broker_url": DEAD_REDIS}))
    store = app.state.store
    with local_client(app) as c:
        r = c.post("/api/runs", json={"epochs": 2}, headers={"Idempotency-Key": "try-1"})
        _outage_answer(r, "broker")
        assert store.list_runs() == []             # no stranded queued run
        r = c.post("/api/sweeps", json={"field": "lr", "values": [0.1, 0.2]})
        _outage_answer(r, "broker")
        assert store.list_runs() == [] and store.list_sweeps() == []
        r = c.post("/api/grid/launch", json={"base": {"epochs": 2},
                                             "columns": {"field": "alpha",
                                                         "values": [0.4, 2.0]},
                                             "seeds": [0, 1]})
        _outage_answer(r, "broker")
        assert store.list_runs() == [] and store.list_sweeps() == []
        # a job that could not be sent is not left pending (it would never run)
        rid = synthetic_run(store, class_pairs=[(i, j) for i in range(3) for j in range(i, 3)])
        _outage_answer(c.get(f"/api/runs/{rid}/projection", params={"classes": "3,4,5"}),
                       "broker")
        assert [j.status for j in store.list_jobs(rid)] == ["failed"]
        _outage_answer(c.get("/api/lab/alternating-line?runs=1&epochs=5"), "broker")
        assert store.pending_jobs() == 0
        # a resume that could not be sent leaves the run failed and resumable
        run = store.create_run({"epochs": 3})
        store.claim_run(run.id, "w")
        store.finish_run(run.id, "failed", error="OSError: full", fault="environment")
        _outage_answer(c.post(f"/api/runs/{run.id}/resume"), "broker")
        got = store.get_run(run.id)
        assert (got.status, got.fault, got.resumable) == ("failed", "environment", True)
        h = c.get("/api/health").json()
        assert h["status"] == "degraded" and h["broker"] == "unreachable", h
        assert h["database"] == "ok" and h["object_store"] == "ok"


def test_idempotency_key_makes_a_retried_launch_return_the_same_run(client):
    key = {"Idempotency-Key": "launch-7f3"}
    first = client.post("/api/runs", json={"epochs": 2, "name": "once"}, headers=key)
    assert first.status_code == 201, first.text
    again = client.post("/api/runs", json={"epochs": 2, "name": "once"}, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/api/runs").json()) == 1
    # the same key for another config is refused, naming the header
    other = client.post("/api/runs", json={"epochs": 3, "name": "once"}, headers=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["message"]
    # no key: two launches, two runs
    client.post("/api/runs", json={"epochs": 2})
    client.post("/api/runs", json={"epochs": 2})
    assert len(client.get("/api/runs").json()) == 3


def test_an_unreachable_object_store_degrades_health(settings, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the artifact root should be")
    app = create_app(settings.model_copy(update={"artifact_url": str(blocked / "artifacts")}))
    with local_client(app) as c:
        h = c.get("/api/health").json()
    assert h["object_store"] == "unreachable" and h["status"] == "degraded", h
    shutil.rmtree(settings.store, ignore_errors=True)
