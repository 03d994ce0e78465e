"""Per-epoch metrics of a run, computed by ``backend.maths`` (never re-implemented here).

Each function takes numpy arrays and returns a dict of the metric keys of docs/contracts.md,
with plain floats / short lists so ``store.record_epoch`` can keep them in SQL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backend import maths

RADIUS_BAND = (0.4, 0.6)


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _dev_guard(keys):  # TEMPORARY until backend.maths lands its metrics
    def deco(fn):
        def wrapped(*a, **k):
            try:
                return fn(*a, **k)
            except AttributeError:
                return {key: None for key in keys}
        return wrapped
    return deco


@_dev_guard(["ece", "mce", "reliability"])
def test_metrics(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """ECE, MCE and the reliability bins of test probabilities (n, C) against labels (n,)."""
    cal = maths.calibration(probs, labels, n_bins=bins)
    return {"ece": _f(cal.ece), "mce": _f(cal.mce),
            "reliability": {"counts": [int(c) for c in cal.counts],
                            "accuracy": [_f(a) for a in cal.accuracy],
                            "confidence": [_f(c) for c in cal.confidence]}}


@_dev_guard(["norm_cv", "cosine_std", "nc1", "nc2", "nc3"])
def classifier_metrics(W: np.ndarray, clean: np.ndarray, clean_labels: np.ndarray,
                       num_classes: int) -> dict[str, Any]:
    """ETF convergence of W (C, d) and NC1–NC3 of clean features (n, d) with labels (n,)."""
    etf = maths.etf_metrics(W)
    out = {"norm_cv": _f(etf.norm_cv), "cosine_std": _f(etf.cosine_std)}
    try:
        nc = maths.neural_collapse(clean.astype(np.float64), clean_labels, W,
                                   num_classes=num_classes)
        out.update(nc1=_f(nc.nc1), nc2=_f(nc.nc2), nc3=_f(nc.nc3))
    except ValueError:  # e.g. a class with no clean example in the probe
        out.update(nc1=None, nc2=None, nc3=None)
    return out


@_dev_guard(["alignment", "channel_radius"])
def triple_metrics(W: np.ndarray, feats: np.ndarray, rows: dict[str, np.ndarray],
                   triple: tuple[int, int, int], clean: np.ndarray) -> dict[str, Any]:
    """Alignment and channel radius of the default triple.

    feats: (n, d) penultimate features of the triple's probe rows; rows: per row
    ``class_a``, ``class_b``, ``lam`` (weight on class_a), ``is_clean``; clean: (n_c, d) all
    clean probe features, whose mean centres the projection (the neural-collapse convention).
    """
    proj = maths.project_triple(W, feats, triple, centre=clean.mean(axis=0))
    same = (rows["class_a"] == rows["class_b"]) & ~rows["is_clean"]
    diff = rows["class_a"] != rows["class_b"]
    return {
        "alignment": _f(maths.alignment(proj, rows["class_a"][same])),
        "channel_radius": _f(maths.channel_radius(proj.points[diff], rows["lam"][diff],
                                                  band=RADIUS_BAND)),
    }


@_dev_guard([])
def grad_split_metrics(model, pen: np.ndarray, probe: dict[str, np.ndarray],
                       num_classes: int) -> dict[str, Any]:
    """Usual vs cross share of the manifold-mixup MSE gradient (blog 001) on the probe pairs,
    mixing at the penultimate layer with the current linear head."""
    n_c = len(probe["clean_index"])
    lam = probe["pair_lambda"].astype(np.float64)
    if len(lam) == 0:
        return {}
    # penultimate features of the two partners: the clean rows are a subset of the training
    # set, so use each pair's own endpoints through a mixed pass at λ = 1 (= clean features)
    W = model.classifier.weight.detach().double().cpu().numpy()
    b = model.classifier.bias
    bias = b.detach().double().cpu().numpy() if b is not None else np.zeros(len(W))
    fa, fb = pen_pairs_features(pen, probe, n_c)
    if fa is None:
        return {}
    eye = np.eye(num_classes)
    split = maths.gradient_split(W, bias, fa, fb, eye[probe["pair_class_a"]],
                                 eye[probe["pair_class_b"]], lam)
    usual, cross = float(split.usual_norm), float(split.cross_norm)
    return {"grad_usual_norm": _f(usual), "grad_cross_norm": _f(cross),
            "grad_cross_ratio": _f(cross / (usual + cross)) if usual + cross > 0 else None}


def pen_pairs_features(pen, probe, n_c):
    """Clean features of each pair's endpoints when both are clean probe points, else None."""
    pos = {int(i): r for r, i in enumerate(probe["clean_index"].tolist())}
    ia = [pos.get(int(i)) for i in probe["pair_a"]]
    ib = [pos.get(int(i)) for i in probe["pair_b"]]
    if any(v is None for v in ia + ib):
        return None, None
    return pen[np.asarray(ia)].astype(np.float64), pen[np.asarray(ib)].astype(np.float64)
