"""``GET /api/theory/ufm``: the UFM optimum of mixup (Theorem 3.1 with the errata) for the
dashboard's overlay: the CLI's JSON fields plus the optimal features projected like the
empirical plot (classes 0, 1, 2 of a simplex ETF; class 0 on top)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query

from backend.api.encoding import encode_array
from backend.api.projection import QueryError
from backend.api.schemas import TheoryProjection

router = APIRouter(prefix="/theory", tags=["theory"])

PARAMS = ("m", "num_classes", "lambda_h", "lambdas", "n_lambda", "alpha", "seed", "amplify")


def finite(x: Any) -> Any:
    """JSON-safe: NaN and ±inf become null (JSON has neither)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, np.ndarray):
        return finite(x.tolist())
    if isinstance(x, np.generic):
        return finite(x.item())
    return x


def parse_lambdas(text: str | None, n_lambda: int, alpha: float, seed: int) -> np.ndarray:
    if text is None or not text.strip():
        return np.random.default_rng(seed).beta(alpha, alpha, size=n_lambda)
    try:
        lam = np.array([float(t) for t in text.split(",") if t.strip()], dtype=np.float64)
    except ValueError:
        raise QueryError("lambdas", f"{text!r} is not a comma-separated list of numbers") \
            from None
    if lam.size == 0 or lam.size > 20_000:
        raise QueryError("lambdas", "give 1 to 20000 values")
    if not np.all((lam >= 0) & (lam <= 1)):
        raise QueryError("lambdas", "every λ must lie in [0, 1]")
    return lam


def theory_projection(summary: dict[str, Any], m: float, num_classes: int
                      ) -> TheoryProjection:
    """Optimal features of the triple (0, 1, 2) of an ETF, projected: the same-class points
    ``a·w_i`` (kind 1, λ = 1) and, for each ordered pair (i, j) and each λ (the weight on i),
    ``coef_i·w_i + coef_j·w_j`` (kind 2)."""
    from backend import maths

    W = etf_rows3(num_classes, m)
    dc = summary["different_class"]
    lam = np.asarray(summary["lambdas"], np.float64)
    ci = np.asarray(dc["coef_i"], np.float64)
    cj = np.asarray(dc["coef_j"], np.float64)
    a_same = float(summary["same_class"]["coef"])
    H, lams, kinds = [a_same * W[:3]], [np.ones(3)], [np.ones(3, np.int16)]
    for i in range(3):
        for j in range(3):
            if i != j:
                H.append(ci[:, None] * W[i] + cj[:, None] * W[j])
                lams.append(lam)
                kinds.append(np.full(len(lam), 2, np.int16))
    H = np.nan_to_num(np.concatenate(H))
    proj = maths.project_triple(W, H, (0, 1, 2), centre=None)
    return TheoryProjection(points=encode_array(proj.points), lam=encode_array(np.concatenate(lams)),
                            kind=encode_array(np.concatenate(kinds), "int16"),
                            vertices=np.asarray(proj.vertices, np.float64).tolist())


def etf_rows3(num_classes: int, m: float) -> np.ndarray:
    """Rows 0, 1, 2 of the simplex ETF ``m·sqrt(C/(C-1))·(e_i - 1/C)`` (norm m), written in
    the orthonormal basis (e0, e1, e2, u) with u ∝ 1 - e0 - e1 - e2 that spans them: (3, 4).
    Exact for any C without forming a C-dimensional array."""
    C = num_classes
    W = np.zeros((3, 4))
    W[:, :3] = np.eye(3) - 1.0 / C
    W[:, 3] = -np.sqrt(C - 3.0) / C
    return m * np.sqrt(C / (C - 1.0)) * W


@router.get("/ufm", summary="UFM optimum of mixup and its projection",
            responses={422: {"description": "invalid parameter (the field is named)"}},
            response_description="K_same, same_class, lambdas, different_class, "
            "mean_loss_triple (as `mixscope theory ufm --json`) and projection")
def ufm(m: Annotated[float, Query(gt=0, le=1000, description="ETF multiplier m")] = 1.0,
        num_classes: Annotated[int, Query(ge=3, le=10_000)] = 10,
        lambda_h: Annotated[float, Query(gt=0, le=1000, description="feature decay λ_H")]
        = 1e-6,
        n_lambda: Annotated[int, Query(ge=1, le=20_000)] = 5000,
        alpha: Annotated[float, Query(gt=0, le=1e4, description="λ ~ Beta(α, α)")] = 1.0,
        seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0,
        amplify: bool = False,
        lambdas: Annotated[str | None, Query(max_length=200_000, examples=["0.1,0.5,0.9"],
                                             description="explicit λ list (beats n_lambda)")]
        = None) -> dict[str, Any]:
    from backend import maths

    lam = parse_lambdas(lambdas, n_lambda, alpha, seed)
    try:
        summary = maths.ufm_summary(m, num_classes, lambda_h, lam, amplify)
        body = dict(summary)
        body["projection"] = theory_projection(summary, m, num_classes).model_dump()
    except ValueError as exc:  # the maths names the parameter it rejects
        msg = str(exc)
        field = next((p for p in PARAMS if msg.startswith(p)), "m")
        raise QueryError(field, msg) from None
    return finite(body)
