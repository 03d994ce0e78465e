"""What a run costs on disk: bytes stored per run, per artifact kind and per recorded epoch.

Read from the artifact index (each row keeps its file's size), so it costs one query and no
file access; ``runs show`` and ``GET /api/runs/{id}/footprint`` print it.
"""

from __future__ import annotations

from typing import Any


def run_footprint(store, run_id: str) -> dict[str, Any]:
    """``{"bytes_total", "bytes_per_recorded_epoch", "recorded_epochs", "by_kind",
    "activations_dtype", "activations_dtypes"}``: ``bytes_per_recorded_epoch`` is the
    epoch-bound artifacts' bytes (activations, classifier, snapshots, ...) over the number
    of epochs that hold any, or None; ``activations_dtypes`` counts the activation files per
    stored dtype (``float16``, ``float32``, ``unknown`` for files written before the dtype
    was recorded) and ``activations_dtype`` is the only one, ``"mixed"``, or None;
    ``dtypes`` maps kind -> dtype for the kinds that have one (activations)."""
    by_kind: dict[str, int] = {}
    per_epoch: dict[int, int] = {}
    dtypes: dict[str, int] = {}
    for a in store.list_artifacts(run_id):
        by_kind[a.kind] = by_kind.get(a.kind, 0) + int(a.size)
        if a.kind == "activations":
            k = (a.meta or {}).get("dtype", "unknown")
            dtypes[k] = dtypes.get(k, 0) + 1
        if a.epoch is not None:
            per_epoch[a.epoch] = per_epoch.get(a.epoch, 0) + int(a.size)
    epoch_bytes = sum(per_epoch.values())
    return {"bytes_total": sum(by_kind.values()),
            "bytes_per_recorded_epoch": epoch_bytes / len(per_epoch) if per_epoch else None,
            "recorded_epochs": len(per_epoch), "by_kind": dict(sorted(by_kind.items())),
            "activations_dtype": (next(iter(dtypes)) if len(dtypes) == 1 else
                                  "mixed" if dtypes else None),
            "activations_dtypes": dict(sorted(dtypes.items())),
            # the Runs page's footprint table shows a dtype column from this map
            "dtypes": ({"activations": next(iter(dtypes)) if len(dtypes) == 1 else "mixed"}
                       if dtypes else {})}


def human_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
