"""Recorded epochs' model snapshots in float16 where they fit (issue 14 target 3): half the
bytes, loaded back into the float32 model, and on-demand extraction reads them."""

from __future__ import annotations

import numpy as np
import torch

from trainer import checkpoint
from trainer.loop import execute_run


def test_half_where_it_fits_keeps_what_does_not():
    t = {"w": torch.tensor([1.5, -2.0]), "big": torch.tensor([1e6, 1.0]),
         "bad": torch.tensor([float("nan")]), "n": torch.tensor(3)}
    h = checkpoint.half_where_it_fits(t)
    assert h["w"].dtype == torch.float16 and torch.equal(h["w"].float(), t["w"])
    assert h["big"].dtype == h["bad"].dtype == torch.float32 and h["n"].dtype == torch.int64


def test_float16_run_stores_half_snapshots_that_extraction_reads(store):
    from trainer.extract import extract_triple

    torch.set_num_threads(1)
    cfg = {"dataset": "digits", "dataset_args": {"subset": 120}, "model": "mlp",
           "model_args": {"width": 16, "depth": 1, "feature_dim": 8}, "epochs": 1,
           "batch_size": 32, "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2,
                                       "max_all_pairs_classes": 3, "trajectory_pairs": 0},
           "record": {"epochs": [1], "dtype": "float16"}}
    run = store.create_run(cfg)
    store.claim_run(run.id, "t")
    assert execute_run(store, run.id) == "succeeded"
    snap = checkpoint.load_epoch(store, run.id, 1)
    floats = [v for k, v in snap.items() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    extract_triple(store, run.id, 1, "penultimate", (5, 6, 7))
    got = store.get_arrays(run.id, "extract_cache", epoch=1, layer="penultimate")
    assert got["features"].shape[1] == 8 and np.isfinite(got["features"]).all()
