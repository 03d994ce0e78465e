# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Helpers shared by the dashboard pages: the API client of the running app, colours,
figure styling and the "nothing to show yet" panels."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc, html
from flask import current_app, has_app_context

from dashboard.client import ApiClient

# The palette is defined once, in assets/palette.css (dashboard/palette.py reads it); the
# names are re-exported here for the pages.
from dashboard.palette import (  # noqa: F401
    ACCENT,
    CLEAN,
    FONT,
    INK,
    LAMBDA_SCALE,
    MUTED,
    RUN_COLOURS,
    SAME_CLASS,
    STATUS_COLOURS,
)

_FALLBACK: dict[str, ApiClient] = {}


def api() -> ApiClient:
    """The API client of the Dash app for the user of the current request: every API call
    of a page goes through it, so writes carry the logged-in user's token (or are refused)."""
    if has_app_context() and "MIXSCOPE_API" in current_app.config:
        from dashboard.auth import client_for_request  # this user's token (dashboard/auth.py)

        return client_for_request()
    if "default" not in _FALLBACK:  # callbacks called outside a request (unit tests)
        import os
        _FALLBACK["default"] = ApiClient(os.environ.get("MIXSCOPE_API_URL",
                                                        "http://127.0.0.1:8000"))
    return _FALLBACK["default"]


def vocab(name: str) -> list[str]:
    """One of the API's vocabularies (``GET /api/vocab``: ``datasets``, ``methods``,
    ``losses``, ``run_statuses``, ...), so the forms offer what the API validates. Empty when
    the API cannot be reached (the page says so elsewhere)."""
    try:
        return list(api().get("/vocab").get(name, []))
    except Exception:  # noqa: BLE001 — an unreachable API must not break the layout
        return []


def empty_state(title: str, hint: str | Any = "", *, link: tuple[str, str] | None = None,
                id: str | None = None) -> html.Div:
    """A friendly panel saying what to do when there is nothing to show yet."""
    children: list[Any] = [html.Div("∅", className="empty-icon"), html.H3(title)]
    if hint:
        children.append(html.P(hint))
    if link:
        children.append(dcc.Link(link[1], href=link[0], className="btn btn-primary"))
    kw = {"id": id} if id else {}
    return html.Div(children, className="empty-state", **kw)


def style_figure(fig: go.Figure, *, height: int | None = None, legend: bool = True) -> go.Figure:
    """The app's look for a Plotly figure (white, light grid, system font)."""
    fig.update_layout(
        template="plotly_white", font=dict(family=FONT, size=13, color=INK),
        margin=dict(l=50, r=20, t=40, b=40), paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="white", showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, bgcolor="rgba(0,0,0,0)"),
        hoverlabel=dict(font=dict(family=FONT)),
    )
    if height:
        fig.update_layout(height=height)
    return fig


def blank_figure(message: str = "", height: int = 300) -> go.Figure:
    """An empty figure with a centred note (used while nothing is selected)."""
    fig = go.Figure()
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    if message:
        if "<br>" not in message:  # a long note wraps rather than running off a narrow card
            import textwrap

            message = "<br>".join(textwrap.wrap(message, 56, break_long_words=False))
        fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color=MUTED),
                           xref="paper", yref="paper", x=0.5, y=0.5)
    return style_figure(fig, height=height, legend=False)


def run_label(run: dict) -> str:
    """``name · method α · dataset (status)`` for pickers."""
    cfg = run.get("config") or {}
    name = run.get("name") or cfg.get("name") or run["id"][:8]
    method = run.get("method") or cfg.get("method", "?")  # the API's label (runlabels)
    dataset = run.get("dataset") or cfg.get("dataset", "?")
    if cfg.get("source") == "external":  # recorded from the user's own loop
        said = "".join(f" · {v}" for v in (method, dataset) if v and v != "custom")
        return f"{name} · recorded{said} ({run.get('status', '?')})"
    alpha = f" α={cfg.get('alpha')}" if method != "erm" else ""
    return f"{name} · {method}{alpha} · {dataset} ({run.get('status', '?')})"


def run_options(runs: list[dict], *, need_epochs: bool = False) -> list[dict]:
    """Dropdown options for runs, newest first (optionally only runs with recorded epochs)."""
    out = []
    for r in sorted(runs, key=lambda r: r.get("created_at") or "", reverse=True):
        if need_epochs and not r.get("recorded_epochs"):
            continue
        out.append({"label": run_label(r), "value": r["id"]})
    return out


def pick_run(runs: list[dict], *prefer: str | None, need_epochs: bool = True) -> str | None:
    """The first preferred run id that exists, else the newest run with recorded epochs
    that mixes (a bare page opens on the demo's mixup run, not its ERM baseline), else the
    newest."""
    ids = {r["id"] for r in runs}
    for p in prefer:
        if p and p in ids:
            return p
    opts = run_options(runs, need_epochs=need_epochs)
    if not opts:
        return None
    method = {r["id"]: r.get("method") or (r.get("config") or {}).get("method") for r in runs}
    mixing = [o["value"] for o in opts if method.get(o["value"]) != "erm"]
    return mixing[0] if mixing else opts[0]["value"]


def card(children: Any, title: str | None = None, className: str = "", **kw: Any) -> html.Div:
    head = [html.H4(title, className="card-title")] if title else []
    return html.Div(head + (children if isinstance(children, list) else [children]),
                    className=f"card {className}".strip(), **kw)


def field(label: str, control: Any, *, help: str | None = None,
          error_id: str | None = None, id: str | None = None,
          help_id: str | None = None) -> html.Div:
    """A labelled form control with an optional help text and an error slot. ``id``: the
    field's own (to show or hide it); ``help_id``: the help line's (a callback fills it)."""
    parts: list[Any] = [html.Label(label, className="field-label"), control]
    if help or help_id:
        parts.append(html.Div(help, className="field-help", **({"id": help_id} if help_id
                                                                 else {})))
    if error_id:
        parts.append(html.Div(id=error_id, className="field-error"))
    return html.Div(parts, className="field", **({"id": id} if id else {}))


def triple_picker(class_ids: tuple[str, str, str]) -> list[Any]:
    """The three class dropdowns of a simplex view (Explore, the grid): a labelled row whose
    order is the simplex's, a at the top then b and c clockwise."""
    return [
        html.Label("Classes (a at the top, then b, c clockwise)", className="field-label"),
        html.Div([dcc.Dropdown(id=i, placeholder=k, clearable=False, className="dropdown")
                  for k, i in zip("abc", class_ids)], className="triple"),
    ]


def point_kinds(checklist_id: str) -> list[Any]:
    """Which of a simplex view's point sets to draw; mixes by default, clean examples on ask."""
    return [
        html.Label("Points", className="field-label"),
        dcc.Checklist(id=checklist_id, options=[
            {"label": " same-class mixes", "value": "same"},
            {"label": " different-class mixes", "value": "different"},
            {"label": " clean examples", "value": "clean"}],
            value=["same", "different"], className="checklist"),
    ]
