"""The scalar roots of the UFM optimum (same class, λ = ½) and the vectorised solve of
equations (a), (b) for (t, u) over an array of λ (bisection, then safeguarded Newton); see
the package docstring for the derivation."""

from __future__ import annotations

import functools

import numpy as np

from backend.maths.ufm.params import _check_params


def _mu(m: float, C: int, lambda_h: float) -> float:
    return lambda_h * (C - 1) / (C * m * m)


def _u_same(C: int, mu: float) -> float:
    """u = -K of the same-class optimum: C u + log(μu) - log(1 - (C-1) μ u) = 0."""
    hi = 1.0 / ((C - 1) * mu)

    def f(u: float) -> float:
        return C * u + np.log(mu * u) - np.log1p(-(C - 1) * mu * u)

    from scipy import optimize  # lazily: importing backend.maths stays cheap

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
    from scipy import optimize  # lazily: importing backend.maths stays cheap

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
