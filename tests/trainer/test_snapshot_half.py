"""Model snapshots in float16 where they fit (issue 14 target 3): half the bytes, loaded back
into the float32 model, and on-demand extraction reads them. The loop stores float32 (float16
moved a WRN-16-4 projection by 3e-3 of its extent in bench_scale, over the 1e-3 bound)."""

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


def test_a_half_snapshot_is_read_by_extraction(store):
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
    full = checkpoint.load_epoch(store, run.id, 1)
    assert all(v.dtype != torch.float16 for v in full.values())  # the loop's: float32
    half = checkpoint.half_where_it_fits(full)
    assert sum(v.nbytes for v in half.values()) < 0.6 * sum(v.nbytes for v in full.values())
    store.put_tensors(run.id, "checkpoint", half, epoch=1)
    assert checkpoint.load_epoch(store, run.id, 1)["model.classifier.weight"].dtype \
        == torch.float16
    extract_triple(store, run.id, 1, "penultimate", (5, 6, 7))
    got = store.get_arrays(run.id, "extract_cache", epoch=1, layer="penultimate")
    assert got["features"].shape[1] == 8 and np.isfinite(got["features"]).all()
