"""The Explore page's view callbacks: the run list, the controls a run fills in, the drawing
of the simplex in the browser, the URL, playback, the UFM overlay and the metrics panel.
Frames are loaded by :mod:`.frames`; exports and small multiples have their own modules."""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
from dash import Input, Output, State, callback, clientside_callback, ctx, no_update
from dash.exceptions import PreventUpdate

from dashboard.client import ApiError, decode_array, format_detail
from dashboard.common import api, blank_figure, empty_state, pick_run, run_options
from dashboard.figures import metrics_figure, one_epoch_note
from dashboard.live import FOLLOW, epoch_marks, is_active, live_note
from dashboard.pages.explore import ids

RECORD_MODES = {"train": "recorded in train mode (BatchNorm batch statistics, as 000 plots)",
                "eval": "recorded in eval mode (BatchNorm running statistics)"}


def resolve_triple(raw: list[str] | None, names: list[str]) -> list[int] | None:
    """Class indices for a URL triple given as indices or as class names."""
    if not raw:
        return None
    out = []
    for x in raw:
        if str(x) in names and not str(x).isdigit():
            out.append(names.index(str(x)))
        else:
            try:
                out.append(int(x))
            except ValueError:
                return None
    ok = len(set(out)) == 3 and all(0 <= c < len(names) for c in out)
    return out if ok else None


def slider_epoch(info: dict | None, index: int | None) -> int | None:
    """The recorded epoch at a slider position (the slider moves over indices)."""
    eps = (info or {}).get("epochs") or []
    if not eps:
        return None
    if index is None:
        return eps[-1]
    return eps[max(0, min(int(index), len(eps) - 1))]


# -- run list and empty states --------------------------------------------------------------
@callback(Output(ids.RUN, "options"), Output(ids.RUN, "value"),
          Output(ids.COMPARE, "options"), Output(ids.EMPTY, "children"),
          Output(ids.BODY, "style"), Output(ids.WAIT, "disabled"),
          Input(ids.URL_INIT, "data"), Input(ids.WAIT, "n_intervals"),
          State(ids.SHARED_RUN, "data"), State(ids.RUN, "value"))
def load_runs(init, _n, shared, current):
    try:
        runs = api().list_runs()
    except ApiError as exc:
        return ([], None, [], empty_state("The API is not reachable", format_detail(exc.detail)),
                {"display": "none"}, False)
    if not runs:
        return ([], None, [], empty_state(
            "No runs yet — launch one on the Runs page",
            "Each run records the geometry of its activations at chosen epochs; it shows up "
            "here as soon as its first epoch is recorded.", link=("/runs", "Go to Runs")),
            {"display": "none"}, False)
    opts = run_options(runs, need_epochs=True)
    active = any(is_active(r) for r in runs)
    if not opts:
        hint = ("A run is training; this page fills in as soon as it records its first epoch."
                if active else "None of the runs recorded any epoch (did they fail?). "
                "Launch a new one on the Runs page.")
        return ([], None, [], empty_state("Nothing recorded yet", hint,
                                          link=("/runs", "Go to Runs")),
                {"display": "none"}, not active)
    # while a run trains the list keeps refreshing (new runs, statuses in the labels); the
    # chosen run stays chosen (no_update: its view is not rebuilt)
    if current in {o["value"] for o in opts}:
        return opts, no_update, opts, None, {}, not active
    return opts, pick_run(runs, (init or {}).get("run"), shared), opts, None, {}, not active


def _start_view(run: dict, init: dict) -> dict[str, Any]:
    """Triple, layer and epoch a run opens on: the URL's when it names this run and they
    exist, else the run's default triple, its penultimate layer and its last epoch."""
    names = run.get("class_names") or [str(i) for i in range(3)]
    layers = run.get("layers") or ["penultimate"]
    epochs = sorted(run.get("recorded_epochs") or [0])
    cfg = run.get("config") or {}
    triple = resolve_triple(init.get("classes"), names) or \
        list((cfg.get("record") or {}).get("default_triple") or [0, 1, 2])
    if any(not 0 <= c < len(names) for c in triple) or len(set(triple)) != 3:
        triple = [0, 1, 2]
    layer = init.get("layer") if init.get("layer") in layers else (
        "penultimate" if "penultimate" in layers else layers[0])
    epoch = init.get("epoch") if init.get("epoch") in epochs else epochs[-1]
    return {"names": names, "layers": layers, "epochs": epochs, "config": cfg,
            "triple": triple, "layer": layer, "epoch": epoch}


@callback(
    output={
        "class_options": tuple(Output(i, "options") for i in ids.CLASSES),
        "triple": tuple(Output(i, "value") for i in ids.CLASSES),
        "layer_options": Output(ids.LAYER, "options"),
        "layer": Output(ids.LAYER, "value"),
        "slider": {"min": Output(ids.EPOCH_SLIDER, "min"),
                   "max": Output(ids.EPOCH_SLIDER, "max"),
                   "marks": Output(ids.EPOCH_SLIDER, "marks"),
                   "value": Output(ids.EPOCH_SLIDER, "value")},
        "info": Output(ids.RUN_INFO, "data"),
        "shared": Output(ids.SHARED_RUN, "data", allow_duplicate=True),
        "follow": Output(ids.FOLLOW, "value"),
        "live": Output(ids.LIVE, "disabled"),
        "note": Output(ids.LIVE_NOTE, "children"),
    },
    inputs={"run_id": Input(ids.RUN, "value"), "init": State(ids.URL_INIT, "data")},
    prevent_initial_call=True,
)
def select_run(run_id, init):
    """A chosen run fills the class, layer and epoch controls (from the URL on first load)."""
    if not run_id:
        raise PreventUpdate
    run = api().get_run(run_id)
    asked = init if (init or {}).get("run") == run_id else {}
    view = _start_view(run, asked)
    epochs = view["epochs"]
    class_opts = [{"label": n, "value": i} for i, n in enumerate(view["names"])]
    info = {"id": run_id, "class_names": view["names"], "epochs": epochs,
            "layers": view["layers"], "config": view["config"],
            "name": run.get("name") or run_id[:8], "num_probe": run.get("num_probe"),
            "status": run.get("status"), "mixing": _mixing(run_id)}
    active = is_active(run)
    # a training run is followed (the slider jumps to each new epoch) unless the URL asked
    # for an epoch of its own
    follow = [FOLLOW] if active and asked.get("epoch") is None else []
    marks = epoch_marks(epochs)
    return {
        "class_options": (class_opts,) * 3, "triple": tuple(view["triple"]),
        "layer_options": view["layers"], "layer": view["layer"],
        "slider": {"min": 0, "max": len(epochs) - 1, "marks": marks,
                   "value": epochs.index(view["epoch"])},
        "info": info, "shared": run_id, "follow": follow, "live": not active,
        "note": live_note(run, epochs),
    }


def _mixing(run_id: str) -> str | None:
    """What made the run's mixed probe points (``GET /api/runs/{id}/probe``)."""
    try:
        return api().get(f"/runs/{run_id}/probe").get("mixing")
    except ApiError:
        return None


@callback(Output(ids.RECORD_MODE, "children"), Output(ids.MIXING, "children"),
          Input(ids.RUN_INFO, "data"))
def record_mode_label(info):
    """Which BatchNorm mode the activations were extracted in (``record.mode``), and which
    mixing made the mixed points (the user's function for a recorded run, issue 19)."""
    if not info:
        return "", ""
    mode = ((info.get("config") or {}).get("record") or {}).get("mode", "eval")
    mixing = info.get("mixing")
    return (f"Activations {RECORD_MODES.get(mode, mode)}",
            f"Mixed points made by: {mixing}" if mixing else "")


# -- drawing, URL and playback: in the browser (assets/explore.js, assets/simplex.js) --------
clientside_callback(
    dash.ClientsideFunction("mixscope", "renderSimplex"),
    Output(ids.SIMPLEX, "figure"), Output(ids.EPOCH_LABEL, "children"),
    Input(ids.EPOCH_SLIDER, "value"), Input(ids.FRAMES, "data"), Input(ids.KINDS, "value"),
    Input(ids.LAM, "value"), Input(ids.UFM_DATA, "data"), State(ids.RUN_INFO, "data"),
)

clientside_callback(
    dash.ClientsideFunction("mixscope", "renderCompare"),
    Output(ids.SIMPLEX_B, "figure"),
    Input(ids.EPOCH_SLIDER, "value"), Input(ids.FRAMES_B, "data"), Input(ids.KINDS, "value"),
    Input(ids.LAM, "value"), Input(ids.UFM_DATA, "data"), State(ids.FRAMES, "data"),
)

clientside_callback(
    dash.ClientsideFunction("mixscope", "writeUrl"),
    Output(ids.URL_WRITTEN, "data"),
    Input(ids.RUN, "value"), *(Input(i, "value") for i in ids.CLASSES),
    Input(ids.EPOCH_SLIDER, "value"), Input(ids.LAYER, "value"),
    State(ids.RUN_INFO, "data"), prevent_initial_call=True,
)

# play / pause: an Interval steps the slider in the browser
clientside_callback(
    dash.ClientsideFunction("mixscope", "togglePlay"),
    Output(ids.PLAY_INTERVAL, "disabled"), Output(ids.PLAY, "children"),
    Input(ids.PLAY, "n_clicks"), State(ids.PLAY_INTERVAL, "disabled"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction("mixscope", "playTick"),
    Output(ids.EPOCH_SLIDER, "value", allow_duplicate=True),
    Input(ids.PLAY_INTERVAL, "n_intervals"), State(ids.EPOCH_SLIDER, "value"),
    State(ids.EPOCH_SLIDER, "max"), prevent_initial_call=True,
)


# -- UFM optimum overlay ------------------------------------------------------------------
@callback(Output(ids.UFM_DATA, "data"), Input(ids.UFM, "value"), Input(ids.RUN_INFO, "data"),
          State(ids.UFM_DATA, "data"), prevent_initial_call=True)
def load_ufm(on, info, current):
    if not on or not info:
        return None
    if ctx.triggered_id == ids.RUN_INFO and (current or {}).get("run") == info["id"]:
        return no_update  # a live update of the same run: the optimum is the same
    cfg = info.get("config") or {}
    # The theory's shape depends on m and λ_H; the paper's Fig. 6 values, with the run's α.
    try:
        data = api().theory_ufm(m=cfg.get("etf_scale", 3.0) if cfg.get("fixed_etf") else 3.0,
                                num_classes=max(3, len(info["class_names"])), lambda_h=1e-6,
                                n_lambda=400, alpha=cfg.get("alpha", 1.0), seed=0)
    except ApiError:
        return None
    proj = data.get("projection") or {}
    pts = decode_array(proj.get("points")).reshape(-1, 2)
    kind = decode_array(proj.get("kind")).ravel() if proj.get("kind") else np.full(len(pts), 2)
    # Scale so that the same-class optimum sits on the frame's vertices (the browser
    # multiplies by frame radius / this radius).
    same = pts[kind == 1] if (kind == 1).any() else pts
    radius = float(np.hypot(same[:, 0], same[:, 1]).mean()) or 1.0
    return {"points": np.round(pts, 5).tolist(), "radius": radius, "run": info["id"]}


# -- collapse metrics -----------------------------------------------------------------------
@callback(Output(ids.METRICS, "figure"), Output(ids.METRICS_NOTE, "children"),
          Input(ids.RUN_INFO, "data"), State(ids.EPOCH_SLIDER, "value"),
          prevent_initial_call=True)
def load_metrics(info, index):
    if not info:
        return no_update, no_update
    epoch = slider_epoch(info, index)
    try:
        records = api().metrics(info["id"])
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail), 280), ""
    if not records:
        return blank_figure("No epochs recorded yet", 280), ""
    return metrics_figure(records, epoch), one_epoch_note(records)


clientside_callback(
    dash.ClientsideFunction("mixscope", "markEpoch"),
    Output(ids.METRICS, "figure", allow_duplicate=True),
    Input(ids.EPOCH_SLIDER, "value"), State(ids.METRICS, "figure"), State(ids.RUN_INFO, "data"),
    prevent_initial_call=True,
)
