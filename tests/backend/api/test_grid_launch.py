"""``POST /api/grid/launch`` (issue 20): a grid of runs over one or two config fields × seeds,
its cost estimated from this store's own per-epoch figures before anything is queued."""

from __future__ import annotations

import pytest
from api_fixtures import synthetic_run

BASE = {"dataset": "digits", "epochs": 6, "record": {"epochs": [0, 3, 6]}}
BODY = {"base": BASE, "columns": {"field": "alpha", "values": [0.4, 2.0]},
        "rows": {"field": "method", "values": ["erm", "input-mixup"]}, "seeds": [0, 1]}


def test_dry_run_estimates_from_the_stores_finished_runs(client, store):
    from backend.store.footprint import run_footprint

    before = client.post("/api/grid/launch", json={**BODY, "dry_run": True})
    assert before.status_code == 200, before.text
    est = before.json()["estimate"]
    assert est["runs"] == 8 and est["epochs"] == 48 and est["recorded_epochs"] == 24
    assert est["store_bytes"] is None and est["seconds"] is None
    assert "no finished run" in est["basis"]

    rid = synthetic_run(store, epochs=(0, 5, 10))  # a finished digits / mlp run
    for e, t in ((5, 0.4), (10, 0.6)):
        store.record_epoch(rid, e, {"epoch_time_s": t})
    per_epoch = run_footprint(store, rid)["bytes_per_recorded_epoch"]
    est = client.post("/api/grid/launch", json={**BODY, "dry_run": True}).json()["estimate"]
    assert est["store_bytes"] == pytest.approx(per_epoch * 24, rel=1e-6)
    assert est["seconds"] == pytest.approx(0.5 * 48)
    assert "1 finished run(s)" in est["basis"]
    assert store.list_sweeps() == []  # a dry run queues nothing


def test_launch_creates_one_sweep_whose_grid_facets_are_the_two_fields(client, store):
    r = client.post("/api/grid/launch", json=BODY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["grid_url"] == f"/grid?sweep={body['sweep']}" and len(body["runs"]) == 8
    runs = [store.get_run(i) for i in body["runs"]]
    assert {(r.config["alpha"], r.config["method"], r.config["seed"]) for r in runs} == {
        (a, m, s) for a in (0.4, 2.0) for m in ("erm", "input-mixup") for s in (0, 1)}
    assert all(r.status == "queued" and r.sweep_id == body["sweep"] for r in runs)
    assert runs[0].name == "grid alpha × method: alpha=0.4, method=erm, seed 0"
    grid = client.get("/api/grid", params={"sweep": body["sweep"]}).json()
    assert grid["facets"]["fields"] == ["alpha", "method"]
    assert grid["facets"]["seed_varies"] is True
    assert all("no recorded epoch yet (queued)" in p["message"] for p in grid["panels"])


@pytest.mark.parametrize("change, field", [
    ({"rows": {"field": "alpha", "values": [1.0]}}, "rows.field"),
    ({"seeds": list(range(10))}, "seeds"),                       # 2 × 2 × 10 = 40 > 36
    ({"columns": {"field": "alpha", "values": [-1]}}, "columns.values"),
    ({"columns": {"field": "nope", "values": [1]}}, "columns.field"),
    ({"rows": {"field": "method", "values": ["sideways"]}}, "rows.values"),
])
def test_bad_grids_name_the_field(client, store, change, field):
    r = client.post("/api/grid/launch", json={**BODY, **change})
    assert r.status_code == 422, r.text
    assert any(".".join(map(str, e["loc"][1:])) == field for e in r.json()["detail"]), r.text
    assert store.list_sweeps() == []
