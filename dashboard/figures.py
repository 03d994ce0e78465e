# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Server-side Plotly figures shared by several pages, and the data helpers of the simplex
views. The simplex itself is drawn by one renderer, in the browser (``assets/simplex.js``):
the Explore page's main and compared views, its small multiples and their SVG/PNG export."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.client import decode_array
from dashboard.common import ACCENT, INK, MUTED, SAME_CLASS, style_figure
from dashboard.palette import SERIES_COLOURS


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


def lam_on_lower(lam: Any, class_a: Any, class_b: Any) -> np.ndarray:
    """λ as the weight on the lower class of each pair: the API's λ weighs partner ``a``, so
    it flips where ``class_a > class_b``. Every λ colour scale of the dashboard uses this
    (the browser renderer receives it precomputed, see :func:`lower_lambda_array`)."""
    lam = np.asarray(lam, dtype=np.float64)
    return np.where(np.asarray(class_a) > np.asarray(class_b), 1.0 - lam, lam)


def encode_array(values: Any, dtype: str = "float32") -> dict:
    """A b64 array (the API's wire format, which the browser's ``decode`` reads)."""
    arr = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    return {"dtype": dtype, "shape": list(arr.shape),
            "data": base64.b64encode(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
            .decode("ascii")}


def lower_lambda_array(frame: dict) -> dict | None:
    """λ on the lower class of every point of a frame (JSON, b64 arrays), as a b64 float32
    array for the browser renderer; None for a frame without points."""
    if not frame or frame.get("lam") is None:
        return None
    return encode_array(lam_on_lower(decode_array(frame["lam"]), decode_array(frame["class_a"]),
                                     decode_array(frame["class_b"])))


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


def wrap_title(text: str, width: int) -> str:
    """A subplot title broken into lines of about ``width`` characters (``<br>``), so that
    titles of neighbouring panels never run into each other (issue 19)."""
    import textwrap

    return "<br>".join(textwrap.wrap(text, width=max(8, width), break_long_words=False)) \
        or text


def metrics_figure(records: list[dict], epoch: int | None = None) -> go.Figure:
    """Four small panels of collapse metrics over epochs; a dashed line marks ``epoch``
    (moved in the browser by ``markEpoch`` as the slider moves)."""
    # a panel is about 1/5 of a ~1000 px card: titles wrap at ~22 characters of 12 px text
    fig = make_subplots(rows=1, cols=len(METRIC_PANELS), horizontal_spacing=0.06,
                        subplot_titles=[wrap_title(t, 22) for t, _ in METRIC_PANELS])
    epochs = [r.get("epoch") for r in records]
    single = len(set(epochs)) == 1  # an imported run: one point a series, drawn as markers
    colour = 0  # one colour per series across all panels, so the legend is unambiguous
    for col, (_, keys) in enumerate(METRIC_PANELS, start=1):
        for key, label in keys:
            ys = [r.get(key) if isinstance(r.get(key), (int, float)) else None for r in records]
            if all(y is None for y in ys):
                continue
            full = key.startswith("train_set_")  # recorded epochs only: join the dots
            fig.add_trace(go.Scatter(x=epochs, y=ys, mode="lines+markers" if full or single
                                     else "lines", marker=dict(size=9 if single else 6),
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
    # no "epoch" under each panel: the legend below would run into them (the hover and the
    # card's title say the x axis is the epoch)
    style_figure(fig, height=280)
    fig.update_layout(margin=dict(l=40, r=10, t=56, b=40),
                      legend=dict(orientation="h", y=-0.3, yanchor="top", font=dict(size=11)))
    for ann in fig.layout.annotations:
        ann.font = dict(size=12, color=INK)
    return fig


def reliability_figure(cal: dict, name: str, colour: str = ACCENT) -> go.Figure:
    """Accuracy (bars) and mean confidence (markers) per bin over the diagonal, with counts."""
    bins = cal["bins"]
    edges = bins["edges"]
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    width = (edges[1] - edges[0]) if len(edges) > 1 else 1 / 15
    acc = [a if c else None for a, c in zip(bins["accuracy"], bins["counts"])]
    conf = [a if c else None for a, c in zip(bins["confidence"], bins["counts"])]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25],
                        vertical_spacing=0.05)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(color=MUTED, dash="dash", width=1)), row=1, col=1)
    fig.add_trace(go.Bar(x=centres, y=acc, width=width * 0.95, name="accuracy",
                         marker=dict(color=colour, opacity=0.75),
                         hovertemplate="bin %{x:.2f}: accuracy %{y:.3f}<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=centres, y=conf, mode="markers", name="confidence",
                             marker=dict(color=SAME_CLASS, size=8, symbol="diamond"),
                             hovertemplate="bin %{x:.2f}: confidence %{y:.3f}<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=centres, y=bins["counts"], width=width * 0.95, name="count",
                         marker=dict(color=INK, opacity=0.35), showlegend=False,
                         hovertemplate="%{y} test examples<extra></extra>"), row=2, col=1)
    ece = cal.get("ece")
    # two short lines at the left, clear of the toolbar at the top right (issue 19)
    fig.update_layout(title=dict(text=f"{name}<br>epoch {cal.get('epoch', '?')} · ECE "
                                      f"{ece:.4f}" if isinstance(ece, (int, float)) else name,
                                 x=0.01, xanchor="left", y=0.95, yanchor="top",
                                 font=dict(size=13)))
    fig.update_yaxes(range=[0, 1], title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="count", nticks=3, row=2, col=1)
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(range=[0, 1], title_text="confidence", row=2, col=1)
    style_figure(fig, height=420)
    fig.update_layout(bargap=0, margin=dict(t=64),
                      legend=dict(x=0.02, y=0.98, xanchor="left", yanchor="top",
                                  orientation="v", bgcolor="rgba(255,255,255,0.8)"))
    return fig


def one_epoch_note(records: list[dict]) -> str:
    """What a page says beside curves that have a single epoch (an imported run)."""
    epochs = {r.get("epoch") for r in records}
    if len(epochs) != 1:
        return ""
    return (f"One epoch recorded (epoch {next(iter(epochs))}): each metric is one point, "
            "not a curve.")
