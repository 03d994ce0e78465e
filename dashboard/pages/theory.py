"""Theory: the optimal features of the unconstrained features model under mixup
(Pushing Boundaries, Thm 3.1), redrawn live as m, C, λ_H, α, the number of λ and the
amplification change."""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, callback, dcc, html
from plotly.subplots import make_subplots

from dashboard.client import ApiError, decode_array, format_detail
from dashboard.common import ACCENT, INK, LAMBDA_SCALE, MUTED, SAME_CLASS, api, blank_figure, \
    card, style_figure

dash.register_page(__name__, path="/theory", name="Theory", title="mixscope · Theory", order=4)

MAX_DRAWN = 3000  # points drawn in the simplex (the loss uses every λ)


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


def simplex_figure(data: dict) -> go.Figure:
    proj = data.get("projection") or {}
    pts = decode_array(proj.get("points")).reshape(-1, 2).astype(float)
    lam = decode_array(proj.get("lam")).astype(float).ravel()
    kind = decode_array(proj.get("kind")).ravel() if proj.get("kind") is not None else \
        np.full(len(pts), 2)
    verts = np.asarray(proj.get("vertices") or [], dtype=float).reshape(-1, 2)
    fig = go.Figure()
    diff = np.flatnonzero(kind == 2)
    if len(diff) > MAX_DRAWN:  # a fixed stride keeps the picture stable as sliders move
        diff = diff[:: int(np.ceil(len(diff) / MAX_DRAWN))]
    fig.add_trace(go.Scattergl(
        x=pts[diff, 0], y=pts[diff, 1], mode="markers", name="different class",
        marker=dict(color=lam[diff], colorscale=LAMBDA_SCALE, cmin=0, cmax=1, size=5,
                    colorbar=dict(title=dict(text="λ", side="top"), thickness=12, len=0.6,
                                  outlinewidth=0)),
        customdata=lam[diff], hovertemplate="λ = %{customdata:.3f}<extra></extra>"))
    same = np.flatnonzero(kind == 1)
    if len(same):
        fig.add_trace(go.Scattergl(x=pts[same, 0], y=pts[same, 1], mode="markers",
                                   name="same class", hoverinfo="skip",
                                   marker=dict(color=SAME_CLASS, size=11, symbol="diamond",
                                               line=dict(color="white", width=1))))
    R = 1.0
    if len(verts) == 3:
        # The ETF directions are unit vectors in this frame; draw them at the length of the
        # same-class optimum so arrows and features share one scale.
        reach = float(np.hypot(pts[same, 0], pts[same, 1]).mean()) if len(same) else 1.0
        tips = verts / np.hypot(verts[:, :1], verts[:, 1:]) * reach
        fig.add_trace(go.Scatter(x=[*tips[:, 0], tips[0, 0]], y=[*tips[:, 1], tips[0, 1]],
                                 mode="lines", line=dict(color="#adb5bd", dash="dot", width=1),
                                 hoverinfo="skip", showlegend=False))
        R = reach
        for k, v in enumerate(tips):
            fig.add_annotation(x=v[0], y=v[1], ax=0, ay=0, xref="x", yref="y", axref="x",
                               ayref="y", showarrow=True, arrowhead=2, arrowwidth=2,
                               arrowcolor="black", text="")
            fig.add_annotation(x=v[0] * 1.16, y=v[1] * 1.16, text=f"<b>class {'abc'[k]}</b>",
                               showarrow=False, font=dict(size=13, color=INK))
    if len(pts):
        R = max(R, float(np.abs(pts).max()))
    R *= 1.25
    fig.update_xaxes(range=[-R, R], visible=False)
    fig.update_yaxes(range=[-R, R], visible=False, scaleanchor="x", scaleratio=1)
    style_figure(fig, height=480)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=-0.02, yanchor="top"),
                      uirevision="theory")
    return fig


def curves_figure(data: dict) -> go.Figure:
    lam = np.asarray(data.get("lambdas") or [], dtype=float)
    dc = data.get("different_class") or {}
    order = np.argsort(lam)
    if len(order) > 1500:
        order = order[:: int(np.ceil(len(order) / 1500))]
    x = lam[order]

    def col(key):
        v = dc.get(key)
        return np.asarray(v, dtype=float)[order] if v is not None and len(v) == len(lam) else None

    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=["K_λ", "logit ⟨w_i, h⟩", "coefficients on w_i, w_i'"])
    for c, key, name, colour in ((1, "K", "K_λ", ACCENT), (2, "logit_i", "x = ⟨w_i, h⟩", INK),
                                 (3, "coef_i", "coef on w_i", ACCENT),
                                 (3, "coef_j", "coef on w_i'", SAME_CLASS)):
        y = col(key)
        if y is not None:
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name,
                                     line=dict(color=colour, width=2)), row=1, col=c)
    if isinstance(data.get("K_same"), (int, float)):
        fig.add_hline(y=data["K_same"], line=dict(color=MUTED, dash="dash", width=1),
                      row=1, col=1, annotation_text="K (same class)",
                      annotation_font=dict(size=10, color=MUTED))
    fig.update_xaxes(title_text="λ", range=[0, 1])
    style_figure(fig, height=320)
    fig.update_layout(legend=dict(orientation="h", y=-0.25, yanchor="top"),
                      margin=dict(t=40, b=60))
    for ann in fig.layout.annotations:
        if ann.text in ("K_λ", "logit ⟨w_i, h⟩", "coefficients on w_i, w_i'"):
            ann.font = dict(size=12, color=INK)
    return fig


@callback(Output("th-m-value", "children"), Output("th-c-value", "children"),
          Output("th-lh-value", "children"), Output("th-alpha-value", "children"),
          Output("th-n-value", "children"),
          Input("th-m", "value"), Input("th-c", "value"), Input("th-lh", "value"),
          Input("th-alpha", "value"), Input("th-n", "value"))
def show_values(m, c, lh, alpha, n):
    return f"{m:g}", f"{int(c)}", f"{10 ** lh:.1e}", f"{10 ** alpha:.3g}", f"{int(n)}"


@callback(Output("th-simplex", "figure"), Output("th-curves", "figure"),
          Output("ufm-loss", "children"), Output("th-details", "children"),
          Input("th-m", "value"), Input("th-c", "value"), Input("th-lh", "value"),
          Input("th-alpha", "value"), Input("th-n", "value"), Input("th-amplify", "value"))
def solve(m, c, lh, alpha, n, amplify):
    params = theory_params(m, c, lh, alpha, n, amplify)
    try:
        data = api().theory_ufm(**params)
    except ApiError as exc:
        msg = format_detail(exc.detail)
        return blank_figure(msg, 480), blank_figure("", 320), "–", msg
    loss = data.get("mean_loss_triple")
    same = data.get("same_class") or {}
    details = [
        html.Div(f"K (same class) = {data.get('K_same', float('nan')):.5g}"),
        html.Div(f"same-class loss = {same.get('loss', float('nan')):.5g}"),
        html.Div(f"{len(data.get('lambdas') or [])} λ ~ Beta({params['alpha']:g}, "
                 f"{params['alpha']:g})" + (" · amplified" if params["amplify"] else "")),
    ]
    return (simplex_figure(data), curves_figure(data),
            f"{loss:.5f}" if isinstance(loss, (int, float)) else "–", details)
