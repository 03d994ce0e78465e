"""The lab: the data-dependency experiments of mixup (seed 002), computed on demand.

- ``GET /api/lab/alternating-line?points=3&classes=2&alpha=32&runs=10&epochs=5000&seed=0``
- ``GET /api/lab/two-moons?samples=300&noise=0.1&separation=0.5&alpha=1&runs=10&epochs=1000``
- ``GET /api/lab/assumption-check?dataset=digits&alpha=1024&subsample=0.2&seed=0``
- ``GET /api/lab/runs/{run_id}``: a lab result recorded with ``mixscope lab ... --store``.
- ``GET /api/lab/runs/{run_id}/representations``: a 2-D layer's probe activations as they
  are (``mlp-bottleneck`` runs), no projection.

Results are small JSON (see ``trainer.lab``). An experiment trains R tiny nets in one batched
model (seconds to tens of seconds on a CPU), so results are cached per parameter set (LRU)
and only one computation runs at a time (the others wait, then read the cache). The bounds
below keep one request's work bounded; the CLI has none of them.

Spectra over epochs and the gradient split of manifold-mixup runs are per-run metrics and
artifacts: ``GET /api/runs/{id}/spectra`` and ``GET /api/runs/{id}/metrics``.

``trainer.lab`` (torch) is imported inside the handlers only, so the API starts without it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, status

from backend.api.deps import RunDep, SettingsDep, StoreDep
from backend.api.encoding import encode_array
from backend.api.projection import QueryError
from backend.runconfig import DATASETS

router = APIRouter(prefix="/lab", tags=["lab"])

_CACHE_SIZE = 16
_cache: OrderedDict[tuple, dict] = OrderedDict()
_cache_lock = threading.Lock()
_compute_lock = threading.Lock()  # one experiment at a time: they are CPU-bound


def cached(key: tuple, compute: Callable[[], dict]) -> dict:
    """The cached result for ``key``, computing it (one computation at a time) if absent."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with _compute_lock:
        with _cache_lock:  # another request may have computed it while we waited
            if key in _cache:
                return _cache[key]
        result = compute()
        with _cache_lock:
            _cache[key] = result
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return result


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _unprocessable(field: str, message: str) -> QueryError:
    """Answered 422 by the app's handler, naming the field like FastAPI's own errors."""
    return QueryError(field, message)


Alpha = Annotated[float, Query(gt=0, le=1e4, description="λ ~ Beta(α, α)")]
Runs = Annotated[int, Query(ge=1, le=20, description="seeded runs averaged")]
Seed = Annotated[int, Query(ge=0, le=2**31 - 1)]
Lr = Annotated[float, Query(gt=0, le=1.0, description="Adam learning rate")]
Eps = Annotated[float, Query(gt=0, le=10, description="Lemma 2.3 ball radius ε")]


def _settings(alpha: float, runs: int, epochs: int, seed: int, hidden: int, lr: float):
    from trainer.lab import LabSettings

    return LabSettings(alpha=alpha, runs=runs, epochs=epochs, seed=seed, hidden=hidden, lr=lr)


@router.get("/alternating-line", summary="Mixup vs ERM on the alternating line X_m^k")
def alternating_line(
        points: Annotated[int, Query(ge=2, le=50, description="m points 0..m-1")] = 3,
        classes: Annotated[int, Query(ge=2, le=10, description="k classes")] = 2,
        alpha: Alpha = 32.0, runs: Runs = 10,
        epochs: Annotated[int, Query(ge=1, le=20_000)] = 5000,
        seed: Seed = 0, hidden: Annotated[int, Query(ge=2, le=1024)] = 512,
        lr: Lr = 1e-3, eps: Eps = 0.1) -> dict[str, Any]:
    """``{"points", "labels" (1..k), "mixup"/"erm": {"prob_mean", "prob_std" (N, k),
    "train_error", "train_error_runs", "error_curve": {"epoch", "mean", "std"}, "seconds"},
    "mixup_optimal": {"eps", "x", "prob" (G, k), "at_points" (N, k)}, "settings",
    "paper"?}`` — probabilities for classes 1..k in order, mean/std over the runs."""
    if classes > points:
        raise _unprocessable("classes", f"must be at most points ({points}), got {classes}")

    def compute() -> dict:
        from trainer.lab import alternating_line as run

        return run(points, classes, _settings(alpha, runs, epochs, seed, hidden, lr), eps=eps)

    return cached(("alternating-line", points, classes, alpha, runs, epochs, seed, hidden, lr,
                   eps), compute)


@router.get("/two-moons", summary="Mixup vs ERM on two moons: decision regions")
def two_moons(
        samples: Annotated[int, Query(ge=10, le=1000)] = 300,
        noise: Annotated[float, Query(ge=0, le=2)] = 0.1,
        separation: Annotated[float, Query(ge=-5, le=5, description="class separation δ")] = 0.5,
        alpha: Alpha = 1.0, runs: Runs = 10,
        epochs: Annotated[int, Query(ge=1, le=5000)] = 1000,
        seed: Seed = 0, hidden: Annotated[int, Query(ge=2, le=1024)] = 500,
        lr: Lr = 1e-3, grid: Annotated[int, Query(ge=10, le=120)] = 60,
        eps: Eps = 0.1) -> dict[str, Any]:
    """The alternating-line fields for the points (N, 2), plus per method ``decision``:
    ``{"prob_mean", "prob_std" (grid, grid) of p(class 1) averaged over runs,
    "class1_fraction", "linear_agreement", "optimal_agreement"}``, the axes ``grid: {"x",
    "y"}`` and ``mixup_optimal: {"eps", "alpha", "prob1" (grid, grid), None outside
    X_mix}``."""

    def compute() -> dict:
        from trainer.lab import two_moons as run

        return run(samples, noise, separation,
                   _settings(alpha, runs, epochs, seed, hidden, lr), grid_size=grid, eps=eps)

    return cached(("two-moons", samples, noise, separation, alpha, runs, epochs, seed, hidden,
                   lr, grid, eps), compute)


@router.get("/assumption-check", summary="Assumption 2.9 check (Table 2) for a dataset")
def assumption_check(
        settings: SettingsDep,
        dataset: Annotated[str, Query(description=f"one of {', '.join(DATASETS)}")],
        alpha: Annotated[float, Query(gt=0, le=1e5)] = 1024.0,
        subsample: Annotated[float, Query(gt=0, le=1)] = 0.2,
        seed: Seed = 0,
        points: Annotated[int | None, Query(ge=2, le=10_000)] = None,
        classes: Annotated[int | None, Query(ge=2, le=100)] = None,
        samples: Annotated[int | None, Query(ge=10, le=20_000)] = None) -> dict[str, Any]:
    """``{"dataset", "alpha", "subsample", "seed", "num_mix", "dim", "num_classes",
    "train": {"min", "mean"}, "test": {...} or null}``: distances from one epoch's mixup
    points to the nearest point of a class other than the two mixed."""
    if dataset not in DATASETS:
        raise _unprocessable("dataset", f"unknown dataset {dataset!r}; choose one of "
                             f"{', '.join(DATASETS)}")
    args = {k: v for k, v in (("points", points), ("classes", classes), ("samples", samples))
            if v is not None}

    def compute() -> dict:
        from trainer.data import DatasetNotFoundError
        from trainer.lab import assumption_check as run

        try:
            return run(dataset, alpha=alpha, subsample=subsample, seed=seed,
                       data_dir=settings.resolved_data_dir, allow_download=False,
                       dataset_args=args)
        except DatasetNotFoundError as err:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
        except ValueError as err:
            raise _unprocessable("dataset", str(err)) from None

    return cached(("assumption-check", dataset, alpha, subsample, seed,
                   tuple(sorted(args.items()))), compute)


@router.get("/runs/{run_id}", summary="A lab result stored with `mixscope lab --store`",
            responses={404: {"description": "no such run, or not a lab record"}})
def stored(run: RunDep, store: StoreDep) -> dict[str, Any]:
    """``{"run_id", "experiment", "method", "runs", "arrays": {name: nested lists}}`` with
    the arrays of ``trainer.lab.save_to_store`` (NaN as null)."""
    infos = store.list_artifacts(run.id, "lab")
    if not infos:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run {run.id!r} has no lab record")
    arrays = store.get_arrays(run.id, "lab")
    meta = infos[0].meta or {}

    def plain(a: np.ndarray) -> list:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(np.float64)
            return np.where(np.isnan(a), None, a.round(6)).tolist()
        return a.tolist()

    return {"run_id": run.id, "experiment": meta.get("experiment"),
            "method": meta.get("method"), "runs": int(meta.get("runs", 0) or 0),
            "arrays": {k: plain(v) for k, v in arrays.items()}}


@router.get("/runs/{run_id}/representations",
            summary="A 2-D layer's probe representations, unprojected (mlp-bottleneck runs)",
            responses={404: {"description": "no such run"},
                       422: {"description": "epoch/layer not recorded, or the layer is not 2-D"}})
def representations(run: RunDep, store: StoreDep, request: Request,
                    epoch: Annotated[int | None, Query(ge=0)] = None,
                    layer: Annotated[str | None, Query(max_length=200)] = None,
                    max_points: Annotated[int, Query(ge=10, le=100_000)] = 5000,
                    seed: Seed = 0) -> dict[str, Any]:
    """Manifold Mixup App. B: with a 2-D bottleneck the representations are shown directly.
    ``{"run_id", "epoch", "layer", "epochs" (recorded), "class_names", "points": b64 float32
    (n, 2), "class_a", "class_b": b64 int16 (n,), "lam": b64 float32 (n,) (weight on a),
    "kind": b64 int16 (n,) (0 clean, 1 same-class, 2 different-class)}``, rows in probe
    order, a seeded subsample of at most ``max_points``."""
    service = request.app.state.projections
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
    probe = store.get_arrays(run.id, "probe")
    n_c = len(probe["clean_class"])
    class_a = np.concatenate([probe["clean_class"], probe["pair_class_a"]])
    class_b = np.concatenate([probe["clean_class"], probe["pair_class_b"]])
    lam = np.concatenate([np.ones(n_c, np.float32), probe["pair_lambda"]])
    kind = np.concatenate([np.zeros(n_c, np.int16),
                           np.where(probe["pair_class_a"] == probe["pair_class_b"], 1, 2)])
    n = min(len(feats), len(class_a))
    keep = np.arange(n)
    if n > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    return {"run_id": run.id, "epoch": epoch, "layer": layer, "epochs": recorded,
            "class_names": list(run.class_names),
            "points": encode_array(feats[keep]), "class_a": encode_array(class_a[keep], "int16"),
            "class_b": encode_array(class_b[keep], "int16"), "lam": encode_array(lam[keep]),
            "kind": encode_array(kind[keep], "int16")}
