# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Trajectory: how the mix of one pair of training examples moves through the layers of the
network, for a grid of λ (Pushing Boundaries, Fig. 3), projected onto a class triple."""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate
from plotly.colors import sample_colorscale

from dashboard.client import ApiError, decode_array, format_detail
from dashboard.common import (
    INK,
    LAMBDA_SCALE,
    api,
    blank_figure,
    card,
    empty_state,
    pick_run,
    run_options,
    style_figure,
)
from dashboard.live import LIVE_MS, is_active
from dashboard.palette import ZERO_LINE

dash.register_page(__name__, path="/trajectory", name="Trajectory",
                   title="mixscope · Trajectory", order=5)


def layout(run: str | None = None, **_query: Any) -> html.Div:
    dd = dict(clearable=False, className="dropdown")
    return html.Div([
        dcc.Store(id="tr-init", data={"run": run}),
        dcc.Store(id="tr-data"),
        # re-reads the chosen run while it trains: new epochs join the epoch list
        dcc.Interval(id="tr-live", interval=LIVE_MS, disabled=True),
        dcc.Interval(id="tr-wait", interval=LIVE_MS, disabled=True),  # no run recorded yet
        html.Div([html.H2("Trajectory"),
                  html.P("A pair of training examples is mixed over a grid of λ and followed "
                         "layer by layer (CLS token for ViTs, block outputs otherwise), "
                         "projected onto the simplex of three classes (the classifier's rows, "
                         "or a layer's own class means where the widths differ).",
                         className="lede")],
                 className="page-head"),
        html.Div(id="tr-empty"),
        html.Div([
            card([
                html.Label("Run", className="field-label"),
                dcc.Dropdown(id="tr-run", **dd),
                html.Label("Epoch", className="field-label"),
                dcc.Dropdown(id="tr-epoch", **dd),
                html.Label("Classes of the projection", className="field-label"),
                html.Div([dcc.Dropdown(id=f"tr-class-{k}", placeholder=k, **dd) for k in "abc"],
                         className="triple"),
                html.Label("Pair", className="field-label"),
                dcc.RadioItems(id="tr-pair", className="radio"),
            ], className="controls"),
            html.Div([
                html.Div(id="tr-msg", className="form-message"),
                card(dcc.Graph(id="tr-graph", config={"displaylogo": False, "displayModeBar": "hover"},
                               figure=blank_figure("Loading…", 540)), className="plot-card"),
            ], className="main-col"),
        ], id="tr-body", className="explore-grid"),
    ])


@callback(Output("tr-run", "options"), Output("tr-run", "value"),
          Output("tr-empty", "children"), Output("tr-body", "style"),
          Output("tr-wait", "disabled"),
          Input("tr-init", "data"), Input("tr-wait", "n_intervals"),
          State("shared-run", "data"))
def load_runs(init, _n, shared):
    try:
        runs = api().list_runs()
    except ApiError as exc:
        return [], None, empty_state("The API is not reachable",
                                     format_detail(exc.detail)), {"display": "none"}, False
    opts = run_options(runs, need_epochs=True)
    if not opts:
        # a training run fills this page once it records its first epoch: look again
        waiting = any(is_active(r) for r in runs)
        return [], None, empty_state(
            "No recorded runs yet — launch one on the Runs page",
            "Trajectories are recorded with the activations at each recorded epoch."
            + (" A run is training: this page fills in when it records its first epoch."
               if waiting else ""),
            link=("/runs", "Go to Runs")), {"display": "none"}, not waiting
    return opts, pick_run(runs, (init or {}).get("run"), shared), None, {}, True


@callback(Output("tr-epoch", "options"), Output("tr-epoch", "value"),
          *[Output(f"tr-class-{k}", "options") for k in "abc"],
          *[Output(f"tr-class-{k}", "value") for k in "abc"],
          Output("tr-live", "disabled"),
          Input("tr-run", "value"), prevent_initial_call=True)
def select_run(run_id):
    if not run_id:
        return (no_update,) * 9
    run = api().get_run(run_id)
    epochs = sorted(run.get("recorded_epochs") or [])
    names = run.get("class_names") or ["0", "1", "2"]
    triple = list(((run.get("config") or {}).get("record") or {}).get("default_triple")
                  or [0, 1, 2])
    opts = [{"label": n, "value": i} for i, n in enumerate(names)]
    return (epoch_options(epochs), epochs[-1] if epochs else None, opts, opts, opts, *triple,
            not is_active(run))


def epoch_options(epochs: list[int]) -> list[dict]:
    return [{"label": f"epoch {e}", "value": e} for e in epochs]


@callback(Output("tr-epoch", "options", allow_duplicate=True),
          Output("tr-epoch", "value", allow_duplicate=True),
          Output("tr-live", "disabled", allow_duplicate=True),
          Input("tr-live", "n_intervals"), State("tr-run", "value"),
          State("tr-epoch", "options"), State("tr-epoch", "value"), prevent_initial_call=True)
def follow_run(_n, run_id, shown, epoch):
    """A training run's new epochs join the list; the view moves to the newest when it was
    on the last one (else it stays on the user's epoch). Stops when the run ends."""
    if not run_id:
        raise PreventUpdate
    try:
        run = api().get_run(run_id)
    except ApiError:
        raise PreventUpdate from None
    epochs = sorted(run.get("recorded_epochs") or [])
    before = [o["value"] for o in shown or []]
    done = no_update if is_active(run) else True
    if epochs == before:
        if done is no_update:
            raise PreventUpdate
        return no_update, no_update, done
    at_end = epoch is None or not before or epoch == before[-1]
    return epoch_options(epochs), (epochs[-1] if at_end else no_update), done


@callback(Output("tr-data", "data"), Output("tr-pair", "options"), Output("tr-pair", "value"),
          Output("tr-msg", "children"),
          Input("tr-epoch", "value"), *[Input(f"tr-class-{k}", "value") for k in "abc"],
          State("tr-run", "value"), State("tr-pair", "value"), prevent_initial_call=True)
def load(epoch, a, b, c, run_id, pair):
    if not run_id or epoch is None or None in (a, b, c):
        return no_update, no_update, no_update, ""
    if len({a, b, c}) != 3:
        return None, [], None, "Pick three different classes."
    try:
        data = api().get(f"/runs/{run_id}/trajectory", epoch=epoch, classes=[a, b, c])
    except ApiError as exc:
        return None, [], None, f"No trajectory to show: {format_detail(exc.detail)}"
    pairs = data.get("pairs") or []
    opts = [{"label": f" pair {i + 1} (examples {p[0]} × {p[1]})"
             if isinstance(p, (list, tuple)) else f" pair {i + 1}", "value": i}
            for i, p in enumerate(pairs)]
    value = pair if isinstance(pair, int) and pair < len(pairs) else (0 if pairs else None)
    msg = "" if pairs else "This run traced no pairs."
    if pairs and len(data.get("layers") or []) < 2:
        msg = ("Only one layer of this run can be drawn, so each λ is a single point. Record "
               "more layers (record.layers, e.g. 'all', as the digits-demo preset does) to "
               "see paths.")
    return data, opts, value, (msg + basis_note(data)).strip()


def basis_note(data: dict) -> str:
    """Which layers are drawn in their class means' simplex rather than the classifier's."""
    layers, bases = data.get("layers") or [], data.get("bases") or []
    own = [name for name, b in zip(layers, bases) if b == "class-means"]
    if not own:
        return ""
    return (f" Layers {', '.join(own)} are not the classifier's input: each is projected onto "
            "the simplex of its own three clean class means.")


def trajectory_figure(data: dict, pair: int) -> go.Figure:
    """One line per λ through the layers (first layer small, last layer large), coloured
    by λ on the same scale as the Explore page."""
    pts = decode_array(data["points"]).astype(float)  # (P, layers, T, 2)
    layers, lams = data.get("layers") or [], np.asarray(data.get("lambdas") or [], float)
    if pts.ndim != 4 or pts.shape[1] == 0:
        return blank_figure("No layer of this run can be drawn in the classifier's frame", 540)
    p = pts[pair]
    fig = go.Figure()
    colours = sample_colorscale(LAMBDA_SCALE, list(np.clip(lams, 0, 1)))
    for t, lam in enumerate(lams):
        fig.add_trace(go.Scatter(
            x=p[:, t, 0], y=p[:, t, 1], mode="lines+markers", showlegend=False,
            line=dict(color=colours[t], width=1.5),
            marker=dict(color=colours[t], size=[5] * (len(layers) - 1) + [11]),
            text=[f"λ = {lam:.2f}<br>layer {name}" for name in layers],
            hovertemplate="%{text}<extra></extra>"))
    # colour bar for λ via an invisible marker trace
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False,
                             marker=dict(colorscale=LAMBDA_SCALE, cmin=0, cmax=1, color=[0],
                                         showscale=True, colorbar=dict(
                                             title=dict(text="λ", side="top"), thickness=12,
                                             len=0.6, outlinewidth=0))))
    R = 1.15 * float(np.abs(p).max() or 1.0)
    fig.update_xaxes(range=[-R, R], zeroline=True, zerolinecolor=ZERO_LINE, showgrid=False,
                     showticklabels=False)
    fig.update_yaxes(range=[-R, R], zeroline=True, zerolinecolor=ZERO_LINE, showgrid=False,
                     showticklabels=False, scaleanchor="x", scaleratio=1)
    style_figure(fig, height=540, legend=False)
    fig.update_layout(title=dict(text=f"epoch {data.get('epoch', '?')} · {len(layers)} layers: "
                                      f"{layers[0]} → {layers[-1]}", x=0.01,
                                 font=dict(size=13, color=INK)))
    return fig


@callback(Output("tr-graph", "figure"), Input("tr-data", "data"), Input("tr-pair", "value"),
          prevent_initial_call=True)
def draw(data, pair):
    if not data or pair is None:
        return blank_figure("Nothing to draw yet", 540)
    return trajectory_figure(data, int(pair))
