"""``GET /api/grid`` (issue 20): every panel's frames of a sweep in one request, equal to each
run's own ``GET /frames``; the facets are the config fields that differ; the curves carry
the per-epoch metrics and the classifier's distance from a simplex ETF; bad input is a 4xx
naming the field."""

from __future__ import annotations

import numpy as np
import pytest
from api_fixtures import decode, synthetic_run

SETTINGS = [{"alpha": 0.4, "method": "input-mixup"}, {"alpha": 2.0, "method": "input-mixup"},
            {"alpha": 0.4, "method": "manifold-mixup"}, {"alpha": 2.0, "method": "manifold-mixup"}]


@pytest.fixture
def sweep(store):
    sweep_id = store.create_sweep("alpha x method", "alpha", [0.4, 2.0])
    ids = [synthetic_run(store, num_classes=4, clean=8, pairs=5, seed=i, config={**cfg, "seed": i},
                         sweep_id=sweep_id, epochs=(0, 2, 4) if i else (0, 4))
           for i, cfg in enumerate(SETTINGS)]
    return sweep_id, ids


def test_grid_brings_every_runs_frames_as_its_frames_route_does(client, sweep):
    sweep_id, ids = sweep
    r = client.get("/api/grid", params={"sweep": sweep_id, "classes": "0,1,2",
                                        "max_points": 30})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["classes"] == [0, 1, 2] and body["layer"] == "penultimate"
    assert body["class_names"] == ["c0", "c1", "c2"]
    assert [p["run_id"] for p in body["panels"]] == ids
    for panel in body["panels"]:
        own = client.get(f"/api/runs/{panel['run_id']}/frames",
                         params={"classes": "0,1,2", "max_points": 30}).json()
        assert panel["epochs"] == own["epochs"] == panel["all_epochs"]
        assert len(panel["frames"]) == len(own["frames"]) >= 2
        for k in ("lam", "class_a", "class_b", "kind", "index_a", "index_b"):
            assert np.array_equal(decode(panel[k]), decode(own["frames"][0][k])), k
        for mine, theirs in zip(panel["frames"], own["frames"]):
            assert mine["epoch"] == theirs["epoch"]
            assert np.array_equal(decode(mine["points"]), decode(theirs["points"]))
            assert mine["radius"] == pytest.approx(theirs["radius"])
            assert "lam" not in mine  # the points' own fields travel once per run
        assert len(decode(panel["frames"][0]["points"])) == 30


def test_facets_are_the_differing_fields_and_curves_the_metrics(client, sweep):
    sweep_id, ids = sweep
    body = client.get("/api/grid", params={"sweep": sweep_id}).json()
    facets = body["facets"]
    # the seeds differ too, but a seed never makes a facet: it stacks or averages; nor does
    # the first run's other recording schedule
    assert facets["fields"] == ["alpha", "method"]  # the sweep's own field leads
    assert facets["values"]["alpha"] == [0.4, 2.0, 0.4, 2.0]
    assert facets["values"]["method"] == [s["method"] for s in SETTINGS]
    assert facets["seeds"] == [0, 1, 2, 3] and facets["seed_varies"] is True
    curve = body["curves"][ids[1]]
    assert curve["epoch"] == [0, 2, 4]
    assert curve["test_accuracy"] == pytest.approx([0.5, 0.52, 0.54])
    assert curve["ece"] == pytest.approx([0.1, 0.1 / 3, 0.1 / 5])
    # the synthetic classifier is a rotated, scaled simplex ETF: distance 0
    assert max(curve["classifier_etf"]) < 1e-6
    assert set(curve) >= {"channel_radius", "nc1"}


def test_runs_list_keeps_its_order_and_pages_per_run(client, sweep):
    _sweep_id, ids = sweep
    listed = ",".join(reversed(ids))
    body = client.get("/api/grid", params={"runs": listed, "limit": 1}).json()
    assert [p["run_id"] for p in body["panels"]] == list(reversed(ids))
    assert all(p["epochs"] == [0] for p in body["panels"])
    assert [p["next_epoch_from"] for p in body["panels"]] == [2, 2, 2, 4]
    assert body["sweep"] is None


def test_a_run_without_recorded_epochs_says_so(client, store, sweep):
    from backend.runconfig import RunConfig

    _sweep_id, ids = sweep
    queued = store.create_run(RunConfig(dataset="digits", epochs=3, alpha=8.0))
    body = client.get("/api/grid", params={"runs": f"{ids[0]},{queued.id}"}).json()
    empty = body["panels"][1]
    assert empty["frames"] == [] and "no recorded epoch yet (queued)" in empty["message"]
    assert body["panels"][0]["frames"]


@pytest.mark.parametrize("params, status, field", [
    ({}, 422, "runs"),
    ({"sweep": "x", "runs": "y"}, 422, "runs"),
    ({"runs": "nope"}, 422, "runs"),
    ({"runs": ",".join(f"r{i}" for i in range(37))}, 422, "runs"),
    ({"sweep": "nope"}, 404, None),
    ({"runs": "{first}", "classes": "0,1"}, 422, "classes"),
    ({"runs": "{first}", "classes": "0,1,9"}, 422, "classes"),
    ({"runs": "{first}", "layer": "block9"}, 422, "layer"),
    ({"runs": "{first}", "max_points": 0}, 422, "max_points"),
])
def test_bad_input_names_the_field(client, sweep, params, status, field):
    params = {k: v.format(first=sweep[1][0]) if isinstance(v, str) else v
              for k, v in params.items()}
    r = client.get("/api/grid", params=params)
    assert r.status_code == status, r.text
    if field is not None:
        assert any(e["loc"][-1] == field for e in r.json()["detail"]), r.text
    else:
        assert "nope" in r.json()["detail"]


def test_an_uncovered_triple_queues_its_extraction_without_holding_the_others(client, store):
    covered = synthetic_run(store, num_classes=6, clean=4, pairs=3, seed=0)
    partial = synthetic_run(store, num_classes=6, clean=4, pairs=3, seed=1,
                            class_pairs=[(i, j) for i in range(3) for j in range(i, 3)])
    body = client.get("/api/grid", params={"runs": f"{covered},{partial}",
                                           "classes": "3,4,5"}).json()
    ready, waiting = body["panels"]
    assert ready["epochs"] == [0, 5, 10] and len(ready["frames"]) == 3
    assert waiting["frames"] == [] and waiting["pending"] == [0, 5, 10]
    assert waiting["message"] == "extracting the triple…"
    job = store.get_job(waiting["job_id"])
    assert job.params == {"epochs": [0, 5, 10], "layer": "penultimate", "classes": [3, 4, 5]}
