"""Helpers every part of the store shares: ids, the ``ANY`` marker, JSON cleaning."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from backend.runconfig import RunConfig


class _Any:
    """Marker for "any value" in :meth:`Store.delete_artifacts` (``None`` means "none")."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()

def new_id() -> str:
    """A short random hex id (12 hex digits: 48 bits, ample for one installation)."""
    return uuid.uuid4().hex[:12]


def default_run_name(cfg: RunConfig) -> str:
    return f"{cfg.dataset}-{cfg.model}-{cfg.method}-a{cfg.alpha:g}"


def jsonable(x: Any, where: str = "value") -> Any:
    """``x`` as plain JSON: numpy scalars and small arrays become Python numbers and lists,
    NaN and ±inf become ``None`` (JSON has neither; PostgreSQL rejects them)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist(), where)
    if isinstance(x, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "item") and callable(x.item):  # a torch scalar tensor
        return jsonable(x.item(), where)
    raise TypeError(f"{where}: {type(x).__name__} is not JSON-serialisable")


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))

def check_meta(meta: Mapping[str, str] | None) -> dict[str, str]:
    if meta is None:
        return {}
    bad = [k for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise TypeError(f"meta: keys and values must be strings (bad: {bad})")
    return dict(meta)
