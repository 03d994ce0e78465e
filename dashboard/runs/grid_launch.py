# ruff: noqa: C408  (dict(...) reads better than literals for component keyword arguments)
"""Launch a sweep grid from the Runs page: the launch form's values are the base config;
one or two fields are swept (a list of values each) × seeds. "Estimate" asks the API for the
cost (runs, epochs, bytes, time) before anything is queued; "Launch grid" queues the runs and
links their grid (``/grid?sweep=ID``)."""

from __future__ import annotations

import json
from typing import Any

from dash import Input, Output, State, callback, ctx, dcc, html

from dashboard.client import ApiError, format_detail
from dashboard.common import api, card
from dashboard.runs.executor_form import EXECUTOR_IDS, launch_params
from dashboard.runs.form import build_config

#: the launch form's inputs, in build_config's order (their ids are the Runs page's)
FORM_IDS = ("runs-name", "runs-dataset", "runs-model", "runs-method", "runs-alpha",
            "runs-loss", "runs-fixed-etf", "runs-optimizer", "runs-lr", "runs-wd",
            "runs-epochs", "runs-batch", "runs-record", "runs-seed", "runs-manifold-layers",
            "runs-block-gradient", "runs-task", "runs-extra")


def grid_launcher() -> html.Div:
    inp = dict(type="text", debounce=False, className="input")
    return card([
        html.P("The form above is the base; sweep one field (columns), optionally a second "
               "(rows), over a few seeds. At most 36 runs.", className="muted"),
        html.Div([
            html.Div([html.Label("Columns: field", className="field-label"),
                      dcc.Input(id="grid-launch-cols-field", value="alpha", **inp)]),
            html.Div([html.Label("values", className="field-label"),
                      dcc.Input(id="grid-launch-cols-values", value="0.4, 1, 2, 8", **inp)]),
            html.Div([html.Label("Rows: field (optional)", className="field-label"),
                      dcc.Input(id="grid-launch-rows-field", value="", **inp)]),
            html.Div([html.Label("values", className="field-label"),
                      dcc.Input(id="grid-launch-rows-values", value="", **inp)]),
            html.Div([html.Label("Seeds", className="field-label"),
                      dcc.Input(id="grid-launch-seeds", value="0", **inp)]),
        ], className="form-grid"),
        html.Div([
            html.Button("Estimate", id="grid-launch-estimate", className="btn", n_clicks=0),
            html.Button("Launch grid", id="grid-launch-go", className="btn btn-primary",
                        n_clicks=0),
        ], className="export-row"),
        html.Div(id="grid-launch-msg", className="form-message"),
    ], title="Launch a grid", className="grid-launch-card")


def parse_values(text: str | None) -> list[Any]:
    """``"0.4, 1, erm"`` -> ``[0.4, 1, "erm"]``: JSON where a value reads as JSON, else text."""
    out = []
    for t in (text or "").split(","):
        t = t.strip()
        if not t:
            continue
        try:
            out.append(json.loads(t))
        except json.JSONDecodeError:
            out.append(t)
    return out


def request_body(form: list[Any], cols_field, cols_values, rows_field, rows_values,
                 seeds, dry_run: bool) -> dict:
    body: dict[str, Any] = {
        "base": build_config(*form),
        "columns": {"field": (cols_field or "").strip(), "values": parse_values(cols_values)},
        "seeds": [int(s) for s in parse_values(seeds) if isinstance(s, int)] or [0],
        "dry_run": dry_run}
    body["base"].pop("name", None)
    if (rows_field or "").strip():
        body["rows"] = {"field": rows_field.strip(), "values": parse_values(rows_values)}
    return body


def describe(est: dict) -> str:
    mb = est.get("store_bytes")
    secs = est.get("seconds")
    return (f"{est['runs']} runs, {est['epochs']} epochs ({est['recorded_epochs']} recorded), "
            f"store {'?' if mb is None else f'{mb / 1e6:.1f} MB'}, time "
            f"{'?' if secs is None else f'{secs / 60:.1f} min'} on one worker "
            f"({est.get('basis')})")


@callback(Output("grid-launch-msg", "children"), Output("grid-launch-msg", "className"),
          Input("grid-launch-estimate", "n_clicks"), Input("grid-launch-go", "n_clicks"),
          State("grid-launch-cols-field", "value"), State("grid-launch-cols-values", "value"),
          State("grid-launch-rows-field", "value"), State("grid-launch-rows-values", "value"),
          State("grid-launch-seeds", "value"), *(State(i, "value") for i in FORM_IDS),
          *(State(i, "value") for i in EXECUTOR_IDS),
          prevent_initial_call=True)
def launch_grid(_est, _go, cols_field, cols_values, rows_field, rows_values, seeds, *form):
    dry = ctx.triggered_id == "grid-launch-estimate"
    form, where = form[:len(FORM_IDS)], form[len(FORM_IDS):]  # the run form, its executor
    try:
        body = request_body(list(form), cols_field, cols_values, rows_field, rows_values,
                            seeds, dry)
    except ValueError as exc:
        return f"Please fix the form: {exc}", "form-message error"
    try:
        out = api().launch_grid(body, params=launch_params(*where))
    except ApiError as exc:
        return f"Could not {'estimate' if dry else 'launch'}: {format_detail(exc.detail)}", \
            "form-message error"
    if dry:
        return f"Estimate: {describe(out['estimate'])}", "form-message"
    return html.Span(["Queued ", describe(out["estimate"]), " — ",
                      dcc.Link("open the grid", href=out["grid_url"], id="grid-launch-link")]), \
        "form-message ok"
