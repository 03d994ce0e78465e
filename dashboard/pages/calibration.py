# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Calibration: the reliability diagram of a run at an epoch, and ECE over training for
several runs side by side (e.g. mixup vs ERM, α = 1 vs 0.4)."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from plotly.subplots import make_subplots

from dashboard.client import ApiError, format_detail
from dashboard.common import (
    RUN_COLOURS,
    api,
    blank_figure,
    card,
    empty_state,
    pick_run,
    run_label,
    style_figure,
)
from dashboard.figures import reliability_figure
from dashboard.live import LIVE_MS, is_active

dash.register_page(__name__, path="/calibration", name="Calibration",
                   title="mixscope · Calibration", order=3)


def layout(run: str | None = None, **_query: Any) -> html.Div:
    return html.Div([
        dcc.Store(id="cal-init", data={"run": run}),
        # re-reads the runs while one trains (new epochs, new runs); off once none does
        dcc.Interval(id="cal-live", interval=LIVE_MS, disabled=True),
        html.Div([html.H2("Calibration"),
                  html.P("How well the confidence of a run's predictions matches its accuracy "
                         "on the test set (15 equal-width bins).", className="lede")],
                 className="page-head"),
        html.Div(id="cal-empty"),
        html.Div([
            card([
                html.Label("Runs to compare", className="field-label"),
                dcc.Dropdown(id="cal-runs", multi=True, placeholder="pick one or more runs",
                             className="dropdown"),
                html.Label("Epoch of the reliability diagram", className="field-label"),
                dcc.Slider(id="cal-epoch", min=0, max=1, step=1, value=None,
                           updatemode="mouseup", className="slider",
                           tooltip={"placement": "bottom", "always_visible": False}),
            ], className="controls-wide"),
            html.Div([
                card(dcc.Graph(id="cal-reliability", config={"displaylogo": False, "displayModeBar": "hover"},
                               figure=blank_figure("", 420)),
                     title="Reliability diagram"),
                card(dcc.Graph(id="cal-ece", config={"displaylogo": False, "displayModeBar": "hover"},
                               figure=blank_figure("", 420)),
                     title="ECE and accuracy over training"),
            ], className="two-col"),
        ], id="cal-body"),
    ])


@callback(Output("cal-runs", "options"), Output("cal-runs", "value"),
          Output("cal-empty", "children"), Output("cal-body", "style"),
          Output("cal-live", "disabled"),
          Input("cal-init", "data"), Input("cal-live", "n_intervals"),
          State("shared-run", "data"), State("cal-runs", "value"))
def load_runs(init, _n, shared, current):
    try:
        runs = api().list_runs()
    except ApiError as exc:
        return [], [], empty_state("The API is not reachable",
                                   format_detail(exc.detail)), {"display": "none"}, False
    live = any(is_active(r) for r in runs)
    with_metrics = [r for r in runs if (r.get("current_epoch") or 0) > 0
                    or r.get("recorded_epochs") or r.get("status") == "succeeded"]
    if not with_metrics:
        return [], [], empty_state(
            "No runs with measured epochs yet — launch one on the Runs page",
            "Calibration is measured on the test set after every epoch.",
            link=("/runs", "Go to Runs")), {"display": "none"}, not live
    opts = [{"label": run_label(r), "value": r["id"]}
            for r in sorted(with_metrics, key=lambda r: r.get("created_at") or "",
                            reverse=True)]
    known = {o["value"] for o in opts}
    if ctx.triggered_id == "cal-live" and current and set(current) <= known:
        return opts, no_update, None, {}, not live  # the user's choice stays
    first = pick_run(with_metrics, (init or {}).get("run"), shared, need_epochs=False)
    value = [first] if first else []
    # by default compare with up to two other finished runs on the same dataset
    ds = next((r["config"].get("dataset") for r in with_metrics if r["id"] == first), None)
    value += [r["id"] for r in with_metrics if r["id"] != first and
              (r.get("config") or {}).get("dataset") == ds][:2]
    return opts, value, None, {}, not live


@callback(Output("cal-ece", "figure"), Output("cal-epoch", "min"), Output("cal-epoch", "max"),
          Output("cal-epoch", "value"), Output("cal-epoch", "marks"),
          Input("cal-runs", "value"), Input("cal-live", "n_intervals"),
          State("cal-epoch", "value"), State("cal-epoch", "max"), State("cal-ece", "figure"),
          prevent_initial_call=True)
def ece_over_epochs(run_ids, _n, epoch, old_last, shown):
    """ECE and accuracy over the epochs of the chosen runs; while one trains, each tick adds
    its new epochs (the epoch slider follows them when it was on the last one)."""
    ticked = ctx.triggered_id == "cal-live"
    if not run_ids:
        if ticked:
            raise PreventUpdate
        return blank_figure("Pick at least one run", 420), 0, 1, None, {}
    try:
        series = api().metrics_many(run_ids, ["ece", "test_accuracy"])
        labels = {r["id"]: run_label(r) for r in api().list_runs()}
    except ApiError as exc:
        if ticked:
            raise PreventUpdate from None
        return blank_figure(format_detail(exc.detail), 420), 0, 1, None, {}
    if ticked and _series_key(series, run_ids, labels) == ((shown or {}).get("layout") or
                                                           {}).get("meta"):
        raise PreventUpdate  # nothing new since the last drawing
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.55, 0.45])
    last = 0
    for i, rid in enumerate(run_ids):
        s = series.get(rid) or {}
        col = RUN_COLOURS[i % len(RUN_COLOURS)]
        name = labels.get(rid, rid[:8]).rsplit(" (", 1)[0]
        ep = s.get("epoch") or []
        if ep:
            last = max(last, max(ep))
        mode = "lines+markers" if len(ep) == 1 else "lines"  # one epoch: a point, not a line
        fig.add_trace(go.Scatter(x=ep, y=s.get("ece"), name=name, mode=mode,
                                 line=dict(color=col, width=2), legendgroup=rid,
                                 hovertemplate="ECE %{y:.4f} at epoch %{x}<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=ep, y=s.get("test_accuracy"), name=name, mode=mode,
                                 line=dict(color=col, width=2, dash="dot"), legendgroup=rid,
                                 showlegend=False,
                                 hovertemplate="test acc. %{y:.3f} at epoch %{x}<extra></extra>"),
                      row=2, col=1)
    fig.update_yaxes(title_text="ECE", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="test accuracy", row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    style_figure(fig, height=420)
    fig.update_layout(meta=_series_key(series, run_ids, labels))
    following = epoch is None or old_last is None or epoch >= old_last
    value = last if following or epoch > last else epoch
    step = max(1, last // 8)
    marks = {e: str(e) for e in range(0, last + 1, step)}
    marks[last] = str(last)
    return fig, 0, last, value, marks


def _series_key(series: dict, run_ids: list[str], labels: dict) -> str:
    """What an ECE figure shows: the runs, their labels (status) and their last epochs."""
    return "|".join(f"{rid}:{labels.get(rid, '')}:{((series.get(rid) or {}).get('epoch') or [None])[-1]}"
                    for rid in run_ids)


@callback(Output("cal-reliability", "figure"), Input("cal-epoch", "value"),
          Input("cal-runs", "value"), prevent_initial_call=True)
def reliability(epoch, run_ids):
    if not run_ids:
        return blank_figure("Pick a run", 420)
    rid = run_ids[0]
    try:
        try:
            cal = api().calibration(rid, epoch)
        except ApiError as exc:
            if exc.status != 422:
                raise
            cal = api().calibration(rid)  # that epoch has no data: show the latest
        name = run_label(api().get_run(rid)).rsplit(" (", 1)[0]
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail), 420)
    return reliability_figure(cal, name)
