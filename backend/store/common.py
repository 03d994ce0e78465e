"""Helpers every part of the store shares: ids, the ``ANY`` marker, JSON cleaning."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from backend.jsonsafe import json_safe
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


jsonable = json_safe  # the store's name for it (metrics, params, reports)


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))

def check_meta(meta: Mapping[str, str] | None) -> dict[str, str]:
    if meta is None:
        return {}
    bad = [k for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise TypeError(f"meta: keys and values must be strings (bad: {bad})")
    return dict(meta)
