"""Per-epoch metrics: one run's records, or chosen series of several runs side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import RunDep, StoreDep
from backend.api.schemas import MultiMetrics, RunMetrics
from backend.errors import QueryError

router = APIRouter(tags=["metrics"])

#: what ``keys`` defaults to: the scalar series the dashboard plots.
DEFAULT_KEYS = ("train_loss", "train_accuracy", "test_loss", "test_nll", "test_accuracy", "ece",
                "mce", "norm_cv", "cosine_std", "nc1", "nc2", "nc3", "alignment",
                "channel_radius", "lr")


@router.get("/runs/{run_id}/metrics", response_model=RunMetrics,
            summary="Every per-epoch record of a run", tags=["runs"],
            responses={404: {"description": "no such run"}})
def run_metrics(run: RunDep, store: StoreDep) -> RunMetrics:
    return RunMetrics(run_id=run.id, epochs=store.epoch_metrics(run.id))


def _split(text: str, field: str, limit: int) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise QueryError(field, "give a comma-separated list")
    if len(items) > limit:
        raise QueryError(field, f"at most {limit} items")
    return list(dict.fromkeys(items))


@router.get("/metrics", response_model=MultiMetrics,
            summary="Chosen per-epoch series of several runs",
            responses={422: {"description": "unknown run or empty list (the field is named)"}})
def many_metrics(store: StoreDep,
                 runs: Annotated[str, Query(max_length=2000, examples=["a1b2,c3d4"])],
                 keys: Annotated[str | None, Query(max_length=2000,
                                                   examples=["ece,test_accuracy"])] = None
                 ) -> MultiMetrics:
    """``{"runs": {id: {"epoch": [...], key: [...]}}}``; a key a record lacks is null there."""
    ids = _split(runs, "runs", 100)
    wanted = _split(keys, "keys", 100) if keys is not None else list(DEFAULT_KEYS)
    missing = [i for i in ids if store.get_run(i) is None]
    if missing:
        raise QueryError("runs", f"unknown runs {missing}")
    out = {}
    for run_id in ids:
        recs = store.epoch_metrics(run_id)
        series = {"epoch": [r["epoch"] for r in recs]}
        for k in wanted:
            if k != "epoch":
                series[k] = [r.get(k) for r in recs]
        out[run_id] = series
    return MultiMetrics(runs=out)
