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

The module is a package along its seams: :mod:`.params` (parameter checks, the ETF and the
compact ETF rows of a triple), :mod:`.roots` (the scalar roots and the vectorised (t, u)
solve), :mod:`.solution` (:class:`UFMSolution`, :func:`solve_ufm`, the summary the CLI and
the API print), :mod:`.features` (optimal features of a triple and their simplex
projection) and :mod:`.minimise` (direct numerical minimisers, the closed form's check).
"""

from backend.maths.ufm.features import optimal_features, ufm_projection
from backend.maths.ufm.minimise import minimise_point, minimise_ufm, point_loss_and_grad
from backend.maths.ufm.params import ParameterError, etf, etf_triple_rows
from backend.maths.ufm.roots import solve_K_same
from backend.maths.ufm.solution import (
    UFMSolution,
    amplification,
    loss_from_coefs,
    mean_loss_triple,
    solve_ufm,
    ufm_summary,
)

__all__ = [
    "ParameterError",
    "UFMSolution",
    "amplification",
    "etf",
    "etf_triple_rows",
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
