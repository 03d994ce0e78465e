# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Server-side Plotly figures shared by several pages (the Explore page draws its main
simplex in the browser, see ``assets/explore.js``; these are the others)."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.client import decode_array
from dashboard.common import CLEAN, INK, LAMBDA_SCALE, MUTED, SAME_CLASS, style_figure


def decode_projection(proj: dict) -> dict[str, Any]:
    """A projection JSON with its b64 arrays decoded: ``points`` (n, 2), ``lam``, ``kind``,
    ``class_a``, ``class_b``, ``index_a``, ``index_b`` (n,); other fields unchanged."""
    out = dict(proj)
    for key in ("points", "lam", "kind", "class_a", "class_b", "index_a", "index_b"):
        if key in proj and proj[key] is not None:
            out[key] = decode_array(proj[key])
    if "points" in out:
        out["points"] = np.asarray(out["points"], dtype=np.float64).reshape(-1, 2)
    return out


def lam_on_lower(proj: dict) -> np.ndarray:
    """λ as the weight on the lower class of each pair (the API's λ weighs partner a)."""
    lam = np.asarray(proj["lam"], dtype=np.float64)
    if "class_a" in proj and "class_b" in proj:
        swap = np.asarray(proj["class_a"]) > np.asarray(proj["class_b"])
        lam = np.where(swap, 1.0 - lam, lam)
    return lam


def simplex_traces(proj: dict, *, showscale: bool = True, size: int = 4,
                   kinds: tuple[int, ...] = (1, 2)) -> list[go.BaseTraceType]:
    """Scattergl traces for a decoded projection: different-class points coloured by λ,
    same-class points in their own colour, the triangle and the classifier arrows (black)."""
    pts, kind = proj["points"], np.asarray(proj["kind"])
    lam = lam_on_lower(proj)
    traces: list[go.BaseTraceType] = []
    if 0 in kinds and (kind == 0).any():
        m = kind == 0
        traces.append(go.Scattergl(x=pts[m, 0], y=pts[m, 1], mode="markers", name="clean",
                                   marker=dict(color=CLEAN, size=size, symbol="circle-open"),
                                   hoverinfo="skip"))
    if 2 in kinds and (kind == 2).any():
        m = kind == 2
        traces.append(go.Scattergl(
            x=pts[m, 0], y=pts[m, 1], mode="markers", name="different class",
            marker=dict(color=lam[m], colorscale=LAMBDA_SCALE, cmin=0, cmax=1, size=size,
                        opacity=0.85, showscale=showscale,
                        colorbar=dict(title=dict(text="λ", side="top"), thickness=10, len=0.6,
                                      outlinewidth=0)),
            customdata=lam[m], hovertemplate="λ = %{customdata:.3f}<extra></extra>"))
    if 1 in kinds and (kind == 1).any():
        m = kind == 1
        traces.append(go.Scattergl(x=pts[m, 0], y=pts[m, 1], mode="markers", name="same class",
                                   marker=dict(color=SAME_CLASS, size=size, opacity=0.9),
                                   hoverinfo="skip"))
    v = np.asarray(proj.get("vertices") or [], dtype=float).reshape(-1, 2)
    if len(v) == 3:
        traces.append(go.Scatter(x=[*v[:, 0], v[0, 0]], y=[*v[:, 1], v[0, 1]], mode="lines",
                                 line=dict(color="#adb5bd", width=1, dash="dot"),
                                 hoverinfo="skip", showlegend=False))
    arrows = np.asarray(proj.get("arrows") or [], dtype=float).reshape(-1, 2)
    if len(arrows):
        xs, ys = [], []
        for a in arrows:
            xs += [0.0, a[0], None]
            ys += [0.0, a[1], None]
        traces.append(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="black", width=2),
                                 name="classifier", hoverinfo="skip", showlegend=False))
    return traces


def extent(proj: dict) -> float:
    """Half-width of a square view holding every point and vertex."""
    m = float(proj.get("radius") or 1.0)
    pts = proj.get("points")
    if pts is not None and len(pts):
        m = max(m, float(np.abs(pts).max()))
    return 1.12 * m


def simplex_axes(fig: go.Figure, R: float, row: int | None = None, col: int | None = None):
    """Square, axis-free view of [-R, R]² (equal aspect)."""
    kw = dict(row=row, col=col) if row else {}
    fig.update_xaxes(range=[-R, R], visible=False, **kw)
    fig.update_yaxes(range=[-R, R], visible=False, **kw)


def class_labels(fig: go.Figure, proj: dict, names: list[str], R: float,
                 xref: str = "x", yref: str = "y") -> None:
    v = np.asarray(proj.get("vertices") or [], dtype=float).reshape(-1, 2)
    for k, name in enumerate(names[: len(v)]):
        r = float(np.hypot(*v[k])) or 1.0
        fig.add_annotation(x=v[k, 0] * (1 + 0.08 * R / r), y=v[k, 1] * (1 + 0.08 * R / r),
                           xref=xref, yref=yref, text=f"<b>{name}</b>", showarrow=False,
                           font=dict(size=12, color=INK))


SERIES_COLOURS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#0b7285", "#c92a2a",
                  "#5c940d", "#1098ad", "#f08c00", "#495057"]

# -- collapse metrics over epochs ------------------------------------------------------------
METRIC_PANELS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Classifier → simplex ETF", [("norm_cv", "CV of row norms"),
                                  ("cosine_std", "std of cosines")]),
    # two conventions (backend.maths.collapse): Zhu et al.'s Gram distances and Papyan et
    # al.'s norms/angles; per epoch on the probe subset, dotted on the whole training set
    ("NC, Zhu et al. (Gram distances)", [
        ("nc1", "NC1 (probe subset)"), ("nc2", "NC2 Zhu (probe)"), ("nc3", "NC3 Zhu (probe)"),
        ("train_set_nc1", "NC1 (train set)"), ("train_set_nc2", "NC2 Zhu (train set)"),
        ("train_set_nc3", "NC3 Zhu (train set)")]),
    ("NC, Papyan et al. (norms, angles)", [
        ("papyan_nc2_norm_cv_means", "NC2 Papyan: CV of mean norms"),
        ("papyan_nc2_cos_std_means", "NC2 Papyan: std of cosines"),
        ("papyan_nc2_cos_shift_means", "NC2 Papyan: mean |cos + 1/(C−1)|"),
        ("papyan_nc3", "NC3 Papyan: ‖W/‖W‖ − M/‖M‖‖²"),
        ("train_set_papyan_nc3", "NC3 Papyan (train set)")]),
    ("Mixup geometry", [("alignment", "alignment"), ("channel_radius", "channel radius")]),
    ("Accuracy & calibration", [("test_accuracy", "test acc."), ("train_accuracy", "train acc."),
                                ("ece", "ECE")]),
]


def metrics_figure(records: list[dict], epoch: int | None = None) -> go.Figure:
    """Four small panels of collapse metrics over epochs; a dashed line marks ``epoch``
    (moved in the browser by ``markEpoch`` as the slider moves)."""
    fig = make_subplots(rows=1, cols=len(METRIC_PANELS), horizontal_spacing=0.06,
                        subplot_titles=[t for t, _ in METRIC_PANELS])
    epochs = [r.get("epoch") for r in records]
    colour = 0  # one colour per series across all panels, so the legend is unambiguous
    for col, (_, keys) in enumerate(METRIC_PANELS, start=1):
        for key, label in keys:
            ys = [r.get(key) if isinstance(r.get(key), (int, float)) else None for r in records]
            if all(y is None for y in ys):
                continue
            full = key.startswith("train_set_")  # recorded epochs only: join the dots
            fig.add_trace(go.Scatter(x=epochs, y=ys, mode="lines+markers" if full else "lines",
                                     name=label, connectgaps=full,
                                     line=dict(color=SERIES_COLOURS[colour % len(SERIES_COLOURS)],
                                               width=2, dash="dot" if full else None),
                                     legendgroup=str(col), showlegend=True,
                                     hovertemplate=f"{label}: %{{y:.4f}}<br>epoch %{{x}}"
                                                   "<extra></extra>"),
                          row=1, col=col)
            colour += 1
        fig.add_shape(type="line", x0=epoch or 0, x1=epoch or 0, y0=0, y1=1,
                      xref=f"x{col if col > 1 else ''}",
                      yref=f"y{col if col > 1 else ''} domain",
                      line=dict(color=MUTED, width=1.5, dash="dash"))
    fig.update_xaxes(title_text="epoch", title_font=dict(size=11))
    style_figure(fig, height=280)
    fig.update_layout(margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.3, yanchor="top", font=dict(size=11)))
    for ann in fig.layout.annotations:
        ann.font = dict(size=12, color=INK)
    return fig
