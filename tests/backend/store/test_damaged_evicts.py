"""A file found damaged evicts what the API's caches hold of it (issue 24, item 8): a warm
API kept serving cached frames of a file since corrupted (200) while ``/health`` named it
damaged; once the damage is found (by ``/health`` or by any read answering 409), the
frames answer the same 409."""

from __future__ import annotations

import pytest
from api_fixtures import synthetic_run
from test_faults_artifacts import DAMAGE, _path


@pytest.fixture
def store(app):  # the app's own store
    return app.state.store


FRAMES = "/api/runs/{id}/frames?layer=penultimate&classes=0,1,2"


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_health_finding_a_damaged_file_evicts_the_cached_frames(client, store, how):
    rid = synthetic_run(store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3)
    url = FRAMES.format(id=rid)
    assert client.get(url).status_code == 200          # warm: frames cached in the process
    DAMAGE[how](_path(store, rid, "activations", 5, "penultimate"))
    health = client.get(f"/api/runs/{rid}/health").json()
    assert health["ok"] is False
    r = client.get(url)
    assert r.status_code == 409, (r.status_code, r.text[:200])
    body = r.json()
    assert (body["run_id"], body["kind"], body["epoch"]) == (rid, "activations", 5)
    assert client.get(url).status_code == 409          # and stays so


def test_a_409_from_one_route_evicts_the_runs_cached_frames(client, store):
    rid = synthetic_run(store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3)
    url = FRAMES.format(id=rid)
    assert client.get(url).status_code == 200
    DAMAGE["flip"](_path(store, rid, "activations", 0, "penultimate"))
    # a request the caches do not hold reads the file and finds the damage
    r = client.get(f"/api/runs/{rid}/projection",
                   params={"epoch": 0, "classes": "0,1,3", "layer": "penultimate"})
    assert r.status_code == 409, r.text[:200]
    again = client.get(url)
    assert again.status_code == 409 and again.json()["epoch"] == 0, again.text[:200]
