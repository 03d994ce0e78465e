"""Assumption 2.9 check (002, Table 2): how far mixup points stay from the other classes.

Two procedures, both on the model's inputs flattened:

- ``"authors"`` (default, the authors' code, reference §7): a seeded 20 % subsample S, each
  point of S mixed with a partner drawn uniformly with replacement from S, λ ~ Beta(1024,
  1024); the reference points are S itself, and for each the distance to the nearest mix
  whose two classes both differ from its label; min and *mean over the reference points*.
  CIFAR images are standardised with the authors' standard deviations. Table 2's test row:
  every test point as a reference point against the same mixes (the authors' code for it
  is not in reference §7; this is their train procedure applied to the test points).
- ``"product"`` (mixscope's earlier variant): partners a random permutation of S, each mix
  against every training point (and, separately, every test point) of a class other than
  the two mixed; min and mean over the mixes; the product's own normalisation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

PROCEDURES = ("authors", "product")
PROCEDURE_LABELS = {
    "authors": "authors' procedure: reference points = the 20 % subsample (the test row: "
               "every test point, against the same mixes), mean over "
               "reference points, partners uniform with replacement, the authors' CIFAR stds",
    "product": "mixscope variant: every mix against every training/test point, mean over "
               "mixes, partners a permutation, mixscope's normalisation",
}
#: Table 2 of 002: minimum distance, Beta(1024, 1024), 20 % subsample.
PAPER_TABLE2 = {"mnist": 11.43, "cifar10": 17.72, "cifar100": 12.94}
#: The per-channel standard deviations of the authors' code (their means change no distance).
AUTHORS_STD = {"cifar10": (0.2023, 0.1994, 0.2010), "cifar100": (0.2675, 0.2565, 0.2761)}


def assumption_check(dataset: str, *, alpha: float = 1024.0, subsample: float | None = 0.2,
                     seed: int = 0, data_dir=None, allow_download: bool = False,
                     dataset_args: dict | None = None, procedure: str = "authors") -> dict:
    """Table 2's ε estimate for any registry dataset by ``procedure`` (module docstring).

    Distances are in the units of the model's inputs (images scaled to [0, 1] and
    standardised per channel, tabular sets as loaded), flattened.
    Returns ``{"dataset", "procedure", "procedure_label", "normalisation", "alpha",
    "subsample", "seed", "num_mix", "dim", "num_classes", "train": {"min", "mean"}, "test":
    {"min", "mean"} or None, "paper"?: {"min"}}``. With ``"authors"`` ``train`` is over the
    reference points (the subsample) and ``test`` over every test point against the same
    mixes (None when the dataset holds no test points). A same-class mix of class i is
    compared with every other class; a mix of classes i ≠ j with the classes other than i
    and j (none with two classes). min/mean are None when nothing qualifies.
    """
    from backend.maths.mixup_optimal import other_class_distances, reference_to_mix_distances
    from backend.runconfig import RunConfig
    from trainer.data import load_dataset

    if procedure not in PROCEDURES:
        raise ValueError(f"procedure must be one of {PROCEDURES}, got {procedure!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if subsample is not None and not 0 < subsample <= 1:
        raise ValueError(f"subsample must be in (0, 1], got {subsample}")
    config = RunConfig(dataset=dataset, seed=seed, dataset_args=dataset_args or {})
    bundle = load_dataset(config, data_dir, allow_download)
    normalisation = "as loaded (mixscope's dataset standardisation)" if bundle.std is None \
        else f"mixscope std {tuple(round(float(v), 4) for v in bundle.std)}"
    if procedure == "authors" and dataset in AUTHORS_STD:
        bundle = dataclasses.replace(bundle, std=torch.tensor(AUTHORS_STD[dataset]))
        normalisation = f"authors' std {AUTHORS_STD[dataset]}"

    def flat(x: torch.Tensor) -> np.ndarray:
        return bundle.prepare(x, "cpu").reshape(len(x), -1).numpy().astype(np.float64)

    def summary(r: dict) -> dict:
        finite = np.isfinite(r["min"])
        return {"min": float(r["min"]) if finite else None,
                "mean": float(r["mean"]) if finite else None}

    xtr, ytr = flat(bundle.train_x), bundle.train_y.numpy()
    out = {"dataset": dataset, "procedure": procedure,
           "procedure_label": PROCEDURE_LABELS[procedure], "normalisation": normalisation,
           "alpha": alpha, "subsample": subsample, "seed": seed, "dim": int(xtr.shape[1]),
           "num_classes": bundle.num_classes, "test": None}
    if procedure == "authors":
        res = reference_to_mix_distances(xtr, ytr, alpha=alpha, seed=seed, subsample=subsample)
        out.update(num_mix=len(res["lam"]), train=summary(res))
        if len(bundle.test_y):
            test = reference_to_mix_distances(xtr, ytr, alpha=alpha, seed=seed,
                                              subsample=subsample, X_ref=flat(bundle.test_x),
                                              y_ref=bundle.test_y.numpy())
            out["test"] = summary(test)
    else:
        res = other_class_distances(xtr, ytr, alpha=alpha, seed=seed, subsample=subsample)
        out.update(num_mix=len(res["lam"]), train=summary(res))
        if len(bundle.test_y):
            test = other_class_distances(xtr, ytr, X_ref=flat(bundle.test_x),
                                         y_ref=bundle.test_y.numpy(), pair_a=res["pair_a"],
                                         pair_b=res["pair_b"], lam=res["lam"])
            out["test"] = summary(test)
    if dataset in PAPER_TABLE2:
        out["paper"] = {"min": PAPER_TABLE2[dataset]}
    return out
