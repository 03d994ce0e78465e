"""Optimal features of a class triple (probe convention: λ on the lower class) and their
projection onto the simplex picture, to overlay the empirical plots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backend.maths.simplex import lambda_on_lower_class, project_triple
from backend.maths.ufm.params import ParameterError, etf, etf_triple_rows
from backend.maths.ufm.solution import UFMSolution, solve_ufm


def optimal_features(sol: UFMSolution, classes: Sequence[int] = (0, 1, 2),
                     W: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The optimal (or amplified) features of a class triple, one per ordered pair and λ.

    Uses the ETF ``W`` (C×d; default ``etf(C, m)``). Rows follow the probe convention:
    ``class_a <= class_b`` and ``lam`` is the weight on ``class_a``; ordered pairs (i, i') and
    (i', i) with the same sampled λ give lam = λ and 1-λ. Same-class rows (one per λ; they
    coincide) come first, then different-class rows.

    Returns ``features`` (n, d) float64, ``lam`` (n,), ``kind`` (n,) int16 (1 same, 2
    different), ``class_a``, ``class_b`` (n,) int64."""
    C = sol.num_classes
    W = etf(C, sol.m) if W is None else np.asarray(W, dtype=np.float64)
    cls = [int(c) for c in classes]
    lam = sol.lambdas
    n = lam.size
    feats, lams, kinds, ca, cb = [], [], [], [], []
    for c in cls:
        feats.append(np.broadcast_to(sol.coef_same * W[c], (n, W.shape[1])))
        lams.append(lam)
        kinds.append(np.full(n, 1, np.int16))
        ca.append(np.full(n, c))
        cb.append(np.full(n, c))
    for p in range(3):
        for q in range(3):
            if p == q:
                continue
            i, j = cls[p], cls[q]
            # h for target λ y_i + (1-λ) y_j
            feats.append(sol.coef_i[:, None] * W[i] + sol.coef_j[:, None] * W[j])
            lo, hi, lam_lo = lambda_on_lower_class(np.full(n, i), np.full(n, j), lam)
            lams.append(lam_lo)
            kinds.append(np.full(n, 2, np.int16))
            ca.append(lo)
            cb.append(hi)
    return {
        "features": np.concatenate(feats),
        "lam": np.concatenate(lams),
        "kind": np.concatenate(kinds),
        "class_a": np.concatenate(ca).astype(np.int64),
        "class_b": np.concatenate(cb).astype(np.int64),
    }


def ufm_projection(m: float, num_classes: int, lambda_h: float,
                   lambdas: Sequence[float] | np.ndarray, amplify: bool = False,
                   classes: Sequence[int] = (0, 1, 2)) -> dict[str, np.ndarray]:
    """The optimal features of a triple projected with :func:`project_triple` on the ETF, so
    they overlay the empirical plots (what ``GET /api/theory/ufm`` draws). Returns ``points`` (n, 2) float32, ``lam`` (n,)
    float32, ``kind`` (n,) int16, ``class_a``, ``class_b``, ``vertices`` (3, 2), ``arrows``
    (3, 2). No centring: the optimal features of all C classes have mean zero."""
    sol = solve_ufm(m, num_classes, lambda_h, lambdas, amplify=amplify)
    classes = [int(c) for c in classes]
    if len(set(classes)) != 3 or min(classes) < 0 or max(classes) >= sol.num_classes:
        raise ParameterError("classes", f"classes must be three distinct indices in "
                             f"0..{sol.num_classes - 1}, got {classes}")
    # the triple's ETF rows in the 4-d span they need (etf_triple_rows): an isometry of the
    # (C, C) ETF's picture, so C in the thousands costs nothing
    W = np.zeros((max(classes) + 1, 4))
    W[classes] = etf_triple_rows(sol.num_classes, sol.m)
    f = optimal_features(sol, classes, W)
    proj = project_triple(W, f["features"], classes, centre=None)
    return {
        "points": proj.points.astype(np.float32),
        "lam": f["lam"].astype(np.float32),
        "kind": f["kind"],
        "class_a": f["class_a"],
        "class_b": f["class_b"],
        "vertices": proj.vertices,
        "arrows": proj.arrows,
    }
