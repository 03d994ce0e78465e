"""Parameter checks of the UFM (naming the parameter: :class:`ParameterError`), the simplex
ETF and the compact rows of a class triple of it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ParameterError(ValueError):
    """A UFM parameter out of its domain; ``parameter`` names it (``m``, ``num_classes``,
    ``lambda_h``, ``lambdas``, ``d``) and the message starts with that name, so the API and
    the CLI report the field without parsing the text."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


#: the μ = λ_H (C-1)/(C m²) the solve handles (far beyond any meaningful setting)
MU_RANGE = (1e-180, 1e250)


def _check_params(m: float, num_classes: int, lambda_h: float) -> tuple[float, int, float]:
    m = float(m)
    if not np.isfinite(m) or m <= 0:
        raise ParameterError("m", f"m must be a positive number, got {m}")
    if int(num_classes) != num_classes or num_classes < 3:
        raise ParameterError("num_classes",
                             f"num_classes must be an integer >= 3, got {num_classes}")
    lambda_h = float(lambda_h)
    if not np.isfinite(lambda_h) or lambda_h <= 0:
        raise ParameterError("lambda_h",
                             f"lambda_h must be a positive number, got {lambda_h}")
    # the solve works in μ = λ_H (C-1)/(C m²): keep it inside the range of normal doubles
    # with room for its brackets (1/((C-1)μ) and 1e-200/μ must stay finite and non-zero)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        mu = np.float64(lambda_h) * (num_classes - 1) / (num_classes * np.float64(m) ** 2)
    if not MU_RANGE[0] <= mu <= MU_RANGE[1]:
        small = mu < MU_RANGE[0]
        raise ParameterError(
            "lambda_h" if small else "m",
            f"{'lambda_h' if small else 'm'}: λ_H (C-1)/(C m²) = {float(mu):.3g} is outside "
            f"[{MU_RANGE[0]:g}, {MU_RANGE[1]:g}], the range the solver handles; "
            + ("raise lambda_h or lower m" if small else "raise m or lower lambda_h"))
    return m, int(num_classes), lambda_h


def _check_lambdas(lambdas: Sequence[float] | np.ndarray) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    if lam.ndim != 1:
        raise ParameterError("lambdas", "lambdas must be a 1-D array")
    if not np.all(np.isfinite(lam)) or np.any(lam < 0) or np.any(lam > 1):
        raise ParameterError("lambdas", "every lambda must lie in [0, 1]")
    return lam


def etf(num_classes: int, m: float = 1.0, d: int | None = None, seed: int | None = None) -> np.ndarray:
    """Simplex ETF ``W = m sqrt(C/(C-1)) (I - 11ᵀ/C) Uᵀ`` of shape (C, d), d ≥ C.

    U (d×C) has orthonormal columns: the first C coordinate axes when ``seed`` is None,
    otherwise a random orthonormal frame (seeded)."""
    C = int(num_classes)
    d = C if d is None else int(d)
    if d < C:
        raise ParameterError("d", f"d must be >= num_classes ({C}), got {d}")
    M = m * np.sqrt(C / (C - 1)) * (np.eye(C) - np.ones((C, C)) / C)
    if seed is None:
        U = np.eye(d, C)
    else:
        U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, C)))
    return M @ U.T


def etf_triple_rows(num_classes: int, m: float = 1.0) -> np.ndarray:
    """Rows 0, 1, 2 of the simplex ETF ``m·sqrt(C/(C-1))·(I - 11ᵀ/C)`` (:func:`etf`),
    written in the orthonormal basis (e0, e1, e2, u), u ∝ 1 - e0 - e1 - e2, that spans
    them: (3, 4). An isometry of their span, so projections are the same as with the
    (C, C) ETF, without forming C-dimensional features (C may be in the thousands). Any
    three distinct rows of the ETF have these coordinates in their own such basis."""
    C = int(num_classes)
    W = np.zeros((3, 4))
    W[:, :3] = np.eye(3) - 1.0 / C
    W[:, 3] = -np.sqrt(C - 3.0) / C
    return m * np.sqrt(C / (C - 1.0)) * W
