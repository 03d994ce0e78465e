"""Singular-value spectra of a layer's clean representations over the recorded epochs."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request

from backend.api.deps import RunDep, StoreDep
from backend.api.schemas import Spectra

router = APIRouter(prefix="/runs/{run_id}", tags=["spectra"])


@router.get("/spectra", response_model=Spectra,
            summary="Per-class and overall singular values per recorded epoch",
            responses={404: {"description": "no such run"},
                       422: {"description": "unknown layer"}})
def spectra(run: RunDep, store: StoreDep, request: Request,
            layer: Annotated[str | None, Query(max_length=200)] = None) -> Spectra:
    layer = request.app.state.projections.resolve_layer(run, layer)
    epochs, per_class, all_ = [], [], []
    for e in run.recorded_epochs:
        if not store.has_arrays(run.id, "spectra", epoch=e, layer=layer):
            continue
        a = store.get_arrays(run.id, "spectra", epoch=e, layer=layer)
        epochs.append(e)
        per_class.append(np.asarray(a["per_class"], np.float64).tolist())
        all_.append(np.asarray(a["all"], np.float64).tolist())
    return Spectra(run_id=run.id, layer=layer, epochs=epochs, per_class=per_class, all=all_)
