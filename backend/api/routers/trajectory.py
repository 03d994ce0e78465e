"""Layer-wise trajectories: a few fixed image pairs mixed over a λ grid, traced through the
layers and projected onto a class triple (the reference's §2, 000 Fig. 3)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from backend.api.deps import ProjectionsDep, RunDep, StoreDep
from backend.api.encoding import encode_array
from backend.api.queries import ClassesQ, Epoch
from backend.api.schemas import Trajectory
from backend.errors import QueryError

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
    from backend import maths
    from backend.api.projection import class_mean_basis

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
