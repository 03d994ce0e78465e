"""A run config with one dotted field set to a swept value, validated: the one place the
sweep routes (``POST /api/sweeps``, ``POST /api/grid/launch``) build their runs' configs, and
launch them (:func:`launch_sweep_runs`: all or nothing)."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from pydantic import ValidationError

from backend import executors
from backend.config_checks import check_submitted
from backend.errors import InvalidInput, QueryError, Unavailable
from backend.resources import Budget, MemoryBudgetError, check_memory
from backend.runconfig import RunConfig
from backend.store.errors import RunNotFound


def config_with(base: dict[str, Any], field: str, value: Any,
                budget: int | Budget | None = None, names: tuple[str, str] = ("field", "values")
                ) -> RunConfig:
    """``base`` with the dotted ``field`` set to ``value``, validated and checked against a
    worker's memory ``budget`` (QueryError names the body's field: ``names`` are those of
    the field and of its values)."""
    data = copy.deepcopy(base)
    parts = field.split(".")
    node = data
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise QueryError(names[0], f"{field!r} is not a run config field", "body")
        node = node[p]
    if parts[-1] not in node or parts[-1] == "name":
        raise QueryError(names[0], f"{field!r} is not a sweepable run config field", "body")
    node[parts[-1]] = value
    try:
        config = RunConfig.model_validate(data)
        check_submitted(config)
        check_memory(config, budget)
        return config
    except MemoryBudgetError as exc:
        raise QueryError(names[1], f"{field}={_short(value)} gives a run beyond a worker's memory: "
                         f"{exc}", "body") from None
    except QueryError as exc:  # what the dataset or model cannot do
        raise QueryError(names[1], f"{field}={_short(value)} gives an invalid config: {exc}",
                         "body") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or field
        raise QueryError(names[1], f"{field}={_short(value)} gives an invalid config: "
                         f"{where}: {str(err['msg'])[:300]}", "body") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "…"


def launch_sweep_runs(store, dispatcher, sweep_id: str, configs: list[RunConfig],
                      executor: dict[str, Any] | None = None) -> list[str]:
    """Create and send one run of ``sweep_id`` per config, each with the launch's
    ``executor`` (``backend.executors.launch_choice``, checked before any row: a Slurm launch
    on a store compute nodes cannot reach is a 422 then); returns their ids. All or nothing:
    when the broker or sbatch does not take one (503, or sbatch's 422 naming the resource)
    every run created here and the sweep are removed again, and Slurm jobs already submitted
    are cancelled, so no sweep is left half-launched with runs nothing will start (a message
    already sent finds its run gone, which a worker ignores)."""
    created: list[str] = []
    try:
        for cfg in configs:
            run = store.create_run(cfg, sweep_id=sweep_id)
            created.append(run.id)
            executors.keep_choice(store, run.id, executor)
            dispatcher.send_run(run.id)
    except (Unavailable, InvalidInput):  # the broker or sbatch did not take one
        for rid in created:
            executors.cancel_job(store.get_run(rid))
            with contextlib.suppress(RunNotFound):
                store.delete_run(rid)
        store.delete_sweep(sweep_id)
        raise
    return created
