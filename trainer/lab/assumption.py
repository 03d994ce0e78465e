"""Assumption 2.9 check (002, Table 2)."""

from __future__ import annotations

import numpy as np
import torch

def assumption_check(dataset: str, *, alpha: float = 1024.0, subsample: float | None = 0.2,
                     seed: int = 0, data_dir=None, allow_download: bool = False,
                     dataset_args: dict | None = None) -> dict:
    """Table 2's procedure for any registry dataset: one epoch of mixup points (every point of
    a seeded ``subsample`` of the training set mixed with a random partner, λ ~ Beta(α, α)),
    and the distance from each to the nearest training (and, when there is one, test) point
    of a class other than the two mixed. The minimum is the estimate of ε in Assumption 2.9.

    Distances are in the units of the model's inputs (images scaled to [0, 1] and
    standardised per channel, tabular sets as loaded), flattened.
    Returns ``{"dataset", "alpha", "subsample", "seed", "num_mix", "dim", "train": {"min",
    "mean"}, "test": {"min", "mean"} or None}``. A same-class mix of class i is compared
    with every other class; a mix of classes i ≠ j with the classes other than i and j
    (none with two classes). min/mean are None when no mix has anything to compare with.
    """
    from backend.maths.mixup_optimal import other_class_distances
    from backend.runconfig import RunConfig
    from trainer.data import load_dataset

    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if subsample is not None and not 0 < subsample <= 1:
        raise ValueError(f"subsample must be in (0, 1], got {subsample}")
    config = RunConfig(dataset=dataset, seed=seed, dataset_args=dataset_args or {})
    bundle = load_dataset(config, data_dir, allow_download)

    def flat(x: torch.Tensor) -> np.ndarray:
        return bundle.prepare(x, "cpu").reshape(len(x), -1).numpy().astype(np.float64)

    xtr, ytr = flat(bundle.train_x), bundle.train_y.numpy()
    res = other_class_distances(xtr, ytr, alpha=alpha, seed=seed, subsample=subsample)

    def summary(r: dict) -> dict:
        finite = np.isfinite(r["min"])
        return {"min": float(r["min"]) if finite else None,
                "mean": float(r["mean"]) if finite else None}

    out = {"dataset": dataset, "alpha": alpha, "subsample": subsample, "seed": seed,
           "num_mix": len(res["lam"]), "dim": int(xtr.shape[1]),
           "num_classes": bundle.num_classes, "train": summary(res), "test": None}
    if len(bundle.test_y):
        test = other_class_distances(xtr, ytr, X_ref=flat(bundle.test_x),
                                     y_ref=bundle.test_y.numpy(), pair_a=res["pair_a"],
                                     pair_b=res["pair_b"], lam=res["lam"])
        out["test"] = summary(test)
    return out


