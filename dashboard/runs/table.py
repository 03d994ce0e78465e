# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""The Runs page's live table: one row a run (status, progress, summary metrics, actions), a
sweep's runs grouped under one row with a summary plot, and the result of "Check files"."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from dashboard.client import ApiError
from dashboard.common import STATUS_COLOURS, api, vocab


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


def _progress_text(run: dict, cfg: dict, epoch: int, total: Any) -> str:
    """``epoch E / N`` for a trained run; a recorded run (its loop, not mixscope, knows its
    length) says what it recorded: "epoch 0 recorded", "epochs 0–12 recorded (5)"."""
    if cfg.get("source") != "external":
        return f"epoch {epoch} / {total}"
    eps = sorted(run.get("recorded_epochs") or [])
    if not eps:
        return "no epoch recorded yet"
    if len(eps) == 1:
        return f"one epoch recorded (epoch {eps[0]})"
    return f"epochs {eps[0]}–{eps[-1]} recorded ({len(eps)})"


def _row(run: dict, terminal: frozenset[str]) -> html.Tr:
    """One run's row; ``terminal``: the statuses a run ends in (the API's vocabulary)."""
    cfg = run.get("config") or {}
    status = run.get("status", "?")
    progress = float(run.get("progress") or 0.0)
    if status == "succeeded":
        progress = 1.0
    epoch, total = run.get("current_epoch") or 0, run.get("total_epochs") or cfg.get("epochs")
    eta = _fmt_eta(run.get("eta_s")) if status == "running" else ""
    summary = run.get("summary") or {}
    # the run's own labels (the API's dataset/model/method: a recorded run's are its user's
    # words, or "custom"), the config's for older APIs
    dataset, model, method = (run.get(k) or cfg.get(k, "?") for k in ("dataset", "model",
                                                                       "method"))
    desc = f"{dataset} · {model} · {method}" + (
        f" α={cfg.get('alpha')}" if method != "erm" else "") + (
        " · ETF" if cfg.get("fixed_etf") else "") + f" · {cfg.get('loss', 'ce')}"
    if cfg.get("source") == "external":  # recorded from the user's own loop
        desc = "recorded externally" + "".join(  # what its user said ("custom": nothing)
            f" · {v}" for v in (dataset, model, method) if v and v != "custom")
    rid = run["id"]
    actions = [dcc.Link("Open", href=f"/explore?run={rid}", className="btn btn-small",
                        id={"type": "run-open", "index": rid})]
    if status not in terminal:  # queued or running: it can still be stopped
        actions.append(html.Button("Cancel", id={"type": "run-cancel", "index": rid},
                                   className="btn btn-small btn-warn", n_clicks=0))
    if run.get("resumable"):  # failed through a full disk, a lost connection...
        actions.append(html.Button("Resume", id={"type": "run-resume", "index": rid},
                                   className="btn btn-small btn-primary", n_clicks=0,
                                   title="Queue it again from its last good checkpoint"))
    if status == "running" or status in terminal:  # started: it has files to check
        actions.append(html.Button("Check files", id={"type": "run-check", "index": rid},
                                   className="btn btn-small", n_clicks=0,
                                   title="Read every artifact back and name damaged ones"))
    actions.append(html.Button("Details", id={"type": "run-details", "index": rid},
                               className="btn btn-small", n_clicks=0,
                               title="What this run stores, per artifact kind and epoch"))
    actions.append(html.Button("Delete", id={"type": "run-delete", "index": rid},
                               className="btn btn-small btn-danger", n_clicks=0))
    return html.Tr([
        html.Td([html.Div(run.get("name") or cfg.get("name") or rid[:8], className="run-name"),
                 html.Div(desc, className="run-desc"),
                 *([html.Div((run.get("error") or "").splitlines()[0][:200],
                             className="run-error", id={"type": "run-error", "index": rid})]
                   if status == "failed" and run.get("error") else [])]),
        html.Td([html.Span(status, className="badge",
                           style={"backgroundColor": STATUS_COLOURS.get(status, STATUS_COLOURS["queued"])}),
                 *_slurm_line(run, status, terminal)],
                className="run-status"),
        html.Td([
            html.Div(html.Div(className="bar-fill", style={"width": f"{100 * progress:.1f}%"}),
                     className="bar"),
            html.Div(_progress_text(run, cfg, epoch, total) + (f" · {eta}" if eta else ""),
                     className="bar-text"),
        ], className="progress-cell"),
        html.Td(_fmt(summary.get("test_accuracy"), pct=True), className="num"),
        html.Td(_fmt(summary.get("ece")), className="num"),
        html.Td(_fmt(summary.get("channel_radius")), className="num"),
        html.Td((run.get("created_at") or "")[:16].replace("T", " "), className="muted"),
        html.Td(actions, className="actions"),
    ], id={"type": "run-row", "index": rid}, className=f"row-{status}")


def _slurm_line(run: dict, status: str, terminal: frozenset[str]) -> list:
    """A Slurm run's job under its status: Slurm's state and reason while it has not ended
    (``PENDING (Resources)``) and the job id (issue 22); nothing for a Celery run."""
    job = (run.get("summary") or {}).get("executor") or {}
    if job.get("name") != "slurm" or not job.get("job_id"):
        return []
    state = job.get("status") or job.get("state") or ""
    text = f"Slurm job {job['job_id']}" + (f" · {state}" if state and status not in terminal
                                            else "")
    return [html.Div(text, className="run-desc run-slurm", id={"type": "run-slurm",
                                                                "index": run["id"]})]


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


def _sweep_rows(sweep_id: str, runs: list[dict], terminal: frozenset[str]) -> list:
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
    return [head] + [_row(r, terminal) for r in runs]


def runs_table(runs: list[dict]) -> html.Table:
    """The table of one page of runs, newest first, a sweep's runs together."""
    terminal = frozenset(vocab("terminal_statuses"))
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
        rows += (_sweep_rows(item, grouped[item], terminal) if isinstance(item, str)
                 else [_row(item, terminal)])
    return html.Table([head, html.Tbody(rows)], className="runs-table")
