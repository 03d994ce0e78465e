"""A missing object on a remote (fsspec) artifact root answers 409 naming the file, not 500
(issue 24, item 11): the ranged reader summed ``len()`` over ``cat_ranges``' results, one of
which was the ``FileNotFoundError`` fsspec returns in place of a missing object."""

from __future__ import annotations

import uuid

import pytest
from api_fixtures import synthetic_run
from conftest import local_client

from backend.api.app import create_app


@pytest.fixture
def mem_client(settings):
    app = create_app(settings.model_copy(
        update={"artifact_url": f"memory://mixscope-{uuid.uuid4().hex}"}))
    with local_client(app) as c:
        yield c


@pytest.mark.parametrize("route", [
    "/api/runs/{id}/projection?epoch=5&layer=penultimate&classes=0,1,2",
    "/api/runs/{id}/frames?layer=penultimate&classes=0,1,2",
])
def test_a_removed_object_answers_409_on_a_served_run(mem_client, route, monkeypatch):
    monkeypatch.setattr("backend.store.ranged.BLOCKED_MIN_BYTES", 0)  # every file ranged
    store = mem_client.app.state.store
    rid = synthetic_run(store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3)
    url = route.format(id=rid)
    assert mem_client.get(url).status_code == 200          # served: headers cached
    [art] = [a for a in store.list_artifacts(rid, "activations") if a.epoch == 5]
    store.files.fs.rm(store.files.full(art.path))
    # another API process (or a cold cache) reads the object again
    mem_client.app.state.projections.forget_run(rid)
    store.files.forget(art.path)
    r = mem_client.get(url)
    assert r.status_code == 409, (r.status_code, r.text[:300])
    body = r.json()
    assert (body["run_id"], body["kind"], body["epoch"]) == (rid, "activations", 5)
    assert "missing" in body["reason"]
