"""Layer-wise trajectories: a few fixed image pairs mixed over a λ grid, traced through the
layers and projected onto a class triple (the reference's §2, 000 Fig. 3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import ProjectionsDep, RunDep, StoreDep
from backend.api.queries import ClassesQ, Epoch
from backend.api.reads import trajectory_of
from backend.api.schemas import Trajectory

router = APIRouter(prefix="/runs/{run_id}", tags=["trajectory"])


@router.get("/trajectory", response_model=Trajectory,
            summary="Projected layer-wise trajectories of the traced pairs at an epoch",
            responses={404: {"description": "no such run"},
                       422: {"description": "epoch not recorded, bad classes, no trajectory"}})
def trajectory(run: RunDep, store: StoreDep, svc: ProjectionsDep, epoch: Epoch = None,
               classes: ClassesQ = None,
               centre: Annotated[bool, Query(description="subtract each layer's clean mean")]
               = True) -> Trajectory:
    """Each layer is projected in its own frame: the classifier's rows where the layer has
    the classifier's input width, else the layer's clean class means at this epoch (``bases``
    says which, per layer; a layer of another width without recorded activations is left
    out of ``layers``). ``points`` is float32 (P, layers, T, 2)."""
    return trajectory_of(store, svc, run, epoch, classes, centre)
