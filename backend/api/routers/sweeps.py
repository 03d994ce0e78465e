"""Sweeps: one run per value of a swept config field, grouped, the best by test accuracy."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, Path, status

from backend.api.deps import DispatcherDep, StoreDep, TokenDep
from backend.api.executor_params import LaunchExecutorDep
from backend.api.reads import sweep_out
from backend.api.schemas import Sweep, SweepRequest
from backend.api.sweeping import config_with, launch_sweep_runs
from backend.errors import NotFound
from backend.resources import admission_budget

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def sweep_values(req: SweepRequest) -> list[Any]:
    if req.values is not None:
        return list(req.values)
    lo, hi, n = req.logspace
    return [float(v) for v in np.logspace(lo, hi, int(n))]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Sweep,
             dependencies=[TokenDep], summary="Launch a sweep",
             responses={401: {"description": "token required"},
                        422: {"description": "unknown field or a value giving a bad config"}})
def launch_sweep(req: Annotated[SweepRequest, Body()], store: StoreDep,
                 dispatcher: DispatcherDep, executor: LaunchExecutorDep) -> Sweep:
    """One run per value; ``executor`` and the Slurm resources as for ``POST /api/runs``
    (query parameters), checked before any row is created."""
    values = sweep_values(req)
    base = req.base.model_dump(mode="json")
    budget = admission_budget(store, executor)  # the live workers' largest, or the setting
    configs = [config_with(base, req.field, v, budget) for v in values]  # all valid before any run
    name = req.name or f"sweep {req.field}"
    sweep_id = store.create_sweep(name, req.field, values)
    named = [cfg.model_copy(update={"name": f"{name}: {req.field}={v:.3g}"
                                    if isinstance(v, float) else f"{name}: {req.field}={v}"})
             for v, cfg in zip(values, configs)]
    launch_sweep_runs(store, dispatcher, sweep_id, named, executor)  # 503: no rows
    return sweep_out(store, store.get_sweep(sweep_id))


@router.get("", response_model=list[Sweep], summary="List sweeps, newest first")
def list_sweeps(store: StoreDep) -> list[Sweep]:
    return [sweep_out(store, s) for s in store.list_sweeps()]


@router.get("/{sweep_id}", response_model=Sweep, summary="One sweep with its runs and best",
            responses={404: {"description": "no such sweep"}})
def get_sweep(sweep_id: Annotated[str, Path(min_length=1, max_length=64)],
              store: StoreDep) -> Sweep:
    info = store.get_sweep(sweep_id)
    if info is None:
        raise NotFound(f"sweep {sweep_id!r} not found", field="sweep_id", where="path")
    return sweep_out(store, info)
