"""Activations stored in float16 by default (issue 14, target 5): a real tiny trained run's
float16 projection stays within 1e-3 (of the vertex radius) of its float32 one; activations
that float16 would distort fall back to float32 per layer; the footprint says the dtype."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from backend.activations import FLOAT16_TOLERANCE, activation_arrays, float16_deviation
from backend.api.encoding import decode_array
from backend.api.projection import Filters, ProjectionService
from backend.probe_rows import ProbeRows
from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import Store
from backend.store.footprint import run_footprint
from trainer.loop import execute_run

torch.set_num_threads(1)


@pytest.fixture
def store(tmp_path):
    s = Store(Settings(store=tmp_path / "store", database_url=None, artifact_url=None))
    s.migrate()
    return s


def _config(dtype: str | None) -> RunConfig:
    cfg = {"dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
           "model_args": {"width": 64, "depth": 1, "feature_dim": 32},
           "method": "input-mixup", "epochs": 3, "batch_size": 32, "lr": 0.05, "seed": 5,
           "probe": {"clean_per_class": 8, "pairs_per_class_pair": 6, "trajectory_pairs": 0},
           "record": {"epochs": [0, 3], "checkpoint_every": 10}}
    if dtype is not None:
        cfg["record"]["dtype"] = dtype
    return RunConfig.model_validate(cfg)


def _train(store, config) -> str:
    run = store.create_run(config)
    assert store.claim_run(run.id, "test")
    assert execute_run(store, run.id) == "succeeded"
    return run.id


def test_default_float16_projection_matches_float32(store):
    r16 = _train(store, _config(None))              # the default: float16
    r32 = _train(store, _config("float32"))         # same seed: the same training
    assert RunConfig().record.dtype == "float16"
    f16, f32 = run_footprint(store, r16), run_footprint(store, r32)
    assert f32["activations_dtype"] == "float32"
    # each epoch in float16 exactly when its measured deviation allows (the trained epoch
    # does; the initialisation, whose classes barely separate, may not: measured 3e-3 here)
    for art in store.list_artifacts(r16, "activations"):
        ok = float(art.meta["float16_deviation"]) <= FLOAT16_TOLERANCE
        assert art.meta["dtype"] == ("float16" if ok else "float32"), art.meta
    assert f16["activations_dtypes"].get("float16", 0) >= 1
    a16 = store.get_arrays(r16, "activations", epoch=3, layer="penultimate")
    a32 = store.get_arrays(r32, "activations", epoch=3, layer="penultimate")
    assert a16["features"].dtype == np.float16 and a32["features"].dtype == np.float32
    # the same network, so the float16 file is the float32 one rounded
    np.testing.assert_allclose(a16["features"].astype(np.float32), a32["features"],
                               rtol=2e-3, atol=1e-3)
    # the frames the API serves come from the float32 scores stored beside the rows, so the
    # float16 rows do not move them at all; the rows themselves, projected, move within the
    # tolerance (what the writer checked before storing float16)
    from backend import maths

    svc = ProjectionService(store)
    run16, run32 = store.get_run(r16), store.get_run(r32)
    probe = svc.probe_rows(r16)
    served = from_rows = 0.0
    for t in itertools.combinations(range(10), 3):
        for e, fa, fb in zip(run16.recorded_epochs,
                             svc.frames(run16, run16.recorded_epochs, "penultimate", t,
                                        Filters()),
                             svc.frames(run32, run32.recorded_epochs, "penultimate", t,
                                        Filters())):
            pa, pb = decode_array(fa["points"]), decode_array(fb["points"])
            assert pa.shape == pb.shape and fa["basis"] == "classifier"
            served = max(served, float(np.linalg.norm(pa - pb, axis=1).max() / fb["radius"]))
            W = store.get_arrays(r32, "classifier", epoch=e)["weight"]
            rows = probe.rows_of(t)
            p16, p32 = (maths.project_triple(W, g["features"][rows], t,
                                             centre=g["clean_mean"]).points
                        for g in (store.get_arrays(r, "activations", epoch=e,
                                                   layer="penultimate") for r in (r16, r32)))
            from_rows = max(from_rows,
                            float(np.linalg.norm(p16 - p32, axis=1).max() / fb["radius"]))
    assert served <= 1e-5, served
    assert 0 < from_rows <= FLOAT16_TOLERANCE, from_rows


def test_float16_falls_back_where_it_would_move_points():
    rng = np.random.default_rng(0)
    C, d = 4, 24
    W = rng.normal(size=(C, d)).astype(np.float32)
    probe = ProbeRows.from_arrays({
        "clean_index": np.arange(4 * C), "clean_class": np.repeat(np.arange(C), 4),
        "pair_a": np.arange(10), "pair_b": np.arange(10),
        "pair_class_a": np.array([0, 0, 0, 1, 1, 2, 0, 1, 2, 3]),
        "pair_class_b": np.array([0, 1, 2, 1, 2, 2, 3, 3, 3, 3]),
        "pair_lambda": rng.uniform(size=10).astype(np.float32)})
    H = (W[probe.class_a] + 0.3 * rng.normal(size=(len(probe), d))).astype(np.float32)
    small, meta = activation_arrays(H, probe, requested="float16", weight=W,
                                    default_triple=(0, 1, 2), num_classes=C)
    assert small["features"].dtype == np.float16 and meta["dtype"] == "float16"
    np.testing.assert_allclose(small["clean_mean"], H[:16].mean(0), rtol=1e-6)
    big, meta = activation_arrays(H + 3000.0, probe, requested="float16", weight=W,
                                  default_triple=(0, 1, 2), num_classes=C)
    assert big["features"].dtype == np.float32 and meta["dtype"] == "float32"
    assert float(meta["float16_deviation"]) > FLOAT16_TOLERANCE
    assert float16_deviation(H + 3000.0, probe, W, [(1, 2, 3)]) > FLOAT16_TOLERANCE
    kept, meta = activation_arrays(H, probe, requested="float32", weight=W,
                                   default_triple=(0, 1, 2), num_classes=C)
    assert kept["features"].dtype == np.float32 and "float16_deviation" not in meta


def test_paper_runs_stored_in_float32_still_count():
    """A reproduction's run found by config: the stored dtype is not part of what makes two
    runs the same, so runs recorded in float32 before the default changed still count."""
    from backend.papers.runner import config_key

    old = RunConfig(record={"dtype": "float32"}).model_dump(mode="json")
    assert config_key(old) == config_key(RunConfig()) != config_key(RunConfig(lr=0.1))


def test_a_layer_no_triple_can_be_drawn_of_is_still_measured():
    """A 2-D bottleneck (the lab's representations): three classifier rows in 2-D are
    dependent, so the row error is measured instead of a projection."""
    rng = np.random.default_rng(2)
    probe = ProbeRows.from_arrays({
        "clean_index": np.arange(9), "clean_class": np.repeat(np.arange(3), 3),
        "pair_a": np.arange(6), "pair_b": np.arange(6),
        "pair_class_a": np.array([0, 0, 0, 1, 1, 2]), "pair_class_b": np.array([0, 1, 2, 1, 2, 2]),
        "pair_lambda": rng.uniform(size=6).astype(np.float32)})
    H = rng.normal(size=(len(probe), 2)).astype(np.float32)
    W = rng.normal(size=(3, 2)).astype(np.float32)
    dev = float16_deviation(H, probe, W, [(0, 1, 2)])
    assert 0 < dev < FLOAT16_TOLERANCE
    arrays, meta = activation_arrays(H, probe, requested="float16", weight=W,
                                     default_triple=(0, 1, 2), num_classes=3)
    assert meta["dtype"] == "float16" and arrays["features"].shape == (15, 2)


def test_scores_are_stored_for_the_classifiers_input_only():
    """``scores`` = the float32 rows times the classifier, beside the rows of the layer the
    classifier reads; a layer of another width gets none (its frames use the rows)."""
    import itertools as it

    rng = np.random.default_rng(0)
    C, d = 4, 16
    cc = np.repeat(np.arange(C), 5)
    cp = np.array([p for p in it.combinations_with_replacement(range(C), 2) for _ in range(3)])
    rows = ProbeRows.from_arrays({
        "clean_index": np.arange(len(cc)), "clean_class": cc, "pair_a": np.arange(len(cp)),
        "pair_b": np.arange(len(cp)), "pair_class_a": cp[:, 0], "pair_class_b": cp[:, 1],
        "pair_lambda": rng.uniform(size=len(cp)).astype(np.float32)})
    W = rng.normal(size=(C, d)).astype(np.float32)
    H = rng.normal(size=(len(rows), d)).astype(np.float32) * 40
    arrays, meta = activation_arrays(H, rows, requested="float16", weight=W,
                                     default_triple=(0, 1, 2), num_classes=C)
    assert arrays["scores"].dtype == np.float32 and arrays["scores"].shape == (len(rows), C)
    np.testing.assert_allclose(arrays["scores"], H @ W.T, rtol=1e-5, atol=1e-3)
    wide, _ = activation_arrays(rng.normal(size=(len(rows), 2 * d)).astype(np.float32), rows,
                                requested="float16", weight=W, default_triple=(0, 1, 2),
                                num_classes=C)
    assert "scores" not in wide
