# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""The Lab's views of stored runs (manifold mixup, Verma et al.):

- per-class spectra over epochs (flattening), for runs picked side by side;
- the manifold-mixup gradient split at the mixing layer (usual vs cross terms), or why a
  picked run has none;
- a 2-D bottleneck's representations drawn as they are (no projection).

Everything comes over HTTP (``/api/runs/...``, ``/api/lab/runs/{id}/representations``).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html
from plotly.subplots import make_subplots

from dashboard.client import ApiError, decode_array, format_detail
from dashboard.common import (
    LAMBDA_SCALE,
    RUN_COLOURS,
    SAME_CLASS,
    api,
    blank_figure,
    card,
    field,
    run_label,
    style_figure,
)
from dashboard.figures import lam_on_lower, wrap_title
from dashboard.lab.widgets import graph, legend_below


# --------------------------------------------------------------------------- layout
def section() -> list:
    """The run pickers and the three views."""
    return [
        html.H3("Manifold mixup: flattening, the gradient split, a 2-D bottleneck",
                className="section-title"),
        html.Div([
            card([
                field("runs to compare", dcc.Dropdown(id="lab-runs-pick", multi=True,
                                                      placeholder="runs with recorded epochs",
                                                      className="dropdown")),
                field("layer", dcc.Input(id="lab-layer", value="penultimate", className="input",
                                         debounce=True)),
                html.Div("Flattening: compare ERM, input mixup and manifold mixup runs on one "
                         "dataset. The gradient split is recorded only where it is the "
                         "training gradient: method manifold-mixup, loss mse, manifold_layers "
                         "['penultimate'] (mixing right before the linear head).",
                         className="field-help"),
                html.Button("Refresh runs", id="lab-runs-refresh", className="btn btn-small"),
            ], className="controls"),
            html.Div([
                html.Div([
                    card(graph("lab-spectra", "Pick runs with recorded epochs"),
                         title="Per-class spectra over epochs (flattening)"),
                    card([graph("lab-grad", "Pick a manifold-mixup run with MSE loss"),
                          html.Div(id="lab-grad-absent", className="field-help")],
                         title="Gradient at the mixing layer: usual vs cross terms"),
                ], className="two-col"),
                card([
                    html.Div([
                        field("bottleneck run", dcc.Dropdown(id="lab-bottleneck-run",
                                                             placeholder="an mlp-bottleneck run",
                                                             className="dropdown")),
                        field("epoch", dcc.Dropdown(id="lab-bottleneck-epoch",
                                                    placeholder="latest", className="dropdown")),
                    ], className="two-col"),
                    graph("lab-bottleneck", "Launch a run with model mlp-bottleneck (Runs page) "
                          "to see its 2-D representations here", 460),
                ], title="2-D bottleneck representations, unprojected"),
            ]),
        ], className="explore-grid"),
    ]


# --------------------------------------------------------------------------- runs
def load_runs(_n, current):
    """The pickers' runs (those with recorded epochs, newest first), keeping the picked ones
    that still exist, else one run per method; the bottleneck picker's mlp-bottleneck runs."""
    try:
        runs = api().list_runs()
    except ApiError:
        return [], [], [], None
    recorded = sorted((r for r in runs if r.get("recorded_epochs")),
                      key=lambda r: r.get("created_at") or "", reverse=True)
    opts = [{"label": run_label(r), "value": r["id"]} for r in recorded]
    ids = {r["id"] for r in recorded}
    value = [v for v in (current or []) if v in ids]
    if not value:  # prefer one run per method on the newest run's dataset
        seen: set[str] = set()
        for r in recorded:
            cfg = r.get("config") or {}
            if cfg.get("model") == "mlp-bottleneck" or cfg.get("method") in seen:
                continue
            seen.add(cfg.get("method"))
            value.append(r["id"])
    bott = [{"label": run_label(r), "value": r["id"]} for r in recorded
            if (r.get("config") or {}).get("model") == "mlp-bottleneck"]
    return opts, value[:4], bott, (bott[0]["value"] if bott else None)


def flattening_summary(per_class: np.ndarray) -> np.ndarray:
    """Per epoch: the mean over classes of Σ_{i≥2} σ_i / σ_1 (how far each class spreads
    beyond its main direction). per_class (E, C, k) -> (E,)."""
    s = np.asarray(per_class, dtype=np.float64)
    top = np.maximum(s[..., 0], 1e-12)
    return (s[..., 1:].sum(-1) / top).mean(-1)


def spectra_figure(series: list[tuple[str, dict]]) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14, subplot_titles=[
        wrap_title("σ_i at the last epoch: per class (mean), dotted all classes", 24),
        wrap_title("Σ_{i≥2} σ_i / σ_1 over epochs", 24)])
    for i, (name, sp) in enumerate(series):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        per_class = np.asarray(sp["per_class"], dtype=np.float64)          # (E, C, k)
        last = per_class[-1].mean(0)
        # a class with n < k probe points has exact zeros beyond rank n: not on a log axis
        last = last[last > 1e-6 * max(last.max(), 1e-30)]
        # 003 Figs. 9–11 print the first singular value averaged over the classes
        first = (sp.get("first_singular_mean") or [None])[-1]
        label = name if first is None else f"{name} · mean σ₁ {first:.4g}"
        fig.add_trace(go.Scatter(x=list(range(1, len(last) + 1)), y=last, mode="lines+markers",
                                 name=label, legendgroup=name, line=dict(color=colour),
                                 hovertemplate="σ_%{x}: %{y:.3g}<extra></extra>"), row=1, col=1)
        every = np.asarray(sp["all"], dtype=np.float64)[-1]                 # 003 Fig. 12
        every = every[every > 1e-6 * max(every.max(initial=0.0), 1e-30)]
        fig.add_trace(go.Scatter(x=list(range(1, len(every) + 1)), y=every, mode="lines",
                                 name=f"{name} (all classes)", legendgroup=name,
                                 showlegend=False, line=dict(color=colour, dash="dot"),
                                 hovertemplate="σ_%{x}: %{y:.3g}<extra>all classes</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=sp["epochs"], y=flattening_summary(per_class),
                                 mode="lines+markers", name=name, legendgroup=name,
                                 showlegend=False, line=dict(color=colour),
                                 hovertemplate="epoch %{x}: %{y:.3f}<extra>per class</extra>"),
                      row=1, col=2)
        all_ = np.asarray(sp["all"], dtype=np.float64)                      # (E, k)
        fig.add_trace(go.Scatter(x=sp["epochs"], y=all_[:, 1:].sum(-1) / np.maximum(
            all_[:, 0], 1e-12), mode="lines", name=f"{name} (all classes)", legendgroup=name,
            showlegend=False, line=dict(color=colour, dash="dot"),
            hovertemplate="epoch %{x}: %{y:.3f}<extra>all classes</extra>"), row=1, col=2)
    fig.update_yaxes(type="log", title_text="singular value", row=1, col=1)
    fig.update_xaxes(title_text="index i", row=1, col=1)
    fig.update_xaxes(title_text="epoch (dotted: all classes)", row=1, col=2)
    fig.update_yaxes(title_text="mean over classes", row=1, col=2)
    fig = legend_below(style_figure(fig, height=420))
    fig.update_layout(margin=dict(t=76))  # room for the three-line panel titles
    return fig




def show_spectra(run_ids, layer):
    if not run_ids:
        return blank_figure("No runs with recorded epochs yet: launch ERM, input-mixup and "
                            "manifold-mixup runs on the Runs page, then pick them here")
    series, errors = [], []
    try:
        labels = {r["id"]: run_label(r).rsplit(" (", 1)[0] for r in api().list_runs()}
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail))
    for rid in run_ids:
        try:
            sp = api().spectra(rid, layer or "penultimate")
        except ApiError as exc:
            errors.append(format_detail(exc.detail))
            continue
        if sp.get("epochs"):
            series.append((labels.get(rid, rid[:8]), sp))
    if not series:
        return blank_figure("No spectra recorded for these runs"
                            + (f": {errors[0]}" if errors else " yet (wait for a recorded epoch)"))
    return spectra_figure(series)


def grad_figure(series: list[tuple[str, dict]]) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.55, 0.45])
    for i, (name, s) in enumerate(series):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        fig.add_trace(go.Scatter(x=s["epoch"], y=s["grad_usual_norm"], mode="lines+markers",
                                 name=f"{name}: usual", line=dict(color=colour),
                                 hovertemplate="usual %{y:.3g}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=s["epoch"], y=s["grad_cross_norm"], mode="lines+markers",
                                 name=f"{name}: cross", line=dict(color=colour, dash="dash"),
                                 hovertemplate="cross %{y:.3g}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=s["epoch"], y=s["grad_cross_ratio"], mode="lines+markers",
                                 name=f"{name}: cross / usual", showlegend=False,
                                 line=dict(color=colour),
                                 hovertemplate="ratio %{y:.3f}<extra></extra>"), row=2, col=1)
    fig.update_yaxes(type="log", title_text="gradient norm", row=1, col=1)
    fig.update_yaxes(title_text="cross / usual", row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    return legend_below(style_figure(fig, height=420))


def show_grad(run_ids):
    hint = ("No gradient split among the picked runs: it is recorded only for manifold-mixup "
            "runs with loss mse mixing right before the linear head (manifold_layers "
            "['penultimate'])")
    if not run_ids:
        return blank_figure(hint), ""
    keys = ["grad_usual_norm", "grad_cross_norm", "grad_cross_ratio"]
    try:
        data = api().metrics_many(run_ids, keys)
        runs = {r["id"]: r for r in api().list_runs()}
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail)), ""
    labels = {rid: run_label(r).rsplit(" (", 1)[0] for rid, r in runs.items()}
    # why a picked run has none: the trainer's reason (run info summary.grad_split_absent)
    absent = [html.Li(f"{labels.get(rid, rid[:8])}: no gradient split: "
                      f"{(runs.get(rid) or {}).get('summary', {}).get('grad_split_absent')}")
              for rid in run_ids
              if ((runs.get(rid) or {}).get("summary") or {}).get("grad_split_absent")]
    notes = html.Ul(absent, id="lab-grad-absent-list") if absent else ""
    series = []
    for rid in run_ids:
        s = data.get(rid) or {}
        keep = [i for i, v in enumerate(s.get("grad_cross_ratio") or []) if v is not None]
        if keep:
            series.append((labels.get(rid, rid[:8]),
                           {k: [s[k][i] for i in keep] for k in ["epoch", *keys]}))
    if not series:
        return blank_figure(hint if not absent else "No gradient split: see why below"), notes
    return grad_figure(series), notes


def bottleneck_epochs(run_id):
    if not run_id:
        return [], None
    try:
        epochs = api().epochs(run_id)
    except ApiError:
        return [], None
    return [{"label": str(e), "value": e} for e in epochs], (epochs[-1] if epochs else None)


def bottleneck_figure(rep: dict) -> go.Figure:
    pts = decode_array(rep["points"])
    kind = decode_array(rep["kind"])
    ca, cb = decode_array(rep["class_a"]), decode_array(rep["class_b"])
    lam = decode_array(rep["lam"])
    names = rep.get("class_names") or []
    fig = go.Figure()
    diff = kind == 2
    if diff.any():  # colour by the weight on the lower class of the pair
        lam_low = lam_on_lower(lam[diff], ca[diff], cb[diff])
        fig.add_trace(go.Scattergl(x=pts[diff, 0], y=pts[diff, 1], mode="markers",
                                   name="different-class mixes",
                                   marker=dict(color=lam_low, colorscale=LAMBDA_SCALE, cmin=0,
                                               cmax=1, size=4, opacity=0.7,
                                               colorbar=dict(title="λ on lower class")),
                                   hovertemplate="λ %{marker.color:.2f}<extra></extra>"))
    same = kind == 1
    if same.any():
        fig.add_trace(go.Scattergl(x=pts[same, 0], y=pts[same, 1], mode="markers",
                                   name="same-class mixes",
                                   marker=dict(color=SAME_CLASS, size=4, opacity=0.5)))
    clean = kind == 0
    for j, c in enumerate(np.unique(ca[clean])):
        sel = clean & (ca == c)
        label = names[c] if c < len(names) else str(c)
        fig.add_trace(go.Scattergl(x=pts[sel, 0], y=pts[sel, 1], mode="markers",
                                   name=f"class {label}",
                                   marker=dict(color=RUN_COLOURS[j % len(RUN_COLOURS)], size=8,
                                               symbol="circle-open", line=dict(width=2))))
    fig.update_xaxes(title_text="unit 1")
    fig.update_yaxes(title_text="unit 2", scaleanchor="x", scaleratio=1)
    fig.update_layout(title=dict(text=f"epoch {rep['epoch']} · layer {rep['layer']}", x=0.01,
                                 font=dict(size=13)))
    return legend_below(style_figure(fig, height=500))


def show_bottleneck(run_id, epoch):
    if not run_id:
        return blank_figure("No mlp-bottleneck run yet: launch one on the Runs page (model "
                            "mlp-bottleneck) to see its 2-D representations here", 460)
    try:
        rep = api().get(f"/lab/runs/{run_id}/representations", epoch=epoch)
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail), 460)
    return bottleneck_figure(rep)


def register() -> None:
    """Wire the views' callbacks (called by the page module each time Dash loads it)."""
    callback(Output("lab-runs-pick", "options"), Output("lab-runs-pick", "value"),
             Output("lab-bottleneck-run", "options"), Output("lab-bottleneck-run", "value"),
             Input("lab-runs-refresh", "n_clicks"), State("lab-runs-pick", "value"))(load_runs)
    callback(Output("lab-spectra", "figure"), Input("lab-runs-pick", "value"),
             Input("lab-layer", "value"))(show_spectra)
    callback(Output("lab-grad", "figure"), Output("lab-grad-absent", "children"),
             Input("lab-runs-pick", "value"))(show_grad)
    callback(Output("lab-bottleneck-epoch", "options"), Output("lab-bottleneck-epoch", "value"),
             Input("lab-bottleneck-run", "value"))(bottleneck_epochs)
    callback(Output("lab-bottleneck", "figure"), Input("lab-bottleneck-run", "value"),
             Input("lab-bottleneck-epoch", "value"))(show_bottleneck)
