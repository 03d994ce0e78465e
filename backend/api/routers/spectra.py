"""Singular-value spectra of a layer's clean representations over the recorded epochs."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from backend.api.deps import ProjectionsDep, RunDep, StoreDep
from backend.api.schemas import Spectra
from backend.maths.spectra import mean_first_singular

router = APIRouter(prefix="/runs/{run_id}", tags=["spectra"])


@router.get("/spectra", response_model=Spectra,
            summary="Per-class and overall singular values per recorded epoch",
            responses={404: {"description": "no such run"},
                       422: {"description": "unknown layer"}})
def spectra(run: RunDep, store: StoreDep, svc: ProjectionsDep,
            layer: Annotated[str | None, Query(max_length=200)] = None,
            centred: Annotated[bool, Query(description="False: SVD of the raw representations "
                                           "(003 App. G; runs recorded before it have only "
                                           "centred spectra)")] = True) -> Spectra:
    layer = svc.resolve_layer(run, layer)
    suffix = "" if centred else "_uncentred"
    epochs, per_class, all_, first = [], [], [], []
    for e in run.recorded_epochs:
        if not store.has_arrays(run.id, "spectra", epoch=e, layer=layer):
            continue
        a = store.get_arrays(run.id, "spectra", epoch=e, layer=layer)
        if f"per_class{suffix}" not in a:
            continue
        pc = np.asarray(a[f"per_class{suffix}"], np.float64)
        epochs.append(e)
        per_class.append(pc.tolist())
        all_.append(np.asarray(a[f"all{suffix}"], np.float64).tolist())
        first.append(mean_first_singular(pc))
    return Spectra(run_id=run.id, layer=layer, epochs=epochs, per_class=per_class, all=all_,
                   centred=centred, first_singular_mean=first)
