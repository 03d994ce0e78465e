"""The sweep grid: every panel's frames of up to 36 runs in one request, with the facets (the
config parameters that differ between the runs) and the curves beside the grid.

Each run's frames are ``GET /runs/{id}/frames``'s (the same :class:`ProjectionService`,
sliced reads and cache), regrouped so that a point's own fields (λ, classes, kind, indices)
travel once per run and each epoch adds only its points (:func:`backend.api.grid.pack_frames`).
Paging is per run, as on the frames route (``epoch_from``, ``epoch_to``, ``limit``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from backend.api.deps import DispatcherDep, ProjectionsDep, StoreDep
from backend.api.encoding import ArrayJSONResponse
from backend.api.extraction import extraction_job
from backend.api.frames import Filters
from backend.api.grid import MAX_RUNS, classifier_etf, curves, facets, pack_frames
from backend.api.projection import NotCovered
from backend.api.queries import ClassesQ, Layer, MaxPoints, Seed
from backend.errors import NotFound, QueryError, TooManyRequests

router = APIRouter(tags=["grid"])

#: points per panel when ``max_points`` is not given (a grid of 36 panels stays light)
DEFAULT_POINTS = 2000


def grid_runs(store, sweep: str | None, runs: str | None) -> tuple[list, object | None]:
    """The runs of ``sweep`` (404 naming it) or of the comma list ``runs`` (422 naming it:
    unknown ids, none, more than :data:`MAX_RUNS`); exactly one of the two."""
    if (sweep is None) == (runs is None):
        raise QueryError("runs", "give exactly one of sweep=ID or runs=ID,ID,…")
    if sweep is not None:
        info = store.get_sweep(sweep)
        if info is None:
            raise NotFound(f"sweep {sweep!r} not found", field="sweep")
        ids = list(info.run_ids)
    else:
        ids = list(dict.fromkeys(t.strip() for t in runs.split(",") if t.strip()))
        if not ids:
            raise QueryError("runs", "give at least one run id")
    if len(ids) > MAX_RUNS:
        raise QueryError("sweep" if sweep is not None else "runs",
                         f"{len(ids)} runs: a grid shows at most {MAX_RUNS}")
    found = [store.get_run(i) for i in ids]
    missing = [i for i, r in zip(ids, found) if r is None]
    if missing and sweep is None:
        raise QueryError("runs", f"unknown runs {missing}")
    return [r for r in found if r is not None], (info if sweep is not None else None)


@router.get("/grid", summary="Every panel's frames of a sweep grid (one triple, one layer)",
            responses={404: {"description": "no such sweep"},
                       422: {"description": "bad runs, classes, layer or page (named)"}})
def grid(request: Request, store: StoreDep, dispatcher: DispatcherDep, svc: ProjectionsDep,
         sweep: Annotated[str | None, Query(min_length=1, max_length=64,
                                            description="a sweep's id")] = None,
         runs: Annotated[str | None, Query(min_length=1, max_length=2400,
                                           description="comma list of run ids (≤ 36)")] = None,
         classes: ClassesQ = None, layer: Layer = None, max_points: MaxPoints = None,
         seed: Seed = 0,
         epoch_from: Annotated[int, Query(ge=0, le=1_000_000, description=(
             "page: each run's recorded epochs >= this"))] = 0,
         epoch_to: Annotated[int | None, Query(ge=0, le=1_000_000, description=(
             "page: each run's recorded epochs <= this"))] = None,
         limit: Annotated[int | None, Query(ge=1, le=10_000, description=(
             "page: at most this many frames per run"))] = None):
    """``{"classes", "class_names", "all_class_names", "layers", "layer", "sweep",
    "sweep_name", "facets", "panels", "curves"}`` (class names and layers: the first run's
    that recorded an epoch).

    ``panels`` (one per run, in the sweep's or the list's order): ``run_id, name, status,
    all_epochs, epochs`` (this page's ready frames), ``next_epoch_from``, ``pending``,
    ``job_id``, ``message`` (why a panel has no frames), the points' fields once (``lam,
    class_a, class_b, kind, index_a, index_b``, b64 arrays) and ``frames``: per epoch
    ``{epoch, points, arrows, vertices, radius}`` (index arrays as int16 where they fit). ``facets``: the differing
    config fields and each run's value (``fields``, ``values``, ``seeds``,
    ``seed_varies``). ``curves[run_id]``: per epoch ``test_accuracy, ece, channel_radius,
    nc1, classifier_etf``."""
    run_list, sweep_info = grid_runs(store, sweep, runs)
    with_epochs = [r for r in run_list if r.recorded_epochs]
    # the triple and layer are checked against the first run that recorded something, so a
    # bad query is a 422 naming the field; another run that cannot show them says so
    triple: tuple[int, int, int] | None = None
    lay = layer or "penultimate"
    if with_epochs:
        _e, lay, triple = svc.resolve(with_epochs[0], None, layer, classes)
    f = Filters(max_points=max_points or DEFAULT_POINTS, seed=seed)
    panels = [_panel(request, store, dispatcher, svc, r, lay, triple, f, epoch_from, epoch_to,
                     limit) for r in run_list]
    names = next((p["class_names"] for p in panels if p.get("class_names")), None)
    body = {"sweep": sweep, "sweep_name": sweep_info.name if sweep_info else None,
            "layer": lay,
            "classes": list(triple) if triple else None, "class_names": names,
            "all_class_names": list(with_epochs[0].class_names) if with_epochs else [],
            "layers": list(with_epochs[0].layers) if with_epochs else [],
            "facets": facets(run_list, first=sweep_info.field if sweep_info else None),
            "panels": panels,
            "curves": {r.id: curves(store, r, classifier_etf(store, r, list(r.recorded_epochs)))
                       for r in run_list}}
    return ArrayJSONResponse(body)


def _panel(request: Request, store, dispatcher, svc, run, layer: str, triple, f: Filters,
           epoch_from: int, epoch_to: int | None, limit: int | None) -> dict[str, Any]:
    """One run's panel: its page of frames, or a message saying why there are none. An
    extraction this request may not queue (no token, a foreign page, too many jobs queued:
    queueing work is a write) leaves the panel's missing epochs pending, with the reason."""
    all_epochs = list(run.recorded_epochs)
    head = {"run_id": run.id, "name": run.name, "status": run.status,
            "all_epochs": all_epochs, "epochs": [], "frames": [], "pending": [],
            "next_epoch_from": None, "job_id": None, "message": None}
    if triple is None or not all_epochs:
        return {**head, "message": f"no recorded epoch yet ({run.status})"}
    try:
        svc.resolve_layer(run, layer)
        svc.resolve_classes(run, ",".join(map(str, triple)), all_epochs[-1])
    except QueryError as exc:
        return {**head, "message": str(exc)}
    epochs = [e for e in all_epochs if e >= epoch_from and (epoch_to is None or e <= epoch_to)]
    rest = epochs[limit:] if limit is not None else []
    epochs = epochs[:limit] if limit is not None else epochs
    missing = svc.missing_epochs(run, epochs, layer, triple)
    cut = epochs.index(missing[0]) if missing else len(epochs)
    ready, pending = epochs[:cut], epochs[cut:]
    refused = None
    try:
        job_id = extraction_job(store, dispatcher, run.id, missing, layer, triple,
                                request=request) if missing else None
    except (HTTPException, TooManyRequests) as exc:
        job_id = None
        refused = f"not extracted: {getattr(exc, 'detail', None) or exc}"
    try:
        frames = svc.frames(run, ready, layer, triple, f) if ready else []
    except NotCovered:  # another triple's extraction replaced the cache since the check
        frames, pending = [], epochs
    except QueryError as exc:
        return {**head, "message": str(exc)}
    head.update(epochs=ready, pending=pending, job_id=job_id,
                next_epoch_from=pending[0] if pending else (rest[0] if rest else None),
                message=refused or ("extracting the triple…" if pending and not frames
                                    else None))
    return {**head, **pack_frames(frames)}
