"""Launching a sweep grid: one or two swept config fields (a list of values each) × seeds,
its cost estimated before anything is queued (``POST /api/grid/launch``).

The estimate is arithmetic on the configs plus what this store has measured: for each run,
its epochs, its recorded epochs, and — from the finished runs of the same dataset and model
already in the store — the median bytes a recorded epoch stored and the median seconds an
epoch took (the per-epoch figures the trainer records, ``epoch_time_s``, which the
benchmarks print too). Without such a run the bytes and seconds are null, and the reason
says so.
"""

from __future__ import annotations

import statistics
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.api.grid import MAX_RUNS
from backend.runconfig import RunConfig, _printable

#: finished runs sampled per (dataset, model) for the per-epoch figures
SAMPLE_RUNS = 8


class Axis(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    field: str = Field(min_length=1, max_length=100, examples=["alpha"])
    values: list[Any] = Field(min_length=1, max_length=MAX_RUNS, examples=[[0.4, 1, 2, 8]])


class GridLaunch(BaseModel):
    """A grid of runs: ``columns`` × ``rows`` (optional) × ``seeds``, at most 36 runs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"base": {"dataset": "digits", "epochs": 20},
                      "columns": {"field": "alpha", "values": [0.4, 1, 2, 8]},
                      "rows": {"field": "method", "values": ["erm", "input-mixup"]},
                      "seeds": [0, 1], "dry_run": True}]})

    base: RunConfig = Field(default_factory=RunConfig)
    columns: Axis
    rows: Axis | None = None
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=10)
    name: Annotated[str, AfterValidator(_printable)] | None = Field(None, max_length=200)
    dry_run: bool = Field(False, description="only estimate the cost; queue nothing")


def recorded_count(config: RunConfig) -> int:
    """How many epochs a run of ``config`` records (``auto``: at most ``max_recorded``)."""
    rec = config.record.epochs
    if isinstance(rec, list):
        return len(set(rec))
    return min(config.record.max_recorded, config.epochs + 1)


def per_epoch_figures(store, dataset: str, model: str) -> tuple[float | None, float | None,
                                                                 int]:
    """(median bytes per recorded epoch, median seconds per epoch, runs measured) of this
    store's finished runs of ``dataset`` and ``model`` (the newest few)."""
    from backend.store.footprint import run_footprint

    runs = [r for r in store.list_runs(status="succeeded")
            if r.config.get("dataset") == dataset and r.config.get("model") == model]
    runs = runs[:SAMPLE_RUNS]
    byte_figs, time_figs = [], []
    for r in runs:
        fp = run_footprint(store, r.id).get("bytes_per_recorded_epoch")
        if fp:
            byte_figs.append(float(fp))
        times = [m["epoch_time_s"] for m in store.epoch_metrics(r.id)
                 if isinstance(m.get("epoch_time_s"), (int, float)) and m["epoch"] > 0]
        if times:
            time_figs.append(statistics.median(times))
    return (statistics.median(byte_figs) if byte_figs else None,
            statistics.median(time_figs) if time_figs else None, len(runs))


def estimate(store, configs: list[RunConfig]) -> dict[str, Any]:
    """``{"runs", "epochs", "recorded_epochs", "store_bytes", "seconds", "basis"}`` of
    training ``configs`` one after another on one worker (bytes and seconds null where
    this store has no finished run of that dataset and model to measure from)."""
    out: dict[str, Any] = {"runs": len(configs), "epochs": sum(c.epochs for c in configs),
                           "recorded_epochs": sum(recorded_count(c) for c in configs)}
    figures: dict[tuple[str, str], tuple] = {}
    total_b, total_s, basis = 0.0, 0.0, []
    for c in configs:
        key = (c.dataset, c.model)
        if key not in figures:
            figures[key] = per_epoch_figures(store, *key)
            b, s, n = figures[key]
            basis.append(f"{c.dataset}/{c.model}: " + (
                f"{n} finished run(s) of this store" if n else
                "no finished run of this store to measure from"))
        b, s, _n = figures[key]
        total_b = None if b is None or total_b is None else total_b + b * recorded_count(c)
        total_s = None if s is None or total_s is None else total_s + s * c.epochs
    out.update(store_bytes=None if total_b is None else int(total_b),
               seconds=None if total_s is None else round(total_s, 1), basis="; ".join(basis))
    return out
