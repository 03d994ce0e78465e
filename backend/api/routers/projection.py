"""Projections of a run onto a class triple: one epoch, or every recorded epoch ("frames").

See :mod:`backend.api.projection` for the selection, centring and subsampling rules. A
triple the probe set does not cover answers 202 with a job id; a worker extracts it from
the checkpoint and caches it; asking again returns the projection.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from backend.api.deps import DispatcherDep, ProjectionsDep, RunDep, StoreDep
from backend.api.encoding import ArrayJSONResponse
from backend.api.extraction import extraction_job
from backend.api.projection import NotCovered
from backend.api.queries import (
    Centre,
    ClassesQ,
    Epoch,
    Kinds,
    LamMax,
    LamMin,
    Layer,
    MaxPoints,
    Seed,
)
from backend.api.reads import make_filters
from backend.api.schemas import Frames, JobAccepted, Projection

router = APIRouter(prefix="/runs/{run_id}", tags=["projection"])


_202 = {202: {"model": JobAccepted, "description": "triple not covered by the probe set: "
              "extraction queued, ask again later"},
        401: {"description": "queueing the extraction needs the API token"},
        403: {"description": "queueing the extraction from a foreign page"},
        404: {"description": "no such run"},
        429: {"description": "too many jobs queued for this run or client (Retry-After)"},
        422: {"description": "bad epoch, layer, classes or filter (the field is named)"}}


def queue_extraction(request: Request, store, dispatcher, run_id: str, epochs: list[int],
                     layer: str, classes: tuple[int, int, int]) -> JSONResponse:
    """Find or create the extraction job of (epochs, layer, triple) and answer 202."""
    job_id = extraction_job(store, dispatcher, run_id, epochs, layer, classes, request=request)
    return JSONResponse(JobAccepted(job_id=job_id).model_dump(),
                        status_code=status.HTTP_202_ACCEPTED)


@router.get("/projection", response_model=Projection, responses=_202,
            summary="Projection of one epoch onto a class triple")
def projection(request: Request, run: RunDep, store: StoreDep, dispatcher: DispatcherDep,
               svc: ProjectionsDep, epoch: Epoch = None, layer: Layer = None, classes: ClassesQ = None,
               kinds: Kinds = "clean,same,different", lam_min: LamMin = 0.0,
               lam_max: LamMax = 1.0, max_points: MaxPoints = None, seed: Seed = 0,
               centre: Centre = True):
    epoch, layer, triple = svc.resolve(run, epoch, layer, classes)
    f = make_filters(kinds, lam_min, lam_max, max_points, seed, centre)
    try:
        body = svc.frame(run, epoch, layer, triple, f)
    except NotCovered:
        return queue_extraction(request, store, dispatcher, run.id, [epoch], layer, triple)
    # built from validated parts already: skip re-validating ~100 kB of base64 (docs keep
    # the response model)
    return ArrayJSONResponse({"run_id": run.id, **body})


@router.get("/frames", response_model=Frames, responses=_202,
            summary="Projections of every recorded epoch of a triple (same points in each)")
def frames(request: Request, run: RunDep, store: StoreDep, dispatcher: DispatcherDep, svc: ProjectionsDep,
           layer: Layer = None, classes: ClassesQ = None,
           kinds: Kinds = "clean,same,different", lam_min: LamMin = 0.0, lam_max: LamMax = 1.0,
           max_points: MaxPoints = None, seed: Seed = 0, centre: Centre = True,
           epoch_from: Annotated[int, Query(ge=0, le=1_000_000, description=(
               "page: the first recorded epoch >= this"))] = 0,
           epoch_to: Annotated[int | None, Query(ge=0, le=1_000_000, description=(
               "page: recorded epochs <= this"))] = None,
           limit: Annotated[int | None, Query(ge=1, le=10_000, description=(
               "page: at most this many frames"))] = None):
    """Every recorded epoch's frame, or one page of them (``epoch_from``, ``epoch_to``,
    ``limit``): long runs load progressively, and an uncovered triple extracts only the
    page asked for, so its first frames come before the whole history is extracted.

    An uncovered triple whose extraction has done the page's first epochs answers 200 with
    their frames, ``pending`` (the page's epochs after them, ascending), ``job_id`` and
    ``next_epoch_from`` = the first pending epoch: ask again from there for the rest while
    they stream in. None done yet: 202 with the job id."""
    _epoch, layer, triple = svc.resolve(run, None, layer, classes)
    f = make_filters(kinds, lam_min, lam_max, max_points, seed, centre)
    all_epochs = list(run.recorded_epochs)
    epochs = [e for e in all_epochs if e >= epoch_from and (epoch_to is None or e <= epoch_to)]
    rest = epochs[limit:] if limit is not None else []
    epochs = epochs[:limit] if limit is not None else epochs
    after = rest[0] if rest else None  # the next page of this range starts there
    missing = svc.missing_epochs(run, epochs, layer, triple)
    # the page's ready epochs up to its first missing one (an extraction goes in ascending
    # order, so that prefix grows), the rest pending: a client appending pages in order
    # just asks again from next_epoch_from
    cut = epochs.index(missing[0]) if missing else len(epochs)
    if missing and cut == 0:
        return queue_extraction(request, store, dispatcher, run.id, missing, layer, triple)
    ready, pending = epochs[:cut], epochs[cut:]
    try:
        out = svc.frames(run, ready, layer, triple, f)
    except NotCovered:  # another triple's extraction replaced the cache since the check
        return queue_extraction(request, store, dispatcher, run.id, epochs, layer, triple)
    body = {"run_id": run.id, "layer": layer, "classes": list(triple), "epochs": ready,
            "frames": out, "all_epochs": all_epochs,
            "next_epoch_from": pending[0] if pending else after,
            "pending": pending, "job_id": None}
    if missing:  # the first epochs are in: show them while the rest extract
        body["job_id"] = extraction_job(store, dispatcher, run.id, missing, layer, triple,
                                        request=request)
    return ArrayJSONResponse(body)
