"""NaN → null: the one place numbers are made JSON-safe.

JSON has neither NaN nor ±inf (and PostgreSQL's JSON columns reject them), while the maths
produces them legitimately: a diverged run's ECE, a point outside the mixing set, an empty
class. Every API answer, stored metric and lab record goes through these helpers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def finite_or_none(x: Any) -> float | None:
    """``float(x)``, or ``None`` when ``x`` is ``None``, NaN or ±inf."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def array_json(a: Any, digits: int | None = None) -> list:
    """An array as nested lists; floats rounded to ``digits`` when given, NaN/±inf → None."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return a.tolist()
    a = a.astype(np.float64)
    if digits is not None:
        a = a.round(digits)
    return np.where(np.isfinite(a), a, None).tolist()


def json_safe(x: Any, where: str = "value") -> Any:
    """``x`` as plain JSON: numpy scalars and arrays become Python numbers and lists, NaN and
    ±inf become ``None``; ``where`` names the offending part in the TypeError for anything
    else (an object that is not data)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return finite_or_none(x)
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist(), where)
    if isinstance(x, Mapping):
        return {str(k): json_safe(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "item") and callable(x.item):  # a torch scalar tensor
        return json_safe(x.item(), where)
    raise TypeError(f"{where}: {type(x).__name__} is not JSON-serialisable")
