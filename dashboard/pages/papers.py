"""Papers: every figure and table of the source documents, published beside computed.

``/papers`` lists the catalogue (id, title, status, verdict, both from the store; the counts
of each verdict at the top, each a link that filters by it; filter by paper, status and
verdict: ``/papers?verdict=differs``); ``/papers?entry=000/fig1`` shows one entry: its
claim, the verdict and its reasons, the compared table (published, computed, tolerance and
its source; never empty: it says why nothing is compared), what was not compared and why,
the parts of the claim with ✓/✗ per seed with their margins and scatter, the errata, a Run
button (``POST
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
STATUSES = ["not-run", "running", "done", "needs-data", "needs-gpu", "out-of-scope"]
VERDICTS = ["matches", "claim-holds", "differs", "not-comparable", "not-run", "out-of-scope"]
COUNTED = VERDICTS[:5]  # the counts at the top of the list
VERDICT_COLOUR = {"matches": OK, "claim-holds": OK, "differs": DANGER}
CALIBRATION_CHECKS = ("calibration_direction", "ece_table")


def layout(entry: str | None = None, verdict: str | None = None, **_query: Any) -> html.Div:
    return html.Div([
        dcc.Store(id="papers-entry", data=entry),
        dcc.Store(id="papers-launched"),
        html.Div([html.H2("Papers"),
                  html.P("Every figure and table of the source documents: what the paper "
                         "printed, what mixscope computes, and where the paper is wrong. Run "
                         "any of them with one click.", className="lede")],
                 className="page-head"),
        html.Div(id="papers-list-view", hidden=bool(entry),
                 children=_list_view(verdict if verdict in VERDICTS else None)),
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


def _list_view(verdict: str | None) -> html.Div:
    return html.Div([
        html.P(id="papers-counts", className="lede"),
        card([
            html.Label("Paper", className="field-label"),
            dcc.Dropdown(id="papers-filter-paper", options=[{"label": lbl, "value": v}
                                                            for v, lbl in PAPERS],
                         placeholder="all papers", className="dropdown"),
            html.Label("Status", className="field-label"),
            dcc.Dropdown(id="papers-filter-status", options=STATUSES,
                         placeholder="any status", className="dropdown"),
            html.Label("Verdict", className="field-label"),
            dcc.Dropdown(id="papers-filter-verdict", options=VERDICTS, value=verdict,
                         placeholder="any verdict", className="dropdown"),
        ], className="controls-wide"),
        html.Div(id="papers-error"),
        dash_table.DataTable(
            id="papers-table",
            columns=[{"name": "id", "id": "link", "presentation": "markdown"},
                     {"name": "title", "id": "title"}, {"name": "status", "id": "status"},
                     {"name": "verdict", "id": "verdict"},
                     {"name": "error", "id": "error"}],
            data=[], markdown_options={"link_target": "_self"}, page_size=60,
            style_cell={"textAlign": "left", "whiteSpace": "normal", "height": "auto",
                        "fontFamily": "inherit", "fontSize": "0.9rem"},
            style_data_conditional=[
                {"if": {"filter_query": f'{{verdict}} = "{v}"', "column_id": "verdict"},
                 "color": c, "fontWeight": 600} for v, c in VERDICT_COLOUR.items()]),
    ])


def _counts(rows: list[dict]) -> list:
    """``n matches · n claim-holds · n differs · n not-comparable · n not-run``, each a link
    that filters the table by it."""
    out: list = []
    for v in COUNTED:
        if out:
            out.append(" · ")
        n = sum(1 for r in rows if r["verdict"] == v)
        out.append(dcc.Link(f"{n} {v}", href=f"/papers?verdict={v}", id=f"papers-count-{v}"))
    return out


@callback(Output("papers-table", "data"), Output("papers-error", "children"),
          Output("papers-counts", "children"),
          Input("papers-filter-paper", "value"), Input("papers-filter-status", "value"),
          Input("papers-filter-verdict", "value"))
def fill_table(paper: str | None, status: str | None, verdict: str | None):
    try:
        rows = api().get("/papers")
    except ApiError as exc:
        return [], html.Div(format_detail(exc.detail), className="error"), []
    shown = [r for r in rows if (not paper or r["paper"] == paper)
             and (not status or r["status"] == status)
             and (not verdict or r["verdict"] == verdict)]
    return ([{**r, "error": r.get("error") or "",
              "link": f"[{r['id']}](/papers?entry={r['id']})"} for r in shown], None,
            _counts(rows))


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def _compared_table(body: dict) -> html.Table:
    """Published beside computed for each compared key; never empty (it says why)."""
    rows = [html.Tr([html.Th("quantity"), html.Th("published"), html.Th("computed"),
                     html.Th("tolerance"), html.Th("source"), html.Th("")])]
    for c in body.get("compared") or []:
        tol = "exact" if c["tolerance"] is None else f"±{_fmt(c['tolerance'])}"
        rows.append(html.Tr([html.Td(c["key"]), html.Td(_fmt(c["published"])),
                             html.Td(_fmt(c["computed"])), html.Td(tol),
                             html.Td(c["tolerance_source"]),
                             html.Td("✓" if c["within"] else "✗")]))
    if len(rows) == 1:
        why = body.get("scale_note") or (body.get("reasons") or ["nothing was compared"])[0]
        if not body.get("published"):
            why = "the paper prints no number for this figure; its claim is tested part " \
                  "by part below" + (f" ({body['scale_note']})" if body.get("scale_note")
                                     else "")
        rows.append(html.Tr([html.Td(f"nothing compared at {body.get('scale', 'cpu')} "
                                     f"scale: {why}", colSpan=6)]))
    return html.Table(rows, className="numbers", id="papers-compared")


def _not_compared(body: dict) -> html.Ul:
    pub = body.get("published") or {}
    items = [html.Li([html.B(r["key"]), f" ({_fmt(pub.get(r['key']))}): {r['reason']}"])
             for r in body.get("not_compared") or []]
    empty = "every published number was compared" if pub else \
        "the paper prints no number for this entry"
    return html.Ul(items or [html.Li(empty)],
                   id="papers-not-compared")


def _parts(body: dict) -> html.Table:
    """The claim's parts: ✓/✗ overall and per seed, their margins and the seeds' scatter."""
    seeds = body.get("seeds") or []
    rows = [html.Tr([html.Th(""), html.Th("part"), html.Th("expected"),
                     *[html.Th(f"seed {s}") for s in seeds], html.Th("min margin"),
                     html.Th("scatter")])]
    for p in body.get("parts") or []:
        cells = []
        for got, held in zip(p["computed_by_seed"], p["held_by_seed"]):
            cells.append(html.Td(f"{'✓' if held else '✗'} {_fmt(got)}"))
        rows.append(html.Tr([html.Td("✓" if p["held"] else "✗"), html.Td(p["key"]),
                             html.Td(_fmt(p["expected"])), *cells,
                             html.Td(_fmt(min(p["margins"])) if p.get("margins") else "–"),
                             html.Td(_fmt(p.get("scatter")))]))
    if len(rows) == 1:
        rows.append(html.Tr([html.Td("no part of the claim is tested at this scale"
                                     + (f": {body['scale_note']}" if body.get("scale_note")
                                        else ""), colSpan=5 + len(seeds))]))
    return html.Table(rows, className="numbers", id="papers-parts")


def _entry_body(body: dict) -> list:
    verdict = body.get("verdict", "not-run")
    colour = VERDICT_COLOUR.get(verdict, MUTED)
    seeds = body.get("seeds") or []
    differs = body.get("differs") or {}
    return [
        html.H3(f"{body['id']} · {body['title']}"),
        html.P(body["claim"], className="lede"),
        html.P([html.B("status: "), html.Span(body["status"], id="papers-status"),
                html.B("  verdict: "),
                html.Span(verdict, id="papers-verdict", style={"color": colour,
                                                                "fontWeight": 600}),
                *([html.Span(f" ({differs['kind']})", id="papers-differs-kind")]
                  if differs else []),
                html.B("  seeds: "),
                html.Span(", ".join(map(str, seeds)) or "–", id="papers-seeds")]),
        *([html.P(f"error: {body['error']}", className="error", id="papers-check-error")]
          if body.get("error") else []),
        html.Ul([html.Li(r) for r in body.get("reasons") or []], id="papers-reasons"),
        *([html.P([html.B(f"why it differs ({differs['kind']}): "), differs["evidence"]],
                  id="papers-differs-evidence")] if differs.get("evidence") else []),
        html.Div(card(_compared_table(body), title="Compared with the paper"),
                 id="papers-numbers"),
        card(_not_compared(body), title="Not compared, and why"),
        card(_parts(body), title="The claim, part by part (✓ held, ✗ failed)"),
        card(html.Ul([html.Li([html.B(e["what"]), " → ", e["correct"]])
                      for e in body.get("errata") or []] or [html.Li("none known")],
                     id="papers-errata"), title="Errata"),
        *([card(html.Ul([html.Li(m) for m in body["missing"]]), title="Missing here")]
          if body.get("missing") else []),
    ]


def _progress(body: dict) -> list:
    items = []
    for r in body.get("runs") or []:
        label = f"run {r['name']} (seed {r.get('seed', 0)}): {r['status']}"
        if r.get("shared_with"):
            label += f" · the same run is evidence for {', '.join(r['shared_with'])}"
        if r["status"] in ("running", "queued") and r.get("total_epochs"):
            label += f" (epoch {r.get('current_epoch', 0)}/{r['total_epochs']})"
        items.append(html.Li([label, " · ", dcc.Link("open in Explore",
                                                     href=f"/explore?run={r['id']}")]
                             if r.get("id") else label))
    for j in body.get("jobs") or []:
        items.append(html.Li(f"lab {j['experiment']} (seed {j.get('seed', 0)}): {j['status']}"
                             + (f" ({j['error']})" if j.get("error") else "")))
    if body.get("theory_results"):
        items.append(html.Li(f"{body['theory_results']} theory queries computed directly"))
    grid = grid_url(body)
    if grid:
        items.append(html.Li(dcc.Link(f"open these {grid.count(',') + 1} runs as a sweep grid",
                                      href=grid, id="papers-grid")))
    return [html.Ul(items, id="papers-runs")] if items else []


#: the most panels /grid lays out
GRID_MAX_RUNS = 36


def grid_url(body: dict) -> str | None:
    """The entry's runs side by side on /grid (one epoch slider over every panel), when it
    has at least two of them: a sweep's figure or table as one live view."""
    ids = list(dict.fromkeys(r["id"] for r in body.get("runs") or [] if r.get("id")))
    if len(ids) < 2:
        return None
    return "/grid?runs=" + ",".join(ids[:GRID_MAX_RUNS])


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
