"""The closed-form UFM optimum (Theorem 3.1 with errata): :class:`UFMSolution`,
:func:`solve_ufm`, the A.2 amplification, per-point losses and the JSON summary the CLI and
the API share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backend.maths.ufm.params import _check_lambdas, _check_params
from backend.maths.ufm.roots import _mu, _roots, _solve_tu


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
