"""Collapse metrics: the classifier's convergence to a simplex ETF, neural collapse NC1-NC3 on
clean features, and two mixup-aware summaries of a projected class triple.

Definitions (all are 0 on an exact simplex ETF with collapsed features, except the two
projection summaries):

- ``norm_cv(W)``: ``Std_i ||w_i|| / Avg_i ||w_i||`` (000 Fig. 5, population std).
- ``cosine_std(W)``: ``Std_{i≠i'} cos(w_i, w_i')`` over the C(C-1) ordered distinct pairs.
- ``nc1``: ``Tr(Σ_W Σ_B⁺) / C`` (Papyan et al. 2020): within-class over between-class scatter.
- ``nc2``: ``|| M Mᵀ/||M Mᵀ||_F - (I - 11ᵀ/C)/sqrt(C-1) ||_F`` with M the (C×d) class means
  minus the global mean (Zhu et al. 2021): distance of the class means' Gram to an ETF's.
- ``nc3``: ``|| W Mᵀ/||W Mᵀ||_F - (I - 11ᵀ/C)/sqrt(C-1) ||_F``: self-duality of classifier and
  class means (Zhu et al. 2021).

Papyan et al. (2020)'s conventions for the same phenomena (:func:`papyan_collapse`; their code
uses ``torch.std``, i.e. ddof = 1, and the cosines of *distinct unordered* pairs):

- NC2 equinorm: ``papyan_nc2_norm_cv_means`` = Std_c ||μ_c − μ_G|| / Avg_c ||μ_c − μ_G|| and
  ``papyan_nc2_norm_cv_classifier`` = the same of the classifier rows ||w_c||;
- NC2 equiangularity: ``papyan_nc2_cos_std_means`` = Std_{c<c'} cos(μ_c − μ_G, μ_c' − μ_G)
  and ``papyan_nc2_cos_shift_means`` = Avg_{c≠c'} |cos(μ_c − μ_G, μ_c' − μ_G) + 1/(C−1)|;
- NC3 self-duality: ``papyan_nc3`` = || W/||W||_F − M/||M||_F ||²_F, M the centred means (C, d).

Zhu's ``nc2``/``nc3`` are distances of Gram matrices to the ETF's; Papyan's split the same
property into norms and angles and compare W with M directly. All are 0 at exact collapse.

Projection summaries of a triple (2-D points from :func:`backend.maths.project_triple`):

- The **vertex clusters** are the mean 2-D positions of each class's clean points (or, when
  no clean point of a class is given, of its same-class mixup points). Their centroid is the
  **centre**, and the **vertex radius** is the mean distance of the three cluster means from
  the centre. So 1.0 means "as far out as the vertex clusters"; the midpoint of a straight
  triangle edge sits at 0.5.
- ``alignment``: median over same-class mixup points of the cosine between the point's offset
  from the centre and its class's projected classifier row (arrow). 1 = every same-class point
  lies on its classifier's ray; scale-free, in [-1, 1].
- ``channel_radius``: median distance from the centre, in units of the vertex radius, of the
  different-class points with λ in [0.4, 0.6]. Reference (digits MLP, 000-like recipe):
  ≈ 0.78 with mixup (channels bow outwards), ≈ 0.46 without (points on the straight edges).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "CHANNEL_LAMBDAS",
    "KIND_CLEAN",
    "KIND_DIFFERENT",
    "KIND_SAME",
    "alignment",
    "channel_radius",
    "class_means",
    "classifier_etf_distance",
    "cosine_std",
    "nc1",
    "nc2",
    "nc3",
    "neural_collapse",
    "norm_cv",
    "papyan_collapse",
    "projection_metrics",
    "projection_metrics_epochs",
    "rows_the_metrics_read",
    "vertex_geometry",
]

#: point kinds, as in the projection API: 0 clean, 1 same-class mixup, 2 different-class mixup
KIND_CLEAN, KIND_SAME, KIND_DIFFERENT = 0, 1, 2
#: the λ range (inclusive) of the different-class points whose distance is the channel radius
CHANNEL_LAMBDAS = (0.4, 0.6)


def _as2d(W: np.ndarray, name: str = "W") -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {W.shape}")
    return W


def norm_cv(W: np.ndarray) -> float:
    """Coefficient of variation of the row norms of W (C, d): ``Std ||w_i|| / Avg ||w_i||``."""
    n = np.linalg.norm(_as2d(W), axis=1)
    return float(n.std() / n.mean())


def cosine_std(W: np.ndarray) -> float:
    """Standard deviation of the cosines between distinct rows of W (C, d)."""
    W = _as2d(W)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    G = Wn @ Wn.T
    off = ~np.eye(W.shape[0], dtype=bool)
    return float(G[off].std())


def class_means(H: np.ndarray, labels: np.ndarray, num_classes: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Class means (C, d) and global mean (d,) of features H (n, d) with integer labels (n,).
    The global mean is the mean of the class means (balanced), as in Papyan et al."""
    H = _as2d(H, "H")
    labels = np.asarray(labels)
    if labels.shape != (H.shape[0],):
        raise ValueError(f"labels must have shape ({H.shape[0]},), got {labels.shape}")
    C = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    counts = np.bincount(labels, minlength=C).astype(np.float64)
    if np.any(counts == 0):
        raise ValueError("every class needs at least one feature row")
    # a one-hot matmul is ~20x faster than np.add.at and this runs every epoch
    onehot = np.zeros((H.shape[0], C), dtype=np.float64)
    onehot[np.arange(H.shape[0]), labels] = 1.0
    sums = onehot.T @ H
    means = sums / counts[:, None]
    return means, means.mean(axis=0)


def nc1(H: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> float:
    """``Tr(Σ_W Σ_B⁺) / C``: within-class variability relative to the between-class one."""
    H = _as2d(H, "H")
    means, g = class_means(H, labels, num_classes)
    C = means.shape[0]
    R = H - means[np.asarray(labels)]
    sw = R.T @ R / H.shape[0]
    M = means - g
    sb = M.T @ M / C
    return float(np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10, hermitian=True)) / C)


def _etf_gram_distance(G: np.ndarray) -> float:
    C = G.shape[0]
    target = (np.eye(C) - np.ones((C, C)) / C) / np.sqrt(C - 1)
    scale = np.linalg.norm(G)
    if not np.isfinite(scale) or scale == 0:  # collapsed to a point: no direction to compare
        return float("nan")
    return float(np.linalg.norm(G / scale - target))


def nc2(H: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> float:
    """Distance of the centred class means' normalised Gram matrix from a simplex ETF's."""
    means, g = class_means(H, labels, num_classes)
    M = means - g
    return _etf_gram_distance(M @ M.T)


def classifier_etf_distance(W: np.ndarray) -> float:
    """Distance of the classifier's normalised Gram matrix ``W Wᵀ / ||W Wᵀ||_F`` from a simplex
    ETF's ``(I - 11ᵀ/C)/sqrt(C-1)`` (Zhu et al.'s NC2 of W; 0 at a simplex ETF, whatever its
    scale): the sweep grid's "classifier-to-ETF distance"."""
    W = _as2d(W)
    return _etf_gram_distance(W @ W.T)


def nc3(W: np.ndarray, H: np.ndarray, labels: np.ndarray) -> float:
    """Self-duality: distance of ``W Mᵀ / ||W Mᵀ||_F`` from ``(I - 11ᵀ/C)/sqrt(C-1)``."""
    W = _as2d(W)
    means, g = class_means(H, labels, W.shape[0])
    return _etf_gram_distance(W @ (means - g).T)


def neural_collapse(W: np.ndarray, H: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """All classifier and collapse metrics at once: ``norm_cv, cosine_std, nc1, nc2, nc3``.

    W (C, d) classifier, H (n, d) clean features, labels (n,) in [0, C)."""
    W = _as2d(W)
    C = W.shape[0]
    return {
        "norm_cv": norm_cv(W),
        "cosine_std": cosine_std(W),
        "nc1": nc1(H, labels, C),
        "nc2": nc2(H, labels, C),
        "nc3": nc3(W, H, labels),
    }


def _cv(v: np.ndarray) -> float:
    """Coefficient of variation with ddof = 1 (``torch.std``), NaN for fewer than 2 values."""
    if v.size < 2 or v.mean() == 0:
        return float("nan")
    return float(v.std(ddof=1) / v.mean())


def papyan_collapse(W: np.ndarray, H: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Papyan et al. (2020)'s NC2 and NC3 (module docstring): ``papyan_nc2_norm_cv_means,
    papyan_nc2_norm_cv_classifier, papyan_nc2_cos_std_means, papyan_nc2_cos_shift_means,
    papyan_nc3``. W (C, d) classifier, H (n, d) clean features, labels (n,) in [0, C)."""
    W = _as2d(W)
    C = W.shape[0]
    means, g = class_means(H, labels, C)
    M = means - g
    m_norms = np.linalg.norm(M, axis=1)
    Mn = M / np.where(m_norms > 0, m_norms, 1.0)[:, None]
    cos = Mn @ Mn.T
    iu = np.triu_indices(C, 1)
    off = ~np.eye(C, dtype=bool)
    wn, mn = np.linalg.norm(W), np.linalg.norm(M)
    return {
        "papyan_nc2_norm_cv_means": _cv(m_norms),
        "papyan_nc2_norm_cv_classifier": _cv(np.linalg.norm(W, axis=1)),
        "papyan_nc2_cos_std_means": float(cos[iu].std(ddof=1)) if len(iu[0]) > 1
        else float("nan"),
        "papyan_nc2_cos_shift_means": float(np.abs(cos[off] + 1.0 / (C - 1)).mean()),
        "papyan_nc3": float(np.sum((W / wn - M / mn) ** 2)) if wn > 0 and mn > 0
        else float("nan"),
    }


# --------------------------------------------------------------------------- projected triple
def _among(a: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """``np.isin(a, classes)`` for a few classes, by comparisons (a frame's hot path)."""
    out = np.zeros(np.shape(a), bool)
    for c in classes:
        out |= a == c
    return out


def vertex_geometry(points: np.ndarray, kind: np.ndarray, class_a: np.ndarray,
                    class_b: np.ndarray, classes: Sequence[int]
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """Vertex clusters of a projected triple.

    Args: points (n, 2); kind (n,) 0 clean / 1 same / 2 different; class_a, class_b (n,)
    (equal for clean and same-class points); classes: the triple (a, b, c).

    Returns (centre (2,), cluster means (3, 2) in the order of ``classes``, vertex radius).
    A class's cluster is its clean points, or its same-class points when it has no clean ones.
    Raises ValueError when a class of the triple has neither."""
    pos = _vertex_clusters(np.asarray(points, dtype=np.float64)[None], np.asarray(kind),
                           np.asarray(class_a), np.asarray(class_b), classes)
    centre, radius = _centre_radius(pos)
    return centre[0], pos[0], float(radius[0])


def _vertex_clusters(P: np.ndarray, kind: np.ndarray, ca: np.ndarray, cb: np.ndarray,
                     classes: Sequence[int]) -> np.ndarray:
    """(E, 3, 2) cluster means of P (E, n, 2) (see :func:`vertex_geometry`)."""
    pos = np.empty((P.shape[0], 3, 2))
    for k, c in enumerate(classes):
        sel = (kind == KIND_CLEAN) & (ca == c)
        if not sel.any():
            sel = (kind == KIND_SAME) & (ca == c) & (cb == c)
        if not sel.any():
            raise ValueError(f"class {c} has no clean or same-class points to locate its vertex")
        pos[:, k] = P[:, sel].mean(axis=1)
    return pos


def _centre_radius(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (E, 2) and vertex radius (E,) of cluster means (E, 3, 2)."""
    centre = pos.mean(axis=1)
    return centre, np.linalg.norm(pos - centre[:, None], axis=2).mean(axis=1)


def alignment(points: np.ndarray, labels: np.ndarray, arrows: np.ndarray,
              classes: Sequence[int], centre: np.ndarray | None = None) -> float:
    """Median cosine between same-class points' offsets from ``centre`` and their class's arrow.

    points (n, 2) same-class mixup points, labels (n,) their class, arrows (3, 2) projected
    classifier rows in the order of ``classes``. NaN when there are no points."""
    P = np.asarray(points, dtype=np.float64)
    c0 = np.zeros(2) if centre is None else np.asarray(centre, dtype=np.float64)
    return float(_alignment(P[None], _which(labels, classes),
                            np.asarray(arrows, dtype=np.float64)[None], c0[None])[0])


def _which(labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Position in ``classes`` of each label (ValueError for a label outside)."""
    labels = np.asarray(labels)
    which = np.full(labels.shape, -1)
    for k, c in enumerate(classes):   # three comparisons: no Python loop over the points
        which[labels == c] = k
    if (which < 0).any():
        raise ValueError(f"label {labels[which < 0][0]} is not in the triple {tuple(classes)}")
    return which


def _alignment(P: np.ndarray, which: np.ndarray, arrows: np.ndarray, centre: np.ndarray
               ) -> np.ndarray:
    """(E,) alignment of P (E, m, 2) whose arrows are ``arrows[:, which]`` (E, 3, 2)."""
    if P.shape[1] == 0:
        return np.full(P.shape[0], np.nan)
    A = arrows / np.linalg.norm(arrows, axis=2, keepdims=True)
    off = P - centre[:, None]
    norms = np.linalg.norm(off, axis=2)
    cos = np.einsum("eij,eij->ei", off, A[:, which]) / np.where(norms > 0, norms, 1.0)
    return np.median(np.where(norms > 0, cos, 0.0), axis=1)


def channel_radius(points: np.ndarray, lam: np.ndarray, centre: np.ndarray, radius: float,
                   lam_range: tuple[float, float] = CHANNEL_LAMBDAS) -> float:
    """Median distance from ``centre``, in units of ``radius``, of different-class points
    (n, 2) whose λ (n,) lies in ``lam_range`` (inclusive). NaN when none qualify."""
    P = np.asarray(points, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    sel = (lam >= lam_range[0]) & (lam <= lam_range[1])
    return float(_channel_radius(P[None, sel], np.asarray(centre, dtype=np.float64)[None],
                                 np.array([radius], dtype=np.float64))[0])


def _channel_radius(P: np.ndarray, centre: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(E,) median distance of P (E, m, 2) from ``centre`` (E, 2) over ``radius`` (E,)."""
    out = np.full(P.shape[0], np.nan)
    ok = radius > 0
    if P.shape[1] and ok.any():
        dist = np.median(np.linalg.norm(P[ok] - centre[ok, None], axis=2), axis=1)
        out[ok] = dist / radius[ok]
    return out


def projection_metrics(points: np.ndarray, kind: np.ndarray, class_a: np.ndarray,
                       class_b: np.ndarray, lam: np.ndarray, arrows: np.ndarray,
                       classes: Sequence[int]) -> dict[str, float]:
    """``alignment``, ``channel_radius``, ``radius`` (vertex radius, in plot units) of one
    projected triple, with the definitions in the module docstring.

    points (n, 2); kind (n,) 0/1/2; class_a, class_b (n,); lam (n,) weight on class_a (only
    |λ - ½| matters here); arrows (3, 2) in the order of ``classes``. Points of classes outside
    the triple are ignored. Raises ValueError when a class has neither clean nor same-class
    points (:func:`vertex_geometry`)."""
    m = projection_metrics_epochs(np.asarray(points, dtype=np.float64)[None], kind, class_a,
                                  class_b, lam, np.asarray(arrows, dtype=np.float64)[None],
                                  classes)
    return {k: float(v[0]) for k, v in m.items()}


def projection_metrics_epochs(points: np.ndarray, kind: np.ndarray, class_a: np.ndarray,
                              class_b: np.ndarray, lam: np.ndarray, arrows: np.ndarray,
                              classes: Sequence[int]) -> dict[str, np.ndarray]:
    """:func:`projection_metrics` of the same rows at E epochs at once: points (E, n, 2),
    arrows (E, 3, 2); kind, class_a, class_b, lam (n,) as there. Returns (E,) arrays. Which
    rows form each vertex cluster, the same-class set and the channel set depend only on the
    rows, so they are found once and every epoch is reduced in one pass (a frames request)."""
    P = np.asarray(points, dtype=np.float64)
    kind = np.asarray(kind)
    ca = np.asarray(class_a)
    cb = np.asarray(class_b)
    lam = np.asarray(lam, dtype=np.float64)
    inside = _among(ca, classes) & _among(cb, classes)
    pos = _vertex_clusters(P[:, inside], kind[inside], ca[inside], cb[inside], classes)
    centre, radius = _centre_radius(pos)
    same = inside & (kind == KIND_SAME)
    chan = inside & (kind == KIND_DIFFERENT) & (lam >= CHANNEL_LAMBDAS[0]) & \
        (lam <= CHANNEL_LAMBDAS[1])
    return {
        "alignment": _alignment(P[:, same], _which(ca[same], classes),
                                np.asarray(arrows, dtype=np.float64), centre),
        "channel_radius": _channel_radius(P[:, chan], centre, radius),
        "radius": radius,
    }


def rows_the_metrics_read(kind: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Which rows of a triple :func:`projection_metrics` reads (bool): clean and same-class
    points (vertices, alignment) and different-class points with λ in
    :data:`CHANNEL_LAMBDAS` (channel radius). The others change no metric, so a per-epoch
    estimate need not compute their features."""
    kind = np.asarray(kind)
    lam = np.asarray(lam, dtype=np.float64)
    return (kind != KIND_DIFFERENT) | ((lam >= CHANNEL_LAMBDAS[0]) & (lam <= CHANNEL_LAMBDAS[1]))
