"""A run's stored arrays as they are: the activation rows of an epoch and layer, and a
recorded epoch's model snapshot (what ``mixscope.Client`` reads over HTTP)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import ProjectionsDep, RunDep, StoreDep
from backend.api.encoding import ArrayJSONResponse
from backend.api.queries import Layer
from backend.api.reads import activations_of, checkpoint_of

router = APIRouter(prefix="/runs/{run_id}", tags=["artifacts"])

EpochQ = Annotated[int | None, Query(ge=0, le=1_000_000,
                                     description="recorded epoch (default: the latest)")]
_ERRORS = {404: {"description": "no such run, or none stored"},
           422: {"description": "epoch or layer not stored (the stored ones are named)"}}


@router.get("/activations", summary="Stored activation rows of an epoch and layer",
            responses=_ERRORS)
def activations(run: RunDep, store: StoreDep, svc: ProjectionsDep, epoch: EpochQ = None,
                layer: Layer = None):
    """``{"run_id", "epoch", "layer", "arrays": {name: b64 array}}``: ``features`` (probe
    order: clean rows, then pairs), ``clean_mean`` and what else the file holds."""
    return ArrayJSONResponse(activations_of(store, svc, run, epoch, layer))


@router.get("/checkpoint", summary="A recorded epoch's model snapshot", responses=_ERRORS)
def checkpoint(run: RunDep, store: StoreDep, epoch: EpochQ = None):
    """``{"run_id", "epoch", "arrays": {tensor name: b64 array}}`` (float32 and int64)."""
    return ArrayJSONResponse(checkpoint_of(store, run, epoch))
