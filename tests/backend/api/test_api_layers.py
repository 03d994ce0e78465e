"""Every recorded layer can be explored: a hidden layer whose width differs from the
classifier's input is projected onto the simplex of its own clean class means (``basis``
says which), on a really trained tiny run; every run's trajectory crosses every layer of its
network, whatever record.layers stores."""

from __future__ import annotations

import numpy as np
import pytest
from api_fixtures import decode

from backend import maths
from backend.runconfig import RunConfig


def test_class_mean_rows_are_centred_class_means():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(30, 5))
    y = np.repeat([0, 1, 2], 10)
    mu = H.mean(0)
    rows = maths.class_mean_rows(H, y, (2, 0, 1), centre=mu)
    assert rows.shape == (3, 5)
    np.testing.assert_allclose(rows[0], H[20:].mean(0) - mu)
    np.testing.assert_allclose(rows[1], H[:10].mean(0) - mu)
    with pytest.raises(ValueError, match="class 7"):
        maths.class_mean_rows(H, y, (0, 1, 7))


def test_class_means_give_the_classifier_picture_at_a_self_dual_layer():
    """When the classifier rows are the centred class means (NC3), both bases agree."""
    rng = np.random.default_rng(1)
    C, d = 5, 12
    means = rng.normal(size=(C, d)) * 3
    y = np.repeat(np.arange(C), 40)
    H = means[y] + 0.1 * rng.normal(size=(len(y), d))
    mu = H.mean(0)
    W = np.stack([H[y == k].mean(0) for k in range(C)]) - mu
    triple = (3, 0, 4)
    rows = maths.class_mean_rows(H, y, triple, centre=mu)
    full = np.zeros((5, d))
    full[list(triple)] = rows
    a = maths.project_triple(W, H, triple, centre=mu).points
    b = maths.project_triple(full, H, triple, centre=mu).points
    np.testing.assert_allclose(a, b, atol=1e-5)
    # class a on top: its clean points average near the top vertex's direction
    top = b[y == 3].mean(0)
    assert top[1] > 0 and abs(top[0]) < abs(top[1])


def _train(client, store, record: dict) -> str:
    import torch

    from trainer.loop import execute_run

    torch.set_num_threads(1)
    cfg = {"dataset": "digits", "dataset_args": {"subset": 200}, "model": "mlp",
           "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": 3,
           "batch_size": 32, "probe": {"clean_per_class": 4, "pairs_per_class_pair": 3,
                                       "trajectory_pairs": 2, "trajectory_lambdas": 3},
           "record": {"epochs": [0, 3], **record}}
    rid = client.post("/api/runs", json=cfg).json()["id"]
    assert store.claim_run(rid, "test")
    assert execute_run(store, rid, worker="test") == "succeeded"
    return rid


def test_a_penultimate_only_run_traces_its_pairs_through_every_layer(client, store):
    rid = _train(client, store, {})
    assert client.get(f"/api/runs/{rid}/layers").json()["layers"] == ["penultimate"]
    traj = client.get(f"/api/runs/{rid}/trajectory?classes=0,1,2").json()
    assert traj["layers"] == ["hidden1", "penultimate"]
    assert traj["bases"] == ["class-means", "classifier"]


@pytest.fixture
def trained(client, store):
    """A tiny MLP really trained with every layer recorded: hidden1 (32 wide) and
    penultimate (16 wide, the classifier's input)."""
    return _train(client, store, {"layers": ["all"]})


def test_a_hidden_layer_of_another_width_projects_onto_its_class_means(client, store, trained):
    rid = trained
    assert client.get(f"/api/runs/{rid}/layers").json()["layers"] == ["hidden1", "penultimate"]
    r = client.get(f"/api/runs/{rid}/projection?layer=hidden1&classes=7,2,4")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["basis"] == "class-means" and body["layer"] == "hidden1"
    pts, kind, ca = decode(body["points"]), decode(body["kind"]), decode(body["class_a"])
    assert len(pts) == 3 * 4 + 6 * 3 and np.isfinite(pts).all() and body["radius"] > 0
    # the same numbers as numpy on the stored activations: clean means of the triple's classes
    feats = store.get_arrays(rid, "activations", epoch=3, layer="hidden1")["features"]
    probe = store.get_arrays(rid, "probe")
    n_c = len(probe["clean_class"])
    mu = feats[:n_c].astype(np.float64).mean(0)
    rows = maths.class_mean_rows(feats[:n_c], probe["clean_class"], (7, 2, 4), centre=mu)
    full = np.zeros((8, feats.shape[1]))
    full[[7, 2, 4]] = rows
    clean = kind == 0
    want = maths.project_triple(full, feats[:n_c][np.isin(probe["clean_class"], [7, 2, 4])],
                                (7, 2, 4), centre=mu).points
    np.testing.assert_allclose(pts[clean], want, rtol=1e-4, atol=1e-4)
    assert set(ca[clean].tolist()) == {7, 2, 4}
    # the penultimate layer keeps the classifier
    pen = client.get(f"/api/runs/{rid}/projection?layer=penultimate&classes=7,2,4").json()
    assert pen["basis"] == "classifier"
    frames = client.get(f"/api/runs/{rid}/frames?layer=hidden1&classes=7,2,4")
    assert frames.status_code == 200, frames.text
    assert [f["basis"] for f in frames.json()["frames"]] == ["class-means"] * 2


def test_the_trajectory_crosses_every_recorded_layer(client, trained):
    traj = client.get(f"/api/runs/{trained}/trajectory?classes=0,1,2").json()
    assert traj["layers"] == ["hidden1", "penultimate"]
    assert traj["bases"] == ["class-means", "classifier"]
    pts = decode(traj["points"])
    assert pts.shape == (2, 2, 3, 2) and np.isfinite(pts).all()


def test_recording_all_layers_follows_the_model_depth():
    from backend.resources import estimate_memory

    cfg = RunConfig.from_preset("digits-demo", record={"layers": ["all"]})
    # a depth override still works: "all" is whatever layers the model has
    shallow = RunConfig.from_preset("digits-demo", model_args={"depth": 1},
                                    record={"layers": ["all"]})
    assert estimate_memory(shallow).total < estimate_memory(cfg).total
