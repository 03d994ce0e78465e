"""Reliability diagram and ECE/MCE of a run at an epoch (from its per-epoch metrics)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import RunDep, StoreDep
from backend.api.reads import calibration_of
from backend.api.schemas import Calibration

router = APIRouter(prefix="/runs/{run_id}", tags=["calibration"])


@router.get("/calibration", response_model=Calibration,
            summary="Reliability diagram, ECE and MCE at an epoch",
            responses={404: {"description": "no such run"},
                       422: {"description": "epoch without calibration data"}})
def calibration(run: RunDep, store: StoreDep,
                epoch: Annotated[int | None, Query(ge=0, le=1_000_000, description=
                                                   "epoch (default: the latest measured)")]
                = None) -> Calibration:
    return calibration_of(store, run, epoch)
