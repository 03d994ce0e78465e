"""Reliability diagram and ECE/MCE of a run at an epoch (from its per-epoch metrics)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from backend.api.deps import RunDep, StoreDep
from backend.api.schemas import Bins, Calibration
from backend.errors import QueryError

router = APIRouter(prefix="/runs/{run_id}", tags=["calibration"])


@router.get("/calibration", response_model=Calibration,
            summary="Reliability diagram, ECE and MCE at an epoch",
            responses={404: {"description": "no such run"},
                       422: {"description": "epoch without calibration data"}})
def calibration(run: RunDep, store: StoreDep,
                epoch: Annotated[int | None, Query(ge=0, le=1_000_000, description=
                                                   "epoch (default: the latest measured)")]
                = None) -> Calibration:
    recs = [r for r in store.epoch_metrics(run.id) if r.get("reliability")]
    if not recs:
        raise QueryError("epoch", f"run {run.id} has no calibration data yet")
    if epoch is None:
        rec = recs[-1]
    else:
        rec = next((r for r in recs if r["epoch"] == epoch), None)
        if rec is None:
            raise QueryError("epoch", f"no calibration data at epoch {epoch}; epochs with "
                             f"data: {recs[0]['epoch']}..{recs[-1]['epoch']}")
    rel = rec["reliability"]
    counts = [int(c) for c in rel["counts"]]
    edges = np.linspace(0.0, 1.0, len(counts) + 1).tolist()
    return Calibration(run_id=run.id, epoch=rec["epoch"], ece=rec.get("ece"),
                       mce=rec.get("mce"),
                       bins=Bins(counts=counts, accuracy=list(rel["accuracy"]),
                                 confidence=list(rel["confidence"]), edges=edges))
