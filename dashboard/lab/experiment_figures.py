# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Figures and tables of the Lab's 002 experiments, drawn from the stored results the API
answers (``/api/lab/alternating-line``, ``/api/lab/two-moons``): class probabilities at the
alternating line's points beside Lemma 2.3 and the paper's Table 1, training-error curves, and
the two moons' averaged decision regions."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import html
from plotly.subplots import make_subplots

from dashboard.common import ACCENT, INK, MUTED, SAME_CLASS, style_figure
from dashboard.lab.widgets import legend_below
from dashboard.palette import DANGER, OK, SERIES

METHOD_COLOURS = {"mixup": ACCENT, "erm": SAME_CLASS}
METHOD_NAMES = {"mixup": "mixup", "erm": "ERM"}
OPTIMAL_COLOUR = OK


# --------------------------------------------------------------------------- alternating line
def line_probs_figure(res: dict) -> go.Figure:
    """p(class 1) at every point (k = 2) or p(own label) (k > 2): markers with ±std bars per
    method, Lemma 2.3's h_ε as a curve (k = 2), the paper's Table 1 as diamonds."""
    pts = res["points"]
    labels = res["labels"]
    k = len(res["mixup"]["prob_mean"][0])
    fig = go.Figure()
    col = (lambda i: 0) if k == 2 else (lambda i: labels[i] - 1)
    what = "p(class 1)" if k == 2 else "p(own class)"
    for off, m in ((-0.06, "mixup"), (0.06, "erm")):
        r = res[m]
        fig.add_trace(go.Scatter(
            x=[p + off for p in pts], y=[r["prob_mean"][i][col(i)] for i in range(len(pts))],
            error_y=dict(type="data", array=[r["prob_std"][i][col(i)] for i in range(len(pts))],
                         visible=True, thickness=1.5, width=5),
            mode="markers", name=f"{METHOD_NAMES[m]} (train error {r['train_error']:.2f})",
            marker=dict(color=METHOD_COLOURS[m], size=10),
            hovertemplate=f"{METHOD_NAMES[m]}: {what} %{{y:.3f}}<extra></extra>"))
    opt = res.get("mixup_optimal")
    if opt and k == 2:
        label = opt.get("eps_label") or f"ε = {opt['eps']:g}"
        fig.add_trace(go.Scatter(x=opt["x"], y=[None if p[0] is None else p[0]
                                                for p in opt["prob"]],
                                 mode="lines", name=f"Lemma 2.3 h_ε, {label}",
                                 line=dict(color=OPTIMAL_COLOUR, width=2), connectgaps=False,
                                 hovertemplate="h_ε(x=%{x:.2f}) = %{y:.3f}<extra></extra>"))
        limit = (opt.get("limit") or {}).get("prob")
        if limit:
            fig.add_trace(go.Scatter(
                x=opt["x"], y=[None if p[0] is None else p[0] for p in limit], mode="lines",
                name="h_ε as ε → 0 (Prop. 2.8: fits every point)", connectgaps=False,
                line=dict(color=OPTIMAL_COLOUR, width=1.5, dash="dash"),
                hovertemplate="limit h_0(x=%{x:.2f}) = %{y:.3f}<extra></extra>"))
    paper = res.get("paper")
    if paper:
        fig.add_trace(go.Scatter(x=pts, y=paper["class1_prob"], mode="markers",
                                 name="paper, Table 1 (mixup)",
                                 marker=dict(symbol="diamond-open", size=13, color=INK)))
    fig.add_hline(y=0.5, line=dict(color=MUTED, dash="dot", width=1))
    for x, lab in zip(pts, labels):
        fig.add_annotation(x=x, y=1.08, text=f"class {lab}", showarrow=False,
                           font=dict(size=11, color=MUTED), yref="y")
    fig.update_yaxes(range=[-0.05, 1.14], title_text=what)
    fig.update_xaxes(title_text="point", tickvals=pts)
    return legend_below(style_figure(fig, height=420))



def error_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    for m in ("mixup", "erm"):
        c = res[m]["error_curve"]
        ep, mean, std = c["epoch"], np.array(c["mean"]), np.array(c["std"])
        colour = METHOD_COLOURS[m]
        fig.add_trace(go.Scatter(x=ep + ep[::-1], y=list(mean + std) + list((mean - std)[::-1]),
                                 fill="toself", fillcolor=colour, opacity=0.18, line=dict(width=0),
                                 hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=ep, y=mean, mode="lines", name=METHOD_NAMES[m],
                                 line=dict(color=colour, width=2),
                                 hovertemplate="epoch %{x}: error %{y:.3f}<extra></extra>"))
    fig.update_yaxes(title_text="training error", range=[-0.02, 1.02])
    fig.update_xaxes(title_text="epoch")
    return style_figure(fig, height=380)


def line_table(res: dict) -> html.Table:
    k = len(res["mixup"]["prob_mean"][0])
    head = ["point", "label"] + [f"{METHOD_NAMES[m]} p(class {c + 1})" for m in ("mixup", "erm")
                                 for c in range(k)]
    mo = res.get("mixup_optimal") or {}
    opt = mo.get("at_points")
    limit = (mo.get("limit") or {}).get("at_points")
    paper = (res.get("paper") or {}).get("class1_prob")
    if opt:
        head.append(f"Lemma 2.3 p(class 1), {mo.get('eps_label') or mo.get('eps')}")
    if limit:
        head.append("ε → 0 limit p(class 1)")
    if paper:
        head.append("paper p(class 1)")
    rows = []
    for i, (x, lab) in enumerate(zip(res["points"], res["labels"])):
        cells = [f"{x:g}", str(lab)]
        for m in ("mixup", "erm"):
            r = res[m]
            cells += [f"{r['prob_mean'][i][c]:.3f} ± {r['prob_std'][i][c]:.3f}" for c in range(k)]
        if opt:
            cells.append("–" if opt[i][0] is None else f"{opt[i][0]:.3f}")
        if limit:
            cells.append("–" if limit[i][0] is None else f"{limit[i][0]:.3f}")
        if paper:
            cells.append(f"{paper[i]:.3f}")
        rows.append(html.Tr([html.Td(c) for c in cells]))
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
                      className="table", id="lab-line-table-el")



# --------------------------------------------------------------------------- two moons
def moons_figure(res: dict) -> go.Figure:
    gx, gy = res["grid"]["x"], res["grid"]["y"]
    pts = np.array(res["points"])
    labels = np.array(res["labels"])
    loop = "authors' loop (bug)" if res["settings"].get("loop") == "authors" else "correct loop"
    titles = [f"ERM (linear agreement {res['erm']['decision']['linear_agreement']:.3f})",
              (f"mixup α={res['settings']['alpha']:g}, {loop} (linear agreement "
               f"{res['mixup']['decision']['linear_agreement']:.3f})"),
              (f"Lemma 2.3 h_ε (ε={res['mixup_optimal']['eps']:g}"
               f"{', tuned' if res['mixup_optimal'].get('eps_tuned') else ''})")]
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.04,
                        shared_yaxes=True)
    def hard(m: str) -> list:  # the paper's figure: hard regions averaged over runs
        d = res[m]["decision"]
        return d.get("hard_mean", d["prob_mean"])

    fields = [hard("erm"), hard("mixup"), res["mixup_optimal"]["prob1"]]
    for j, z in enumerate(fields, start=1):
        fig.add_trace(go.Contour(x=gx, y=gy, z=z, zmin=0, zmax=1, colorscale="RdBu",
                                 contours=dict(start=0, end=1, size=0.1), line=dict(width=0.5),
                                 showscale=j == 3, colorbar=dict(title="class 1", len=0.9),
                                 hovertemplate=("h_ε p(class 1) %{z:.3f}" if j == 3 else
                                                "runs predicting class 1: %{z:.2f}")
                                 + "<extra></extra>",
                                 connectgaps=False, showlegend=False), row=1, col=j)
        fig.add_trace(go.Contour(x=gx, y=gy, z=z, showscale=False, contours=dict(
            start=0.5, end=0.5, size=1, coloring="none"), line=dict(color=INK, width=2),
            hoverinfo="skip", connectgaps=False, showlegend=False), row=1, col=j)
        for lab, colour in ((1, DANGER), (2, SERIES[12])):
            sel = labels == lab
            fig.add_trace(go.Scatter(x=pts[sel, 0], y=pts[sel, 1], mode="markers",
                                     name=f"class {lab}", showlegend=j == 1,
                                     marker=dict(color=colour, size=4,
                                                 line=dict(color="white", width=0.5)),
                                     hoverinfo="skip"), row=1, col=j)
    fig.update_xaxes(range=[gx[0], gx[-1]])
    fig.update_yaxes(range=[gy[0], gy[-1]])
    return legend_below(style_figure(fig, height=460))

