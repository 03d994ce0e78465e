"""The sweep grid's parts that are not frames: which config parameters differ between runs
(the facets), the per-run curves beside the grid, and one panel's frames packed so that the
per-point fields travel once per run (``GET /api/grid``, :mod:`backend.api.routers.grid`).

The frames themselves come from :class:`backend.api.projection.ProjectionService` (the same
sliced reads, cache and maths as ``GET /frames``): this module only regroups them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from backend.api.cache import LRU
from backend.api.encoding import decode_array, encode_array
from backend.jsonsafe import finite_or_none

#: most runs one grid shows (6 × 6 panels)
MAX_RUNS = 36
#: the curves beside the grid: per-epoch metric keys, plus the classifier's ETF distance
CURVE_KEYS = ("test_accuracy", "ece", "channel_radius", "nc1")
ETF_KEY = "classifier_etf"
#: config fields that never make a facet (they name or place a run, or are the seed) and
#: prefixes of them (what is recorded, not how the network trains)
NOT_FACETS = frozenset({"name", "seed", "device", "source", "external_config"})
NOT_FACET_PREFIXES = ("record.",)
#: the fields a frame carries once per run (the points' own fields), not per epoch
SHARED_FIELDS = ("lam", "class_a", "class_b", "kind", "index_a", "index_b")


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and other leaves stay as they are."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _hashable(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def differing(configs: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[Any]]]:
    """The dotted config fields whose values differ between ``configs`` (a field a config
    lacks counts as null), in the configs' own order, and each run's value of them. The seed,
    the run's name and the recording schedule never facet (seeds stack or average)."""
    flat = [flatten(c) for c in configs]
    keys: list[str] = []
    for f in flat:
        keys.extend(k for k in f if k not in keys)
    fields = [k for k in keys if k not in NOT_FACETS and not k.startswith(NOT_FACET_PREFIXES)
              and len({_hashable(f.get(k)) for f in flat}) > 1]
    return fields, {k: [f.get(k) for f in flat] for k in fields}


def facets(runs, first: str | None = None) -> dict[str, Any]:
    """``{"fields": [dotted names], "values": {field: [per run]}, "seeds": [per run],
    "seed_varies": bool}``: the differing parameters the page lays out as columns, rows and
    panel labels; ``first`` (a sweep's own field) leads when it differs."""
    configs = [dict(r.config or {}) for r in runs]
    fields, values = differing(configs)
    if first in fields:
        fields = [first] + [f for f in fields if f != first]
    seeds = [c.get("seed") for c in configs]
    return {"fields": fields, "values": values, "seeds": seeds,
            "seed_varies": len({_hashable(s) for s in seeds}) > 1}


def curves(store, run, etf_by_epoch: dict[int, float]) -> dict[str, list]:
    """One run's curve values per epoch: ``{"epoch": [...], key: [...]}`` for
    :data:`CURVE_KEYS` (null where a record lacks it) and :data:`ETF_KEY` (the classifier's
    distance from a simplex ETF, at recorded epochs only; null elsewhere)."""
    recs = {r["epoch"]: r for r in store.epoch_metrics(run.id)}
    epochs = sorted(set(recs) | set(etf_by_epoch))
    out: dict[str, list] = {"epoch": epochs}
    for k in CURVE_KEYS:
        out[k] = [_num(recs.get(e, {}).get(k)) for e in epochs]
    out[ETF_KEY] = [_num(etf_by_epoch.get(e)) for e in epochs]
    return out


def _num(v: Any) -> float | None:
    """A metric to 6 significant digits (a curve's point), None when missing or not finite."""
    f = finite_or_none(v) if isinstance(v, (int, float)) else None
    return None if f is None else float(f"{f:.6g}")


#: (run, epoch, file, written) -> the classifier's ETF distance: a stored classifier never
#: changes under its name and write time, so a warm grid reads none
_ETF = LRU(100_000)


def classifier_etf(store, run, epochs: list[int]) -> dict[int, float]:
    """The classifier's distance from a simplex ETF at each of ``epochs`` that has one (the
    index rows of the run's classifiers looked up once; each file read once per process)."""
    from backend import maths

    rows = store.artifact_rows(run.id, "classifier")
    out = {}
    for e in epochs:
        row = rows.get(e)
        if row is None:
            continue
        key = (run.id, e, row.path, str(row.created_at))
        d = _ETF.get(key)
        if d is None:
            W = store.get_rows(run.id, "classifier", {"weight": None}, epoch=e,
                               row=row)["weight"]
            d = maths.classifier_etf_distance(np.asarray(W, np.float64))
            _ETF.put(key, d)
        out[e] = d
    return out


def pack_frames(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's frames (the API's Frame bodies) as one panel: the per-point fields and the
    projection's constants once, then per epoch only what moves (``points``, ``arrows``,
    ``vertices``, ``radius``; arrows and vertices to 6 significant digits, far below a
    pixel). Dataset indices that fit travel as int16 (a digits probe's do)."""
    if not frames:
        return {"frames": []}
    first = frames[0]
    shared = {k: _narrow(first[k]) if k.startswith("index_") else first[k]
              for k in SHARED_FIELDS if k in first}
    shared.update(basis=first.get("basis"), class_names=first.get("class_names"),
                  num_selected=first.get("num_selected"))
    shared["frames"] = [{"epoch": f["epoch"], "points": f["points"],
                         "arrows": _round(f["arrows"]), "vertices": _round(f["vertices"]),
                         "radius": f["radius"]} for f in frames]
    return shared


def _round(pairs: list[list[float]]) -> list[list[float]]:
    return [[float(f"{x:.6g}") for x in p] for p in pairs]


def _narrow(obj: dict[str, Any]) -> dict[str, Any]:
    """An int32 b64 array as int16 when every value fits (else as it is)."""
    a = decode_array(obj)
    if a.size and (a.min() < -(1 << 15) or a.max() >= 1 << 15):
        return obj
    return encode_array(a, "int16")
