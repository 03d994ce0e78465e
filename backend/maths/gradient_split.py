"""The four-term split of the manifold-mixup gradient (blog 001).

Linear head ``G z + b`` (G: k×d), squared loss on the mixed representation
``z = λ f + (1-λ) f'`` of a pair with representations f = F(x), f' = F(x') and targets y, y':

    L = scale · Σ_pairs ½ || λ y + (1-λ) y' - G z - b ||²

Because the head is linear, the residual splits as ``λ e + (1-λ) e'`` with ``e = y - G f - b``
and ``e' = y' - G f' - b`` (the errors on the *unmixed* points), and the gradient with respect
to the representations is

    ∂L/∂f  = -scale · (λ² Gᵀe       + λ(1-λ) Gᵀe')     "usual" + "cross"
    ∂L/∂f' = -scale · ((1-λ)² Gᵀe'  + λ(1-λ) Gᵀe)      "usual" + "cross"

The cross terms drive the update of x by the error on its partner x' (and vice versa).
``scale`` = 1 for the sum above; use ``scale = 2 / (n k)`` to match
``torch.nn.functional.mse_loss(pred, target)`` (mean over the n×k entries, no ½).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GradientSplit", "gradient_split"]


@dataclass(frozen=True)
class GradientSplit:
    """Gradient terms with respect to the representations of both partners.

    Arrays are (n, d): ``usual_a`` / ``cross_a`` for f (weight λ), ``usual_b`` / ``cross_b``
    for f' (weight 1-λ); ``grad_a = usual_a + cross_a``, ``grad_b = usual_b + cross_b``.
    Norms are Frobenius norms over the batch and both partners: ``usual_norm``,
    ``cross_norm``, and ``cross_ratio = cross_norm / usual_norm`` (0 when both are 0)."""

    usual_a: np.ndarray
    cross_a: np.ndarray
    usual_b: np.ndarray
    cross_b: np.ndarray
    usual_norm: float
    cross_norm: float
    cross_ratio: float

    @property
    def grad_a(self) -> np.ndarray:
        return self.usual_a + self.cross_a

    @property
    def grad_b(self) -> np.ndarray:
        return self.usual_b + self.cross_b

    def metrics(self) -> dict[str, float]:
        """The per-epoch metric keys: ``grad_usual_norm, grad_cross_norm, grad_cross_ratio``."""
        return {"grad_usual_norm": self.usual_norm, "grad_cross_norm": self.cross_norm,
                "grad_cross_ratio": self.cross_ratio}


def gradient_split(G: np.ndarray, f_a: np.ndarray, f_b: np.ndarray, y_a: np.ndarray,
                   y_b: np.ndarray, lam: float | np.ndarray, bias: np.ndarray | None = None,
                   scale: float = 1.0) -> GradientSplit:
    """Split the gradient of the manifold-mixup squared loss w.r.t. F(x) and F(x').

    Args:
        G: (k, d) linear head; bias: (k,) or None.
        f_a, f_b: (n, d) representations of the two partners (f_a gets weight λ).
        y_a, y_b: (n, k) targets (one-hot or real-valued).
        lam: scalar or (n,) mixing weights on the first partner.
        scale: loss multiplier (see the module docstring).
    """
    G = np.asarray(G, dtype=np.float64)
    fa = np.atleast_2d(np.asarray(f_a, dtype=np.float64))
    fb = np.atleast_2d(np.asarray(f_b, dtype=np.float64))
    ya = np.atleast_2d(np.asarray(y_a, dtype=np.float64))
    yb = np.atleast_2d(np.asarray(y_b, dtype=np.float64))
    if fa.shape != fb.shape or fa.shape[1] != G.shape[1]:
        raise ValueError(f"f_a {fa.shape} and f_b {fb.shape} must both be (n, {G.shape[1]})")
    if ya.shape != yb.shape or ya.shape != (fa.shape[0], G.shape[0]):
        raise ValueError(f"y_a {ya.shape} and y_b {yb.shape} must both be "
                         f"({fa.shape[0]}, {G.shape[0]})")
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (fa.shape[0],))[:, None]
    b = np.zeros(G.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    e_a = ya - fa @ G.T - b  # error on the unmixed first partner
    e_b = yb - fb @ G.T - b
    ga = e_a @ G  # Gᵀe as rows
    gb = e_b @ G
    mix = lam * (1.0 - lam)
    usual_a = -scale * lam**2 * ga
    cross_a = -scale * mix * gb
    usual_b = -scale * (1.0 - lam) ** 2 * gb
    cross_b = -scale * mix * ga
    un = float(np.sqrt(np.sum(usual_a**2) + np.sum(usual_b**2)))
    cn = float(np.sqrt(np.sum(cross_a**2) + np.sum(cross_b**2)))
    ratio = cn / un if un > 0 else (0.0 if cn == 0 else float("inf"))
    return GradientSplit(usual_a, cross_a, usual_b, cross_b, un, cn, ratio)
