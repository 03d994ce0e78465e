# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Explore: the simplex projection of a run's activations for a class triple, epoch by epoch.

URL: ``/explore?run=ID&classes=a,b,c&epoch=E&layer=L`` (read on load, written back as the
view changes, so a view can be shared). The frames of every recorded epoch of the chosen
(run, triple, layer) are fetched once into ``ex-frames``; the epoch slider swaps frames in
the browser (``assets/explore.js``), with no server round trip.
"""

from __future__ import annotations

import io
import os
import random
from typing import Any

import dash
import numpy as np
from dash import (
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)
from plotly.subplots import make_subplots

from dashboard.client import ApiError, Pending, decode_array, format_detail
from dashboard.common import (
    api,
    blank_figure,
    card,
    empty_state,
    pick_run,
    run_options,
    style_figure,
)
from dashboard.figures import (
    decode_projection,
    extent,
    metrics_figure,
    simplex_axes,
    simplex_traces,
)

dash.register_page(__name__, path="/explore", name="Explore", title="mixscope · Explore",
                   order=2)

MAX_POINTS = 6000
# frames a request brings: long runs fill the slider page by page (the env var lets the
# browser tests page a short run)
FRAMES_PAGE = int(os.environ.get("MIXSCOPE_FRAMES_PAGE", "24"))
GRAPH_CONFIG = {
    "displaylogo": False, "displayModeBar": "hover", "scrollZoom": True,
    "toImageButtonOptions": {"format": "png", "filename": "mixscope-simplex", "scale": 2},
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}


def _parse_classes(text: str | None) -> list[str] | None:
    vals = [x.strip() for x in (text or "").split(",") if x.strip() != ""]
    return vals if len(vals) == 3 else None


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


def _int(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _controls() -> html.Div:
    dd = dict(clearable=False, className="dropdown")
    return card([
        html.Label("Run", className="field-label"),
        dcc.Dropdown(id="ex-run", placeholder="pick a run", **dd),
        html.Label("Classes (a at the top, then b, c clockwise)", className="field-label"),
        html.Div([dcc.Dropdown(id=f"ex-class-{k}", placeholder=k, **dd) for k in "abc"],
                 className="triple"),
        html.Label("Layer", className="field-label"),
        dcc.Dropdown(id="ex-layer", **dd),
        html.Div(id="ex-record-mode", className="field-help"),
        html.Label("Points", className="field-label"),
        dcc.Checklist(id="ex-kinds", options=[
            {"label": " same-class mixes", "value": "same"},
            {"label": " different-class mixes", "value": "different"},
            {"label": " clean examples", "value": "clean"}],
            value=["same", "different"], className="checklist"),
        html.Label("λ on the lower class", className="field-label"),
        dcc.RangeSlider(id="ex-lam", min=0, max=1, step=0.05, value=[0, 1],
                        marks={0: "0", 0.5: "½", 1: "1"}, className="slider"),
        html.Label("Compare with a second run", className="field-label"),
        dcc.Dropdown(id="ex-compare", placeholder="(none)", clearable=True,
                     className="dropdown"),
        dcc.Checklist(id="ex-ufm", options=[{"label": " overlay the UFM optimum",
                                              "value": "ufm"}], value=[],
                      className="checklist ufm-toggle"),
        html.Div([
            html.Button("SVG", id="ex-svg", className="btn btn-small", n_clicks=0,
                        title="Download the plot as SVG (PNG: camera icon on the plot)"),
            html.Button("CSV", id="ex-csv", className="btn btn-small", n_clicks=0,
                        title="Download this epoch's points as CSV"),
            dcc.Download(id="ex-download"),
            html.Span(id="ex-svg-done", hidden=True),
        ], className="export-row"),
    ], className="controls")


def layout(run: str | None = None, classes: str | None = None, epoch: str | None = None,
           layer: str | None = None, **_query: Any) -> html.Div:
    init = {"run": run, "classes": _parse_classes(classes), "epoch": _int(epoch),
            "layer": layer}
    return html.Div([
        dcc.Store(id="ex-url-init", data=init),
        dcc.Store(id="ex-run-info"),
        dcc.Store(id="ex-frames"),
        dcc.Store(id="ex-frames-next"),  # where the next page of frames starts, and for what
        dcc.Store(id="ex-frames-b"),
        dcc.Store(id="ex-ufm-data"),
        dcc.Store(id="ex-url-written"),
        dcc.Interval(id="ex-wait", interval=4000, disabled=True),
        dcc.Interval(id="ex-poll", interval=1500, disabled=True),
        dcc.Interval(id="ex-play-interval", interval=700, disabled=True),
        html.Div([html.H2("Explore"),
                  html.P("Penultimate-layer activations of mixup points projected onto the "
                         "simplex of three classes. Different-class mixes are coloured by λ; "
                         "arrows are the classifier rows.", className="lede")],
                 className="page-head"),
        html.Div(id="ex-empty"),
        html.Div([
            _controls(),
            html.Div([
                card([
                    html.Div([
                        html.Button("▶ Play", id="ex-play", className="btn btn-small",
                                    n_clicks=0),
                        # the slider moves over the *indices* of the recorded epochs (marks
                        # show the epochs), so every stop is a recorded frame
                        html.Div(dcc.Slider(id="epoch-slider", min=0, max=1, step=1,
                                            value=None, marks={}, updatemode="drag",
                                            allow_direct_input=False,
                                            className="slider"),
                                 className="epoch-slider-wrap"),
                        html.Span(id="ex-epoch-label", className="epoch-label"),
                    ], className="epoch-row"),
                    html.Div(id="ex-msg", className="form-message"),
                    html.Div(id="ex-basis", className="form-note"),
                    html.Div([
                        dcc.Graph(id="simplex", config=GRAPH_CONFIG, className="simplex-graph",
                                  figure=blank_figure("Loading…", 520)),
                        html.Div(dcc.Graph(id="simplex-b", config=GRAPH_CONFIG,
                                           className="simplex-graph"),
                                 id="ex-b-wrap", style={"display": "none"}),
                    ], className="simplex-row"),
                ], className="plot-card"),
                card([dcc.Graph(id="ex-metrics", config={"displaylogo": False, "displayModeBar": "hover"},
                                figure=blank_figure("", 280))],
                     title="Collapse metrics over training", className="metrics-card"),
                card([
                    html.Div([
                        html.Span("Several triples at the current epoch (the paper's Fig. 11)",
                                  className="muted"),
                        dcc.Dropdown(id="ex-multi-n", options=[4, 6, 9], value=6,
                                     clearable=False, className="dropdown small-dd"),
                        html.Button("Show", id="ex-multi-go", className="btn btn-small",
                                    n_clicks=0),
                    ], className="multi-row"),
                    dcc.Loading(dcc.Graph(id="ex-multi", config=GRAPH_CONFIG,
                                          style={"display": "none"}), type="dot"),
                ], title="Small multiples", className="multi-card"),
            ], className="main-col"),
        ], id="ex-body", className="explore-grid"),
    ])


# -- run list and empty states --------------------------------------------------------------
@callback(Output("ex-run", "options"), Output("ex-run", "value"),
          Output("ex-compare", "options"), Output("ex-empty", "children"),
          Output("ex-body", "style"), Output("ex-wait", "disabled"),
          Input("ex-url-init", "data"), Input("ex-wait", "n_intervals"),
          State("shared-run", "data"), State("ex-run", "value"))
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
    if not opts:
        active = [r for r in runs if r.get("status") in ("queued", "running")]
        hint = ("A run is training; this page fills in as soon as it records its first epoch."
                if active else "None of the runs recorded any epoch (did they fail?). "
                "Launch a new one on the Runs page.")
        return ([], None, [], empty_state("Nothing recorded yet", hint,
                                          link=("/runs", "Go to Runs")),
                {"display": "none"}, not active)
    value = current if current in {o["value"] for o in opts} else \
        pick_run(runs, (init or {}).get("run"), shared)
    return opts, value, opts, None, {}, True


@callback(Output("ex-class-a", "options"), Output("ex-class-b", "options"),
          Output("ex-class-c", "options"),
          Output("ex-class-a", "value"), Output("ex-class-b", "value"),
          Output("ex-class-c", "value"),
          Output("ex-layer", "options"), Output("ex-layer", "value"),
          Output("epoch-slider", "min"), Output("epoch-slider", "max"),
          Output("epoch-slider", "marks"), Output("epoch-slider", "value"),
          Output("ex-run-info", "data"),
          Output("shared-run", "data", allow_duplicate=True),
          Input("ex-run", "value"), State("ex-url-init", "data"),
          prevent_initial_call=True)
def select_run(run_id, init):
    if not run_id:
        return (no_update,) * 14
    run = api().get_run(run_id)
    names = run.get("class_names") or [str(i) for i in range(3)]
    layers = run.get("layers") or ["penultimate"]
    epochs = sorted(run.get("recorded_epochs") or [0])
    init = init if (init or {}).get("run") == run_id else {}
    cfg = run.get("config") or {}
    triple = resolve_triple(init.get("classes"), names) or \
        list((cfg.get("record") or {}).get("default_triple") or [0, 1, 2])
    if any(not 0 <= c < len(names) for c in triple) or len(set(triple)) != 3:
        triple = [0, 1, 2]
    layer = init.get("layer") if init.get("layer") in layers else (
        "penultimate" if "penultimate" in layers else layers[0])
    epoch = init.get("epoch") if init.get("epoch") in epochs else epochs[-1]
    class_opts = [{"label": n, "value": i} for i, n in enumerate(names)]
    every = max(1, -(-len(epochs) // 12))  # label about a dozen stops
    marks = {i: (str(e) if (i % every == 0 or i == len(epochs) - 1) else "")
             for i, e in enumerate(epochs)}
    info = {"id": run_id, "class_names": names, "epochs": epochs, "layers": layers,
            "config": cfg, "name": run.get("name") or run_id[:8]}
    return (class_opts, class_opts, class_opts, *triple, layers, layer, 0, len(epochs) - 1,
            marks, epochs.index(epoch), info, run_id)


RECORD_MODES = {"train": "recorded in train mode (BatchNorm batch statistics, as 000 plots)",
                "eval": "recorded in eval mode (BatchNorm running statistics)"}


@callback(Output("ex-record-mode", "children"), Input("ex-run-info", "data"))
def record_mode_label(info):
    """Which BatchNorm mode the activations were extracted in (``record.mode``)."""
    if not info:
        return ""
    mode = ((info.get("config") or {}).get("record") or {}).get("mode", "eval")
    return f"Activations {RECORD_MODES.get(mode, mode)}"


# -- frames: fetched once per (run, triple, layer) ---------------------------------------------
def _fetch_frames(run_id: str, triple: list[int], layer: str, names: list[str], *,
                  limit: int | None = None, epoch_from: int = 0) -> dict:
    data = api().frames(run_id, layer=layer, classes=triple, kinds="same,different,clean",
                        lam_min=0, lam_max=1, max_points=MAX_POINTS, seed=0, centre=True,
                        limit=limit, epoch_from=epoch_from or None)
    return {"run": run_id, "classes": triple, "layer": layer, "all_names": names,
            "epochs": data["epochs"], "frames": data["frames"],
            "next_epoch_from": data.get("next_epoch_from")}


@callback(Output("ex-frames", "data"), Output("ex-msg", "children"),
          Output("ex-poll", "disabled"), Output("ex-frames-next", "data"),
          Input("ex-class-a", "value"), Input("ex-class-b", "value"),
          Input("ex-class-c", "value"), Input("ex-layer", "value"),
          Input("ex-poll", "n_intervals"), State("ex-run-info", "data"),
          State("ex-frames-next", "data"),
          prevent_initial_call=True)
def load_frames(a, b, c, layer, _poll, info, nxt):
    """The first page of frames when the view changes; each poll then appends the next page
    (a Patch: the frames already in the browser are not sent again) until the run's last."""
    if not info or None in (a, b, c) or not layer:
        return no_update, "", True, None
    triple = [a, b, c]
    if len(set(triple)) != 3:
        return ({"message": "Pick three different classes"},
                "Pick three different classes.", True, None)
    key = [info["id"], triple, layer]
    more = ctx.triggered_id == "ex-poll" and nxt and nxt.get("key") == key
    try:
        page = _fetch_frames(info["id"], triple, layer, info["class_names"], limit=FRAMES_PAGE,
                             epoch_from=nxt["from"] if more else 0)
    except Pending as p:
        msg = (f"Extracting this triple from the checkpoint (job {p.job_id})… "
               "the plot appears when it is ready.")
        return no_update, msg, False, nxt if more else None
    except ApiError as exc:
        return {"message": format_detail(exc.detail)}, format_detail(exc.detail), True, None
    after = page.pop("next_epoch_from")
    following = {"key": key, "from": after} if after is not None else None
    if more:
        patch = Patch()
        patch["epochs"].extend(page["epochs"])
        patch["frames"].extend(page["frames"])
        return patch, "", following is None, following
    return page, "", following is None, following


def basis_note(frames: dict | None) -> str:
    """What the simplex is built from, when it is not the classifier (a hidden layer)."""
    shown = (frames or {}).get("frames") or []
    if shown and shown[0].get("basis") == "class-means":
        return (f"Layer {frames.get('layer')} is not the classifier's input: it is projected "
                "onto the simplex of its three clean class means (arrows: the class means).")
    return ""


@callback(Output("ex-basis", "children"), Input("ex-frames", "data"))
def show_basis(frames):
    return basis_note(frames)


clientside_callback(
    dash.ClientsideFunction("mixscope", "renderSimplex"),
    Output("simplex", "figure"), Output("ex-epoch-label", "children"),
    Input("epoch-slider", "value"), Input("ex-frames", "data"), Input("ex-kinds", "value"),
    Input("ex-lam", "value"), Input("ex-ufm-data", "data"),
)

clientside_callback(
    dash.ClientsideFunction("mixscope", "writeUrl"),
    Output("ex-url-written", "data"),
    Input("ex-run", "value"), Input("ex-class-a", "value"), Input("ex-class-b", "value"),
    Input("ex-class-c", "value"), Input("epoch-slider", "value"), Input("ex-layer", "value"),
    State("ex-run-info", "data"), prevent_initial_call=True,
)

# play / pause: an Interval steps the slider in the browser
clientside_callback(
    dash.ClientsideFunction("mixscope", "togglePlay"),
    Output("ex-play-interval", "disabled"), Output("ex-play", "children"),
    Input("ex-play", "n_clicks"), State("ex-play-interval", "disabled"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction("mixscope", "playTick"),
    Output("epoch-slider", "value", allow_duplicate=True),
    Input("ex-play-interval", "n_intervals"), State("epoch-slider", "value"),
    State("epoch-slider", "max"), prevent_initial_call=True,
)


# -- second run, side by side -------------------------------------------------------------
@callback(Output("ex-frames-b", "data"), Output("ex-b-wrap", "style"),
          Input("ex-compare", "value"), Input("ex-frames", "data"),
          prevent_initial_call=True)
def load_compare(run_b, frames):
    if not run_b or not frames or not frames.get("frames"):
        return None, {"display": "none"}
    shown = {"display": "block"}
    try:
        run = api().get_run(run_b)
        names = run.get("class_names") or frames["all_names"]
        data = _fetch_frames(run_b, frames["classes"], frames["layer"], names)
        data["title"] = run.get("name") or run_b[:8]
        return data, shown
    except Pending:
        return {"message": "Extracting this triple for the second run…"}, shown
    except ApiError as exc:
        return {"message": f"Second run: {format_detail(exc.detail)}"}, shown


clientside_callback(
    dash.ClientsideFunction("mixscope", "renderCompare"),
    Output("simplex-b", "figure"),
    Input("epoch-slider", "value"), Input("ex-frames-b", "data"), Input("ex-kinds", "value"),
    Input("ex-lam", "value"), Input("ex-ufm-data", "data"), State("ex-frames", "data"),
)


# -- UFM optimum overlay ------------------------------------------------------------------
@callback(Output("ex-ufm-data", "data"), Input("ex-ufm", "value"), Input("ex-run-info", "data"),
          prevent_initial_call=True)
def load_ufm(on, info):
    if not on or not info:
        return None
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
    return {"points": np.round(pts, 5).tolist(), "radius": radius}


# -- collapse metrics -----------------------------------------------------------------------
def slider_epoch(info: dict | None, index: int | None) -> int | None:
    """The recorded epoch at a slider position (the slider moves over indices)."""
    eps = (info or {}).get("epochs") or []
    if not eps:
        return None
    if index is None:
        return eps[-1]
    return eps[max(0, min(int(index), len(eps) - 1))]


@callback(Output("ex-metrics", "figure"), Input("ex-run-info", "data"),
          State("epoch-slider", "value"), prevent_initial_call=True)
def load_metrics(info, index):
    if not info:
        return no_update
    epoch = slider_epoch(info, index)
    try:
        records = api().metrics(info["id"])
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail), 280)
    if not records:
        return blank_figure("No epochs recorded yet", 280)
    return metrics_figure(records, epoch)


clientside_callback(
    dash.ClientsideFunction("mixscope", "markEpoch"),
    Output("ex-metrics", "figure", allow_duplicate=True),
    Input("epoch-slider", "value"), State("ex-metrics", "figure"), State("ex-run-info", "data"),
    prevent_initial_call=True,
)


# -- export ---------------------------------------------------------------------------------
clientside_callback(
    dash.ClientsideFunction("mixscope", "exportSvg"),
    Output("ex-svg-done", "children"), Input("ex-svg", "n_clicks"), prevent_initial_call=True,
)


def frame_csv(frames: dict, epoch: int | None) -> str:
    """The points of the frame shown at ``epoch`` as CSV (one row per probe point)."""
    eps = frames["epochs"]
    k = max([i for i, e in enumerate(eps) if epoch is None or e <= epoch] or [0])
    proj = decode_projection(frames["frames"][k])
    names = frames.get("all_names") or []
    kinds = {0: "clean", 1: "same", 2: "different"}
    buf = io.StringIO()
    buf.write("epoch,layer,x,y,kind,class_a,class_b,name_a,name_b,lambda_a,index_a,index_b\n")
    for i in range(len(proj["lam"])):
        ca, cb = int(proj["class_a"][i]), int(proj["class_b"][i])
        na = names[ca] if ca < len(names) else ca
        nb = names[cb] if cb < len(names) else cb
        buf.write(f"{eps[k]},{frames['layer']},{proj['points'][i, 0]:.6g},"
                  f"{proj['points'][i, 1]:.6g},{kinds.get(int(proj['kind'][i]), '?')},{ca},{cb},"
                  f"{na},{nb},{float(proj['lam'][i]):.6g},{int(proj['index_a'][i])},"
                  f"{int(proj['index_b'][i])}\n")
    return buf.getvalue()


@callback(Output("ex-download", "data"), Input("ex-csv", "n_clicks"),
          State("ex-frames", "data"), State("epoch-slider", "value"), prevent_initial_call=True)
def download_csv(n, frames, index):
    if not n or not frames or not frames.get("frames"):
        return no_update
    epoch = slider_epoch(frames, index)
    name = f"mixscope-{frames['run'][:8]}-{'-'.join(map(str, frames['classes']))}-e{epoch}.csv"
    return dict(content=frame_csv(frames, epoch), filename=name)


# -- small multiples ------------------------------------------------------------------------
def pick_triples(num_classes: int, first: list[int], k: int, seed: int = 0) -> list[list[int]]:
    """``first`` then ``k - 1`` other distinct triples drawn with a fixed seed."""
    rng = random.Random(seed)
    out, seen = [list(first)], {tuple(sorted(first))}
    tries = 0
    while len(out) < k and tries < 1000:
        t = rng.sample(range(num_classes), 3)
        tries += 1
        if tuple(sorted(t)) not in seen:
            seen.add(tuple(sorted(t)))
            out.append(sorted(t))
    return out


@callback(Output("ex-multi", "figure"), Output("ex-multi", "style"),
          Input("ex-multi-go", "n_clicks"), State("ex-multi-n", "value"),
          State("ex-run-info", "data"), State("ex-class-a", "value"),
          State("ex-class-b", "value"), State("ex-class-c", "value"),
          State("ex-layer", "value"), State("epoch-slider", "value"),
          State("ex-kinds", "value"), prevent_initial_call=True)
def small_multiples(_n, k, info, a, b, c, layer, index, kinds):
    if not info:
        return no_update, no_update
    names = info["class_names"]
    epoch = slider_epoch(info, index)
    triples = pick_triples(len(names), [a, b, c], int(k or 6))
    cols = 3
    rows = -(-len(triples) // cols)
    titles = [" · ".join(names[i] for i in t) for t in triples]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=0.06)
    want = tuple(k for k, name in ((0, "clean"), (1, "same"), (2, "different"))
                 if name in (kinds or []))
    for i, t in enumerate(triples):
        r, cc = i // cols + 1, i % cols + 1
        try:
            proj = decode_projection(api().projection(
                info["id"], epoch=epoch, layer=layer, classes=t, max_points=2000, seed=0,
                centre=True))
        except (Pending, ApiError) as exc:
            msg = "extracting…" if isinstance(exc, Pending) else "unavailable"
            fig.layout.annotations[i].text = f"{titles[i]} ({msg})"
            simplex_axes(fig, 1.0, r, cc)
            continue
        for tr in simplex_traces(proj, showscale=(i == 0), size=3, kinds=want):
            tr.showlegend = False
            fig.add_trace(tr, row=r, col=cc)
        R = extent(proj)
        simplex_axes(fig, R, r, cc)
        axis = "" if i == 0 else str(i + 1)
        fig.update_layout({f"yaxis{axis}": dict(scaleanchor=f"x{axis}", scaleratio=1)})
    style_figure(fig, height=330 * rows, legend=False)
    fig.update_layout(title=dict(text=f"epoch {epoch} · layer {layer}", x=0.01,
                                 font=dict(size=13)), margin=dict(l=10, r=10, t=60, b=10))
    return fig, {"display": "block"}
