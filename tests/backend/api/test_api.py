"""The HTTP API through FastAPI's TestClient on real stores (SQLite, safetensors files) and
a real SQLite broker: every route, with its errors."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from api_fixtures import decode, synthetic_run
from fastapi.testclient import TestClient

from backend import maths
from backend.api.app import create_app
from backend.settings import Settings
from backend.version import __version__


@pytest.fixture
def store(app):  # the app's own store (overrides conftest's: same folder, one engine)
    return app.state.store


@pytest.fixture
def run_id(store):
    return synthetic_run(store)


def field_named(resp, field: str) -> bool:
    body = resp.json()
    return field in body.get("message", "") and any(
        field in ".".join(map(str, e["loc"])) for e in body["detail"])


# --- health, launch, list, get --------------------------------------------------------------

def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__, "executor": "celery",
                        "database": "ok", "broker": "ok", "slurm": "not used",
                        "object_store": "ok"}


def test_launch_queues_run_and_sends_message(client, settings):
    r = client.post("/api/runs", json={"dataset": "digits", "epochs": 5, "name": "t1"})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "queued" and run["name"] == "t1" and run["total_epochs"] == 5
    assert run["config"]["epochs"] == 5 and run["config"]["method"] == "input-mixup"
    # the message sits in the SQLite broker, carrying the run id
    with sqlite3.connect(settings.store / "broker.db") as db:
        payloads = [row[0] for row in db.execute("SELECT payload FROM kombu_message")]
    assert any(run["id"] in (p if isinstance(p, str) else p.decode()) for p in payloads)
    listed = client.get("/api/runs").json()
    assert [x["id"] for x in listed] == [run["id"]]
    assert client.get(f"/api/runs/{run['id']}").json()["id"] == run["id"]


@pytest.mark.parametrize("body, field", [
    ({"dataset": "imagenet"}, "dataset"),
    ({"lr": 100.0}, "lr"),
    ({"epochs": 0}, "epochs"),
    ({"alpha": -1}, "alpha"),
    ({"model": "vgg16"}, "model"),
    ({"probe": {"clean_per_class": 0}}, "probe.clean_per_class"),
    ({"bogus_field": 1}, "bogus_field"),
])
def test_launch_invalid_config_names_field(client, body, field):
    r = client.post("/api/runs", json=body)
    assert r.status_code == 422
    assert field_named(r, field), r.json()
    assert client.get("/api/runs").json() == []


def test_list_filters_by_status(client, store, run_id):
    queued = client.post("/api/runs", json={"epochs": 2}).json()["id"]
    assert [r["id"] for r in client.get("/api/runs?status=queued").json()] == [queued]
    assert [r["id"] for r in client.get("/api/runs?status=succeeded").json()] == [run_id]
    r = client.get("/api/runs?status=exploded")
    assert r.status_code == 422 and field_named(r, "status")


def test_missing_run_is_404_everywhere(client):
    for path in ("", "/classes", "/layers", "/epochs", "/metrics", "/projection", "/frames",
                 "/calibration", "/spectra", "/trajectory"):
        assert client.get(f"/api/runs/nope{path}").status_code == 404, path
    assert client.post("/api/runs/nope/cancel").status_code == 404
    assert client.delete("/api/runs/nope").status_code == 404


def test_classes_layers_epochs(client, run_id):
    assert client.get(f"/api/runs/{run_id}/classes").json() == \
        {"classes": [f"c{i}" for i in range(10)]}
    assert client.get(f"/api/runs/{run_id}/layers").json() == {"layers": ["penultimate"]}
    assert client.get(f"/api/runs/{run_id}/epochs").json() == {"epochs": [0, 5, 10]}


# --- cancel and delete --------------------------------------------------------------------

def test_cancel_queued_then_409(client):
    rid = client.post("/api/runs", json={"epochs": 2}).json()["id"]
    r = client.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


def test_cancel_running_sets_flag(client, store):
    rid = synthetic_run(store, status="running")
    r = client.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "running"
    assert store.cancel_requested(rid)


def test_cancel_finished_is_409(client, run_id):
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 409


def test_delete_removes_rows_and_files(client, store, run_id):
    folder = store.files.full(f"runs/{run_id}")
    import os
    assert os.path.isdir(folder)
    client.get(f"/api/runs/{run_id}/projection")            # fill the cache
    assert client.delete(f"/api/runs/{run_id}").status_code == 204
    assert client.get(f"/api/runs/{run_id}").status_code == 404
    assert client.get(f"/api/runs/{run_id}/projection").status_code == 404
    assert not os.path.exists(folder)
    assert store.list_artifacts(run_id) == []


# --- the token -----------------------------------------------------------------------------

def _client_for(tmp_path, *, peer="127.0.0.1", host="127.0.0.1:8000", **kw):
    """A client of an API on a fresh store whose requests come from ``peer`` to ``host``."""
    s = Settings(store=tmp_path / "s", database_url=None, artifact_url=None, broker_url=None,
                 _env_file=None, **kw)
    return TestClient(create_app(s), base_url=f"http://{host}", client=(peer, 50000))


@pytest.mark.parametrize("peer", ["127.0.0.1", "10.1.2.3"])
@pytest.mark.parametrize("api_host", ["127.0.0.1", "0.0.0.0"])
def test_a_configured_token_is_always_required(tmp_path, peer, api_host):
    """Whatever the configured host (uvicorn --factory never sets it) and whoever connects."""
    c = _client_for(tmp_path, peer=peer, api_host=api_host, api_token="s3cret")
    assert c.post("/api/runs", json={"epochs": 2}).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert c.post("/api/runs", json={"epochs": 2}, headers=bad).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}
    r = c.post("/api/runs", json={"epochs": 2}, headers=ok)
    assert r.status_code == 201
    rid = r.json()["id"]
    assert c.get("/api/runs").status_code == 200                # reads stay open
    assert c.post(f"/api/runs/{rid}/cancel").status_code == 401
    assert c.delete(f"/api/runs/{rid}").status_code == 401
    assert c.post(f"/api/runs/{rid}/cancel", headers=ok).status_code == 200
    assert c.delete(f"/api/runs/{rid}", headers=ok).status_code == 204
    assert c.post("/api/sweeps", json={"field": "lr", "values": [0.1]}).status_code == 401
    # lab requests that would queue a worker job are writes too; nothing was queued
    assert c.get("/api/lab/alternating-line?runs=1&epochs=5").status_code == 401
    assert c.app.state.store.find_job(None, "lab", {"experiment": "alternating-line"}) is None
    assert c.get("/api/lab/alternating-line?runs=1&epochs=5", headers=ok).status_code == 202


def test_without_a_token_only_loopback_peers_may_write(tmp_path):
    local = _client_for(tmp_path / "a", api_host="0.0.0.0")
    assert local.post("/api/runs", json={"epochs": 2}).status_code == 201
    remote = _client_for(tmp_path / "b", peer="192.168.1.20", api_host="127.0.0.1")
    r = remote.post("/api/runs", json={"epochs": 2})
    assert r.status_code == 401 and "MIXSCOPE_API_TOKEN" in r.json()["detail"]
    assert remote.get("/api/lab/two-moons?runs=1&epochs=5").status_code == 401
    assert remote.get("/api/runs").status_code == 200
    # a DNS-rebinding page reaches loopback under its own host name: refused (issue 24:
    # 400 for any request naming a host the API does not serve, reads too)
    rebound = _client_for(tmp_path / "c", host="evil.example:8000")
    assert rebound.post("/api/runs", json={"epochs": 2}).status_code == 400


@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "http://evil.example"},                      # a browser without Fetch metadata
    {"Origin": "null"},
])
def test_cross_origin_writes_are_refused(tmp_path, headers):
    c = _client_for(tmp_path, api_token="s3cret")
    ok = {"Authorization": "Bearer s3cret"}
    # text/plain needs no preflight: what a hostile page can send with mode "no-cors"
    r = c.post("/api/runs", content='{"epochs": 2}', headers={**headers,
                                                                "Content-Type": "text/plain"})
    assert r.status_code == 403, r.text
    assert c.post("/api/runs", json={"epochs": 2}, headers={**headers, **ok}).status_code == 403
    assert c.get("/api/runs").json() == []
    same = {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin", **ok}
    assert c.post("/api/runs", json={"epochs": 2}, headers=same).status_code == 201


def test_no_cors_unless_origins_are_configured(tmp_path):
    pre = {"Origin": "http://127.0.0.1:8050", "Access-Control-Request-Method": "DELETE"}
    c = _client_for(tmp_path / "a")
    r = c.options("/api/runs", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    r = c.get("/api/runs", headers={"Origin": "http://127.0.0.1:8050"})
    assert "access-control-allow-origin" not in r.headers
    c = _client_for(tmp_path / "b", cors_origins="http://127.0.0.1:8050, https://lab.example")
    r = c.options("/api/runs", headers=pre)
    assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:8050"
    r = c.options("/api/runs", headers={**pre, "Origin": "http://evil.example"})
    assert r.headers.get("access-control-allow-origin") != "http://evil.example"
    # a configured origin may write cross-site (with the token when one is set)
    r = c.post("/api/runs", json={"epochs": 2}, headers={
        "Origin": "https://lab.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 201


def test_read_token_protects_reads(tmp_path):
    c = _client_for(tmp_path, api_token="w-token", read_token="r-token")
    assert c.get("/api/health").status_code == 200                 # liveness stays open
    r = c.get("/api/runs")
    assert r.status_code == 401 and "r-token" not in r.text
    assert c.get("/api/runs", headers={"Authorization": "Bearer r-token"}).status_code == 200
    assert c.get("/api/runs", headers={"Authorization": "Bearer w-token"}).status_code == 200
    assert c.get("/api/lab/two-moons", headers={"Authorization": "Bearer nope"}).status_code \
        == 401
    # the read token does not write
    r = c.post("/api/runs", json={"epochs": 2}, headers={"Authorization": "Bearer r-token"})
    assert r.status_code == 401
    assert c.get("/api/auth", headers={"Authorization": "Bearer r-token"}).json() == {
        "token_configured": True, "read_token_configured": True, "read": True, "write": False}
    assert c.get("/api/auth", headers={"Authorization": "Bearer w-token"}).json()["write"]
    assert not c.get("/api/auth").json()["read"]


def test_tokens_never_echoed(tmp_path):
    secret = "tok-" + "x7" * 12
    c = _client_for(tmp_path, peer="10.0.0.9", api_token=secret, read_token=secret + "r")
    for r in (c.post("/api/runs", json={"epochs": 2}),
              c.post("/api/runs", json={"epochs": "NaNx"},
                     headers={"Authorization": f"Bearer {secret}"}),
              c.get("/api/runs", headers={"Authorization": f"Bearer {secret}r"}),
              c.get("/api/auth", headers={"Authorization": f"Bearer {secret}"}),
              c.get("/api/openapi.json")):
        assert secret not in r.text, r.text
    assert secret not in repr(c.app.state.settings)


# --- projection -----------------------------------------------------------------------------

def test_projection_matches_numpy(client, store, run_id):
    r = client.get(f"/api/runs/{run_id}/projection?epoch=5&layer=penultimate&classes=3,1,7")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == run_id and body["epoch"] == 5 and body["layer"] == "penultimate"
    assert body["classes"] == [3, 1, 7] and body["class_names"] == ["c3", "c1", "c7"]
    pts = decode(body["points"])
    kind = decode(body["kind"])
    ca, cb, lam = decode(body["class_a"]), decode(body["class_b"]), decode(body["lam"])
    assert body["points"]["dtype"] == "float32" and pts.shape[1] == 2
    n = len(pts)
    # 20 clean per class, 10 pairs for each of the 6 class pairs within the triple
    assert n == 3 * 20 + 6 * 10 == body["num_selected"]
    assert all(len(decode(body[k])) == n for k in ("lam", "class_a", "class_b", "kind",
                                                   "index_a", "index_b"))
    assert set(ca) <= {1, 3, 7} and set(cb) <= {1, 3, 7}
    assert np.all(lam[kind == 0] == 1) and np.all(ca[kind == 1] == cb[kind == 1])
    assert np.all(ca[kind == 2] != cb[kind == 2])
    # the same numbers straight from the stored arrays with numpy + backend.maths
    feats = store.get_arrays(run_id, "activations", epoch=5, layer="penultimate")["features"]
    probe = store.get_arrays(run_id, "probe")
    W = store.get_arrays(run_id, "classifier", epoch=5)["weight"]
    cls = np.concatenate([probe["clean_class"], probe["pair_class_a"]])
    clsb = np.concatenate([probe["clean_class"], probe["pair_class_b"]])
    rows = np.flatnonzero(np.isin(cls, [3, 1, 7]) & np.isin(clsb, [3, 1, 7]))
    mu = feats[:len(probe["clean_class"])].astype(np.float64).mean(0)
    ref = maths.project_triple(W, feats[rows], (3, 1, 7), centre=mu).points
    np.testing.assert_allclose(pts, ref, rtol=1e-5, atol=1e-5)
    # class 3 sits at the top vertex, clean points near their vertex (ideal geometry)
    v = np.array(body["vertices"])
    assert abs(v[0, 0]) < 1e-9 and v[0, 1] > 0
    assert body["radius"] == pytest.approx(np.linalg.norm(v, axis=1).mean())
    top = pts[(kind == 0) & (ca == 3)].mean(0)
    assert np.linalg.norm(top - v[0]) < 0.2 * body["radius"]
    assert len(body["arrows"]) == 3
    assert max(np.linalg.norm(body["arrows"], axis=1)) == pytest.approx(body["radius"])
    assert body["metrics"]["alignment"] > 0.9
    assert body["metrics"]["channel_radius"] is not None


def test_projection_defaults_latest_epoch_and_default_triple(client, run_id):
    body = client.get(f"/api/runs/{run_id}/projection").json()
    assert body["epoch"] == 10 and body["classes"] == [0, 1, 2]


def test_projection_filters_and_subsample(client, run_id):
    base = f"/api/runs/{run_id}/projection?classes=0,1,2"
    same = client.get(base + "&kinds=same").json()
    assert set(decode(same["kind"])) == {1}
    diff = client.get(base + "&kinds=different&lam_min=0.25&lam_max=0.75").json()
    lam = decode(diff["lam"])
    assert set(decode(diff["kind"])) == {2} and lam.min() >= 0.25 and lam.max() <= 0.75
    a = client.get(base + "&max_points=25&seed=4").json()
    b = client.get(base + "&max_points=25&seed=4").json()
    c = client.get(base + "&max_points=25&seed=5").json()
    assert len(decode(a["points"])) == 25 and a["num_selected"] == 120
    assert a["points"] == b["points"] and a["points"] != c["points"]
    nocentre = client.get(base + "&centre=false").json()
    assert nocentre["points"] != client.get(base).json()["points"]


@pytest.mark.parametrize("query, field", [
    ("epoch=3", "epoch"), ("layer=block9", "layer"), ("classes=1,1,2", "classes"),
    ("classes=0,1,10", "classes"), ("classes=0,1", "classes"), ("classes=0,1,2,3", "classes"),
    ("classes=a,b,c", "classes"), ("kinds=weird", "kinds"), ("lam_min=0.8&lam_max=0.2",
                                                            "lam_min"),
    ("lam_min=2", "lam_min"), ("max_points=0", "max_points"), ("epoch=-1", "epoch"),
])
def test_projection_bad_query_is_422_naming_field(client, run_id, query, field):
    r = client.get(f"/api/runs/{run_id}/projection?{query}")
    assert r.status_code == 422, (query, r.text)
    assert field_named(r, field), r.json()


def test_projection_of_run_without_recorded_epochs_is_422(client):
    rid = client.post("/api/runs", json={"epochs": 2}).json()["id"]
    r = client.get(f"/api/runs/{rid}/projection")
    assert r.status_code == 422 and field_named(r, "epoch")


def test_projection_is_cached(client, app, run_id):
    cache = app.state.projections.cache
    url = f"/api/runs/{run_id}/projection?classes=4,5,6&max_points=10"
    first = client.get(url).json()
    hits = cache.hits
    assert client.get(url).json() == first
    assert cache.hits == hits + 1


def test_frames_share_one_subsample(client, run_id):
    r = client.get(f"/api/runs/{run_id}/frames?classes=2,5,8&max_points=40&seed=1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["epochs"] == [0, 5, 10] and len(body["frames"]) == 3
    idx = [(f["index_a"]["data"], f["lam"]["data"]) for f in body["frames"]]
    assert idx[0] == idx[1] == idx[2]
    assert [f["epoch"] for f in body["frames"]] == [0, 5, 10]
    one = client.get(f"/api/runs/{run_id}/projection?epoch=5&classes=2,5,8&max_points=40"
                     "&seed=1").json()
    assert body["frames"][1]["points"] == one["points"]
    r = client.get(f"/api/runs/{run_id}/frames?classes=2,5,5")
    assert r.status_code == 422 and field_named(r, "classes")


def test_frames_answer_in_pages(client, run_id):
    url = f"/api/runs/{run_id}/frames?classes=2,5,8&max_points=40&seed=1"
    whole = client.get(url).json()
    assert whole["all_epochs"] == [0, 5, 10] and whole["next_epoch_from"] is None
    first = client.get(url + "&limit=2").json()
    assert first["epochs"] == [0, 5] and first["next_epoch_from"] == 10
    assert first["all_epochs"] == [0, 5, 10]
    last = client.get(url + f"&limit=2&epoch_from={first['next_epoch_from']}").json()
    assert last["epochs"] == [10] and last["next_epoch_from"] is None
    assert first["frames"] + last["frames"] == whole["frames"]  # same points, page by page
    mid = client.get(url + "&epoch_from=1&epoch_to=9").json()
    assert mid["epochs"] == [5] and mid["frames"] == whole["frames"][1:2]
    for bad in ("limit=0", "epoch_from=-1", "epoch_to=-2"):
        r = client.get(url + "&" + bad)
        assert r.status_code == 422 and field_named(r, bad.split("=")[0])


def test_uncovered_triple_answers_202_then_the_cached_extraction(client, store):
    rid = synthetic_run(store, class_pairs=[(i, j) for i in range(3) for j in range(i, 3)])
    url = f"/api/runs/{rid}/projection?epoch=5&classes=3,4,5"
    r = client.get(url)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.json()["status"] == "pending"
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "pending" and job["classes"] == [3, 4, 5] and job["epoch"] == 5
    assert client.get(url).json()["job_id"] == job_id          # asking again: the same job
    # what the worker's extraction writes (trainer.extract.extract_triple): real arrays
    rng = np.random.default_rng(1)
    n_c, n_p = 15, 12
    sub = {"clean_index": np.arange(n_c, dtype=np.int64),
           "clean_class": np.repeat([3, 4, 5], 5).astype(np.int64),
           "pair_a": np.arange(n_p, dtype=np.int64), "pair_b": np.arange(n_p, dtype=np.int64),
           "pair_class_a": np.repeat([3, 3, 3, 4, 4, 5], 2).astype(np.int64),
           "pair_class_b": np.repeat([3, 4, 5, 4, 5, 5], 2).astype(np.int64),
           "pair_lambda": rng.uniform(0, 1, n_p).astype(np.float32)}
    feats = rng.normal(size=(n_c + n_p, 16)).astype(np.float32)
    store.put_arrays(rid, "extract_cache", {"features": feats, **sub}, epoch=5,
                     layer="penultimate", meta={"classes": "3,4,5"})
    store.finish_job(job_id, "done")
    assert client.get(f"/api/jobs/{job_id}").json()["status"] == "done"
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert len(decode(r.json()["points"])) == n_c + n_p
    assert client.get("/api/jobs/nope").status_code == 404
    # frames of that triple need the other epochs too: one job for those
    r = client.get(f"/api/runs/{rid}/frames?classes=3,4,5")
    assert r.status_code == 202
    assert client.get(f"/api/jobs/{r.json()['job_id']}").json()["epoch"] in (0, 10)


# --- metrics, calibration, spectra, trajectory ------------------------------------------------

def test_run_metrics_and_many_runs(client, store, run_id):
    other = synthetic_run(store, epochs=(0, 2), seed=1)
    r = client.get(f"/api/runs/{run_id}/metrics").json()
    assert r["run_id"] == run_id and [e["epoch"] for e in r["epochs"]] == [0, 5, 10]
    m = client.get(f"/api/metrics?runs={run_id},{other}&keys=ece,test_accuracy,nope").json()
    assert m["runs"][run_id]["epoch"] == [0, 5, 10] and m["runs"][other]["epoch"] == [0, 2]
    assert m["runs"][run_id]["test_accuracy"] == pytest.approx([0.5, 0.55, 0.6])
    assert m["runs"][run_id]["nope"] == [None, None, None]
    assert "train_loss" in client.get(f"/api/metrics?runs={run_id}").json()["runs"][run_id]
    r = client.get(f"/api/metrics?runs={run_id},ghost")
    assert r.status_code == 422 and field_named(r, "runs")
    assert client.get("/api/metrics?runs=,").status_code == 422
    assert client.get("/api/metrics").status_code == 422


def test_calibration(client, store, run_id):
    r = client.get(f"/api/runs/{run_id}/calibration").json()
    assert r["epoch"] == 10 and r["ece"] == pytest.approx(0.1 / 11)
    assert len(r["bins"]["counts"]) == 15 and len(r["bins"]["edges"]) == 16
    assert r["bins"]["edges"][0] == 0 and r["bins"]["edges"][-1] == 1
    assert client.get(f"/api/runs/{run_id}/calibration?epoch=5").json()["epoch"] == 5
    r = client.get(f"/api/runs/{run_id}/calibration?epoch=7")
    assert r.status_code == 422 and field_named(r, "epoch")
    rid = client.post("/api/runs", json={"epochs": 2}).json()["id"]
    assert client.get(f"/api/runs/{rid}/calibration").status_code == 422


def test_spectra(client, run_id):
    r = client.get(f"/api/runs/{run_id}/spectra").json()
    assert r["epochs"] == [0, 5, 10] and np.array(r["per_class"]).shape == (3, 10, 10)
    assert np.array(r["all"]).shape == (3, 10)
    r = client.get(f"/api/runs/{run_id}/spectra?layer=nope")
    assert r.status_code == 422 and field_named(r, "layer")


def test_trajectory(client, store, run_id):
    r = client.get(f"/api/runs/{run_id}/trajectory?epoch=5&classes=0,1,2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["layers"] == ["penultimate"]          # the (d+1)-wide layer cannot be drawn
    assert body["pairs"] == [[1, 3], [2, 4]] and len(body["lambdas"]) == 5
    pts = decode(body["points"])
    assert pts.shape == (2, 1, 5, 2)
    t = store.get_arrays(run_id, "trajectory", epoch=5)
    W = store.get_arrays(run_id, "classifier", epoch=5)["weight"]
    feats = store.get_arrays(run_id, "activations", epoch=5, layer="penultimate")["features"]
    mu = feats[:200].astype(np.float64).mean(0)
    ref = maths.project_triple(W, t["layer:penultimate"].reshape(10, -1), (0, 1, 2),
                               centre=mu).points.reshape(2, 5, 2)
    np.testing.assert_allclose(pts[:, 0], ref, rtol=1e-5, atol=1e-5)
    assert client.get(f"/api/runs/{run_id}/trajectory?epoch=4").status_code == 422
    notraj = synthetic_run(store, trajectory=False, seed=2)
    r = client.get(f"/api/runs/{notraj}/trajectory")
    assert r.status_code == 422 and field_named(r, "epoch")


# --- theory --------------------------------------------------------------------------------

def test_theory_ufm(client):
    r = client.get("/api/theory/ufm?m=1&num_classes=10&lambda_h=1e-3&lambdas=0.1,0.5,0.9")
    assert r.status_code == 200, r.text
    body = r.json()
    ref = maths.ufm_summary(1.0, 10, 1e-3, [0.1, 0.5, 0.9], False)
    for k in ("K_same", "same_class", "lambdas", "different_class", "mean_loss_triple"):
        assert body[k] == pytest.approx(ref[k]) if not isinstance(ref[k], dict) else True
    assert body["different_class"]["coef_i"] == pytest.approx(ref["different_class"]["coef_i"])
    p = body["projection"]
    pts = decode(p["points"])
    assert pts.shape == (len(decode(p["lam"])), 2) and len(p["vertices"]) == 3
    sampled = client.get("/api/theory/ufm?n_lambda=50&alpha=0.5&seed=3").json()
    assert len(sampled["lambdas"]) == 50
    amp = client.get("/api/theory/ufm?lambdas=0.3&amplify=true").json()
    assert amp["projection"]["points"] != client.get("/api/theory/ufm?lambdas=0.3").json()[
        "projection"]["points"]


@pytest.mark.parametrize("query, field", [
    ("m=0", "m"), ("num_classes=2", "num_classes"), ("lambda_h=-1", "lambda_h"),
    ("lambdas=0.5,1.5", "lambdas"), ("lambdas=x", "lambdas"), ("alpha=0", "alpha"),
])
def test_theory_bad_input_names_field(client, query, field):
    r = client.get(f"/api/theory/ufm?{query}")
    assert r.status_code == 422 and field_named(r, field), r.json()


# --- sweeps ----------------------------------------------------------------------------------

def test_sweep_values_and_best(client, store):
    r = client.post("/api/sweeps", json={"base": {"epochs": 3}, "field": "lr",
                                         "values": [0.01, 0.1], "name": "lrs"})
    assert r.status_code == 201, r.text
    sw = r.json()
    assert sw["field"] == "lr" and sw["values"] == [0.01, 0.1] and len(sw["runs"]) == 2
    assert [x["config"]["lr"] for x in sw["runs"]] == [0.01, 0.1]
    assert all(x["status"] == "queued" and x["sweep_id"] == sw["id"] for x in sw["runs"])
    assert sw["best"] is None
    a, b = (x["id"] for x in sw["runs"])
    store.update_run_info(a, summary={"test_accuracy": 0.7})
    store.update_run_info(b, summary={"test_accuracy": 0.9})
    got = client.get(f"/api/sweeps/{sw['id']}").json()
    assert got["best"] == b
    assert [s["id"] for s in client.get("/api/sweeps").json()] == [sw["id"]]
    assert {x["id"] for x in client.get(f"/api/runs?sweep_id={sw['id']}").json()} == {a, b}


def test_sweep_logspace_and_nested_field(client):
    r = client.post("/api/sweeps", json={"base": {"epochs": 3}, "field": "lr",
                                         "logspace": [-3, -1, 3]})
    assert r.status_code == 201
    assert [x["config"]["lr"] for x in r.json()["runs"]] == pytest.approx([1e-3, 1e-2, 1e-1])
    r = client.post("/api/sweeps", json={"field": "model_args.width", "values": [8, 16]})
    assert r.status_code == 201
    assert [x["config"]["model_args"]["width"] for x in r.json()["runs"]] == [8, 16]


@pytest.mark.parametrize("body, field", [
    ({"field": "nonsense", "values": [1]}, "field"),
    ({"field": "lr", "values": [0.1, 50.0]}, "values"),
    ({"field": "lr"}, "give exactly one"),
    ({"field": "lr", "values": [0.1], "logspace": [-3, -1, 3]}, "give exactly one"),
    ({"field": "lr", "logspace": [-3, -1, 1000]}, "logspace"),
    ({"base": {"dataset": "nope"}, "field": "lr", "values": [0.1]}, "base.dataset"),
])
def test_sweep_invalid(client, body, field):
    r = client.post("/api/sweeps", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["message"]
    assert client.get("/api/runs").json() == []


def test_sweep_404(client):
    assert client.get("/api/sweeps/nope").status_code == 404


# --- the schema -----------------------------------------------------------------------------

def test_openapi_lists_routes_with_examples(client):
    spec = client.get("/api/openapi.json").json()
    paths = spec["paths"]
    for p in ("/api/health", "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/cancel",
              "/api/runs/{run_id}/projection", "/api/runs/{run_id}/frames", "/api/metrics",
              "/api/runs/{run_id}/calibration", "/api/theory/ufm", "/api/sweeps",
              "/api/jobs/{job_id}"):
        assert p in paths, p
    launch = paths["/api/runs"]["post"]["requestBody"]["content"]["application/json"]
    assert "digits-demo" in launch["examples"]
    assert spec["components"]["schemas"]["Run"]["examples"]


# --- a real (tiny) trained run ----------------------------------------------------------------

def test_routes_on_a_really_trained_run(client, store):
    """The trainer's own artifacts (not synthetic ones) served by every read route."""
    import torch

    from trainer.loop import execute_run

    torch.set_num_threads(1)
    cfg = {"dataset": "digits", "dataset_args": {"subset": 200}, "model": "mlp",
           "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": 3,
           "batch_size": 32, "probe": {"clean_per_class": 4, "pairs_per_class_pair": 3,
                                       "trajectory_pairs": 2, "trajectory_lambdas": 3},
           "record": {"epochs": [0, 3]}}
    rid = client.post("/api/runs", json=cfg).json()["id"]
    assert store.claim_run(rid, "test")
    assert execute_run(store, rid, worker="test") == "succeeded"
    run = client.get(f"/api/runs/{rid}").json()
    assert run["status"] == "succeeded" and run["recorded_epochs"] == [0, 3]
    assert len(client.get(f"/api/runs/{rid}/classes").json()["classes"]) == 10
    body = client.get(f"/api/runs/{rid}/projection?classes=7,2,4").json()
    kind = decode(body["kind"])
    assert len(decode(body["points"])) == len(kind) == 3 * 4 + 6 * 3
    assert np.isfinite(decode(body["points"])).all() and body["radius"] > 0
    frames = client.get(f"/api/runs/{rid}/frames?classes=7,2,4").json()
    assert frames["epochs"] == [0, 3]
    assert client.get(f"/api/runs/{rid}/calibration").json()["epoch"] == 3
    assert client.get(f"/api/runs/{rid}/spectra").json()["epochs"] == [0, 3]
    traj = client.get(f"/api/runs/{rid}/trajectory").json()
    assert "penultimate" in traj["layers"]
    assert decode(traj["points"]).shape[0] == 2
    recs = client.get(f"/api/runs/{rid}/metrics").json()["epochs"]
    assert [r["epoch"] for r in recs] == [0, 1, 2, 3]


def test_frames_answers_202_when_the_cache_changes_under_it(client, store, monkeypatch):
    """Another triple's extraction can replace the cache between the coverage check and the
    reads; the route must queue a job (202), not fail with a server error."""
    from backend.api.projection import ProjectionService

    rid = synthetic_run(store, class_pairs=[(i, j) for i in range(3) for j in range(i, 3)])
    monkeypatch.setattr(ProjectionService, "missing_epochs", lambda self, *a, **k: [])
    r = client.get(f"/api/runs/{rid}/frames?classes=3,4,5")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
