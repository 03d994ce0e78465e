"""Dense pictures (issue 14 target 7, data side): ``probe.triple_pairs_per_class_pair`` gives
the configured and default triples' class pairs as many mixed pairs as asked, the per-epoch
metrics keep the plain density, and the projection route returns every point."""

from __future__ import annotations

import numpy as np
import pytest
from api_fixtures import decode

from backend.runconfig import RunConfig
from trainer.epoch_metrics import metric_rows
from trainer.probe import build_probe, triple_rows


def test_dense_probe_draws_the_requested_pairs_for_the_triples_only():
    labels = np.repeat(np.arange(10), 30)
    plain = RunConfig.model_validate({"probe": {"clean_per_class": 5}})
    dense = RunConfig.model_validate({"probe": {"clean_per_class": 5,
                                                "triple_pairs_per_class_pair": 700,
                                                "triples": [[4, 5, 6]]},
                                      "record": {"default_triple": [0, 1, 2]}})
    p0, p1 = build_probe(plain, labels, 10), build_probe(dense, labels, 10)
    pairs = list(zip(p1["pair_class_a"].tolist(), p1["pair_class_b"].tolist()))
    count = {pair: pairs.count(pair) for pair in set(pairs)}
    assert count[(0, 1)] == count[(0, 0)] == count[(4, 6)] == count[(5, 5)] == 700
    assert count[(0, 3)] == count[(7, 9)] == count[(2, 4)] == 100  # outside the triples
    assert len(triple_rows(p1, (0, 1, 2))) == 3 * 5 + 6 * 700
    assert len(triple_rows(p0, (0, 1, 2))) == 3 * 5 + 6 * 100
    # without the option the probe is the one drawn before it existed
    assert len(p0["pair_a"]) == 55 * 100
    # the per-epoch metrics read pairs_per_class_pair of each class pair, in probe order
    rows = metric_rows(p1, triple_rows(p1, (0, 1, 2)), 100)
    assert len(rows) == 3 * 5 + 6 * 100 and (np.diff(rows) > 0).all()
    kept = list(zip(p1["pair_class_a"][rows[15:] - 50].tolist(),
                    p1["pair_class_b"][rows[15:] - 50].tolist()))
    assert {kept.count(pair) for pair in set(kept)} == {100}
    assert (metric_rows(p0, triple_rows(p0, (0, 1, 2)), 100)
            == triple_rows(p0, (0, 1, 2))).all()


def test_option_is_checked():
    with pytest.raises(ValueError, match="triple_pairs_per_class_pair"):
        RunConfig.model_validate({"probe": {"triple_pairs_per_class_pair": 0}})


def test_a_dense_run_serves_100000_points_of_its_triple(client, store):
    """A real (tiny) run with 16 667 pairs per class pair of its default triple: the
    projection of that triple holds 100 000 pairs (+ clean points) and the route returns
    them all with max_points=100000 (a seeded subsample of exactly that many)."""
    import torch

    from trainer.loop import execute_run

    torch.set_num_threads(1)
    cfg = {"dataset": "gaussian-mixture",
           "dataset_args": {"classes": 4, "dim": 8, "samples": 400, "test_fraction": 0.25},
           "model": "mlp", "model_args": {"width": 16, "depth": 1, "feature_dim": 8},
           "epochs": 1, "batch_size": 64,
           "probe": {"clean_per_class": 10, "pairs_per_class_pair": 20,
                     "triple_pairs_per_class_pair": 16_667, "trajectory_pairs": 0},
           "record": {"epochs": [1], "layers": ["penultimate"], "default_triple": [0, 1, 2]}}
    rid = client.post("/api/runs", json=cfg).json()["id"]
    assert store.claim_run(rid, "test")
    assert execute_run(store, rid, worker="test") == "succeeded"
    m = store.epoch_metrics(rid)[-1]
    assert m["channel_radius"] is not None  # per-epoch metrics on the plain subset
    full = client.get(f"/api/runs/{rid}/projection", params={"classes": "0,1,2"}).json()
    assert full["num_selected"] == 3 * 10 + 6 * 16_667
    assert len(decode(full["points"])) == 100_032
    capped = client.get(f"/api/runs/{rid}/frames",
                        params={"classes": "0,1,2", "max_points": 100_000}).json()
    pts = decode(capped["frames"][0]["points"])
    assert pts.shape == (100_000, 2) and np.isfinite(pts).all()
