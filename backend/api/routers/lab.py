"""The lab: the data-dependency experiments of mixup (seed 002), computed on demand.

- ``GET /api/lab/alternating-line?points=3&classes=2&alpha=32&runs=10&epochs=5000&seed=0``
- ``GET /api/lab/two-moons?samples=300&noise=0.1&separation=0.5&alpha=1&runs=10&epochs=1000``
- ``GET /api/lab/assumption-check?dataset=digits&alpha=1024&subsample=0.2&seed=0``
- ``GET /api/lab/runs/{run_id}``: a lab result recorded with ``mixscope lab ... --store``.
- ``GET /api/lab/runs/{run_id}/representations``: a 2-D layer's probe activations as they
  are (``mlp-bottleneck`` runs), no projection.

An experiment trains R tiny nets (seconds to minutes of CPU), so the API never computes one
itself: a setting not computed yet becomes a job of kind ``lab`` (params: the normalised
query plus ``experiment``) that a worker runs (``trainer.tasks.lab_job``), and the
API answers 202 ``{"job_id", "status": "pending"}``; ``GET /api/jobs/{id}`` tells when it is
done, and asking again then returns 200 with the result, which the worker stored with the
job (``jobs.result``), so every API process answers it from the store. Identical requests
share one job. A work budget (runs × epochs × hidden × points, and what the mixing streams
and the decision grid hold in memory) keeps one request's job bounded; the ``mixscope lab``
CLI has none of these limits.

Spectra over epochs and the gradient split of manifold-mixup runs are per-run metrics and
artifacts: ``GET /api/runs/{id}/spectra`` and ``GET /api/runs/{id}/metrics``.

This module imports neither torch nor ``trainer``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from backend.api.deps import (
    DispatcherDep,
    ProjectionsDep,
    RunDep,
    StoreDep,
    admit_job,
    send_job,
)
from backend.api.encoding import encode_array
from backend.api.schemas import JobAccepted
from backend.errors import NotFound, QueryError
from backend.jsonsafe import array_json
from backend.probe_rows import ProbeRows
from backend.runconfig import DATASETS

router = APIRouter(prefix="/lab", tags=["lab"])

from backend.vocab import LAB_JOB

#: Budget of one request: runs × epochs × hidden × points (multiply-adds per method up to a
#: constant). The paper's two-moons setting (10 × 1500 × 500 × 300 = 2.25e9) fits; its
#: alternating line (10 × 5000 × 512 × 3 = 7.7e7) easily.
WORK_BUDGET = 2_500_000_000
#: Mixing streams hold runs × epochs × points partner indices (int64): 2e7 is 160 MB.
STREAM_BUDGET = 20_000_000
#: The decision grid's hidden activations: runs × hidden × grid² floats.
GRID_BUDGET = 50_000_000
_CLI_HINT = ("; run bigger experiments with the `mixscope lab` command line (e.g. `mixscope "
             "lab {experiment} --runs {runs} --epochs {epochs}`), which has no such limit")


def _unprocessable(field: str, message: str) -> QueryError:
    """Answered 422 by the app's handler, naming the field like FastAPI's own errors."""
    return QueryError(field, message)


def check_budget(experiment: str, *, runs: int, epochs: int, hidden: int, points: int,
                 grid: int | None = None) -> None:
    """Raise a 422 (naming ``epochs`` or ``grid``) when one request's job would be too big."""
    hint = _CLI_HINT.format(experiment=experiment, runs=runs, epochs=epochs)
    work = runs * epochs * hidden * points
    if work > WORK_BUDGET:
        raise _unprocessable("epochs", f"runs × epochs × hidden × points = {work:.3g} is over "
                             f"the API's budget of {WORK_BUDGET:.3g}: lower epochs, runs, "
                             f"hidden or the number of points{hint}")
    if runs * epochs * points > STREAM_BUDGET:
        raise _unprocessable("epochs", f"runs × epochs × points = {runs * epochs * points:.3g}"
                             f" is over the API's budget of {STREAM_BUDGET:.3g}{hint}")
    if grid is not None and runs * hidden * grid * grid > GRID_BUDGET:
        raise _unprocessable("grid", f"runs × hidden × grid² = {runs * hidden * grid * grid:.3g}"
                             f" is over the API's budget of {GRID_BUDGET:.3g}{hint}")


def answer(request: Request, store, dispatcher, params: dict[str, Any],
           stored_only: bool = False) -> JSONResponse:
    """The stored result of the lab job with ``params`` (200), or a job to compute it (202).

    A failed job is tried again by a new job; a done job whose result is missing (a message
    lost before the result was written) is sent again. Reading a stored result is a read;
    queueing work for a worker is a write and needs the token like launching a run.
    ``stored_only``: never queue (a page showing what is there when it opens): 404 when
    nothing is stored, 202 with the job already computing it."""
    job = store.find_job(None, LAB_JOB, params)
    if job is not None and job.status == "done":
        result = store.job_result(job.id)
        if result is not None:
            return JSONResponse(result)
    if stored_only:
        if job is not None and job.status == "pending":
            return JSONResponse(JobAccepted(job_id=job.id).model_dump(),
                                status_code=status.HTTP_202_ACCEPTED)
        raise NotFound("stored_only: not computed yet with these settings")
    if job is None or job.status in ("done", "failed"):
        client = admit_job(request, store, None)  # 401/403/429 before anything is queued
    if job is not None and job.status == "done":
        store.finish_job(job.id, "pending")
        send_job(store, dispatcher.send_lab, job.id)
    elif job is None or job.status == "failed":
        job = store.create_job(None, LAB_JOB, params, client=client)
        send_job(store, dispatcher.send_lab, job.id)
    return JSONResponse(JobAccepted(job_id=job.id).model_dump(),
                        status_code=status.HTTP_202_ACCEPTED)


_202 = {202: {"model": JobAccepted, "description": "not computed yet: a worker computes it "
              "(poll GET /api/jobs/{job_id}), then ask again"},
        422: {"description": "a parameter out of range or over the work budget (named)"}}

Alpha = Annotated[float, Query(gt=0, le=1e4, description="λ ~ Beta(α, α)")]
Runs = Annotated[int, Query(ge=1, le=20, description="seeded runs averaged")]
Seed = Annotated[int, Query(ge=0, le=2**31 - 1)]
Lr = Annotated[float, Query(gt=0, le=1.0, description="Adam learning rate")]
Eps = Annotated[float, Query(gt=0, le=10, description="Lemma 2.3 ball radius ε (0.1 is tuned "
                             "to track the trained nets; the ε → 0 limit comes along)")]
Loop = Annotated[Literal["correct", "authors"], Query(
    description="'authors': the authors' mixup loop, which never zeroes the gradients (their "
    "bug); 'correct': zeroed every step")]
OptimizerState = Annotated[Literal["per-run", "shared"], Query(
    description="'per-run': a fresh Adam per seeded run (the paper's text); 'shared': one Adam "
    "kept across the runs, only the weights reset (the authors' code)")]


@router.get("/alternating-line", summary="Mixup vs ERM on the alternating line X_m^k",
            responses=_202)
def alternating_line(
        request: Request, store: StoreDep, dispatcher: DispatcherDep,
        points: Annotated[int, Query(ge=2, le=50, description="m points 0..m-1")] = 3,
        classes: Annotated[int, Query(ge=2, le=10, description="k classes")] = 2,
        alpha: Alpha = 32.0, runs: Runs = 10,
        epochs: Annotated[int, Query(ge=1, le=20_000)] = 5000,
        seed: Seed = 0, hidden: Annotated[int, Query(ge=2, le=1024)] = 512,
        lr: Lr = 1e-3, eps: Eps = 0.1, loop: Loop = "correct",
        optimizer_state: OptimizerState = "per-run",
        stored_only: Annotated[bool, Query(description="answer 404 instead of queueing a "
                                           "job when nothing is stored yet")] = False,
        ) -> dict[str, Any]:
    """``{"points", "labels" (1..k), "mixup"/"erm": {"prob_mean", "prob_std" (N, k),
    "train_error", "train_error_runs", "error_curve": {"epoch", "mean", "std"}, "seconds"},
    "mixup_optimal": {"eps", "eps_tuned", "eps_label", "x", "prob" (G, k), "at_points"
    (N, k), "limit": {"prob", "at_points"}}, "settings" (with "loop", "loop_label",
    "optimizer_state", "optimizer_state_label"), "paper"?}`` — probabilities for classes
    1..k in order, mean/std over the runs; ``limit`` is h_ε's ε → 0 limit.
    202 with a job id while a worker computes it."""
    if classes > points:
        raise _unprocessable("classes", f"must be at most points ({points}), got {classes}")
    check_budget("alternating-line", runs=runs, epochs=epochs, hidden=hidden, points=points)
    return answer(request, store, dispatcher, {
        "experiment": "alternating-line", "points": points, "classes": classes,
        "alpha": alpha, "runs": runs, "epochs": epochs, "seed": seed, "hidden": hidden,
        "lr": lr, "eps": eps, "loop": loop, "optimizer_state": optimizer_state},
        stored_only=stored_only)


@router.get("/two-moons", summary="Mixup vs ERM on two moons: decision regions",
            responses=_202)
def two_moons(
        request: Request, store: StoreDep, dispatcher: DispatcherDep,
        samples: Annotated[int, Query(ge=10, le=1000)] = 300,
        noise: Annotated[float, Query(ge=0, le=2)] = 0.1,
        separation: Annotated[float, Query(ge=-5, le=5, description="class separation δ")] = 0.5,
        alpha: Alpha = 1.0, runs: Runs = 10,
        epochs: Annotated[int, Query(ge=1, le=5000, description="the paper's text: 1500; "
                                     "the authors' code: 1000")] = 1500,
        seed: Seed = 0, hidden: Annotated[int, Query(ge=2, le=1024)] = 500,
        lr: Lr = 1e-3, grid: Annotated[int, Query(ge=10, le=120)] = 60,
        eps: Eps = 0.1, loop: Loop = "correct", optimizer_state: OptimizerState = "per-run",
        draw: Annotated[Literal["per-run", "fixed"], Query(
            description="'per-run': a fresh make_moons draw per seeded run (the authors'); "
            "'fixed': every run on the first draw")] = "per-run") -> dict[str, Any]:
    """The alternating-line fields for the first run's points (N, 2), plus per method
    ``decision``: ``{"hard_mean" (grid, grid) fraction of runs predicting class 1 (the
    paper's figure), "prob_mean", "prob_std" (grid, grid) of p(class 1) over runs,
    "class1_fraction", "linear_agreement", "optimal_agreement"}``, the axes ``grid: {"x",
    "y"}`` and ``mixup_optimal: {"eps", "eps_tuned", "eps_label", "alpha", "prob1" (grid,
    grid), None outside X_mix, "limit_train_accuracy"}``. 202 with a job id while a worker
    computes it."""
    check_budget("two-moons", runs=runs, epochs=epochs, hidden=hidden, points=samples,
                 grid=grid)
    return answer(request, store, dispatcher, {
        "experiment": "two-moons", "samples": samples, "noise": noise,
        "separation": separation, "alpha": alpha, "runs": runs, "epochs": epochs,
        "seed": seed, "hidden": hidden, "lr": lr, "grid": grid, "eps": eps, "loop": loop,
        "optimizer_state": optimizer_state, "draw": draw})


@router.get("/assumption-check", summary="Assumption 2.9 check (Table 2) for a dataset",
            responses={**_202, 422: {"description": "unknown dataset, or a bad parameter"}})
def assumption_check(
        request: Request, store: StoreDep, dispatcher: DispatcherDep,
        dataset: Annotated[str, Query(description=f"one of {', '.join(DATASETS)}")],
        alpha: Annotated[float, Query(gt=0, le=1e5)] = 1024.0,
        subsample: Annotated[float, Query(gt=0, le=1)] = 0.2,
        seed: Seed = 0,
        points: Annotated[int | None, Query(ge=2, le=10_000)] = None,
        classes: Annotated[int | None, Query(ge=2, le=100)] = None,
        samples: Annotated[int | None, Query(ge=10, le=20_000)] = None,
        procedure: Annotated[Literal["authors", "product"], Query(
            description="'authors' (reference points = the 20 % subsample, mean over them, "
            "partners with replacement, the authors' CIFAR stds) or 'product' (mixscope's "
            "variant: every mix against every train/test point)")] = "authors"
) -> dict[str, Any]:
    """``{"dataset", "procedure", "procedure_label", "normalisation", "alpha", "subsample",
    "seed", "num_mix", "dim", "num_classes", "train": {"min", "mean"}, "test": {...} or
    null, "paper"?: {"min"}}``: Table 2's distances between one epoch's mixup points and the
    points of classes other than the two mixed. 202 with a job id while a worker computes
    it; a dataset missing on the worker fails the job (its error says so)."""
    if dataset not in DATASETS:
        raise _unprocessable("dataset", f"unknown dataset {dataset!r}; choose one of "
                             f"{', '.join(DATASETS)}")
    args = {k: v for k, v in (("points", points), ("classes", classes), ("samples", samples))
            if v is not None}
    return answer(request, store, dispatcher, {
        "experiment": "assumption-check", "dataset": dataset, "alpha": alpha,
        "subsample": subsample, "seed": seed, "dataset_args": args, "procedure": procedure})


@router.get("/runs/{run_id}", summary="A lab result stored with `mixscope lab --store`",
            responses={404: {"description": "no such run, or not a lab record"}})
def stored(run: RunDep, store: StoreDep) -> dict[str, Any]:
    """``{"run_id", "experiment", "method", "runs", "arrays": {name: nested lists}}`` with
    the arrays of ``trainer.lab.save_to_store`` (NaN as null)."""
    infos = store.list_artifacts(run.id, "lab")
    if not infos:
        raise NotFound(f"run {run.id!r} has no lab record", field="run_id", where="path")
    arrays = store.get_arrays(run.id, "lab")
    meta = infos[0].meta or {}

    return {"run_id": run.id, "experiment": meta.get("experiment"),
            "method": meta.get("method"), "runs": int(meta.get("runs", 0) or 0),
            "arrays": {k: array_json(v, 6) for k, v in arrays.items()}}


@router.get("/runs/{run_id}/representations",
            summary="A 2-D layer's probe representations, unprojected (mlp-bottleneck runs)",
            responses={404: {"description": "no such run"},
                       422: {"description": "epoch/layer not recorded, or the layer is not 2-D"}})
def representations(run: RunDep, store: StoreDep, service: ProjectionsDep,
                    epoch: Annotated[int | None, Query(ge=0)] = None,
                    layer: Annotated[str | None, Query(max_length=200)] = None,
                    max_points: Annotated[int, Query(ge=10, le=100_000)] = 5000,
                    seed: Seed = 0) -> dict[str, Any]:
    """Manifold Mixup App. B: with a 2-D bottleneck the representations are shown directly.
    ``{"run_id", "epoch", "layer", "epochs" (recorded), "class_names", "points": b64 float32
    (n, 2), "class_a", "class_b": b64 int16 (n,), "lam": b64 float32 (n,) (weight on a),
    "kind": b64 int16 (n,) (0 clean, 1 same-class, 2 different-class)}``, rows in probe
    order, a seeded subsample of at most ``max_points``."""
    recorded = list(run.recorded_epochs)
    if not recorded:
        raise QueryError("epoch", f"run {run.id} has no recorded epochs yet "
                         f"(status {run.status})")
    epoch = recorded[-1] if epoch is None else epoch
    if epoch not in recorded:
        raise QueryError("epoch", f"epoch {epoch} not recorded; recorded: {recorded}")
    layer = service.resolve_layer(run, layer)
    feats = np.asarray(store.get_arrays(run.id, "activations", epoch=epoch,
                                        layer=layer)["features"], dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != 2:
        raise QueryError("layer", f"layer {layer!r} has {feats.shape[-1]} dimensions; only a "
                         "2-D layer (model mlp-bottleneck, penultimate) is shown directly")
    probe = ProbeRows.from_arrays(store.get_arrays(run.id, "probe"))
    class_a, class_b, lam, kind = probe.class_a, probe.class_b, probe.lam, probe.kind
    n = min(len(feats), len(class_a))
    keep = np.arange(n)
    if n > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    return {"run_id": run.id, "epoch": epoch, "layer": layer, "epochs": recorded,
            "class_names": list(run.class_names),
            "points": encode_array(feats[keep]), "class_a": encode_array(class_a[keep], "int16"),
            "class_b": encode_array(class_b[keep], "int16"), "lam": encode_array(lam[keep]),
            "kind": encode_array(kind[keep], "int16")}
