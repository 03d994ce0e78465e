"""``GET /api/theory/ufm``: the UFM optimum of mixup (Theorem 3.1 with the errata) for the
dashboard's overlay: the CLI's JSON fields (``backend.maths.ufm_summary``) plus the optimal
features of classes 0, 1, 2 of the simplex ETF projected like the empirical plot
(``backend.maths.ufm_projection``; class 0 on top, λ the weight on the lower class)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query

from backend.api.encoding import encode_array
from backend.api.schemas import TheoryProjection
from backend.errors import QueryError
from backend.jsonsafe import json_safe

router = APIRouter(prefix="/theory", tags=["theory"])


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


def drawn_subset(lam: np.ndarray, max_points: int | None) -> np.ndarray | None:
    """Indices of at most ``max_points`` λ, evenly strided over the λ in ascending order
    (the smallest and largest kept); None when every λ fits."""
    if max_points is None or lam.size <= max_points:
        return None
    order = np.argsort(lam, kind="stable")
    return order[np.unique(np.linspace(0, lam.size - 1, max_points).round().astype(np.intp))]


def theory_projection(m, num_classes, lambda_h, lam, amplify) -> dict[str, Any]:
    """``maths.ufm_projection`` of the triple (0, 1, 2), b64-encoded for the overlay."""
    from backend import maths

    p = maths.ufm_projection(m, num_classes, lambda_h, lam, amplify=amplify)
    return TheoryProjection(
        points=encode_array(p["points"]), lam=encode_array(p["lam"]),
        kind=encode_array(p["kind"], "int16"), class_a=encode_array(p["class_a"], "int16"),
        class_b=encode_array(p["class_b"], "int16"),
        vertices=np.asarray(p["vertices"], np.float64).tolist()).model_dump()


@router.get("/ufm", summary="UFM optimum of mixup and its projection",
            responses={422: {"description": "invalid parameter (the field is named)"}},
            response_description="K_same, same_class, lambdas, different_class, "
            "mean_loss_triple (as `mixscope theory ufm --json`) and projection")
def ufm(m: Annotated[float, Query(gt=0, le=1000, description="ETF multiplier m")] = 1.0,
        num_classes: Annotated[int, Query(ge=3, le=100_000)] = 10,
        lambda_h: Annotated[float, Query(gt=0, le=1000, description="feature decay λ_H")]
        = 1e-6,
        n_lambda: Annotated[int, Query(ge=1, le=20_000)] = 5000,
        alpha: Annotated[float, Query(gt=0, le=1e4, description="λ ~ Beta(α, α)")] = 1.0,
        seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0,
        amplify: bool = False,
        lambdas: Annotated[str | None, Query(max_length=200_000, examples=["0.1,0.5,0.9"],
                                             description="explicit λ list (beats n_lambda)")]
        = None,
        max_points: Annotated[int | None, Query(
            ge=2, le=20_000, description="at most this many λ in the per-λ lists and the "
            "projection (an even stride over the λ in ascending order, both ends kept); "
            "K_same, same_class and mean_loss_triple still use every λ")] = None,
) -> dict[str, Any]:
    from backend import maths

    lam = parse_lambdas(lambdas, n_lambda, alpha, seed)
    try:
        body = dict(maths.ufm_summary(m, num_classes, lambda_h, lam, amplify))
        keep = drawn_subset(lam, max_points)
        if keep is not None:  # what a picture needs: the lists and the points of a subset
            body["lambdas"] = [body["lambdas"][i] for i in keep]
            body["different_class"] = {k: [v[i] for i in keep]
                                       for k, v in body["different_class"].items()}
            lam = lam[keep]
        body["projection"] = theory_projection(m, num_classes, lambda_h, lam, amplify)
    except maths.ParameterError as exc:  # the maths names the parameter it rejects
        raise QueryError(exc.parameter, str(exc)) from None
    return json_safe(body)
