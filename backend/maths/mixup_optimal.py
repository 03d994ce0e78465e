"""The mixup-optimal classifier of Chidambaram et al. (data-dependency paper, 002), Lemma 2.3,
and the Assumption 2.9 ("no collinearity") check of its Table 2.

Lemma 2.3. With ``A^{ij}_{x,ε}`` the (s, t, λ) in X_i × X_j × [0, 1] whose mix
``λ s + (1-λ) t`` falls in the ball B_ε(x), ``ξ^{ij}`` its measure under P_X × P_X × P_f and
``ξ^{ij}_λ`` the same integral weighted by λ,

    h^i_ε(x) ∝ ξ^{ii} + 2 ( Σ_{j>i} ξ^{ij}_λ + Σ_{j<i} (ξ^{ji} - ξ^{ji}_λ) ),

normalised over the classes: the expected location of x on the segments between class i and
the other classes. Here the sum runs over *ordered* pairs (s, t) drawn from P_X × P_X: each
pair gives its mixing weight λ to the class of s and 1-λ to the class of t. For a symmetric
P_f such as Beta(α, α) this equals the lemma's formula (its factor 2 is the two orders, which
the paper merges using Fubini and the symmetry of P_f).

Two estimators of the ξ's on a grid of points x (1-D or 2-D data, or any dimension):

- ``method="sample"``: Monte Carlo over (s, t, λ) with λ ~ Beta(α, α); a KD-tree finds the
  mixes inside each grid point's ball.
- ``method="exact"``: every ordered pair (s, t) with the λ-integral done exactly: the set of
  λ with ``||t + λ(s - t) - x|| ≤ ε`` is an interval, whose Beta(α, α) mass and λ-weighted
  mass come from the regularised incomplete beta function. Cost n² × grid: small datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy.special and scipy.spatial are imported inside the functions that use them: importing
# backend.maths (every process: the API, a worker, a Slurm job) stays cheap

__all__ = [
    "MixupOptimal",
    "alternating_line",
    "grid_2d",
    "mixup_optimal",
    "mixup_optimal_limit",
    "other_class_distances",
    "reference_to_mix_distances",
]


@dataclass(frozen=True)
class MixupOptimal:
    """h_ε on a grid. ``h`` (g, k) class probabilities (NaN rows where no mix reaches the
    ball: x ∉ X_mix at this ε), ``weights`` (g, k) the unnormalised class weights (ξ's),
    ``mass`` (g,) the total measure of the ball, ``grid`` (g, D)."""

    h: np.ndarray
    weights: np.ndarray
    mass: np.ndarray
    grid: np.ndarray


def _as_points(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must be (n,) or (n, D), got shape {X.shape}")
    return X


def alternating_line(m: int, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The m-point k-class alternating line X_m^k: points 0..m-1 (shape (m, 1)), class
    ``value mod k`` (0-based here; the paper's class (value mod k) + 1)."""
    x = np.arange(m, dtype=np.float64)[:, None]
    return x, (np.arange(m) % k).astype(np.int64)


def grid_2d(xlim: tuple[float, float], ylim: tuple[float, float], n: int = 50) -> np.ndarray:
    """A regular n×n grid as (n², 2) points (x varies fastest)."""
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _checked_inputs(X: np.ndarray, y: np.ndarray, grid: np.ndarray, alpha: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, grid) as float points, int labels and float points, checked against each other
    and α > 0 (ValueError naming what is wrong)."""
    X = _as_points(X, "X")
    G = _as_points(grid, "grid")
    y = np.asarray(y, dtype=np.int64)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if G.shape[1] != X.shape[1]:
        raise ValueError(f"grid has dimension {G.shape[1]}, data {X.shape[1]}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    return X, y, G


def _finish(weights: np.ndarray, mass: np.ndarray, grid: np.ndarray) -> MixupOptimal:
    tot = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.where(tot > 0, weights / np.where(tot > 0, tot, 1.0), np.nan)
    return MixupOptimal(h=h, weights=weights, mass=mass, grid=grid)


def mixup_optimal(X: np.ndarray, y: np.ndarray, grid: np.ndarray, *, alpha: float = 1.0,
                  eps: float = 0.05, method: str = "sample", n_samples: int = 200_000,
                  seed: int = 0, num_classes: int | None = None) -> MixupOptimal:
    """Estimate Lemma 2.3's h_ε at every grid point.

    Args:
        X: (n, D) or (n,) training points (P_X = uniform over them); y: (n,) classes 0..k-1.
        grid: (g, D) or (g,) evaluation points.
        alpha: P_f = Beta(α, α). eps: the ball radius ε.
        method: ``"sample"`` (Monte Carlo, ``n_samples`` triples (s, t, λ), seeded) or
            ``"exact"`` (all ordered pairs, exact λ-integrals).
    """
    X, y, G = _checked_inputs(X, y, grid, alpha)
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    k = int(y.max()) + 1 if num_classes is None else int(num_classes)
    n = X.shape[0]

    if method == "sample":
        rng = np.random.default_rng(seed)
        s = rng.integers(0, n, n_samples)
        t = rng.integers(0, n, n_samples)
        lam = rng.beta(alpha, alpha, n_samples)
        Z = lam[:, None] * X[s] + (1.0 - lam[:, None]) * X[t]
        from scipy.spatial import cKDTree

        pairs = cKDTree(G).sparse_distance_matrix(cKDTree(Z), eps, output_type="ndarray")
        gi = pairs["i"].astype(np.int64)
        zj = pairs["j"].astype(np.int64)
        weights = np.zeros((G.shape[0], k))
        np.add.at(weights, (gi, y[s[zj]]), lam[zj])
        np.add.at(weights, (gi, y[t[zj]]), 1.0 - lam[zj])
        mass = np.bincount(gi, minlength=G.shape[0]) / n_samples
        return _finish(weights, mass.astype(np.float64), G)

    if method != "exact":
        raise ValueError(f"method must be 'sample' or 'exact', got {method!r}")
    si, ti = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    si, ti = si.ravel(), ti.ravel()
    S, T = X[si], X[ti]
    D = S - T  # z(λ) = T + λ D
    a = np.einsum("pd,pd->p", D, D)
    p_w = 1.0 / (n * n)  # P_X × P_X mass of each ordered pair
    weights = np.zeros((G.shape[0], k))
    mass = np.zeros(G.shape[0])
    chunk = max(1, 2_000_000 // max(1, si.size))
    from scipy import special

    for g0 in range(0, G.shape[0], chunk):
        Xg = G[g0:g0 + chunk]  # (c, D)
        TX = T[None, :, :] - Xg[:, None, :]  # (c, P, D)
        b = np.einsum("pd,cpd->cp", D, TX)
        c = np.einsum("cpd,cpd->cp", TX, TX) - eps * eps
        with np.errstate(invalid="ignore", divide="ignore"):
            disc = b * b - a[None, :] * c
            root = np.sqrt(np.maximum(disc, 0.0))
            lo = np.where(a > 0, (-b - root) / a, 0.0)
            hi = np.where(a > 0, (-b + root) / a, 1.0)
        inside = np.where(a > 0, disc >= 0, c <= 0)
        lo = np.clip(lo, 0.0, 1.0)
        hi = np.clip(hi, 0.0, 1.0)
        inside &= hi > lo
        P = np.where(inside, special.betainc(alpha, alpha, hi) - special.betainc(alpha, alpha, lo), 0.0)
        # E[λ 1{λ∈[lo,hi]}] = α/(2α) · (I_{α+1,α}(hi) - I_{α+1,α}(lo))
        PL = np.where(inside, 0.5 * (special.betainc(alpha + 1, alpha, hi)
                                     - special.betainc(alpha + 1, alpha, lo)), 0.0)
        for cls in range(k):
            weights[g0:g0 + chunk, cls] = p_w * (PL[:, y[si] == cls].sum(axis=1)
                                                 + (P - PL)[:, y[ti] == cls].sum(axis=1))
        mass[g0:g0 + chunk] = p_w * P.sum(axis=1)
    return _finish(weights, mass, G)


def mixup_optimal_limit(X: np.ndarray, y: np.ndarray, grid: np.ndarray, *, alpha: float = 1.0,
                        num_classes: int | None = None, tol: float = 1e-9) -> np.ndarray:
    """The ε → 0 limit of Lemma 2.3's h_ε (Proposition 2.8), (g, k) with NaN rows where the
    limit is not defined here.

    - At a training point x the pairs (s, t) = (x, x) keep their whole mass while every other
      pair's mass in B_ε(x) vanishes with ε, so h_0(x) is the class histogram of the training
      points located at x: every point is classified correctly unless two classes share a
      location (Proposition 2.8). Any dimension.
    - Between training points (1-D data only) a pair (s, t) whose segment passes through x at
      λ* = (x − t)/(s − t) ∈ (0, 1) holds mass ≈ f(λ*) · 2ε/|s − t| (f the Beta(α, α)
      density); the common factor 2ε cancels, so class(s) gets λ* f(λ*)/|s − t| and class(t)
      (1 − λ*) f(λ*)/|s − t|. In more dimensions a grid point generically lies on no segment:
      NaN there.
    """
    X, y, G = _checked_inputs(X, y, grid, alpha)
    k = int(y.max()) + 1 if num_classes is None else int(num_classes)
    weights = np.zeros((G.shape[0], k))
    dist = np.sqrt(((G[:, None, :] - X[None, :, :]) ** 2).sum(-1))       # (g, n)
    at_point = dist <= tol
    on = at_point.any(axis=1)
    for cls in range(k):
        weights[on, cls] = (at_point[on][:, y == cls]).sum(axis=1)
    if X.shape[1] == 1 and (~on).any():
        xs, gx = X[:, 0], G[~on, 0]
        si, ti = np.meshgrid(np.arange(len(xs)), np.arange(len(xs)), indexing="ij")
        si, ti = si.ravel(), ti.ravel()
        keep = xs[si] != xs[ti]
        si, ti = si[keep], ti[keep]
        span = xs[si] - xs[ti]
        lam = (gx[:, None] - xs[ti][None, :]) / span[None, :]             # (g', P)
        inside = (lam > 0) & (lam < 1)
        lam_c = np.clip(lam, 1e-12, 1 - 1e-12)
        from scipy import special

        dens = np.where(inside, np.exp((alpha - 1) * (np.log(lam_c) + np.log1p(-lam_c))
                                       - special.betaln(alpha, alpha)), 0.0) / np.abs(span)
        w = np.zeros((gx.size, k))
        for cls in range(k):
            w[:, cls] = (dens * lam)[:, y[si] == cls].sum(axis=1) \
                + (dens * (1 - lam))[:, y[ti] == cls].sum(axis=1)
        weights[~on] = w
    return _finish(weights, np.zeros(G.shape[0]), G).h


def other_class_distances(X: np.ndarray, y: np.ndarray, *, alpha: float = 1024.0, seed: int = 0,
                          X_ref: np.ndarray | None = None, y_ref: np.ndarray | None = None,
                          subsample: float | None = None, pair_a: np.ndarray | None = None,
                          pair_b: np.ndarray | None = None, lam: np.ndarray | None = None
                          ) -> dict[str, np.ndarray | float]:
    """Assumption 2.9 check (002, Table 2): the distance from each mixup point to the nearest
    reference point of a class other than the two mixed.

    One epoch of mixup points: every training point (after an optional seeded ``subsample``
    fraction, 0.2 in the paper) is mixed with a uniformly random partner (a random
    permutation, as a shuffled batch does) with λ ~ Beta(α, α). Pass ``pair_a``, ``pair_b``
    (indices into X) and ``lam`` to use given mixes instead. Reference points: the training
    points (default) or ``X_ref``/``y_ref`` (e.g. the test set). Exact distances by chunked
    matrix products (any dimension).

    Returns ``min`` and ``mean`` (floats; the paper's ε estimate is ``min``), ``distances``
    (N,), ``pair_a``, ``pair_b``, ``lam`` (N,)."""
    X = _as_points(X, "X")
    y = np.asarray(y, dtype=np.int64)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    rng = np.random.default_rng(seed)
    if pair_a is None:
        idx = np.arange(X.shape[0])
        if subsample is not None:
            if not 0 < subsample <= 1:
                raise ValueError(f"subsample must be in (0, 1], got {subsample}")
            idx = np.sort(rng.choice(idx, max(1, round(subsample * idx.size)), replace=False))
        pair_a = idx
        pair_b = idx[rng.permutation(idx.size)]
        lam = rng.beta(alpha, alpha, idx.size)
    else:
        if pair_b is None or lam is None:
            raise ValueError("pair_a, pair_b and lam must be given together")
    pair_a = np.asarray(pair_a, dtype=np.int64)
    pair_b = np.asarray(pair_b, dtype=np.int64)
    lam = np.asarray(lam, dtype=np.float64)
    if X_ref is None:
        R, yr = X, y
    else:
        R, yr = _as_points(X_ref, "X_ref"), np.asarray(y_ref, dtype=np.int64)
    Z = lam[:, None] * X[pair_a] + (1.0 - lam[:, None]) * X[pair_b]
    ya, yb = y[pair_a], y[pair_b]
    r2 = np.einsum("ij,ij->i", R, R)
    out = np.empty(Z.shape[0])
    chunk = max(1, 4_000_000 // max(1, R.shape[0]))
    for i in range(0, Z.shape[0], chunk):
        z = Z[i:i + chunk]
        d2 = np.einsum("ij,ij->i", z, z)[:, None] + r2[None, :] - 2.0 * z @ R.T
        mixed = (yr[None, :] == ya[i:i + chunk, None]) | (yr[None, :] == yb[i:i + chunk, None])
        d2 = np.where(mixed, np.inf, d2)
        out[i:i + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    finite = out[np.isfinite(out)]
    return {
        "min": float(finite.min()) if finite.size else float("inf"),
        "mean": float(finite.mean()) if finite.size else float("inf"),
        "distances": out,
        "pair_a": pair_a,
        "pair_b": pair_b,
        "lam": lam,
    }


def reference_to_mix_distances(X: np.ndarray, y: np.ndarray, *, alpha: float = 1024.0,
                               seed: int = 0, subsample: float | None = 0.2,
                               X_ref: np.ndarray | None = None,
                               y_ref: np.ndarray | None = None
                               ) -> dict[str, np.ndarray | float]:
    """Assumption 2.9 check as the authors' code runs it (002 Table 2, reference §7).

    A seeded ``subsample`` fraction S of the training set (0.2 in the paper); every point of
    S mixed with a partner drawn uniformly *with replacement* from S, λ ~ Beta(α, α) per
    point; the reference points are *S itself*, and for each reference point the distance to
    the nearest mixup point whose two classes both differ from its label. ``min`` and
    ``mean`` are over the reference points (the paper reports both).

    ``X_ref``/``y_ref`` (e.g. the test set, Table 2's test row): other reference points,
    every one of them, against the *same* mixes (the seed draws the subsample, partners and
    λ before any reference point is read); ``reference`` then indexes X_ref. The authors'
    code for the test row is not in reference §7: this applies their train procedure to the
    test points, as the text's "for both training and test data" reads.

    (:func:`other_class_distances` is the product's variant: each mix against every training
    point, partners a permutation, mean over mixes.)

    Returns ``min``, ``mean`` (floats; inf when no reference point has such a mix),
    ``distances`` (m,) per reference point (inf where none), ``reference`` (m,) indices into
    X (into X_ref when given), ``pair_a``, ``pair_b``, ``lam`` (the mixes)."""
    X = _as_points(X, "X")
    y = np.asarray(y, dtype=np.int64)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    rng = np.random.default_rng(seed)
    idx = np.arange(X.shape[0])
    if subsample is not None:
        if not 0 < subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {subsample}")
        idx = np.sort(rng.choice(idx, max(1, round(subsample * idx.size)), replace=False))
    pair_a = idx
    pair_b = idx[rng.integers(0, idx.size, idx.size)]
    lam = rng.beta(alpha, alpha, idx.size)
    Z = lam[:, None] * X[pair_a] + (1.0 - lam[:, None]) * X[pair_b]
    ya, yb = y[pair_a], y[pair_b]
    if X_ref is None:
        ref, R, yr = idx, X[idx], y[idx]
    else:
        R, yr = _as_points(X_ref, "X_ref"), np.asarray(y_ref, dtype=np.int64)
        if R.shape[1] != X.shape[1] or yr.shape != (R.shape[0],):
            raise ValueError(f"X_ref {R.shape} / y_ref {yr.shape} must be (m, {X.shape[1]}) "
                             "and (m,)")
        ref = np.arange(R.shape[0])
    z2 = np.einsum("ij,ij->i", Z, Z)
    out = np.empty(R.shape[0])
    chunk = max(1, 4_000_000 // max(1, Z.shape[0]))
    for i in range(0, R.shape[0], chunk):
        r = R[i:i + chunk]
        d2 = np.einsum("ij,ij->i", r, r)[:, None] + z2[None, :] - 2.0 * r @ Z.T
        own = yr[i:i + chunk, None]
        d2 = np.where((ya[None, :] == own) | (yb[None, :] == own), np.inf, d2)
        out[i:i + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    finite = out[np.isfinite(out)]
    return {
        "min": float(finite.min()) if finite.size else float("inf"),
        "mean": float(finite.mean()) if finite.size else float("inf"),
        "distances": out,
        "reference": ref,
        "pair_a": pair_a,
        "pair_b": pair_b,
        "lam": lam,
    }
