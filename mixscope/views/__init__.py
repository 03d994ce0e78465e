"""Inline views for a notebook (issue 21): :func:`show` (the Explore simplex of one run, or
a grid of several, with a working epoch slider), :func:`show_calibration` (the reliability
diagram) and :func:`show_theory` (the UFM optimum of mixup on the simplex).

The simplex is drawn by the dashboard's one browser renderer (``dashboard/assets/simplex.js``)
inside an anywidget (:class:`mixscope.views.widget.SimplexView`); the reliability diagram is the
dashboard's own figure (``dashboard.figures.reliability_figure``). Data come through
:class:`mixscope.Client`, so the numbers are the API's."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

KINDS = ("clean", "same", "different")


def _runs(run_or_runs: Any, client: Any = None) -> list[Any]:
    from mixscope.client import Run

    items = run_or_runs if isinstance(run_or_runs, (list, tuple)) else [run_or_runs]
    if hasattr(items, "tolist"):
        items = items.tolist()
    out = []
    for item in items:
        if isinstance(item, Run):
            out.append(item)
        elif client is not None:
            out.append(client.run(str(item)))
        else:
            raise TypeError(f"{item!r}: pass Run objects (client.run(id)), or run ids with "
                            "client=")
    if not out:
        raise ValueError("no run to show")
    return out


def _lam_low(lam: np.ndarray, class_a: np.ndarray, class_b: np.ndarray) -> np.ndarray:
    from backend.maths import lambda_on_lower_class

    return np.asarray(lambda_on_lower_class(class_a, class_b, lam)[2], np.float32)


def simplex_store(body: dict[str, Any], class_names: Sequence[str], title: str) -> dict:
    """A simplex.js store (the dashboard's ``ex-frames`` shape) from a frames body: the
    per-point arrays kept on the first frame only, λ on the lower class precomputed."""
    from backend.api.encoding import decode_array, encode_array

    frames = body["frames"]
    if not frames:
        raise ValueError(f"run {body['run_id']} has no recorded frames to show")
    f0 = frames[0]
    lam_low = _lam_low(decode_array(f0["lam"]), decode_array(f0["class_a"]),
                       decode_array(f0["class_b"]))
    per_point = ("lam", "class_a", "class_b", "kind", "index_a", "index_b")
    slim = [f0] + [{k: v for k, v in f.items() if k not in per_point} for f in frames[1:]]
    return {"key": f"{body['run_id']}|{','.join(map(str, body['classes']))}|{body['layer']}",
            "run": body["run_id"], "classes": list(body["classes"]), "layer": body["layer"],
            "all_names": list(class_names), "epochs": list(body["epochs"]), "frames": slim,
            "lam_low": encode_array(lam_low, "float32"), "title": title}


def show(run_or_runs: Any, classes: Sequence[int | str] | None = None,
         layer: str | None = None, *, epochs: Iterable[int] | None = None,
         kinds: Iterable[str] = KINDS, max_points: int | None = None, epoch: int | None = None,
         client: Any = None):
    """The Explore simplex of a run's triple ``classes`` (default: the run's default triple)
    at ``layer`` (default: penultimate), or a grid of several runs sharing one epoch slider.
    Returns the widget (a notebook displays it); its ``epoch`` follows the slider."""
    from mixscope.views.widget import SimplexView

    stores = []
    for run in _runs(run_or_runs, client):
        body = run.frames_body(classes, layer, epochs, kinds=kinds, max_points=max_points)
        title = f"{run.name or run.id} · {run.config.get('method', '')}"
        stores.append(simplex_store(body, run.class_names, title))
    return SimplexView(stores, list(kinds), epoch)


def show_calibration(run_or_runs: Any, epoch: int | None = None, *, client: Any = None):
    """The reliability diagram(s) at ``epoch`` (default: the latest measured): the
    Calibration page's figure (a Plotly figure; several runs: one each, in a list)."""
    from dashboard.figures import reliability_figure
    from dashboard.palette import RUN_COLOURS

    figs = []
    for i, run in enumerate(_runs(run_or_runs, client)):
        body = run.client.transport.calibration(run.id, epoch)
        figs.append(reliability_figure(body, run.name or run.id,
                                       RUN_COLOURS[i % len(RUN_COLOURS)]))
    return figs[0] if len(figs) == 1 else figs


def show_theory(m: float = 1.0, C: int = 10, λ_H: float = 1e-6, *,
                lambda_h: float | None = None, n_lambda: int = 2000, alpha: float = 1.0,
                seed: int = 0, amplify: bool = False, client: Any = None):
    """The UFM optimum of mixup (Theorem 3.1 with the errata) for ``m``, ``C`` classes and
    feature decay ``λ_H`` (or ``lambda_h=``), projected onto classes 0, 1, 2 like the
    empirical simplex and drawn by the same renderer. Computed here, or by the API of
    ``client``. The widget's ``.summary`` holds the numbers (K_same, ...)."""
    from mixscope.views.widget import SimplexView

    lam_h = float(lambda_h if lambda_h is not None else λ_H)
    params = {"m": m, "num_classes": C, "lambda_h": lam_h, "n_lambda": n_lambda,
              "alpha": alpha, "seed": seed, "amplify": amplify}
    if client is not None:
        body = client.transport.theory(params)
    else:
        from backend.api.routers.theory import ufm

        body = ufm(**params, lambdas=None)
    p = body["projection"]
    n = p["points"]["shape"][0]
    from backend.api.encoding import encode_array

    zeros = encode_array(np.zeros(n), "int32")
    frame = {**p, "index_a": zeros, "index_b": zeros, "arrows": [], "radius": None,
             "metrics": {}}
    store = simplex_store({"run_id": "theory", "classes": [0, 1, 2], "layer": "UFM optimum",
                           "epochs": [0], "frames": [frame]}, ["0", "1", "2"],
                          f"UFM optimum · m={m:g}, C={C}, λ_H={lam_h:g}")
    view = SimplexView([store], list(KINDS), 0)
    view.summary = {k: v for k, v in body.items() if k != "projection"}
    return view
