"""Direct numerical minimisers of the UFM loss, independent of the closed form (the tests'
check of it, and equation 2 of 000 with a learned classifier)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backend.maths.ufm.params import _check_lambdas, _check_params, etf


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

    def fun(h):
        return point_loss_and_grad(h, W, t, lambda_h)[:2]

    def hess(h):
        return point_loss_and_grad(h, W, t, lambda_h)[2]

    from scipy import optimize  # lazily: importing backend.maths stays cheap

    h0 = np.zeros(W.shape[1])
    try:
        res = optimize.minimize(fun, h0, jac=True, hess=hess, method="trust-exact",
                                options={"gtol": 1e-13, "maxiter": 2000})
    except ValueError:
        # scipy's trust-exact can take the square root of a discriminant that rounding made
        # slightly negative (a step exactly on the trust boundary); the Krylov variant solves
        # the same subproblem without that intersection.
        res = optimize.minimize(fun, h0, jac=True, hess=hess, method="trust-krylov",
                                options={"gtol": 1e-13, "maxiter": 2000})
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
    from scipy import optimize  # lazily: importing backend.maths stays cheap

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
