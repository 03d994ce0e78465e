# ruff: noqa: C408  (dict(...) reads better than literals for keyword arguments)
"""Runs: launch a training run from a form, follow every run in a live table, and open one
run's detail (the bytes it stores, per artifact kind and per recorded epoch).

The parts live in ``dashboard/runs/`` (the form, the table, the detail); this module lays
the page out and wires its callbacks. ``/runs?run=ID`` opens that run's detail.
"""

from __future__ import annotations

import json
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.client import ApiError, field_errors, format_detail
from dashboard.common import api, card, empty_state, vocab
from dashboard.runs.executor_form import (
    EXECUTOR_IDS,
    EXECUTOR_SLOTS,
    executor_options,
    form_values,
    launch_params,
    slurm_note,
)
from dashboard.runs.footprint import run_detail
from dashboard.runs.form import (
    ERROR_SLOTS,
    build_config,
    error_slot,
    form_fields_shown,
    launch_form,
)
from dashboard.runs.grid_launch import grid_launcher
from dashboard.runs.table import health_message, runs_table

dash.register_page(__name__, path="/runs", name="Runs", title="mixscope · Runs", order=1)

PAGE_SIZE = 50  # rows in the DOM at once: the server filters and pages a thousand runs


def _filters() -> html.Div:
    """Filters the API applies (status, dataset, model, method, name text)."""
    return html.Div([
        dcc.Dropdown(id="runs-filter-status", placeholder="any status", clearable=True,
                     options=vocab("run_statuses"), className="runs-filter"),
        dcc.Input(id="runs-filter-dataset", type="text", placeholder="dataset", debounce=True,
                  className="input runs-filter"),
        dcc.Input(id="runs-filter-model", type="text", placeholder="model", debounce=True,
                  className="input runs-filter"),
        dcc.Dropdown(id="runs-filter-method", placeholder="any method", clearable=True,
                     options=vocab("methods"),
                     className="runs-filter"),
        dcc.Input(id="runs-filter-q", type="search", placeholder="name contains…",
                  debounce=True, className="input runs-filter"),
    ], className="runs-filters", style={"display": "flex", "gap": "0.5rem",
                                         "flexWrap": "wrap", "marginBottom": "0.5rem"})


def layout(run: str | None = None, **_query: Any) -> html.Div:
    return html.Div([
        html.Div([html.H2("Runs"),
                  html.P("Train a network with or without mixup; its geometry is recorded at "
                         "chosen epochs and shows up on the Explore page.",
                         className="lede")], className="page-head"),
        launch_form(),
        grid_launcher(),
        # the run picked with its Details button (or ?run=ID): above the table, in sight
        dcc.Store(id="runs-selected", data=run),
        dcc.Store(id="runs-detail-signature"),
        html.Div(id="runs-detail"),
        dcc.Store(id="runs-detail-scrolled"),
        card([
            dcc.Interval(id="runs-interval", interval=2000),
            dcc.Store(id="runs-refresh", data=0),
            dcc.Store(id="runs-signature"),
            dcc.Store(id="runs-page", data=0),
            html.Div(id="runs-action-msg", className="form-message"),
            _filters(),
            html.Div(id="runs-table", children=html.Div("Loading runs…", className="muted")),
            html.Div([html.Button("‹ Newer", id="runs-prev", className="btn btn-small", n_clicks=0),
                      html.Span(id="runs-page-info", className="muted"),
                      html.Button("Older ›", id="runs-next", className="btn btn-small",
                                  n_clicks=0)], className="runs-pager"),
        ], title="All runs", className="table-card"),
    ])


# -- launching ------------------------------------------------------------------------------
@callback(
    Output("runs-launch-msg", "children"), Output("runs-launch-msg", "className"),
    *[Output(f"err-{s}", "children") for s in ERROR_SLOTS + EXECUTOR_SLOTS],
    Output("runs-refresh", "data"),
    Input("runs-launch", "n_clicks"),
    State("runs-name", "value"), State("runs-dataset", "value"), State("runs-model", "value"),
    State("runs-method", "value"), State("runs-alpha", "value"), State("runs-loss", "value"),
    State("runs-fixed-etf", "value"), State("runs-optimizer", "value"),
    State("runs-lr", "value"), State("runs-wd", "value"), State("runs-epochs", "value"),
    State("runs-batch", "value"), State("runs-record", "value"), State("runs-seed", "value"),
    State("runs-manifold-layers", "value"), State("runs-block-gradient", "value"),
    State("runs-task", "value"), State("runs-extra", "value"),
    *[State(i, "value") for i in EXECUTOR_IDS],
    State("runs-refresh", "data"),
    prevent_initial_call=True,
)
def launch(n, *values):
    *form, refresh = values
    form, where = form[:-len(EXECUTOR_SLOTS)], form[-len(EXECUTOR_SLOTS):]
    errors = {s: "" for s in ERROR_SLOTS + EXECUTOR_SLOTS}
    try:
        cfg = build_config(*form)
    except ValueError as exc:
        errors["extra"] = str(exc)
        return ("Please fix the highlighted fields.", "form-message error", *errors.values(),
                no_update)
    try:
        run = api().create_run(cfg, params=launch_params(*where))
    except ApiError as exc:
        if exc.status == 422:
            general = []
            for key, msg in field_errors(exc.detail).items():
                slot = key if key in EXECUTOR_SLOTS else error_slot(key)
                if slot:
                    errors[slot] = f"{errors[slot]} {msg}".strip()
                else:
                    general.append(f"{key}: {msg}" if key else msg)
            text = "Please fix the highlighted fields." + (" " + "; ".join(general)
                                                           if general else "")
        else:
            text = f"Could not launch: {format_detail(exc.detail)}"
        return (text, "form-message error", *errors.values(), no_update)
    name = run.get("name") or run["id"][:8]
    msg = html.Span(["Queued ", html.B(name), " — it appears in the table below; ",
                     dcc.Link("open it on Explore", href=f"/explore?run={run['id']}"),
                     " once it has recorded an epoch."])
    return (msg, "form-message ok", *errors.values(), (refresh or 0) + 1)


@callback(Output("runs-executor-info", "data"), Output("runs-executor", "options"),
          *[Output(i, "value") for i in EXECUTOR_IDS], Input("runs-executor-section", "id"))
def executor_defaults(_section):
    """The executors offered, and the executor and Slurm resources a launch would use (the
    API's settings)."""
    try:
        info = api().get("/executor")
    except ApiError:
        info = None
    return (info, executor_options(info), *form_values(info))


@callback(Output("runs-slurm-fields", "style"), Output("runs-slurm-note", "children"),
          Input("runs-executor", "value"), Input("runs-executor-info", "data"))
def executor_shown(executor, info):
    return slurm_note(executor, info)


@callback(Output("runs-field-manifold", "style"), Output("runs-field-block", "style"),
          Output("runs-field-task", "style"), Output("runs-model-help", "children"),
          Input("runs-dataset", "value"), Input("runs-model", "value"),
          Input("runs-method", "value"))
def fields_shown(dataset, model, method):
    return form_fields_shown(dataset, model, method)


# -- the method filter offers recorded runs' own methods ("cutmix", "custom") too ---------
@callback(Output("runs-filter-method", "options"), Input("runs-interval", "n_intervals"),
          State("runs-filter-method", "options"))
def method_options(_n, shown):
    try:
        used = api().get("/runs/labels").get("method", [])
    except ApiError:
        raise PreventUpdate from None
    shown = list(shown or [])
    if set(used) <= set(shown):
        raise PreventUpdate
    return list(dict.fromkeys([*shown, *used]))


# -- the live table -------------------------------------------------------------------------
@callback(Output("runs-page", "data"),
          Input("runs-prev", "n_clicks"), Input("runs-next", "n_clicks"),
          Input("runs-filter-status", "value"), Input("runs-filter-dataset", "value"),
          Input("runs-filter-model", "value"), Input("runs-filter-method", "value"),
          Input("runs-filter-q", "value"), State("runs-page", "data"),
          prevent_initial_call=True)
def turn_page(_prev, _next, *rest):
    page = rest[-1] or 0
    if ctx.triggered_id == "runs-next":
        return page + 1
    if ctx.triggered_id == "runs-prev":
        return max(page - 1, 0)
    return 0  # a filter changed: back to the newest runs


@callback(Output("runs-table", "children"), Output("runs-signature", "data"),
          Output("runs-page-info", "children"),
          Input("runs-interval", "n_intervals"), Input("runs-refresh", "data"),
          Input("runs-page", "data"),
          Input("runs-filter-status", "value"), Input("runs-filter-dataset", "value"),
          Input("runs-filter-model", "value"), Input("runs-filter-method", "value"),
          Input("runs-filter-q", "value"),
          State("runs-signature", "data"))
def refresh_table(_n, _refresh, page, status, dataset, model, method, q, signature):
    filters = dict(status=status or None, dataset=(dataset or "").strip() or None,
                   model=(model or "").strip() or None, method=method or None,
                   q=(q or "").strip() or None)
    page = page or 0
    try:
        runs, total = api().page_runs(limit=PAGE_SIZE, offset=page * PAGE_SIZE, **filters)
    except ApiError as exc:
        return empty_state("The API is not reachable", format_detail(exc.detail)), None, ""
    first = page * PAGE_SIZE
    info = (f"runs {first + 1}–{first + len(runs)} of {total}" if runs else f"{total} runs")
    sig = json.dumps([runs, filters, page], sort_keys=True, default=str)
    if sig == signature:  # nothing changed: keep the DOM (and the user's hover) as it is
        return no_update, no_update, info
    if not runs:
        if any(filters.values()) or page:
            return empty_state("No run matches these filters", ""), sig, info
        return empty_state("No runs yet — launch one with the form above",
                           "A digits run with 30 epochs trains in about a minute on a CPU."), \
            sig, info
    return runs_table(runs), sig, info


@callback(Output("runs-action-msg", "children"),
          Output("runs-refresh", "data", allow_duplicate=True),
          Input({"type": "run-cancel", "index": ALL}, "n_clicks"),
          Input({"type": "run-delete", "index": ALL}, "n_clicks"),
          Input({"type": "run-resume", "index": ALL}, "n_clicks"),
          Input({"type": "run-check", "index": ALL}, "n_clicks"),
          State("runs-refresh", "data"), prevent_initial_call=True)
def run_action(_cancel, _delete, _resume, _check, refresh):
    trig = ctx.triggered_id
    if not trig or not (ctx.triggered and ctx.triggered[0].get("value")):
        return no_update, no_update  # buttons (re)appearing, not a click
    rid = trig["index"]
    try:
        if trig["type"] == "run-cancel":
            api().cancel_run(rid)
            msg = f"Cancel requested for {rid[:8]}."
        elif trig["type"] == "run-resume":
            api().resume_run(rid)
            msg = f"Resumed {rid[:8]}: a worker continues it from its last good checkpoint."
        elif trig["type"] == "run-check":
            return health_message(rid, api().run_health(rid)), no_update
        else:
            api().delete_run(rid)
            msg = f"Deleted {rid[:8]} and its artifacts."
    except ApiError as exc:
        msg = f"Could not {trig['type'].split('-')[1]} {rid[:8]}: {format_detail(exc.detail)}"
    return msg, (refresh or 0) + 1


# -- one run's detail -----------------------------------------------------------------------
@callback(Output("runs-selected", "data"),
          Input({"type": "run-details", "index": ALL}, "n_clicks"), prevent_initial_call=True)
def select_run(_clicks):
    if not ctx.triggered_id or not (ctx.triggered and ctx.triggered[0].get("value")):
        return no_update  # buttons (re)appearing with the table, not a click
    return ctx.triggered_id["index"]


@callback(Output("runs-detail", "children"), Output("runs-detail-signature", "data"),
          Input("runs-selected", "data"), Input("runs-interval", "n_intervals"),
          Input("runs-refresh", "data"), State("runs-detail-signature", "data"))
def show_detail(run_id, _n, _refresh, signature):
    """The picked run's detail, redrawn only when its status or footprint changed (a finished
    run's is not asked again on every tick of the table's timer)."""
    if not run_id:
        return None, None
    shown = json.loads(signature) if signature else None
    if (ctx.triggered_id == "runs-interval" and shown and shown[0] == run_id
            and shown[1].get("finished_at")):
        return no_update, no_update
    try:
        run, footprint = api().get_run(run_id), api().footprint(run_id)
    except ApiError as exc:
        if exc.status == 404:
            return html.P(f"Run {run_id[:8]} no longer exists.", className="muted",
                          id="runs-footprint-summary"), None
        return html.P(f"Could not read {run_id[:8]}: {format_detail(exc.detail)}",
                      className="form-message error"), None
    sig = json.dumps([run_id, {k: run.get(k) for k in ("status", "finished_at")}, footprint],
                     sort_keys=True, default=str)
    if sig == signature:
        return no_update, no_update
    return run_detail(run, footprint), sig


# Details of a run picked far down the table: the panel above the table is brought into sight
# once it has drawn (issue 19: it rendered off-screen)
clientside_callback(
    """function (runId) {
        if (!runId) { return window.dash_clientside.no_update; }
        let tries = 0;
        const look = () => {
            const el = document.getElementById("runs-detail");
            if (el && el.childElementCount > 0) {
                el.scrollIntoView({block: "start", behavior: "instant"});
            } else if (tries++ < 40) { setTimeout(look, 100); }
        };
        setTimeout(look, 0);
        return runId;
    }""",
    Output("runs-detail-scrolled", "data"), Input("runs-selected", "data"),
    prevent_initial_call=True,
)
