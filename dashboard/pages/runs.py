# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Runs: launch a training run from a form and follow every run in a live table."""

from __future__ import annotations

import json
from typing import Any

import dash
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from plotly.subplots import make_subplots

from dashboard.client import ApiError, field_errors, format_detail
from dashboard.common import STATUS_COLOURS, api, card, empty_state, field, vocab

dash.register_page(__name__, path="/runs", name="Runs", title="mixscope · Runs", order=1)

MODELS = ["mlp", "mlp-bottleneck", "mlp-mid-bottleneck", "resnet18", "preact-resnet18",
          "preact-resnet34", "preact-resnet50", "wrn-16-4", "wrn-28-10", "wrn-40-10",
          "vit-tiny", "vit-small", "vit-base"]
# Optimiser presets: the recipes of the papers, as RunConfig fields.
OPT_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd-cosine": ("SGD · momentum 0.9 · Nesterov · cosine",
                   dict(optimizer="sgd", momentum=0.9, nesterov=True, schedule="cosine")),
    "sgd-step": ("SGD · momentum 0.9 · ÷10 at 30/50/90 % (WRN paper)",
                 dict(optimizer="sgd", momentum=0.9, nesterov=False, schedule="step",
                      lr_milestones=[0.3, 0.5, 0.9])),
    "adam-cosine": ("Adam · cosine (ViT paper)", dict(optimizer="adam", schedule="cosine")),
    "adamw-cosine": ("AdamW · cosine", dict(optimizer="adamw", schedule="cosine")),
    "adam-constant": ("Adam · constant lr (data-dependency paper)",
                      dict(optimizer="adam", schedule="constant")),
}
# Form field -> RunConfig field(s) whose 422 messages it shows.
ERROR_SLOTS = ["name", "dataset", "model", "method", "alpha", "loss", "fixed_etf", "optimizer",
               "lr", "weight_decay", "epochs", "batch_size", "record", "seed",
               "manifold_layers", "block_gradient", "dataset_args", "extra"]


def _num(id_: str, value: float, **kw: Any) -> dcc.Input:
    return dcc.Input(id=id_, type="number", value=value, className="input", debounce=False, **kw)


def _form() -> html.Div:
    dd = dict(clearable=False, className="dropdown")
    return card([
        html.Div([
            field("Name (optional)", dcc.Input(id="runs-name", type="text", className="input",
                                               placeholder="e.g. digits mixup α=1"),
                  error_id="err-name"),
            field("Dataset", dcc.Dropdown(vocab("datasets"), "digits", id="runs-dataset", **dd),
                  error_id="err-dataset"),
            field("Model", dcc.Dropdown(MODELS, "mlp", id="runs-model", **dd),
                  help="wrn-<depth>-<widen>, depth = 6n+4", error_id="err-model"),
            field("Method", dcc.Dropdown(
                [{"label": "Input mixup", "value": "input-mixup"},
                 {"label": "Manifold mixup", "value": "manifold-mixup"},
                 {"label": "Factor mixup (rotated-digit)", "value": "factor-mixup"},
                 {"label": "ERM (no mixup)", "value": "erm"}], "input-mixup",
                id="runs-method", **dd), error_id="err-method"),
            field("α  (λ ~ Beta(α, α))", _num("runs-alpha", 1.0, step="any"),
                  error_id="err-alpha"),
            field("Loss", dcc.Dropdown([{"label": "Cross-entropy", "value": "ce"},
                                        {"label": "MSE", "value": "mse"},
                                        {"label": "BCE on softmax (Verma et al.)",
                                         "value": "bce"}], "ce",
                                       id="runs-loss", **dd), error_id="err-loss"),
            field("Classifier", dcc.Checklist(
                [{"label": " fixed simplex ETF", "value": "etf"}], [], id="runs-fixed-etf",
                className="checklist"), error_id="err-fixed_etf"),
            field("Optimiser preset", dcc.Dropdown(
                [{"label": v[0], "value": k} for k, v in OPT_PRESETS.items()], "sgd-cosine",
                id="runs-optimizer", **dd), error_id="err-optimizer"),
            field("Learning rate", _num("runs-lr", 0.05, step="any"), error_id="err-lr"),
            field("Weight decay", _num("runs-wd", 0.01, step="any"),
                  error_id="err-weight_decay"),
            field("Epochs", _num("runs-epochs", 30, step=1, min=1), error_id="err-epochs"),
            field("Batch size", _num("runs-batch", 128, step=1, min=0), help="0 = full batch",
                  error_id="err-batch_size"),
            field("Recorded epochs", dcc.Input(id="runs-record", type="text", value="auto",
                                               className="input"),
                  help="'auto' (dense early, sparse later) or a list such as 0,1,5,10,30",
                  error_id="err-record"),
            field("Seed", _num("runs-seed", 0, step=1, min=0), error_id="err-seed"),
            field("Mixing layers", dcc.Input(id="runs-manifold-layers", type="text",
                                             className="input", placeholder="model default"),
                  help="manifold mixup: comma-separated, e.g. input,block1,block2",
                  error_id="err-manifold_layers"),
            field("Gradient", dcc.Checklist(
                [{"label": " block before the mixing layer", "value": "block"}], [],
                id="runs-block-gradient", className="checklist"),
                error_id="err-block_gradient"),
            field("Task (rotated-digit)", dcc.Dropdown(["A", "B", "C"], "A", id="runs-task",
                                                       **dd), error_id="err-dataset_args"),
            field("More fields (JSON)", dcc.Textarea(
                id="runs-extra", className="input",
                placeholder='{"model_args": {"bottleneck_dim": 12, "activation": "leaky-relu"}}'),
                help="any RunConfig fields, merged last", error_id="err-extra"),
        ], className="form-grid"),
        html.Div([
            html.Button("Launch run", id="runs-launch", className="btn btn-primary",
                        n_clicks=0),
            html.Div(id="runs-launch-msg", className="form-message"),
        ], className="form-actions"),
    ], title="Launch a run", className="launch-card")


PAGE_SIZE = 50  # rows in the DOM at once: the server filters and pages a thousand runs


def _filters() -> html.Div:
    """Filters the API applies (status, dataset, model, method, name text)."""
    return html.Div([
        dcc.Dropdown(id="runs-filter-status", placeholder="any status", clearable=True,
                     options=list(STATUS_COLOURS), className="runs-filter"),
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


def layout(**_query: Any) -> html.Div:
    return html.Div([
        html.Div([html.H2("Runs"),
                  html.P("Train a network with or without mixup; its geometry is recorded at "
                         "chosen epochs and shows up on the Explore page.",
                         className="lede")], className="page-head"),
        _form(),
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
def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_config(name, dataset, model, method, alpha, loss, fixed_etf, opt_preset, lr, wd,
                 epochs, batch, record, seed, manifold_layers=None, block_gradient=None,
                 task=None, extra=None) -> dict:
    """The RunConfig JSON for the form's values (validation is the API's job).

    ``extra`` is a JSON object of any further RunConfig fields, merged last; text that is not
    a JSON object raises ValueError (the form shows it beside the field)."""
    cfg: dict[str, Any] = dict(dataset=dataset, model=model, method=method, alpha=alpha,
                               loss=loss, fixed_etf=bool(fixed_etf), lr=lr, weight_decay=wd,
                               epochs=epochs, batch_size=batch, seed=seed)
    layers = [t.strip() for t in (manifold_layers or "").split(",") if t.strip()]
    if layers:
        cfg["manifold_layers"] = layers
    if block_gradient:
        cfg["block_gradient"] = True
    if dataset == "rotated-digit" and task:
        cfg["dataset_args"] = {"task": task}
    cfg.update(OPT_PRESETS.get(opt_preset, ("", {}))[1])
    if name:
        cfg["name"] = name
    rec = (record or "auto").strip()
    if rec.lower() == "auto":
        cfg["record"] = {"epochs": "auto"}
    else:
        try:
            cfg["record"] = {"epochs": [int(x) for x in rec.replace(" ", ",").split(",") if x]}
        except ValueError:
            cfg["record"] = {"epochs": rec}  # let the API name the field
    if extra and extra.strip():
        try:
            more = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from exc
        if not isinstance(more, dict):
            raise ValueError("give a JSON object of RunConfig fields")
        cfg = _merge(cfg, more)
    return cfg


def _slot(key: str) -> str:
    head = key.split(".")[0]
    if head in ("momentum", "nesterov", "schedule", "lr_milestones"):
        return "optimizer"
    return head if head in ERROR_SLOTS else ""


@callback(
    Output("runs-launch-msg", "children"), Output("runs-launch-msg", "className"),
    *[Output(f"err-{s}", "children") for s in ERROR_SLOTS],
    Output("runs-refresh", "data"),
    Input("runs-launch", "n_clicks"),
    State("runs-name", "value"), State("runs-dataset", "value"), State("runs-model", "value"),
    State("runs-method", "value"), State("runs-alpha", "value"), State("runs-loss", "value"),
    State("runs-fixed-etf", "value"), State("runs-optimizer", "value"),
    State("runs-lr", "value"), State("runs-wd", "value"), State("runs-epochs", "value"),
    State("runs-batch", "value"), State("runs-record", "value"), State("runs-seed", "value"),
    State("runs-manifold-layers", "value"), State("runs-block-gradient", "value"),
    State("runs-task", "value"), State("runs-extra", "value"),
    State("runs-refresh", "data"),
    prevent_initial_call=True,
)
def launch(n, *values):
    *form, refresh = values
    errors = {s: "" for s in ERROR_SLOTS}
    try:
        cfg = build_config(*form)
    except ValueError as exc:
        errors["extra"] = str(exc)
        return ("Please fix the highlighted fields.", "form-message error", *errors.values(),
                no_update)
    try:
        run = api().create_run(cfg)
    except ApiError as exc:
        if exc.status == 422:
            general = []
            for key, msg in field_errors(exc.detail).items():
                slot = _slot(key)
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


# -- the live table -------------------------------------------------------------------------
def _fmt_eta(eta: float | None) -> str:
    if eta is None:
        return ""
    eta = round(eta)
    if eta >= 3600:
        return f"ETA {eta // 3600}h {eta % 3600 // 60:02d}m"
    if eta >= 60:
        return f"ETA {eta // 60}m {eta % 60:02d}s"
    return f"ETA {eta}s"


def _fmt(v: Any, pct: bool = False) -> str:
    if not isinstance(v, (int, float)):
        return "–"
    return f"{100 * v:.1f} %" if pct else f"{v:.3f}"


def _row(run: dict) -> html.Tr:
    cfg = run.get("config") or {}
    status = run.get("status", "?")
    progress = float(run.get("progress") or 0.0)
    if status == "succeeded":
        progress = 1.0
    epoch, total = run.get("current_epoch") or 0, run.get("total_epochs") or cfg.get("epochs")
    eta = _fmt_eta(run.get("eta_s")) if status == "running" else ""
    summary = run.get("summary") or {}
    method = cfg.get("method", "?")
    desc = f"{cfg.get('dataset', '?')} · {cfg.get('model', '?')} · {method}" + (
        f" α={cfg.get('alpha')}" if method != "erm" else "") + (
        " · ETF" if cfg.get("fixed_etf") else "") + f" · {cfg.get('loss', 'ce')}"
    if cfg.get("source") == "external":  # recorded from the user's own loop
        ext = cfg.get("external_config") or {}
        desc = "recorded externally" + "".join(
            f" · {ext[k]}" for k in ("dataset", "model", "method") if k in ext)
    rid = run["id"]
    actions = [dcc.Link("Open", href=f"/explore?run={rid}", className="btn btn-small",
                        id={"type": "run-open", "index": rid})]
    if status in ("queued", "running"):
        actions.append(html.Button("Cancel", id={"type": "run-cancel", "index": rid},
                                   className="btn btn-small btn-warn", n_clicks=0))
    if run.get("resumable"):  # failed through a full disk, a lost connection...
        actions.append(html.Button("Resume", id={"type": "run-resume", "index": rid},
                                   className="btn btn-small btn-primary", n_clicks=0,
                                   title="Queue it again from its last good checkpoint"))
    if status in ("running", "succeeded", "failed", "cancelled"):
        actions.append(html.Button("Check files", id={"type": "run-check", "index": rid},
                                   className="btn btn-small", n_clicks=0,
                                   title="Read every artifact back and name damaged ones"))
    actions.append(html.Button("Delete", id={"type": "run-delete", "index": rid},
                               className="btn btn-small btn-danger", n_clicks=0))
    return html.Tr([
        html.Td([html.Div(run.get("name") or cfg.get("name") or rid[:8], className="run-name"),
                 html.Div(desc, className="run-desc"),
                 *([html.Div((run.get("error") or "").splitlines()[0][:200],
                             className="run-error", id={"type": "run-error", "index": rid})]
                   if status == "failed" and run.get("error") else [])]),
        html.Td(html.Span(status, className="badge",
                          style={"backgroundColor": STATUS_COLOURS.get(status, "#868e96")}),
                className="run-status"),
        html.Td([
            html.Div(html.Div(className="bar-fill", style={"width": f"{100 * progress:.1f}%"}),
                     className="bar"),
            html.Div(f"epoch {epoch} / {total}" + (f" · {eta}" if eta else ""),
                     className="bar-text"),
        ], className="progress-cell"),
        html.Td(_fmt(summary.get("test_accuracy"), pct=True), className="num"),
        html.Td(_fmt(summary.get("ece")), className="num"),
        html.Td(_fmt(summary.get("channel_radius")), className="num"),
        html.Td((run.get("created_at") or "")[:16].replace("T", " "), className="muted"),
        html.Td(actions, className="actions"),
    ], id={"type": "run-row", "index": rid}, className=f"row-{status}")


def health_message(rid: str, health: dict) -> html.Div:
    """What ``GET /api/runs/{id}/health`` found, one damaged file per line."""
    if health.get("ok"):
        return html.Div(f"All {health.get('checked', 0)} artifact files of {rid[:8]} read back "
                        f"as written.", id="run-health")
    items = []
    for d in health.get("damaged", []):
        where = d["kind"] + (f", epoch {d['epoch']}" if d.get("epoch") is not None else "") + (
            f", layer {d['layer']}" if d.get("layer") else "")
        items.append(html.Li(f"{where}: {d['reason']}"))
    return html.Div([html.Div(f"{len(items)} damaged file(s) in {rid[:8]}:"),
                     html.Ul(items)], id="run-health", className="error")


def sweep_figure(runs: list[dict]) -> go.Figure:
    """A sweep's summary: α against test accuracy, ECE and channel radius, one point a run."""
    done = sorted((r for r in runs if (r.get("summary") or {})),
                  key=lambda r: float((r.get("config") or {}).get("alpha") or 0.0))
    alpha = [float((r.get("config") or {}).get("alpha") or 0.0) for r in done]
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Test accuracy", "ECE",
                                                        "Channel radius"))
    for col, key in enumerate(("test_accuracy", "ece", "channel_radius"), start=1):
        fig.add_trace(go.Scatter(x=alpha, y=[(r["summary"] or {}).get(key) for r in done],
                                 mode="lines+markers", name=key, showlegend=False,
                                 text=[r.get("name") or r["id"][:8] for r in done]),
                      row=1, col=col)
        fig.update_xaxes(title_text="α", row=1, col=col)
    fig.update_layout(height=240, margin=dict(l=40, r=10, t=30, b=40))
    return fig


def _sweep_rows(sweep_id: str, runs: list[dict]) -> list:
    """A sweep's runs as one group: a heading row, a summary plot of all its runs (not just
    this page's), and its rows on this page."""
    try:
        everyone, _ = api().page_runs(sweep_id=sweep_id, limit=1000)
    except ApiError:
        everyone = runs
    head = html.Tr(html.Td([
        html.Div(f"Sweep {sweep_id[:8]} · {len(everyone)} runs", className="run-name"),
        dcc.Graph(figure=sweep_figure(everyone), id={"type": "sweep-summary", "index": sweep_id},
                  config={"displaylogo": False, "displayModeBar": False}),
    ], colSpan=8), className="sweep-group", id={"type": "sweep-group", "index": sweep_id})
    return [head] + [_row(r) for r in runs]


def runs_table(runs: list[dict]) -> html.Table:
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Run", "Status", "Progress", "Test acc.", "ECE", "Channel radius", "Created", "")]))
    runs = sorted(runs, key=lambda r: r.get("created_at") or "", reverse=True)
    body: list = []
    grouped: dict[str, list[dict]] = {}
    for r in runs:  # a sweep's runs sit together where its newest run is
        sid = r.get("sweep_id")
        if not sid:
            body.append(r)
        elif sid not in grouped:
            grouped[sid] = [r]
            body.append(sid)
        else:
            grouped[sid].append(r)
    rows: list = []
    for item in body:
        rows += _sweep_rows(item, grouped[item]) if isinstance(item, str) else [_row(item)]
    return html.Table([head, html.Tbody(rows)], className="runs-table")


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
