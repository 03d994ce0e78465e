"""Projection of features onto the 2-D picture of a class triple (Pushing Boundaries, App. B.2).

For classes (a, b, c) of a classifier W (C×d) and features H (n×d):

1. ``W*`` = rows a, b, c of W, each normalised to unit length (3×d).
2. Thin SVD ``W* = U S Vᵀ`` and ``Q = U Vᵀ`` (3×d, orthonormal rows): the polar factor of W*.
3. ``A`` (2×3) holds the vertices of an equilateral triangle as columns: class a at the top
   (90°), then b and c clockwise (-30°, 210°), all at unit distance from the origin.
4. ``X = A Q (H - centre)ᵀ``: the 2-D points; classifier row k is drawn as ``A Q w_k``.

Why this orientation never flips: ``Q W*ᵀ = U S Uᵀ`` is symmetric positive definite, so the
3-D coordinates of the three classifier rows are always "on their own axes" (a dominant
diagonal) and A puts axis k on vertex k. The polar factor is unique for full-rank W*, so there
is no SVD sign ambiguity, and rotating feature space (H R, W R with R orthogonal) leaves the
picture unchanged.

Centring: the paper says "centred activations" without saying centred on what. The
neural-collapse convention, used throughout mixscope, subtracts the global mean of the clean
training features (all classes). ``centre`` makes the choice explicit: ``None`` (no
centring), ``"mean"`` (the mean of the rows of H given here), or a (d,) vector (typically the
global clean mean). Because A's columns sum to zero the picture ignores any shift of H along
``Qᵀ 1``; centring matters only through the remaining two directions.

Layers without a classifier: a hidden layer whose width differs from the classifier's input
has no rows W to project with. The same construction then uses the layer's own clean class
means in place of classifier rows (:func:`class_mean_rows`): ``w_k = μ_k − μ_G`` (class mean
minus the global clean mean, the neural-collapse "centred class means" M). At a collapsed
penultimate layer with a self-dual classifier (NC3) the two choices give the same picture;
elsewhere class a still sits on top, on its own mean's axis.

Speed: the projection is one (n×d)@(d×3) product and a 3×2 product; float32 input stays
float32, and the centre is subtracted after projecting (``Q H - Q μ``) so the (n×d) array is
never copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "TripleProjection",
    "class_mean_rows",
    "lambda_on_lower_class",
    "orthonormal_frame",
    "project_scores_epochs",
    "project_triple",
    "project_triple_scores",
    "triangle_vertices",
]

#: angles of the vertices of classes a, b, c: a on top, then clockwise.
_ANGLES_DEG = (90.0, -30.0, 210.0)


def triangle_vertices() -> np.ndarray:
    """The matrix A (2×3): unit vectors at 90°, -30°, 210° (class a on top, b and c clockwise).

    Columns sum to zero, so A ignores shifts along (1, 1, 1) in the 3-D coordinates."""
    ang = np.deg2rad(np.asarray(_ANGLES_DEG))
    return np.stack([np.cos(ang), np.sin(ang)])


@dataclass(frozen=True)
class TripleProjection:
    """Result of :func:`project_triple`.

    Attributes:
        points: (n, 2) 2-D positions of the feature rows, ``A Q (h - centre)``.
        arrows: (3, 2) the raw classifier rows a, b, c projected, ``A Q w_k`` (not normalised,
            so differences in row norm stay visible; scale them for drawing).
        vertices: (3, 2) the triangle's vertices (unit length; rows of ``Aᵀ``) in order a, b, c.
        coords3: (n, 3) the 3-D coordinates ``Q (h - centre)`` before A is applied.
        Q: (3, d) the orthonormal frame (polar factor of the normalised rows).
        classes: the triple (a, b, c).
        centre: the (d,) vector subtracted, or None (no centring, or ``"mean"``, whose mean is
            subtracted from the projected coordinates: the same by linearity).
    """

    points: np.ndarray
    arrows: np.ndarray
    vertices: np.ndarray
    coords3: np.ndarray
    Q: np.ndarray
    classes: tuple[int, int, int]
    centre: np.ndarray | None


def orthonormal_frame(rows: np.ndarray) -> np.ndarray:
    """Polar factor ``Q = U Vᵀ`` of the row-normalised (3×d) matrix ``rows`` (float64 maths).

    Three classes of a 3-class ETF (or any rows whose normalised sum vanishes) are linearly
    dependent with left null vector ∝ (1, 1, 1): that direction is exactly the one A ignores,
    so the picture is still well defined; Q then has rank 2 (its rows span the plane of the
    classifier) and the 3-D coordinates have no (1, 1, 1) component. Any other rank
    deficiency leaves the picture undefined and raises ValueError."""
    u, _, vt = _frame_svd(rows)
    return u @ vt


def _frame_svd(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(U_k, S_k, V_kᵀ)`` of the row-normalised ``rows`` with k = 3, or k = 2 in the
    (1, 1, 1)-null case of :func:`orthonormal_frame` (whose ``Q`` is ``U_k V_kᵀ``)."""
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if rows.shape[0] != 3 or np.any(norms == 0) or not np.all(np.isfinite(rows)):
        raise ValueError("the triple needs three finite, non-zero classifier rows")
    w_star = rows / norms
    # full matrices only when d < 3 (u must be 3×3 below); for d >= 3 the thin SVD has
    # everything used and avoids a d×d vt (4 ms at d = 512)
    u, s, vt = np.linalg.svd(w_star, full_matrices=w_star.shape[1] < 3)
    k = min(3, w_star.shape[1])
    s = np.pad(s, (0, 3 - s.size))
    tol = 1e-10 * s[0]
    if s[2] > tol:
        return u, s, vt[:3]
    null = u[:, 2]
    along_ones = abs(null.sum()) / np.sqrt(3.0)  # |cos| between the null vector and (1,1,1)
    if s[1] > tol and along_ones > 1 - 1e-8:
        return u[:, :2], s[:2], vt[:2]
    raise ValueError("classifier rows of the triple are linearly dependent"
                     f" (singular values {s[:k]}); the projection is undefined")


def _check_classes(classes: Sequence[int], num_classes: int) -> tuple[int, int, int]:
    cls = tuple(int(c) for c in classes)
    if len(cls) != 3 or len(set(cls)) != 3:
        raise ValueError(f"classes must be three distinct class indices, got {classes!r}")
    for c in cls:
        if not 0 <= c < num_classes:
            raise ValueError(f"class {c} out of range for a classifier with {num_classes} rows")
    return cls  # type: ignore[return-value]


def project_triple(
    W: np.ndarray,
    H: np.ndarray,
    classes: Sequence[int] = (0, 1, 2),
    centre: np.ndarray | None | Literal["mean"] = None,
) -> TripleProjection:
    """Project features H (n×d) onto the simplex picture of the classifier triple ``classes``.

    Args:
        W: (C, d) classifier, C ≥ 3.
        H: (n, d) features (float32 stays float32; float16 is computed in float32).
        classes: three distinct row indices (a, b, c); a is drawn on top, b and c clockwise.
        centre: None (no centring), ``"mean"`` (subtract the mean row of H), or a (d,) vector
            to subtract (mixscope passes the global mean of the clean training features).

    Returns:
        :class:`TripleProjection` with points (n,2), arrows (3,2), vertices (3,2),
        coords3 (n,3), Q (3,d).
    """
    W = np.asarray(W)
    H = np.asarray(H)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ValueError(f"W must be (C, d) with C >= 3, got shape {W.shape}")
    if H.ndim != 2 or H.shape[1] != W.shape[1]:
        raise ValueError(f"H must be (n, {W.shape[1]}), got shape {H.shape}")
    cls = _check_classes(classes, W.shape[0])

    dtype = np.float64 if H.dtype == np.float64 else np.float32
    Hc = H if H.dtype == dtype else H.astype(dtype)
    Q64 = orthonormal_frame(W[list(cls)])
    Q = Q64.astype(dtype)

    centre_vec: np.ndarray | None
    if centre is None:
        centre_vec = None
    elif isinstance(centre, str):
        if centre != "mean":
            raise ValueError(f"centre must be None, 'mean' or a vector, got {centre!r}")
        centre_vec = None  # subtracted after projecting: Q mean(H) = mean(Q H), one pass less
    else:
        centre_vec = np.asarray(centre, dtype=np.float64).reshape(-1)
        if centre_vec.shape != (W.shape[1],):
            raise ValueError(f"centre must have shape ({W.shape[1]},), got {centre_vec.shape}")

    # (n, 3): the only O(n d) step; a contiguous (d, 3) operand is markedly faster in BLAS
    coords3 = Hc @ np.ascontiguousarray(Q.T)
    if centre_vec is not None:
        coords3 -= (Q64 @ centre_vec).astype(dtype)
    elif centre == "mean" and coords3.shape[0]:
        coords3 -= coords3.mean(axis=0, dtype=np.float64).astype(dtype)
    A = triangle_vertices()
    points = coords3 @ A.T.astype(dtype)  # (n, 2)
    arrows = (np.asarray(W[list(cls)], dtype=np.float64) @ Q64.T) @ A.T  # (3, 2)
    return TripleProjection(
        points=points,
        arrows=arrows,
        vertices=A.T.copy(),
        coords3=coords3,
        Q=Q64,
        classes=cls,
        centre=centre_vec,
    )


#: :func:`project_triple_scores` refuses frames whose smallest used singular value of W* is
#: below this fraction of the largest: it divides by them, which would magnify the float32
#: rounding of the scores (1e-3 keeps that below 1e-4 of a point's coordinates).
SCORES_CONDITION = 1e-3


def project_triple_scores(W: np.ndarray, scores: np.ndarray,
                          classes: Sequence[int] = (0, 1, 2),
                          centre: np.ndarray | None = None) -> TripleProjection:
    """:func:`project_triple` from the classifier scores of the rows instead of the rows.

    The picture only sees H through ``Q H``, and ``Q = U Vᵀ`` spans the same space as ``W*``,
    so with ``W* = U S Vᵀ`` the 3-D coordinates are ``(W* H) U S⁻¹ Uᵀ``: three numbers per
    row (its scores ``h · w_k`` for the triple, divided by ``‖w_k‖``) stand in for its d
    features. This is why the API stores ``scores = H Wᵀ`` beside the activations: a frame
    then reads 3 of C floats per row instead of d.

    Args:
        W: (C, d) classifier, C ≥ 3.
        scores: (n, 3) ``H W[classes]ᵀ`` (no bias), columns in the order of ``classes``.
        classes: three distinct row indices (a, b, c).
        centre: None, or the (d,) vector subtracted from every row (its scores are
            subtracted, by linearity).

    Returns the :class:`TripleProjection` of :func:`project_triple` (same points, arrows,
    vertices and Q to rounding). Raises ValueError where :func:`project_triple` does, and when
    W* is too ill-conditioned for scores (:data:`SCORES_CONDITION`): project the rows then.
    """
    W = np.asarray(W)
    S = np.asarray(scores, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ValueError(f"W must be (C, d) with C >= 3, got shape {W.shape}")
    if S.ndim != 2 or S.shape[1] != 3:
        raise ValueError(f"scores must be (n, 3), got shape {S.shape}")
    cls = _check_classes(classes, W.shape[0])
    rows = np.asarray(W[list(cls)], dtype=np.float64)
    centre_vec = None
    if centre is not None:
        centre_vec = np.asarray(centre, dtype=np.float64).reshape(-1)
        if centre_vec.shape != (W.shape[1],):
            raise ValueError(f"centre must have shape ({W.shape[1]},), got {centre_vec.shape}")
    u, s, vt = _frame_svd(rows)          # raises where project_triple does
    coords3, arrows, ok = project_scores_epochs(
        (rows @ rows.T)[None], S[None],
        None if centre_vec is None else (rows @ centre_vec)[None])
    if not ok[0]:
        raise ValueError(f"W* is ill-conditioned for scores (singular values {s}); "
                         "project the rows")
    A = triangle_vertices()
    return TripleProjection(points=(coords3[0] @ A.T).astype(np.float32), arrows=arrows[0],
                            vertices=A.T.copy(), coords3=coords3[0], Q=u @ vt, classes=cls,
                            centre=centre_vec)


def project_scores_epochs(gram: np.ndarray, scores: np.ndarray,
                          centre_scores: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`project_triple_scores` of the same rows at E epochs at once (a frames request),
    from what each epoch's classifier contributes: the Gram matrix of its three rows.

    ``W* W*ᵀ = U S² Uᵀ`` (3×3) gives U and S without touching the d-wide rows; then
    ``coords3 = (scores / ‖w‖) U S⁻¹ Uᵀ`` and the arrows ``W Qᵀ Aᵀ = diag(‖w‖) U S Uᵀ Aᵀ``.

    Args:
        gram: (E, 3, 3) ``W_e W_eᵀ`` of the triple's classifier rows (a, b, c) at each epoch.
        scores: (E, n, 3) the rows' scores ``H_e W_eᵀ`` (no bias).
        centre_scores: (E, 3) ``W_e μ_e`` of the centre subtracted from every row, or None.

    Returns (coords3 (E, n, 3), arrows (E, 3, 2), ok (E,) bool); the points are
    ``coords3 @ triangle_vertices().T``. ok is False for an epoch whose W* is not clearly
    full rank (smallest singular value below :data:`SCORES_CONDITION` of the largest) nor
    clearly the rank-2 (1, 1, 1)-null case of :func:`orthonormal_frame` (third singular value
    below 1e-6 of the largest, its direction along (1, 1, 1)): its values are meaningless,
    project its rows (the SVD of the rows decides those cases more finely than a Gram
    matrix can)."""
    G = np.asarray(gram, dtype=np.float64)
    S = np.asarray(scores, dtype=np.float64)
    norms = np.sqrt(np.clip(np.einsum("ekk->ek", G), 0.0, None))           # (E, 3)
    finite = np.isfinite(G).all(axis=(1, 2)) & (norms > 0).all(axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    Gs = np.where(finite[:, None, None], G / (safe[:, :, None] * safe[:, None, :]), np.eye(3))
    lam, u = np.linalg.eigh(Gs)                         # ascending: flip to S descending
    lam, u = lam[:, ::-1], u[:, :, ::-1]
    s = np.sqrt(np.clip(lam, 0.0, None))
    full = s[:, 2] >= SCORES_CONDITION * s[:, 0]
    along_ones = np.abs(u[:, :, 2].sum(axis=1)) / np.sqrt(3.0) > 1 - 1e-8
    rank2 = (s[:, 2] <= 1e-6 * s[:, 0]) & along_ones & (s[:, 1] >= SCORES_CONDITION * s[:, 0])
    ok = finite & (full | rank2)
    used = np.where(full[:, None], 1.0, np.array([1.0, 1.0, 0.0]))
    inv = used / np.where(s > 0, s, 1.0)
    M = np.einsum("eik,ek,ejk->eij", u, inv, u)                        # U S⁻¹ Uᵀ
    if centre_scores is not None:
        S = S - np.asarray(centre_scores, np.float64)[:, None]
    coords3 = np.einsum("enk,ejk->enj", S / safe[:, None], M)
    # classifier row k drawn as A Q w_k: W Qᵀ = diag(‖w‖) U S Uᵀ
    WQ = norms[:, :, None] * np.einsum("eik,ek,ejk->eij", u, s * used, u)
    return coords3, WQ @ triangle_vertices().T, ok


def class_mean_rows(H: np.ndarray, labels: np.ndarray, classes: Sequence[int],
                    centre: np.ndarray | None = None) -> np.ndarray:
    """The (3, d) rows ``μ_k − centre`` for k in ``classes``: the means of the rows of H
    (n, d) labelled k, minus ``centre`` (d,) (typically the global clean mean of every class).

    Pass them to :func:`project_triple` in place of classifier rows to project a layer that
    has no classifier of its own width. Raises ValueError when a class has no rows."""
    H = np.asarray(H)
    labels = np.asarray(labels).reshape(-1)
    if H.ndim != 2 or len(labels) != len(H):
        raise ValueError(f"H must be (n, d) with one label per row, got {H.shape} and "
                         f"{labels.shape}")
    rows = []
    for k in classes:
        mask = labels == k
        if not mask.any():
            raise ValueError(f"class {k} has no clean rows to take a mean of")
        rows.append(np.asarray(H[mask], dtype=np.float64).mean(axis=0))
    out = np.stack(rows)
    if centre is not None:
        out = out - np.asarray(centre, dtype=np.float64).reshape(1, -1)
    return out


def lambda_on_lower_class(class_a: np.ndarray, class_b: np.ndarray, lam: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orient mixed pairs the way every picture colours them: ``(lower, upper, λ on lower)``
    for pairs whose ``lam`` is the weight on ``class_a``. The probe draws ``class_a <=
    class_b`` already (then this is the identity); a pair given the other way round gets
    ``1 - lam``. Same-class pairs keep their λ."""
    a = np.asarray(class_a)
    b = np.asarray(class_b)
    lam = np.asarray(lam)
    swap = a > b
    return np.where(swap, b, a), np.where(swap, a, b), np.where(swap, 1.0 - lam, lam)

