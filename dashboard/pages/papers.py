"""Papers: every figure and table of the source documents, published beside computed.

``/papers`` lists the catalogue (id, title, status, verdict; filter by paper and status);
``/papers?entry=000/fig1`` shows one entry: its claim, the published and computed numbers
side by side with the verdict and its reasons, the errata, a Run button (``POST
/api/papers/{id}/runs``) whose runs and lab jobs are polled until done, links to open each
run in Explore, and the product's own live view of the entry embedded (Explore, Calibration,
Lab or Theory in an iframe with the entry's state). HTTP only, through ``common.api()``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update

from dashboard.client import ApiError, format_detail
from dashboard.common import MUTED, api, card
from dashboard.palette import DANGER, OK

dash.register_page(__name__, path="/papers", name="Papers", title="mixscope · Papers", order=7)

POLL_MS = 2000
PAPERS = [("000", "000 · Pushing Boundaries (Fisher et al.)"),
          ("001", "001 · The manifold-mixup gradient split"),
          ("002", "002 · Data dependency of mixup (Chidambaram et al.)"),
          ("003", "003 · Manifold Mixup (Verma et al.)")]
STATUSES = ["reproduced", "needs-data", "needs-gpu", "out-of-scope"]
CALIBRATION_CHECKS = ("calibration_direction", "ece_table")


def layout(entry: str | None = None, **_query: Any) -> html.Div:
    return html.Div([
        dcc.Store(id="papers-entry", data=entry),
        dcc.Store(id="papers-launched"),
        html.Div([html.H2("Papers"),
                  html.P("Every figure and table of the source documents: what the paper "
                         "printed, what mixscope computes, and where the paper is wrong. Run "
                         "any of them with one click.", className="lede")],
                 className="page-head"),
        html.Div(id="papers-list-view", children=_list_view(), hidden=bool(entry)),
        html.Div(id="papers-entry-view", hidden=not entry, children=[
            dcc.Link("← all entries", href="/papers", id="papers-back"),
            html.Div(id="papers-entry-body"),
            html.Div([
                html.Button("Run", id="papers-run", className="btn btn-primary"),
                dcc.Dropdown(id="papers-scale", options=["cpu", "paper"], value="cpu",
                             clearable=False, style={"width": "8rem", "display": "inline-block",
                                                     "marginLeft": "0.5rem"}),
                html.Div(id="papers-run-status", className="field-help"),
            ], style={"margin": "0.75rem 0"}),
            html.Div(id="papers-progress"),
            html.Div(id="papers-embed"),
            dcc.Interval(id="papers-poll", interval=POLL_MS, disabled=not entry),
        ]),
    ])


def _list_view() -> html.Div:
    return html.Div([
        card([
            html.Label("Paper", className="field-label"),
            dcc.Dropdown(id="papers-filter-paper", options=[{"label": lbl, "value": v}
                                                            for v, lbl in PAPERS],
                         placeholder="all papers", className="dropdown"),
            html.Label("Status", className="field-label"),
            dcc.Dropdown(id="papers-filter-status", options=STATUSES,
                         placeholder="any status", className="dropdown"),
        ], className="controls-wide"),
        html.Div(id="papers-error"),
        dash_table.DataTable(
            id="papers-table",
            columns=[{"name": "id", "id": "link", "presentation": "markdown"},
                     {"name": "title", "id": "title"}, {"name": "status", "id": "status"},
                     {"name": "verdict", "id": "verdict"}],
            data=[], markdown_options={"link_target": "_self"}, page_size=60,
            style_cell={"textAlign": "left", "whiteSpace": "normal", "height": "auto",
                        "fontFamily": "inherit", "fontSize": "0.9rem"},
            style_data_conditional=[
                {"if": {"filter_query": '{verdict} = "agrees"', "column_id": "verdict"},
                 "color": OK, "fontWeight": 600},
                {"if": {"filter_query": '{verdict} = "differs"', "column_id": "verdict"},
                 "color": DANGER, "fontWeight": 600}]),
    ])


@callback(Output("papers-table", "data"), Output("papers-error", "children"),
          Input("papers-filter-paper", "value"), Input("papers-filter-status", "value"))
def fill_table(paper: str | None, status: str | None):
    try:
        rows = api().get("/papers", paper=paper, status=status)
    except ApiError as exc:
        return [], html.Div(format_detail(exc.detail), className="error")
    return [{**r, "link": f"[{r['id']}](/papers?entry={r['id']})"} for r in rows], None


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def _numbers_table(body: dict) -> html.Table:
    rows = [html.Tr([html.Th("quantity"), html.Th("published"), html.Th("computed"),
                     html.Th("")])]
    for r in body.get("side_by_side") or []:
        mark = {True: "✓", False: "✗"}.get(r["ok"], "")
        note = "" if r["computed_key"] in (None, r["key"]) else f" ({r['computed_key']})"
        rows.append(html.Tr([html.Td(r["key"]), html.Td(_fmt(r["published"])),
                             html.Td(_fmt(r["computed"]) + note), html.Td(mark)]))
    return html.Table(rows, className="numbers", id="papers-numbers")


def _entry_body(body: dict) -> list:
    verdict = body.get("verdict", "not yet run")
    colour = {"agrees": OK, "differs": DANGER}.get(verdict, MUTED)
    return [
        html.H3(f"{body['id']} · {body['title']}"),
        html.P(body["claim"], className="lede"),
        html.P([html.B("status: "), html.Span(body["status"], id="papers-status"),
                html.B("  verdict: "),
                html.Span(verdict, id="papers-verdict", style={"color": colour,
                                                                "fontWeight": 600})]),
        html.Ul([html.Li(r) for r in body.get("reasons") or []], id="papers-reasons"),
        card(_numbers_table(body), title="Published beside computed"),
        card(html.Ul([html.Li([html.B(e["what"]), " → ", e["correct"]])
                      for e in body.get("errata") or []] or [html.Li("none known")],
                     id="papers-errata"), title="Errata"),
        *([card(html.Ul([html.Li(m) for m in body["missing"]]), title="Missing here")]
          if body.get("missing") else []),
    ]


def _progress(body: dict) -> list:
    items = []
    for r in body.get("runs") or []:
        label = f"run {r['name']}: {r['status']}"
        if r["status"] in ("running", "queued") and r.get("total_epochs"):
            label += f" (epoch {r.get('current_epoch', 0)}/{r['total_epochs']})"
        items.append(html.Li([label, " · ", dcc.Link("open in Explore",
                                                     href=f"/explore?run={r['id']}")]
                             if r.get("id") else label))
    for j in body.get("jobs") or []:
        items.append(html.Li(f"lab {j['experiment']}: {j['status']}"
                             + (f" ({j['error']})" if j.get("error") else "")))
    if body.get("theory_results"):
        items.append(html.Li(f"{body['theory_results']} theory queries computed directly"))
    return [html.Ul(items, id="papers-runs")] if items else []


def embed_url(body: dict) -> str | None:
    """The product's own live view of an entry, with its state in the query."""
    scale = body.get("scale", "cpu")
    recipe = (body.get("scales") or {}).get(scale) or {}
    if body.get("run_ids"):
        page = "/calibration" if body.get("check") in CALIBRATION_CHECKS else "/explore"
        return f"{page}?run={body['run_ids'][0]}"
    if recipe.get("lab"):
        lab = dict(recipe["lab"][-1])
        return "/lab?" + urlencode({k: v for k, v in lab.items()})
    if recipe.get("theory"):
        t = recipe["theory"][0]
        return "/theory?" + urlencode({k: v for k, v in t.items()})
    return None


@callback(Output("papers-entry-body", "children"), Output("papers-progress", "children"),
          Output("papers-embed", "children"), Output("papers-poll", "disabled"),
          Input("papers-poll", "n_intervals"), Input("papers-scale", "value"),
          State("papers-entry", "data"), State("papers-embed", "children"),
          State("papers-launched", "data"))
def show_entry(_n, scale, entry: str | None, embedded, launched):
    if not entry:
        return no_update, no_update, no_update, True
    try:
        body = api().get(f"/papers/{entry}", scale=scale or "cpu")
        if launched == (scale or "cpu") and body.get("needs_launch"):
            # runs finished since the Run click: queue their evaluations (idempotent)
            api().launch_paper(entry, scale or "cpu")
            body = api().get(f"/papers/{entry}", scale=scale or "cpu")
    except ApiError as exc:
        return html.Div(format_detail(exc.detail), className="error"), [], [], True
    url = embed_url(body)
    embed = [card(html.Iframe(src=url, id="papers-frame",
                              style={"width": "100%", "height": "820px", "border": "0"}),
                  title="The live view")] if url else []
    busy = any(r["status"] in ("queued", "running") for r in body.get("runs") or []) or \
        any(j["status"] == "pending" for j in body.get("jobs") or []) or \
        bool(launched and body.get("needs_launch"))
    same = _frame_src(embedded) == url
    return _entry_body(body), _progress(body), (no_update if same else embed), not busy


def _frame_src(children) -> str | None:
    """The iframe's src in the current children (so polling never reloads the frame)."""
    try:
        return children[0]["props"]["children"][-1]["props"]["src"]
    except (TypeError, KeyError, IndexError):
        return None


@callback(Output("papers-run-status", "children"), Output("papers-poll", "disabled",
                                                          allow_duplicate=True),
          Output("papers-launched", "data"),
          Input("papers-run", "n_clicks"), State("papers-entry", "data"),
          State("papers-scale", "value"), prevent_initial_call=True)
def run_entry(_clicks, entry: str | None, scale: str):
    if not entry:
        return no_update, no_update, no_update
    try:
        out = api().launch_paper(entry, scale or "cpu")
    except ApiError as exc:
        return html.Span(format_detail(exc.detail), className="error"), True, None
    made = len(out["created_runs"]) + len(out["created_jobs"])
    return (f"launched {made} new run(s)/job(s); reusing "
            f"{len(out['runs']) + len(out['jobs']) - made} existing"), False, scale or "cpu"
