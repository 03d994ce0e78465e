"""The unconstrained features model (UFM) for mixup: Theorem 3.1 of Pushing Boundaries, with errata.

Setting (000 §3.1): classifier W (C×d) fixed at a simplex ETF with multiplier m (rows of norm
m, distinct rows with inner product -m²/(C-1)); one free feature h per mixed target
``λ y_i + (1-λ) y_i'``; per-point loss

    L(h) = CE(W h, λ y_i + (1-λ) y_i') + λ_H/2 ||h||²        (natural log, softmax over C).

Because the ETF's rows sum to zero, the logits ``z = W h`` of an optimal h sum to zero and
``||h||² = (C-1)/(C m²) ||z||²``, so with ``μ = λ_H (C-1)/(C m²)`` the problem is the strictly
convex ``CE(z) + μ/2 ||z||²`` over logits with Σz = 0. Its stationarity condition is
``softmax(z) = t - μ z`` (t the soft target).

Same class (i = i'): logits ``((C-1)u, -u, ..., -u)`` with ``K = -u < 0`` the root of
``e^{-CK} - C m²/((1-C) λ_H K) + C - 1 = 0``; ``h = (1-C) K / m² · w_i``.

Different class: logits ``x`` on i, ``y = -(C-2) K_λ - x`` on i', ``K_λ`` on the others, and
``h = (1-C)/(C m²) ((K_λ - x) w_i + ((C-1) K_λ + x) w_i')``. The theorem writes
``x = K_λ + log((B ± sqrt(B² - 4 e^{-C K_λ})) / 2)``, ``B = 2 - C + C m²/((1-C) K_λ λ_H)``
(**erratum**: the ½ divides B too; **erratum**: + when λ ≥ ½, - when λ < ½).

How it is solved here (vectorised over λ). Write ``u = -K_λ > 0``, ``x, y = (C-2)u/2 ± t``
(t ≥ 0; + on the class with the larger weight), ``c = |2λ - 1|``, ``a = (C-2)μ``. The
stationarity condition becomes two equations (the first is the theorem's root formula,
``t = acosh(B e^{-Cu/2} / 2)``; the second is the difference of the two target equations)::

    (b)  log(2 cosh t) + C u/2 + log(μ u) - log(1 - a u) = 0
    (a)  tanh(t) (1 - a u) + 2 μ t - c = 0

Along (b), t decreases as u grows, and the left side of (a) then decreases too, so (a) has one
root in ``[u_same, u*]`` (u* = the root of (b) at t = 0, i.e. λ = ½; u_same = -K at λ ∈ {0,1}).
K_λ is found by a **vectorised bisection** on that bracket (the paper's K-parametrisation),
which is robust but determines t only to about sqrt(machine eps) near λ = ½ because
``acosh`` is flat there; a few Newton steps on the well-conditioned (t, u) system (a, b)
then polish t and u to machine precision. ``K_λ = K_{1-λ}`` holds by construction.

A.2 amplification (different class only): ``ε(λ) = 4/5 exp(-20 (λ-½)⁴) - 2/5`` and
``h̃ = h - ε Σ_{j∉{i,i'}} w_j = h + ε (w_i + w_i')`` for an ETF.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = [
    "UFMSolution",
    "amplification",
    "etf",
    "loss_from_coefs",
    "mean_loss_triple",
    "minimise_point",
    "minimise_ufm",
    "optimal_features",
    "point_loss_and_grad",
    "solve_K_same",
    "solve_ufm",
    "ufm_projection",
    "ufm_summary",
]


# --------------------------------------------------------------------------- validation
def _check_params(m: float, num_classes: int, lambda_h: float) -> tuple[float, int, float]:
    m = float(m)
    if not np.isfinite(m) or m <= 0:
        raise ValueError(f"m must be a positive number, got {m}")
    if int(num_classes) != num_classes or num_classes < 3:
        raise ValueError(f"num_classes must be an integer >= 3, got {num_classes}")
    lambda_h = float(lambda_h)
    if not np.isfinite(lambda_h) or lambda_h <= 0:
        raise ValueError(f"lambda_h must be a positive number, got {lambda_h}")
    return m, int(num_classes), lambda_h


def _check_lambdas(lambdas: Sequence[float] | np.ndarray) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    if lam.ndim != 1:
        raise ValueError("lambdas must be a 1-D array")
    if not np.all(np.isfinite(lam)) or np.any(lam < 0) or np.any(lam > 1):
        raise ValueError("every lambda must lie in [0, 1]")
    return lam


def etf(num_classes: int, m: float = 1.0, d: int | None = None, seed: int | None = None) -> np.ndarray:
    """Simplex ETF ``W = m sqrt(C/(C-1)) (I - 11ᵀ/C) Uᵀ`` of shape (C, d), d ≥ C.

    U (d×C) has orthonormal columns: the first C coordinate axes when ``seed`` is None,
    otherwise a random orthonormal frame (seeded)."""
    C = int(num_classes)
    d = C if d is None else int(d)
    if d < C:
        raise ValueError(f"d must be >= num_classes ({C}), got {d}")
    M = m * np.sqrt(C / (C - 1)) * (np.eye(C) - np.ones((C, C)) / C)
    if seed is None:
        U = np.eye(d, C)
    else:
        U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, C)))
    return M @ U.T


# --------------------------------------------------------------------------- scalar roots
def _mu(m: float, C: int, lambda_h: float) -> float:
    return lambda_h * (C - 1) / (C * m * m)


def _u_same(C: int, mu: float) -> float:
    """u = -K of the same-class optimum: C u + log(μu) - log(1 - (C-1) μ u) = 0."""
    hi = 1.0 / ((C - 1) * mu)

    def f(u: float) -> float:
        return C * u + np.log(mu * u) - np.log1p(-(C - 1) * mu * u)

    # at lo, log(μu) = -460 dominates: f(lo) < 0; f -> +inf as u -> hi
    return optimize.brentq(f, 1e-200 / mu, hi * (1 - 1e-15),
                           xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def _u_half(C: int, mu: float) -> float:
    """u* = -K_{1/2}: equation (b) at t = 0, log 2 + C u/2 + log(μu) - log(1 - (C-2)μu) = 0."""
    a = (C - 2) * mu
    hi = 1.0 / a if a > 0 else np.inf

    def f(u: float) -> float:
        return np.log(2.0) + 0.5 * C * u + np.log(mu * u) - np.log1p(-a * u)

    if not np.isfinite(hi):  # C = 2 is excluded, but keep the bracket finite anyway
        hi = 1.0
        while f(hi) < 0:
            hi *= 2
    return optimize.brentq(f, min(1e-200 / mu, 0.5 * hi), hi * (1 - 1e-15), xtol=1e-300,
                           rtol=4 * np.finfo(float).eps, maxiter=500)


@functools.lru_cache(maxsize=256)
def _roots(C: int, mu: float) -> tuple[float, float]:
    """(u_same, u*) for one (C, μ), cached."""
    u_s = _u_same(C, mu)
    return u_s, max(_u_half(C, mu), u_s)


def solve_K_same(m: float, num_classes: int, lambda_h: float) -> float:
    """K < 0 of the same-class optimum (Theorem 3.1, part 1)."""
    m, C, lambda_h = _check_params(m, num_classes, lambda_h)
    return -_roots(C, _mu(m, C, lambda_h))[0]


# --------------------------------------------------------------------------- the solve
def _bisect(c: np.ndarray, C: int, mu: float, u_lo: float, u_hi: float,
            n_bisect: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised bisection on u ∈ [u_lo, u_hi] = [u_same, u*] (i.e. on K_λ = -u) for the
    residual of (a), with t from (b): ``cosh t = e^L``, ``tanh t = sqrt(1 - e^{-2L})``,
    ``t = L + log1p(tanh t)``. Returns (t, u) at the final midpoint."""
    a = (C - 2) * mu
    const = -np.log(2.0) - np.log(mu)
    lo = np.full_like(c, u_lo)  # residual of (a) >= 0 here
    hi = np.full_like(c, u_hi)  # residual of (a) <= 0 here

    def t_of_u(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        one_au = 1.0 - a * u
        L = np.maximum(np.log(one_au / u) + (const - 0.5 * C * u), 0.0)  # log cosh t, (b)
        th = np.sqrt(-np.expm1(-2.0 * L))
        return L + np.log1p(th), th, one_au

    for _ in range(n_bisect):
        u = 0.5 * (lo + hi)
        t, th, one_au = t_of_u(u)
        pos = th * one_au + 2.0 * mu * t > c
        lo = np.where(pos, u, lo)
        hi = np.where(pos, hi, u)
    u = 0.5 * (lo + hi)
    return t_of_u(u)[0], u


def _newton(w: np.ndarray, t: np.ndarray, u: np.ndarray, C: int, mu: float, u_lo: float,
            u_hi: float, n_newton: int, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Safeguarded Newton steps on (b) and (a) in (t, u); a step is kept only where it lowers
    the relative residual. Returns (t, u, final relative residual).

    (a) is used in the form ``(1 - a u)(1 - tanh t) + a u - 2 μ t - w = 0`` with
    ``w = 1 - c = 2 min(λ, 1-λ)`` given exactly: as λ -> 0 or 1, tanh t saturates and the
    information sits in ``1 - tanh t = 2 e^{-2t}/(1 + e^{-2t})``, computed without
    cancellation, so t and u keep full relative precision there too."""
    a = (C - 2) * mu
    half_C = 0.5 * C
    log_mu = np.log(mu)

    def residual(t: np.ndarray, u: np.ndarray):
        one_au = 1.0 - a * u
        e = np.exp(-2.0 * t)
        omt = 2.0 * e / (1.0 + e)  # 1 - tanh t
        e1 = t + np.log1p(e) + half_C * u + log_mu - np.log(one_au / u)  # log(2 cosh t) + ...
        e2 = one_au * omt + a * u - 2.0 * mu * t - w
        # convergence is judged on residuals relative to the size of their terms: e2's terms
        # are ~μ, far below e1's, so an absolute sum would stop too early
        s1 = t + half_C * u + abs(log_mu) + np.abs(np.log(one_au / u))
        s2 = one_au * omt + a * u + 2.0 * mu * t + w
        return e1, e2, omt, one_au, np.abs(e1) / s1 + np.abs(e2) / s2

    e1, e2, omt, one_au, err = residual(t, u)
    for _ in range(n_newton):
        if err.max(initial=0.0) <= tol:
            break
        th = 1.0 - omt
        j11 = th
        j12 = half_C + 1.0 / u + a / one_au
        j21 = -(omt * (2.0 - omt)) * one_au - 2.0 * mu  # -(1 - tanh²t)(1 - a u) - 2μ
        j22 = a * th
        det = j11 * j22 - j12 * j21  # > 0 always: the Jacobian is never singular
        t_new = np.maximum(t - (e1 * j22 - j12 * e2) / det, 0.0)
        u_new = np.clip(u - (j11 * e2 - j21 * e1) / det, u_lo, u_hi)
        n1, n2, nomt, none_au, nerr = residual(t_new, u_new)
        better = nerr < err  # keep the previous point where Newton goes astray or stalls
        if not better.any():  # every element is at rounding level
            break
        t = np.where(better, t_new, t)
        u = np.where(better, u_new, u)
        e1 = np.where(better, n1, e1)
        e2 = np.where(better, n2, e2)
        omt = np.where(better, nomt, omt)
        one_au = np.where(better, none_au, one_au)
        err = np.where(better, nerr, err)
    return t, u, err


#: the table in w = 1 - |2λ-1| = 2 min(λ, 1-λ) that seeds Newton for large λ arrays: uniform,
#: plus geometric towards w = 0 (λ -> 0 or 1), where t grows like log(1/w) and bends sharply.
_GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 65), np.geomspace(1e-14, 0.5, 96)]))


def _solve_tu(w: np.ndarray, C: int, mu: float, u_lo: float, u_hi: float,
              tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Solve (a), (b) for (t, u) given w = 2 min(λ, 1-λ) (vectorised). Returns (t, u).

    Small arrays: bisection (the robust bracket) then Newton. Large arrays: the same on a
    table of w, linear interpolation as the start, Newton, and the bisection path again for
    any element whose residual stays above ``tol`` (none in practice). Transcendental
    functions dominate the cost, so this keeps 5000 λ to a few passes."""
    if w.size <= 2 * _GRID.size:
        return _robust(w, C, mu, u_lo, u_hi)
    t_tab, u_tab = _table(C, mu, u_lo, u_hi)
    # 3 steps reach ~1e-10 from the interpolated start; a 4th takes them to rounding level
    t, u, err = _newton(w, np.interp(w, _GRID, t_tab), np.interp(w, _GRID, u_tab), C, mu,
                        u_lo, u_hi, n_newton=4, tol=0.0)
    bad = ~(err < tol)
    if bad.any():
        t[bad], u[bad] = _robust(w[bad], C, mu, u_lo, u_hi)
    return t, u


def _robust(w: np.ndarray, C: int, mu: float, u_lo: float, u_hi: float
            ) -> tuple[np.ndarray, np.ndarray]:
    t0, u0 = _bisect(1.0 - w, C, mu, u_lo, u_hi, n_bisect=24)
    t1, u1, _ = _newton(w, t0, u0, C, mu, u_lo, u_hi, n_newton=12, tol=0.0)
    return t1, u1


@functools.lru_cache(maxsize=64)
def _table(C: int, mu: float, u_lo: float, u_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(t, u) on _GRID for one (C, μ): cached, since the API and CLI repeat parameters."""
    t, u = _robust(_GRID, C, mu, u_lo, u_hi)
    t.flags.writeable = False
    u.flags.writeable = False
    return t, u


def amplification(lambdas: np.ndarray) -> np.ndarray:
    """A.2's ε(λ) = 4/5 exp(-20 (λ - ½)⁴) - 2/5 (maximal, 0.4, at λ = ½)."""
    lam = np.asarray(lambdas, dtype=np.float64)
    return 0.8 * np.exp(-20.0 * (lam - 0.5) ** 4) - 0.4


def loss_from_coefs(coef_i: np.ndarray, coef_j: np.ndarray, lambdas: np.ndarray,
                    m: float, num_classes: int, lambda_h: float) -> np.ndarray:
    """Per-point loss of ``h = coef_i w_i + coef_j w_i'`` (ETF W, i ≠ i') for target
    ``λ y_i + (1-λ) y_i'``: CE with softmax over all C classes plus λ_H/2 ||h||². Shapes (n,)."""
    C = num_classes
    m2 = m * m
    a = np.asarray(coef_i, dtype=np.float64)
    b = np.asarray(coef_j, dtype=np.float64)
    lam = np.asarray(lambdas, dtype=np.float64)
    zi = m2 * (a - b / (C - 1))
    zj = m2 * (b - a / (C - 1))
    zk = -m2 * (a + b) / (C - 1)
    top = np.maximum(np.maximum(zi, zj), zk)
    lse = top + np.log(np.exp(zi - top) + np.exp(zj - top) + (C - 2) * np.exp(zk - top))
    ce = lse - lam * zi - (1.0 - lam) * zj
    norm2 = m2 * (a * a + b * b) - 2.0 * a * b * m2 / (C - 1)
    return ce + 0.5 * lambda_h * norm2


@dataclass(frozen=True)
class UFMSolution:
    """The closed-form UFM optimum for (m, C, λ_H) and an array of λ (weight on class i).

    Scalars (same class, independent of λ): ``K_same`` (< 0), ``coef_same`` (h = coef·w_i),
    ``loss_same``. Arrays of shape (n,) for the different-class pair (i, i'): ``lambdas``,
    ``K`` (K_λ < 0), ``logit_i`` (⟨w_i, h⟩), ``logit_j`` (⟨w_i', h⟩), ``logit_other``,
    ``coef_i``, ``coef_j`` (h = coef_i w_i + coef_j w_i'), ``loss``. With ``amplified`` the
    logits, coefficients and loss are those of A.2's amplified features h̃ (``K`` stays the
    optimum's K_λ) and ``eps`` holds ε(λ); otherwise ``eps`` is zeros.
    """

    m: float
    num_classes: int
    lambda_h: float
    K_same: float
    coef_same: float
    loss_same: float
    lambdas: np.ndarray
    K: np.ndarray
    logit_i: np.ndarray
    logit_j: np.ndarray
    logit_other: np.ndarray
    coef_i: np.ndarray
    coef_j: np.ndarray
    loss: np.ndarray
    amplified: bool
    eps: np.ndarray

    @property
    def mean_loss_triple(self) -> float:
        """Mean loss over the 9 ordered class pairs of a triple and the λ (see
        :func:`mean_loss_triple`)."""
        return mean_loss_triple(self)


def solve_ufm(m: float, num_classes: int, lambda_h: float, lambdas: Sequence[float] | np.ndarray,
              amplify: bool = False) -> UFMSolution:
    """Closed-form UFM optimum (Theorem 3.1 with errata) for every λ in ``lambdas`` (n,).

    Raises ValueError for m ≤ 0, C < 3, λ_H ≤ 0 or λ outside [0, 1]."""
    m, C, lambda_h = _check_params(m, num_classes, lambda_h)
    lam = _check_lambdas(lambdas)
    mu = _mu(m, C, lambda_h)
    m2 = m * m
    u_s, u_h = _roots(C, mu)

    w = 2.0 * np.minimum(lam, 1.0 - lam)  # exact: 1 - λ is exact for λ >= ½
    t, u = _solve_tu(w, C, mu, u_s, u_h)
    s = np.where(lam >= 0.5, 1.0, -1.0)
    mid = 0.5 * (C - 2) * u
    x = mid + s * t
    y = mid - s * t
    coef_i = (C - 1) * (u + x) / (C * m2)
    coef_j = (C - 1) * ((C - 1) * u - x) / (C * m2)

    coef_same = (C - 1) * u_s / m2  # (1-C) K / m² with K = -u_s
    loss_same = float(np.log1p((C - 1) * np.exp(-C * u_s)) + 0.5 * mu * C * (C - 1) * u_s**2)

    if amplify:
        eps = amplification(lam)
        coef_i = coef_i + eps
        coef_j = coef_j + eps
        x = m2 * (coef_i - coef_j / (C - 1))
        y = m2 * (coef_j - coef_i / (C - 1))
        other = -m2 * (coef_i + coef_j) / (C - 1)
    else:
        eps = np.zeros_like(lam)
        other = -u
    loss = loss_from_coefs(coef_i, coef_j, lam, m, C, lambda_h)
    return UFMSolution(
        m=m, num_classes=C, lambda_h=lambda_h,
        K_same=-u_s, coef_same=float(coef_same), loss_same=loss_same,
        lambdas=lam, K=-u, logit_i=x, logit_j=y, logit_other=np.broadcast_to(other, lam.shape).copy(),
        coef_i=coef_i, coef_j=coef_j, loss=loss, amplified=bool(amplify), eps=eps,
    )


def mean_loss_triple(sol: UFMSolution) -> float:
    """Mean per-point loss over the 9 ordered class pairs (i, i') of a three-class subset and
    over the λ of ``sol``: 3 same-class pairs and 6 different-class pairs. The ordered pair
    (i', i) at λ has the loss of (i, i') at 1-λ, which equals it by symmetry (K_λ = K_{1-λ},
    ε symmetric), so the mean is (3 L_same + 6 mean_λ L(λ)) / 9."""
    return float((3.0 * sol.loss_same + 6.0 * float(np.mean(sol.loss))) / 9.0)


def ufm_summary(m: float, num_classes: int, lambda_h: float,
                lambdas: Sequence[float] | np.ndarray, amplify: bool = False) -> dict:
    """The JSON-ready summary shared by ``mixscope theory ufm --json`` and ``/api/theory/ufm``.

    Returns exactly: ``K_same`` (float), ``same_class`` {``coef``, ``loss``}, ``lambdas``
    (list), ``different_class`` {``K``, ``logit_i``, ``coef_i``, ``coef_j``, ``loss``} (lists),
    ``mean_loss_triple`` (float)."""
    sol = solve_ufm(m, num_classes, lambda_h, lambdas, amplify=amplify)
    return {
        "K_same": float(sol.K_same),
        "same_class": {"coef": float(sol.coef_same), "loss": float(sol.loss_same)},
        "lambdas": sol.lambdas.tolist(),
        "different_class": {
            "K": sol.K.tolist(),
            "logit_i": sol.logit_i.tolist(),
            "coef_i": sol.coef_i.tolist(),
            "coef_j": sol.coef_j.tolist(),
            "loss": sol.loss.tolist(),
        },
        "mean_loss_triple": sol.mean_loss_triple,
    }


# --------------------------------------------------------------------------- features / plot
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
            lo, hi = min(i, j), max(i, j)
            lams.append(lam if i == lo else 1.0 - lam)
            kinds.append(np.full(n, 2, np.int16))
            ca.append(np.full(n, lo))
            cb.append(np.full(n, hi))
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
    they overlay the empirical plots. Returns ``points`` (n, 2) float32, ``lam`` (n,)
    float32, ``kind`` (n,) int16, ``class_a``, ``class_b``, ``vertices`` (3, 2), ``arrows``
    (3, 2). No centring: the optimal features of all C classes have mean zero."""
    from backend.maths.simplex import project_triple

    sol = solve_ufm(m, num_classes, lambda_h, lambdas, amplify=amplify)
    W = etf(sol.num_classes, sol.m)
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


# --------------------------------------------------------------------------- direct minimisers
def point_loss_and_grad(h: np.ndarray, W: np.ndarray, target: np.ndarray,
                        lambda_h: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss ``CE(W h, target) + λ_H/2 ||h||²``, its gradient (d,) and Hessian (d, d)."""
    z = W @ h
    z = z - z.max()
    p = np.exp(z)
    p /= p.sum()
    lse = np.log(np.sum(np.exp(z)))
    loss = float(lse - target @ z + 0.5 * lambda_h * h @ h)
    grad = W.T @ (p - target) + lambda_h * h
    hess = W.T @ ((np.diag(p) - np.outer(p, p)) @ W) + lambda_h * np.eye(h.size)
    return loss, grad, hess


def minimise_point(m: float, num_classes: int, lambda_h: float, lam: float,
                   same_class: bool = False, W: np.ndarray | None = None,
                   i: int = 0, j: int = 1) -> tuple[np.ndarray, float]:
    """Minimise the per-point loss directly over a free feature h (classifier fixed at ``W``,
    default the ETF with d = C), independent of the closed form. Newton trust-region with
    the exact Hessian (the problem is strictly convex). Returns (h (d,), loss)."""
    m, C, lambda_h = _check_params(m, num_classes, lambda_h)
    W = etf(C, m) if W is None else np.asarray(W, dtype=np.float64)
    t = np.zeros(C)
    if same_class:
        t[i] = 1.0
    else:
        t[i] += lam
        t[j] += 1.0 - lam

    res = optimize.minimize(
        lambda h: point_loss_and_grad(h, W, t, lambda_h)[:2], np.zeros(W.shape[1]), jac=True,
        hess=lambda h: point_loss_and_grad(h, W, t, lambda_h)[2], method="trust-exact",
        options={"gtol": 1e-13, "maxiter": 2000},
    )
    return res.x, float(res.fun)


def minimise_ufm(num_classes: int, d: int, lambda_h: float, lambdas: Sequence[float] | np.ndarray,
                 pairs: Sequence[tuple[int, int]] | None = None, W: np.ndarray | None = None,
                 lambda_w: float = 5e-4, seed: int = 0, maxiter: int = 5000) -> dict:
    """Minimise equation 2 of 000 directly: one free feature per (pair, λ), the classifier
    either fixed (``W`` given, C×d) or learned with weight decay ``λ_W`` (``W=None``).

    Loss = mean over points of ``CE(W h, target) + λ_H/2 ||h||²`` + ``λ_W/2 ||W||²_F`` (the
    λ_W term only when W is learned). ``pairs`` default: all C² ordered pairs. L-BFGS from a
    small seeded random start. Returns ``W`` (C,d), ``H`` (n,d), ``pairs`` (n,2), ``lam``
    (n,), ``loss`` (float), ``converged`` (bool)."""
    C = int(num_classes)
    lam = _check_lambdas(lambdas)
    if pairs is None:
        pairs = [(i, j) for i in range(C) for j in range(C)]
    pair_arr = np.array([(i, j) for (i, j) in pairs for _ in lam], dtype=np.int64)
    lam_arr = np.tile(lam, len(pairs))
    n = len(lam_arr)
    T = np.zeros((n, C))
    np.add.at(T, (np.arange(n), pair_arr[:, 0]), lam_arr)
    np.add.at(T, (np.arange(n), pair_arr[:, 1]), 1.0 - lam_arr)
    rng = np.random.default_rng(seed)
    learn_w = W is None
    W0 = rng.standard_normal((C, d)) * 0.1 if learn_w else np.asarray(W, dtype=np.float64)
    H0 = rng.standard_normal((n, d)) * 0.1

    def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        if learn_w:
            Wm = theta[: C * d].reshape(C, d)
            Hm = theta[C * d:].reshape(n, d)
        else:
            Wm, Hm = W0, theta.reshape(n, d)
        Z = Hm @ Wm.T
        Z = Z - Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        S = P.sum(axis=1, keepdims=True)
        P /= S
        ce = np.log(S[:, 0]) - np.sum(T * Z, axis=1)
        loss = float(np.mean(ce + 0.5 * lambda_h * np.sum(Hm * Hm, axis=1)))
        G = (P - T) / n
        gH = G @ Wm + lambda_h * Hm / n
        if not learn_w:
            return loss, gH.ravel()
        loss += 0.5 * lambda_w * float(np.sum(Wm * Wm))
        gW = G.T @ Hm + lambda_w * Wm
        return loss, np.concatenate([gW.ravel(), gH.ravel()])

    theta0 = np.concatenate([W0.ravel(), H0.ravel()]) if learn_w else H0.ravel()
    res = optimize.minimize(fg, theta0, jac=True, method="L-BFGS-B",
                            options={"maxiter": maxiter, "maxfun": 4 * maxiter,
                                     "ftol": 1e-15, "gtol": 1e-12})
    if learn_w:
        Wf = res.x[: C * d].reshape(C, d)
        Hf = res.x[C * d:].reshape(n, d)
    else:
        Wf, Hf = W0, res.x.reshape(n, d)
    return {"W": Wf, "H": Hf, "pairs": pair_arr, "lam": lam_arr, "loss": float(res.fun),
            "converged": bool(res.success)}
