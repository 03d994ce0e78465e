"""Per-epoch metrics of a run, computed by ``backend.maths`` (never re-implemented here).

Each function takes numpy arrays and returns a dict of the metric keys of docs/contracts.md,
with plain floats / short lists so ``store.record_epoch`` can keep them in SQL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backend import maths


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def test_metrics(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """ECE, MCE and the reliability bins of test probabilities (n, C) against labels (n,)."""
    if not np.isfinite(probs).all():  # a diverged network: no calibration to speak of
        return {"ece": None, "mce": None, "reliability": None}
    rel = maths.reliability_from_probs(probs, labels, n_bins=bins)
    return {"ece": _f(rel.ece), "mce": _f(rel.mce),
            "reliability": {"counts": [int(c) for c in rel.counts],
                            "accuracy": [_f(a) for a in rel.accuracy],
                            "confidence": [_f(c) for c in rel.confidence]}}


def classifier_metrics(W: np.ndarray, clean: np.ndarray, clean_labels: np.ndarray
                       ) -> dict[str, Any]:
    """ETF convergence of W (C, d) and NC1–NC3 of clean features (n, d) with labels (n,)."""
    try:
        nc = maths.neural_collapse(W, clean, clean_labels)
    except (ValueError, np.linalg.LinAlgError):  # e.g. a degenerate scatter early on
        return {"norm_cv": _f(maths.norm_cv(W)), "cosine_std": _f(maths.cosine_std(W)),
                "nc1": None, "nc2": None, "nc3": None}
    return {k: _f(nc[k]) for k in ("norm_cv", "cosine_std", "nc1", "nc2", "nc3")}


def triple_metrics(W: np.ndarray, feats: np.ndarray, rows: dict[str, np.ndarray],
                   triple: tuple[int, int, int], centre: np.ndarray) -> dict[str, Any]:
    """Alignment and channel radius of the default triple (definitions: backend.maths.collapse).

    feats: (n, d) penultimate features of the triple's probe rows; rows: per row
    ``class_a``, ``class_b``, ``lam`` (weight on class_a), ``is_clean``; centre: (d,) the
    mean of all clean probe features (the neural-collapse centring convention).
    """
    try:
        proj = maths.project_triple(W, feats, triple, centre=centre)
    except ValueError:  # d < 3 (a 2-D bottleneck) or linearly dependent classifier rows
        return {"alignment": None, "channel_radius": None}
    kind = np.where(rows["is_clean"], maths.KIND_CLEAN,
                    np.where(rows["class_a"] == rows["class_b"], maths.KIND_SAME,
                             maths.KIND_DIFFERENT))
    try:
        m = maths.projection_metrics(proj.points, kind, rows["class_a"], rows["class_b"],
                                     rows["lam"], proj.arrows, triple)
    except ValueError:  # a class of the triple without points
        return {"alignment": None, "channel_radius": None}
    return {"alignment": _f(m["alignment"]), "channel_radius": _f(m["channel_radius"])}


def grad_split_metrics(W: np.ndarray, bias: np.ndarray | None, f_a: np.ndarray,
                       f_b: np.ndarray, class_a: np.ndarray, class_b: np.ndarray,
                       lam: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Usual vs cross share of the manifold-mixup MSE gradient (blog 001) over probe pairs.

    f_a, f_b: (n, d) clean penultimate features of the two partners; the head W (C, d),
    bias (C,); one-hot targets of class_a / class_b; lam (n,) the weight on the first."""
    if len(lam) == 0:
        return {}
    eye = np.eye(num_classes)
    split = maths.gradient_split(W, f_a, f_b, eye[class_a], eye[class_b], lam, bias=bias)
    return {k: _f(v) for k, v in split.metrics().items()}


def stored_triple_metrics(store, run_id: str, epoch: int, triple: tuple[int, int, int],
                          layer: str = "penultimate") -> dict[str, Any]:
    """Alignment and channel radius of any covered triple from the *stored* activations and
    classifier of a recorded epoch (what the dashboard shows)."""
    from trainer.probe import probe_rows_info, triple_rows

    probe = store.get_arrays(run_id, "probe")
    feats = np.asarray(store.get_arrays(run_id, "activations", epoch=epoch,
                                        layer=layer)["features"], np.float32)
    W = store.get_arrays(run_id, "classifier", epoch=epoch)["weight"]
    centre = feats[:len(probe["clean_index"])].mean(axis=0)
    rows = triple_rows(probe, triple)
    return triple_metrics(W, feats[rows], probe_rows_info(probe, rows), tuple(triple), centre)
