# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Theory: the optimal features of the unconstrained features model under mixup
(Pushing Boundaries, Thm 3.1), redrawn live as m, C, λ_H, α, the number of λ and the
amplification change."""

from __future__ import annotations

import functools
from typing import Any

import dash
import numpy as np
from dash import Input, Output, callback, clientside_callback, dcc, html

from dashboard.client import ApiError, decode_array, format_detail
from dashboard.common import (
    ACCENT,
    FONT,
    INK,
    LAMBDA_SCALE,
    MUTED,
    SAME_CLASS,
    api,
    blank_figure,
    card,
)
from dashboard.palette import FAINT

dash.register_page(__name__, path="/theory", name="Theory", title="mixscope · Theory", order=4)

MAX_DRAWN = 1500  # points drawn in the simplex (the loss uses every λ; the curve is 1-D)
# λ the API returns for the picture and the curves (max_points: an even stride over the sorted
# λ; the readouts still use every λ). 5000 λ made a 1.7 MB answer that cost more to encode,
# send and decode than the optimum costs to solve.
DRAWN_LAMBDAS = 400


def _slider(id_: str, label: str, lo: float, hi: float, step: float, value: float,
            marks: dict, help: str = "") -> html.Div:
    return html.Div([
        html.Div([html.Span(label, className="field-label"),
                  html.Span(id=f"{id_}-value", className="slider-value")], className="slider-head"),
        dcc.Slider(id=id_, min=lo, max=hi, step=step, value=value, marks=marks,
                   updatemode="mouseup", className="slider"),
        html.Div(help, className="field-help") if help else None,
    ], className="slider-field")


def layout(**_query: Any) -> html.Div:
    return html.Div([
        html.Div([html.H2("Theory"),
                  html.P("Where the unconstrained features model puts mixup features when the "
                         "classifier is a simplex ETF with row norm m and features pay λ_H/2 ‖h‖². "
                         "Move a slider: the optimum and its loss are recomputed.",
                         className="lede")], className="page-head"),
        html.Div([
            card([
                _slider("th-m", "m (ETF row norm)", 0.5, 10, 0.1, 3.0,
                        {1: "1", 3: "3", 5: "5", 10: "10"}),
                _slider("th-c", "C (number of classes)", 3, 100, 1, 10,
                        {3: "3", 10: "10", 50: "50", 100: "100"}),
                _slider("th-lh", "λ_H (feature weight decay)", -8, -1, 0.1, -6,
                        {k: f"1e{k}" for k in range(-8, 0)}),
                _slider("th-alpha", "α of Beta(α, α) for λ", -1, 1.5, 0.05, 0,
                        {-1: "0.1", 0: "1", 1: "10", 1.5: "32"}),
                _slider("th-n", "number of λ", 100, 5000, 100, 5000,
                        {100: "100", 1000: "1k", 2500: "2.5k", 5000: "5k"}),
                dcc.Checklist(id="th-amplify", options=[
                    {"label": " amplified features (App. A.2)", "value": "amp"}], value=[],
                    className="checklist"),
                html.Div([
                    html.Div("mean loss over a triple", className="readout-label"),
                    html.Div(id="ufm-loss", className="readout-value", children="…"),
                    html.Div(id="th-details", className="readout-details"),
                ], className="readout"),
            ], className="controls"),
            html.Div([
                card(dcc.Graph(id="th-simplex", config={"displaylogo": False, "displayModeBar": "hover",
                                                        "toImageButtonOptions": {
                                                            "format": "png", "scale": 2,
                                                            "filename": "mixscope-ufm"}},
                               figure=blank_figure("Loading…", 480)),
                     title="Optimal features of three classes", className="plot-card"),
                dcc.Store(id="th-curves-data"),
                card(dcc.Graph(id="th-curves", config={"displaylogo": False, "displayModeBar": "hover"},
                               figure=blank_figure("", 320)),
                     title="Against λ: K_λ, the logit on class i and the feature coefficients"),
            ], className="main-col"),
        ], className="explore-grid"),
    ])


def theory_params(m, c, lh_log10, alpha_log10, n, amplify) -> dict:
    return dict(m=float(m), num_classes=int(c), lambda_h=float(10.0 ** float(lh_log10)),
                alpha=float(round(10.0 ** float(alpha_log10), 4)), n_lambda=int(n), seed=0,
                amplify=bool(amplify))


# The figures are plain dicts (no plotly.graph_objects validation): building them is on the
# critical path of every slider move.
_AXIS = {"visible": False}
_FONT = {"family": FONT, "color": INK, "size": 13}


def _r(a: np.ndarray, nd: int = 4) -> list:
    return np.round(np.asarray(a, dtype=float), nd).tolist()


def simplex_figure(data: dict) -> dict:
    """The optimal features of a triple: different-class mixes coloured by λ, the
    same-class optimum as diamonds, the ETF directions as black arrows."""
    proj = data.get("projection") or {}
    pts = decode_array(proj.get("points")).reshape(-1, 2).astype(float)
    lam = decode_array(proj.get("lam")).astype(float).ravel()
    kind = decode_array(proj.get("kind")).ravel() if proj.get("kind") is not None else \
        np.full(len(pts), 2)
    verts = np.asarray(proj.get("vertices") or [], dtype=float).reshape(-1, 2)
    same = np.flatnonzero(kind == 1)
    # The ETF directions are unit vectors in this frame; draw them at the length of the
    # same-class optimum so arrows and features share one scale. Everything is divided by
    # the view's half-width so the layout never changes (a slider move is a restyle only).
    reach = float(np.hypot(pts[same, 0], pts[same, 1]).mean()) if len(same) else 1.0
    R = 1.25 * max(reach, float(np.abs(pts).max()) if len(pts) else 1.0) or 1.0
    pts = pts / R
    diff = np.flatnonzero(kind == 2)
    if len(diff) > MAX_DRAWN:  # a fixed stride keeps the picture stable as sliders move
        diff = diff[:: int(np.ceil(len(diff) / MAX_DRAWN))]
    traces: list[dict] = [{
        "type": "scattergl", "mode": "markers", "name": "different class",
        "x": _r(pts[diff, 0]), "y": _r(pts[diff, 1]), "customdata": _r(lam[diff], 3),
        "hovertemplate": "λ = %{customdata}<extra></extra>",
        "marker": {"color": _r(lam[diff], 3), "colorscale": LAMBDA_SCALE, "cmin": 0, "cmax": 1,
                   "size": 5, "colorbar": {"title": {"text": "λ", "side": "top"},
                                           "thickness": 12, "len": 0.6, "outlinewidth": 0}}}]
    if len(same):  # one per λ and class, all at the class's optimum: each drawn once
        one = np.unique(np.round(pts[same], 4), axis=0)
        traces.append({"type": "scattergl", "mode": "markers", "name": "same class",
                       "x": _r(one[:, 0]), "y": _r(one[:, 1]), "hoverinfo": "skip",
                       "marker": {"color": SAME_CLASS, "size": 11, "symbol": "diamond",
                                  "line": {"color": "white", "width": 1}}})
    if len(verts) == 3:
        tips = verts / np.hypot(verts[:, :1], verts[:, 1:]) * reach / R
        traces.append({"type": "scatter", "mode": "lines", "hoverinfo": "skip",
                       "showlegend": False, "x": _r([*tips[:, 0], tips[0, 0]]),
                       "y": _r([*tips[:, 1], tips[0, 1]]),
                       "line": {"color": FAINT, "dash": "dot", "width": 1}})
        ax, ay = [], []
        for t in tips:
            ax += [0.0, float(t[0]), None]
            ay += [0.0, float(t[1]), None]
        traces.append({"type": "scatter", "mode": "lines+markers", "hoverinfo": "skip",
                       "showlegend": False, "x": ax, "y": ay, "name": "ETF",
                       "line": {"color": "black", "width": 2},
                       "marker": {"symbol": "arrow", "angleref": "previous",
                                  "size": [0, 16, 0] * 3, "color": "black"}})
        traces.append({"type": "scatter", "mode": "text", "hoverinfo": "skip",
                       "showlegend": False, "x": _r(tips[:, 0] * 1.16),
                       "y": _r(tips[:, 1] * 1.16),
                       "text": [f"<b>class {c}</b>" for c in "abc"], "textfont": _FONT})
    R = 1.0
    return {"data": traces, "layout": {
        "height": 480, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {**_AXIS, "range": [-R, R]},
        "yaxis": {**_AXIS, "range": [-R, R], "scaleanchor": "x", "scaleratio": 1},
        "legend": {"orientation": "h", "y": -0.02, "yanchor": "top"}, "font": _FONT,
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "white", "uirevision": "theory"}}


def curves_figure(data: dict) -> dict:
    """K_λ, the logit on class i, and the coefficients on w_i and w_i' against λ."""
    lam = np.asarray(data.get("lambdas") or [], dtype=float)
    dc = data.get("different_class") or {}
    order = np.argsort(lam)
    if len(order) > 400:
        order = order[:: int(np.ceil(len(order) / 400))]
    x = _r(lam[order])

    def col(key):
        v = dc.get(key)
        return _r(np.asarray(v, dtype=float)[order], 5) \
            if v is not None and len(v) == len(lam) else None

    titles = ["K_λ", "logit ⟨w_i, h⟩", "coefficients on w_i, w_i'"]
    traces = []
    for c, key, name, colour in ((1, "K", "K_λ", ACCENT), (2, "logit_i", "x = ⟨w_i, h⟩", INK),
                                 (3, "coef_i", "coef on w_i", ACCENT),
                                 (3, "coef_j", "coef on w_i'", SAME_CLASS)):
        y = col(key)
        if y is not None:
            traces.append({"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y,
                           "xaxis": f"x{c if c > 1 else ''}", "yaxis": f"y{c if c > 1 else ''}",
                           "line": {"color": colour, "width": 2}})
    layout: dict[str, Any] = {
        "height": 320, "margin": {"l": 50, "r": 20, "t": 40, "b": 60}, "font": _FONT,
        "template": "plotly_white", "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "white", "legend": {"orientation": "h", "y": -0.25, "yanchor": "top"},
        "annotations": [], "shapes": []}
    gap, width = 0.08, (1 - 2 * 0.08) / 3
    for k in range(3):
        sfx = str(k + 1) if k else ""
        x0 = k * (width + gap)
        layout[f"xaxis{sfx}"] = {"domain": [x0, x0 + width], "range": [0, 1], "title": "λ",
                                 "anchor": f"y{sfx}"}
        layout[f"yaxis{sfx}"] = {"anchor": f"x{sfx}"}
        layout["annotations"].append({"text": titles[k], "x": x0 + width / 2, "y": 1.02,
                                      "xref": "paper", "yref": "paper", "showarrow": False,
                                      "yanchor": "bottom", "font": {"size": 12, "color": INK}})
    if isinstance(data.get("K_same"), (int, float)):
        layout["shapes"].append({"type": "line", "xref": "x", "yref": "y", "x0": 0, "x1": 1,
                                 "y0": data["K_same"], "y1": data["K_same"],
                                 "line": {"color": MUTED, "dash": "dash", "width": 1}})
        layout["annotations"].append({"text": "K (same class)", "x": 1, "y": data["K_same"],
                                      "xref": "x", "yref": "y", "showarrow": False,
                                      "xanchor": "right", "yanchor": "bottom",
                                      "font": {"size": 10, "color": MUTED}})
    return {"data": traces, "layout": layout}


# The values beside the sliders are formatted in the browser: no server request per move
# besides the solve.
clientside_callback(
    """function (m, c, lh, alpha, n) {
        const g = (v) => String(Number(v.toPrecision(6)));
        const e = (v) => { const [a, b] = v.toExponential(1).split('e');
                           return a + 'e' + (b[0] === '-' ? '-' : '+') + b.replace(/^[-+]/, '').padStart(2, '0'); };
        return [g(m), String(Math.trunc(c)), e(Math.pow(10, lh)),
                String(Number(Math.pow(10, alpha).toPrecision(3))), String(Math.trunc(n))];
    }""",
    Output("th-m-value", "children"), Output("th-c-value", "children"),
    Output("th-lh-value", "children"), Output("th-alpha-value", "children"),
    Output("th-n-value", "children"),
    Input("th-m", "value"), Input("th-c", "value"), Input("th-lh", "value"),
    Input("th-alpha", "value"), Input("th-n", "value"),
)


@functools.lru_cache(maxsize=128)
def _solved(key: tuple) -> tuple[dict, dict, str, tuple[str, ...]]:
    """The optimum's figures and readouts for one parameter set (sorted ``(name, value)``
    pairs), cached: moving a slider back to a value it held redraws without a request.
    An ``ApiError`` is raised, so it is never cached."""
    params = dict(key)
    data = api().theory_ufm(**params, max_points=DRAWN_LAMBDAS)
    loss = data.get("mean_loss_triple")
    same = data.get("same_class") or {}
    details = (f"K (same class) = {data.get('K_same', float('nan')):.5g}",
               f"same-class loss = {same.get('loss', float('nan')):.5g}",
               f"{params['n_lambda']} λ ~ Beta({params['alpha']:g}, {params['alpha']:g})"
               + (" · amplified" if params["amplify"] else ""))
    return (simplex_figure(data), curves_figure(data),
            f"{loss:.5f}" if isinstance(loss, (int, float)) else "–", details)


@callback(Output("th-simplex", "figure"), Output("th-curves-data", "data"),
          Output("ufm-loss", "children"), Output("th-details", "children"),
          Input("th-m", "value"), Input("th-c", "value"), Input("th-lh", "value"),
          Input("th-alpha", "value"), Input("th-n", "value"), Input("th-amplify", "value"))
def solve(m, c, lh, alpha, n, amplify):
    params = theory_params(m, c, lh, alpha, n, amplify)
    try:
        simplex, curves, loss, details = _solved(tuple(sorted(params.items())))
    except ApiError as exc:
        msg = format_detail(exc.detail)
        return blank_figure(msg, 480), blank_figure("", 320), "–", msg
    return simplex, curves, loss, [html.Div(d) for d in details]


# The curves arrive with the same response but are drawn after the simplex has painted (two
# animation frames, then a task): drawn at once, their SVG subplots held the main thread and
# the simplex's paint waited for them (measured: 100 ms of a 180 ms move).
clientside_callback(
    """function (fig) {
        if (!fig) { return window.dash_clientside.no_update; }
        return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(
            () => setTimeout(() => resolve(fig), 0))));
    }""",
    Output("th-curves", "figure"), Input("th-curves-data", "data"), prevent_initial_call=True,
)
