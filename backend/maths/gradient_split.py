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

The split is checked against torch's autograd of the real training loss (the trainer records
:func:`split_residual` beside :func:`float32_residual_bound`, the a-priori rounding bound of
that float32 computation), not against its own algebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GradientSplit", "float32_residual_bound", "gradient_split", "split_residual"]


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


def split_residual(split: GradientSplit, grad_a: np.ndarray, grad_b: np.ndarray) -> float:
    """Relative residual ``‖(grad_a, grad_b) − (split.grad_a, split.grad_b)‖_F /
    ‖(split.grad_a, split.grad_b)‖_F`` between a gradient computed otherwise (autograd) and
    the four-term split, over both partners (0 when both are 0)."""
    ga, gb = np.asarray(grad_a, np.float64), np.asarray(grad_b, np.float64)
    if ga.shape != split.grad_a.shape or gb.shape != split.grad_b.shape:
        raise ValueError(f"grad_a {ga.shape} / grad_b {gb.shape} must be {split.grad_a.shape}")
    num = np.sqrt(np.sum((ga - split.grad_a) ** 2) + np.sum((gb - split.grad_b) ** 2))
    den = np.sqrt(np.sum(split.grad_a ** 2) + np.sum(split.grad_b ** 2))
    return float(num / den) if den > 0 else (0.0 if num == 0 else float("inf"))


U32 = 2.0 ** -24  # unit roundoff of float32 (round to nearest)
U64 = 2.0 ** -53


def _gamma(k: int, u: float) -> float:
    """Higham's γ_k = k u / (1 − k u): the relative error bound of k roundings (a dot product
    of length k costs γ_k, Higham, Accuracy and Stability of Numerical Algorithms, §3.1)."""
    return k * u / (1.0 - k * u)


def float32_residual_bound(G: np.ndarray, f_a: np.ndarray, f_b: np.ndarray,
                           y_a: np.ndarray, y_b: np.ndarray, lam: float | np.ndarray,
                           bias: np.ndarray | None = None, scale: float = 1.0) -> float:
    """The largest :func:`split_residual` that rounding alone can produce, when the other
    gradient is autograd's of ``scale/2 · Σ ‖G z + b − t‖²`` computed in float32 (z and the
    target t mixed in float32 as ``λ h + (1 − λ) h'``, then ``addmm``, ``ℓ − t``, ``pow``,
    their backward) and the split in float64, from the same float32 inputs.

    Componentwise rounding-error bounds (Higham §3.1, first order in the unit roundoff u =
    2⁻²⁴; float64's u = 2⁻⁵³ for the split), with ``|·|`` entrywise:

        E_z  = γ₃ (λ|f| + (1−λ)|f'|)                        mixing the features
        E_t  = γ₃ (λ|y| + (1−λ)|y'|)                        mixing the targets
        E_ℓ  = γ_{d+1} (|z||G|ᵀ + |b|) + E_z|G|ᵀ            the head (a length-d dot + bias)
        E_r  = E_ℓ + E_t + u|r|                             the residual r = ℓ − t
        E_∂z = scale (E_r + γ_{C+2}|r|) |G|                 ∂L/∂z = scale · r G (length C)
        E_a  = λ E_∂z + γ₁|∂L/∂f|,   E_b = (1−λ) E_∂z + γ₂|∂L/∂f'|

    plus the split's own float64 rounding. Returns ``‖(E_a, E_b)‖_F / ‖(∂L/∂f, ∂L/∂f')‖_F``:
    since every entry of the difference is at most its E, the residual of a correct split
    cannot exceed it. A wrong split (a flipped sign, a swapped partner error) leaves a
    residual of the order of its cross share, many orders above (≈ 1e-5 for d = 64).
    """
    G = np.asarray(G, dtype=np.float64)
    fa = np.atleast_2d(np.asarray(f_a, dtype=np.float64))
    fb = np.atleast_2d(np.asarray(f_b, dtype=np.float64))
    ya = np.atleast_2d(np.asarray(y_a, dtype=np.float64))
    yb = np.atleast_2d(np.asarray(y_b, dtype=np.float64))
    k, d = G.shape
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (fa.shape[0],))[:, None]
    mu = 1.0 - lam
    b = np.zeros(k) if bias is None else np.asarray(bias, dtype=np.float64)
    aG, ab = np.abs(G), np.abs(b)
    z = lam * fa + mu * fb
    r = z @ G.T + b - (lam * ya + mu * yb)
    split = gradient_split(G, fa, fb, ya, yb, lam[:, 0], bias=b, scale=scale)
    # float32: autograd's forward and backward
    e_z = _gamma(3, U32) * (lam * np.abs(fa) + mu * np.abs(fb))
    e_t = _gamma(3, U32) * (lam * np.abs(ya) + mu * np.abs(yb))
    e_l = _gamma(d + 1, U32) * (np.abs(z) @ aG.T + ab) + e_z @ aG.T
    e_r = e_l + e_t + U32 * np.abs(r)
    e_dz = abs(scale) * (e_r + _gamma(k + 2, U32) * np.abs(r)) @ aG
    e_a = lam * e_dz + _gamma(1, U32) * np.abs(split.grad_a)
    e_b = mu * e_dz + _gamma(2, U32) * np.abs(split.grad_b)
    # float64: the split's errors e = y − G f − b, then Gᵀe and the four products
    ea = np.abs(ya - fa @ G.T - b)
    eb = np.abs(yb - fb @ G.T - b)
    c64a = _gamma(d + 2, U64) * (np.abs(fa) @ aG.T + ab + np.abs(ya))
    c64b = _gamma(d + 2, U64) * (np.abs(fb) @ aG.T + ab + np.abs(yb))
    w = abs(scale) * ((c64a + _gamma(k + 4, U64) * ea) @ aG)
    v = abs(scale) * ((c64b + _gamma(k + 4, U64) * eb) @ aG)
    e_a = e_a + lam * (lam * w + mu * v)
    e_b = e_b + mu * (mu * v + lam * w)
    num = np.sqrt(np.sum(e_a ** 2) + np.sum(e_b ** 2))
    den = np.sqrt(np.sum(split.grad_a ** 2) + np.sum(split.grad_b ** 2))
    return float(num / den) if den > 0 else float("inf")
