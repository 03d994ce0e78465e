"""Read-side answers that the routes and the Python client (``mixscope.Client``) share: one
definition of every number, whether it is read through HTTP or from a local store.

Each function takes the store (and the projection service where frames are involved) and a
``RunInfo``, validates its arguments (``QueryError`` naming the field) and returns the body
the route sends. The routers stay thin wrappers over these.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from backend.api.encoding import encode_array
from backend.api.frames import KIND_CODES, Filters, class_mean_basis
from backend.api.schemas import Bins, Calibration, Sweep, Trajectory, to_run
from backend.errors import QueryError


def make_filters(kinds: str, lam_min: float, lam_max: float, max_points: int | None,
                 seed: int, centre: bool) -> Filters:
    """The frame filters of a query (``kinds`` a comma list of ``KIND_CODES``)."""
    names = frozenset(k.strip() for k in kinds.split(",") if k.strip())
    unknown = sorted(names - set(KIND_CODES))
    if unknown or not names:
        raise QueryError("kinds", f"unknown kinds {unknown}; use a comma list of "
                         f"{', '.join(KIND_CODES)}" if unknown else "give at least one kind")
    if lam_min > lam_max:
        raise QueryError("lam_min", f"lam_min {lam_min} is above lam_max {lam_max}")
    return Filters(kinds=names, lam_min=lam_min, lam_max=lam_max, max_points=max_points,
                   seed=seed, centre=centre)


def calibration_of(store, run, epoch: int | None) -> Calibration:
    """Reliability diagram, ECE and MCE of ``run`` at ``epoch`` (default: the latest
    measured), from its per-epoch metrics."""
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


def trajectory_of(store, svc, run, epoch: int | None, classes: str | None,
                  centre: bool = True) -> Trajectory:
    """Projected layer-wise trajectories of the traced pairs at ``epoch``. Each layer is
    projected in its own frame: the classifier's rows where the layer has the classifier's
    input width, else the layer's clean class means at this epoch (``bases`` says which, per
    layer; a layer of another width without recorded activations is left out of
    ``layers``). ``points`` is float32 (P, layers, T, 2)."""
    from backend import maths

    epoch, _, triple = svc.resolve(run, epoch, None, classes)
    if not store.has_arrays(run.id, "trajectory", epoch=epoch):
        raise QueryError("epoch", f"no trajectories recorded at epoch {epoch}")
    t = store.get_arrays(run.id, "trajectory", epoch=epoch)
    W = store.get_arrays(run.id, "classifier", epoch=epoch)["weight"]
    names = [k.removeprefix("layer:") for k in t if k.startswith("layer:")]
    # network order: the writer's (meta), else the run's recorded layers first
    info = next(iter(store.list_artifacts(run.id, "trajectory")), None)
    stated = [n for n in (info.meta.get("layers", "") if info else "").split(",") if n in names]
    known = stated or [n for n in run.layers if n in names]
    order = known + [n for n in names if n not in known]
    layers, bases, stacks = [], [], []
    for name in order:
        h = np.asarray(t[f"layer:{name}"], np.float32)  # (P, T, d)
        feats = None
        if store.has_arrays(run.id, "activations", epoch=epoch, layer=name):
            feats = store.get_arrays(run.id, "activations", epoch=epoch, layer=name)["features"]
        # class means recorded with the trajectory (runs since they were): no probe read
        means = t.get(f"class_means:{name}")
        width_ok = feats is not None and feats.shape[1] == h.shape[-1]
        if h.ndim != 3 or (h.shape[-1] != W.shape[1] and not width_ok and means is None):
            continue
        probe = svc.probe_rows(run.id)
        if f"clean_mean:{name}" in t:
            mu = np.asarray(t[f"clean_mean:{name}"], np.float64)
        else:
            mu = None if feats is None else \
                np.asarray(feats[:probe.num_clean], np.float64).mean(0)
        rows, basis = W, "classifier"
        if h.shape[-1] != W.shape[1]:
            try:
                if width_ok:
                    rows = class_mean_basis(feats, probe, triple, mu)
                else:
                    rows = np.zeros_like(np.asarray(means, np.float64))
                    rows[list(triple)] = np.asarray(means, np.float64)[list(triple)] - mu
                    if not np.abs(rows[list(triple)]).any(axis=1).all():
                        raise ValueError("a class of the triple has no clean mean")
                basis = "class-means"
            except ValueError:
                continue
        P, T, d = h.shape
        try:
            pts = maths.project_triple(rows, h.reshape(P * T, d), triple,
                                       centre=mu if centre else None).points
        except ValueError:  # degenerate rows at this layer: leave it out
            continue
        layers.append(name)
        bases.append(basis)
        stacks.append(np.asarray(pts, np.float32).reshape(P, T, 2))
    pa, pb = np.asarray(t["pair_a"]), np.asarray(t["pair_b"])
    lambdas = np.asarray(t["lambdas"], np.float64)
    pts = np.stack(stacks, axis=1) if stacks else np.zeros((len(pa), 0, len(lambdas), 2))
    return Trajectory(run_id=run.id, epoch=epoch, classes=list(triple),
                      lambdas=lambdas.tolist(), layers=layers, bases=bases,
                      pairs=[[int(a), int(b)] for a, b in zip(pa, pb)],
                      points=encode_array(pts, "float32"))


def best_run(runs) -> str | None:
    """The id of the run with the best final test accuracy (None: none measured)."""
    scored = [(r.summary.get("test_accuracy"), r.id) for r in runs
              if isinstance(r.summary.get("test_accuracy"), (int, float))]
    return max(scored)[1] if scored else None


def sweep_out(store, info) -> Sweep:
    """A stored sweep with its (still existing) runs and the best of them."""
    runs = [store.get_run(i) for i in info.run_ids]
    runs = [r for r in runs if r is not None]
    return Sweep(id=info.id, name=info.name, field=info.field, values=list(info.values),
                 runs=[to_run(r) for r in runs], best=best_run(runs))


def gpu_workers() -> bool:
    """Whether the queue has a GPU worker (``MIXSCOPE_GPU_WORKERS=1``: the API cannot see it)."""
    return os.environ.get("MIXSCOPE_GPU_WORKERS", "").strip().lower() in ("1", "true", "yes")


def papers_rows(store, data_dir) -> list[dict[str, Any]]:
    """Every catalogue entry with its status, verdict and error at the cpu scale."""
    from backend.papers import runner
    from backend.papers.catalogue import load_catalogue

    out = []
    for e in load_catalogue().entries:
        try:
            body = runner.report(store, e, "cpu", data_dir, gpu=gpu_workers())
            status_, verdict, error = body["status"], body["verdict"], body["error"]
        # an unreadable store row: an error, shown as such (the entry page says more)
        except Exception as exc:  # noqa: BLE001
            status_, verdict = "not-run", "not-comparable"
            error = f"{type(exc).__name__}: {exc}"
        out.append({"id": e.id, "title": e.title, "paper": e.paper, "kind": e.kind,
                    "status": status_, "verdict": verdict, "error": error})
    return out


def papers_list(store, data_dir, paper: str | None = None, status: str | None = None,
                verdict: str | None = None) -> list[dict[str, Any]]:
    """:func:`papers_rows` filtered by paper, status and verdict."""
    return [r for r in papers_rows(store, data_dir)
            if not ((paper and r["paper"] != paper) or (status and r["status"] != status)
                    or (verdict and r["verdict"] != verdict))]


def artifact_epoch(store, run, kind: str, epoch: int | None, layer: str | None = None) -> int:
    """The epoch of ``kind`` to read: ``epoch`` if stored (else a QueryError listing the
    stored ones), or the latest stored."""
    from backend.errors import NotFound

    have = sorted({a.epoch for a in store.list_artifacts(run.id, kind)
                   if a.epoch is not None and (layer is None or a.layer == layer)})
    if not have:
        raise NotFound(f"run {run.id} stores no {kind}" +
                       (f" of layer {layer!r}" if layer else ""), field="epoch")
    if epoch is None:
        return have[-1]
    if epoch not in have:
        raise QueryError("epoch", f"no {kind} at epoch {epoch}; stored at epochs {have}")
    return epoch


def encoded_arrays(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every array b64-encoded in its own wire dtype (float32 for other floats, int32 or
    int64 for integers)."""
    from backend.api.encoding import WIRE_DTYPES

    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        dtype = a.dtype.name if a.dtype.name in WIRE_DTYPES else (
            "int64" if a.dtype.kind in "iub" else "float32")
        out[name] = encode_array(a, dtype)
    return out


def activations_of(store, svc, run, epoch: int | None, layer: str | None) -> dict[str, Any]:
    """The stored activation rows of (``epoch``, ``layer``) (default: the latest, the
    penultimate layer), probe order, with every array of the file."""
    layer = svc.resolve_layer(run, layer)
    epoch = artifact_epoch(store, run, "activations", epoch, layer)
    arrays = store.get_arrays(run.id, "activations", epoch=epoch, layer=layer)
    return {"run_id": run.id, "epoch": epoch, "layer": layer,
            "arrays": encoded_arrays(arrays)}


def checkpoint_of(store, run, epoch: int | None) -> dict[str, Any]:
    """A recorded epoch's model snapshot (default: the latest) as arrays (tensor names)."""
    epoch = artifact_epoch(store, run, "checkpoint", epoch)
    arrays = store.get_arrays(run.id, "checkpoint", epoch=epoch)
    return {"run_id": run.id, "epoch": epoch, "arrays": encoded_arrays(arrays)}
