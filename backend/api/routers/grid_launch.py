"""Launch a sweep grid: ``columns`` (a config field and its values) × ``rows`` (a second,
optional) × ``seeds``, as one sweep whose grid opens at ``/grid?sweep=ID``. With
``dry_run`` only the cost is estimated (:mod:`backend.api.grid_launch`)."""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from backend.api.deps import DispatcherDep, StoreDep, TokenDep
from backend.api.executor_params import LaunchExecutorDep
from backend.api.grid import MAX_RUNS
from backend.api.grid_launch import GridLaunch, estimate
from backend.api.sweeping import config_with, launch_sweep_runs
from backend.errors import QueryError
from backend.resources import admission_budget

router = APIRouter(tags=["grid"])


def _label(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@router.post("/grid/launch", status_code=status.HTTP_201_CREATED, dependencies=[TokenDep],
             summary="Launch a sweep grid (or estimate its cost with dry_run)",
             responses={200: {"description": "dry_run: the estimate, nothing queued"},
                        401: {"description": "token required"},
                        422: {"description": "a field, a value or the size (named)"}})
def launch_grid(req: Annotated[GridLaunch, Body()], store: StoreDep,
                dispatcher: DispatcherDep, response: Response,
                executor: LaunchExecutorDep) -> dict:
    """``{"sweep", "grid_url", "estimate": {runs, epochs, recorded_epochs, store_bytes,
    seconds, basis}, "runs": [ids]}``; every config is validated (and checked against a
    worker's memory), and the executor and Slurm resources (query parameters as for
    ``POST /api/runs``), before any run is created."""
    rows = req.rows
    if rows is not None and rows.field == req.columns.field:
        raise QueryError("rows.field", "rows and columns must sweep different fields", "body")
    n = len(req.columns.values) * (len(rows.values) if rows else 1) * len(req.seeds)
    if n > MAX_RUNS:
        raise QueryError("seeds", f"{n} runs: a grid shows at most {MAX_RUNS} (columns × rows "
                         "× seeds)", "body")
    base = req.base.model_dump(mode="json")
    budget = admission_budget(store, executor)  # the live workers' largest, or the setting
    plan = []
    for cv, rv, seed in itertools.product(req.columns.values,
                                          rows.values if rows else [None], req.seeds):
        cfg = config_with(base, req.columns.field, cv, budget, ("columns.field", "columns.values"))
        if rows is not None:
            cfg = config_with(cfg.model_dump(mode="json"), rows.field, rv, budget,
                              ("rows.field", "rows.values"))
        cfg = cfg.model_copy(update={"seed": seed})
        label = f"{req.columns.field}={_label(cv)}" + (
            f", {rows.field}={_label(rv)}" if rows else "") + f", seed {seed}"
        plan.append((cfg, label))
    cost = estimate(store, [c for c, _ in plan])
    if req.dry_run:
        response.status_code = status.HTTP_200_OK
        return {"sweep": None, "grid_url": None, "estimate": cost, "runs": []}
    name = req.name or f"grid {req.columns.field}" + (f" × {rows.field}" if rows else "")
    sweep_id = store.create_sweep(name, req.columns.field, req.columns.values)
    ids = launch_sweep_runs(store, dispatcher, sweep_id,  # BrokerUnavailable: 503, no rows
                            [cfg.model_copy(update={"name": f"{name}: {label}"})
                             for cfg, label in plan], executor)
    return {"sweep": sweep_id, "grid_url": f"/grid?sweep={sweep_id}", "estimate": cost,
            "runs": ids}
