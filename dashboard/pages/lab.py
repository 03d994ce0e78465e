# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""Lab: the data dependency of mixup (Chidambaram et al.) and manifold mixup's geometry.

- Alternating line X_m^k: class probabilities at the points (mean ± std over seeded runs)
  for mixup and ERM beside the mixup-optimal classifier of Lemma 2.3 and the paper's
  Table 1, and the training-error curves.
- Two moons: decision regions averaged over runs (ERM, mixup) beside Lemma 2.3's h_ε.
- Assumption 2.9: Table 2's ε estimate for a dataset.
- Stored runs: per-class spectra over epochs (flattening), the manifold-mixup gradient split
  (usual vs cross), and a 2-D bottleneck's representations drawn as they are.

Everything comes over HTTP (``/api/lab/...``, ``/api/runs/...``). The lab experiments are
computed by a worker on demand (seconds to a minute): the API answers 202 with a job id, the
page says "computing… (job …)" and polls ``/api/jobs/{id}`` (a ``dcc.Interval``) until the job
is done, then fetches the stored result and draws it.

Query parameters preset the forms, e.g. ``/lab?alpha=128&runs=5&epochs=2000&moons_epochs=300``.
"""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html
from plotly.subplots import make_subplots

from dashboard.client import ApiError, Pending, decode_array, format_detail
from dashboard.common import (
    ACCENT,
    INK,
    LAMBDA_SCALE,
    MUTED,
    RUN_COLOURS,
    SAME_CLASS,
    api,
    blank_figure,
    card,
    run_label,
    style_figure,
    vocab,
)

dash.register_page(__name__, path="/lab", name="Lab", title="mixscope · Lab", order=6)

METHOD_COLOURS = {"mixup": ACCENT, "erm": SAME_CLASS}
METHOD_NAMES = {"mixup": "mixup", "erm": "ERM"}
OPTIMAL_COLOUR = "#2b8a3e"
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": "hover"}
# the assumption check reads any dataset except the rendered rotated-digit task
ASSUME_EXCLUDED = ("rotated-digit",)
POLL_MS = 1500  # how often a pending lab job is asked about


def _poller(prefix: str) -> list:
    """The pending job of one experiment (``{"job_id", "params"}``) and its poll timer."""
    return [dcc.Store(id=f"{prefix}-job"), dcc.Interval(id=f"{prefix}-poll", interval=POLL_MS,
                                                        disabled=True)]


def fetch_lab(path: str, params: dict, job: dict | None, polling: bool
              ) -> tuple[str, Any, dict | None]:
    """Ask for a lab experiment, or (``polling``) about the job computing it.

    Returns ``(state, value, job)``: ``("done", result, None)``, ``("pending", message,
    {"job_id", "params"})`` (keep polling) or ``("error", message, None)``. A poll asks
    ``/api/jobs/{id}`` and fetches the result only once the job is done, with the params the
    job was asked with (the form may have changed since)."""
    if polling and job:
        params = job["params"]
        try:
            info = api().job(job["job_id"])
        except ApiError as exc:
            return "error", format_detail(exc.detail), None
        if info["status"] == "failed":
            return "error", f"the job failed: {info.get('error') or 'no reason given'}", None
        if info["status"] == "pending":
            return "pending", f"computing… (job {job['job_id']})", job
    try:
        return "done", api().get(path, **params), None
    except Pending as p:
        return "pending", f"computing… (job {p.job_id})", {"job_id": p.job_id,
                                                          "params": params}
    except ApiError as exc:
        return "error", format_detail(exc.detail), None


def _num(id_: str, value: Any, **kw: Any) -> dcc.Input:
    return dcc.Input(id=id_, type="number", value=value, className="input", **kw)


def _field(label: str, control: Any) -> html.Div:
    return html.Div([html.Label(label, className="field-label"), control], className="field")


def _graph(id_: str, message: str, height: int = 380) -> dcc.Loading:
    return dcc.Loading(dcc.Graph(id=id_, config=GRAPH_CONFIG,
                                 figure=blank_figure(message, height)), type="dot")


def _choice(id_: str, options: dict[str, str], value: str) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, options=[{"label": v, "value": k} for k, v in options.items()],
                        value=value, clearable=False, className="dropdown")


#: the switches of the authors' code (reference §7), labelled as such
LOOP_OPTIONS = {"correct": "correct loop (gradients zeroed)",
                "authors": "authors' loop (gradients never zeroed: their bug)"}
OPTIMIZER_OPTIONS = {"per-run": "fresh Adam per run (paper text)",
                     "shared": "one Adam across runs (authors' code)"}
DRAW_OPTIONS = {"per-run": "fresh make_moons per seed (authors)",
                "fixed": "one draw for every run"}
PROCEDURE_OPTIONS = {"authors": "authors' procedure (Table 2)", "product": "mixscope variant"}
TUNED_EPS = 0.1  # trainer.lab.TUNED_EPS: tuned to track the trained nets


def _q(query: dict, key: str, default: Any, cast=float) -> Any:
    try:
        return cast(query[key]) if key in query else default
    except (TypeError, ValueError):
        return default


def layout(**query: Any) -> html.Div:
    q = query
    return html.Div([
        html.Div([html.H2("Lab"),
                  html.P("When does mixup fail to fit the training data, and what does manifold "
                         "mixup do to representations? Small seeded experiments from the "
                         "data-dependency paper, and views of stored runs.", className="lede")],
                 className="page-head"),

        # --- alternating line -------------------------------------------------------------
        html.H3("Alternating line X_m^k", className="section-title"),
        html.Div([
            card([
                _field("points m", _num("lab-points", _q(q, "points", 3, int), min=2, max=50)),
                _field("classes k", _num("lab-classes", _q(q, "classes", 2, int), min=2, max=10)),
                _field("α of Beta(α, α)", _num("lab-alpha", _q(q, "alpha", 32.0), min=0.01)),
                _field("seeded runs", _num("lab-runs", _q(q, "runs", 10, int), min=1, max=20)),
                _field("epochs (full-batch Adam)",
                       _num("lab-epochs", _q(q, "epochs", 5000, int), min=1, max=20000)),
                _field("Lemma 2.3 ε (0.1 is tuned; the ε → 0 limit is drawn too)",
                       _num("lab-eps", _q(q, "eps", TUNED_EPS), min=0.001, max=10,
                            step=0.01)),
                _field("training loop", _choice("lab-loop", LOOP_OPTIONS, "correct")),
                _field("optimiser state", _choice("lab-optstate", OPTIMIZER_OPTIONS,
                                                  "per-run")),
                html.Button("Train mixup and ERM", id="lab-line-run", className="btn btn-primary"),
                html.Div(id="lab-line-status", className="field-help"),
                *_poller("lab-line"),
            ], className="controls"),
            html.Div([
                html.Div([
                    card(_graph("lab-line-probs", "Press “Train mixup and ERM” (the paper's "
                                "setting takes 10–30 s)"), title="Class probabilities at the "
                         "points, with Lemma 2.3's mixup-optimal classifier"),
                    card(_graph("lab-line-error", "Training-error curves appear after training"),
                         title="Training error over epochs (mean ± std over runs)"),
                ], className="two-col"),
                card(html.Div(id="lab-line-table", children=html.P(
                    "The table of mean ± std probabilities appears after training.",
                    className="field-help")), title="Mean ± std over runs, beside the paper"),
            ]),
        ], className="explore-grid"),

        # --- two moons -----------------------------------------------------------------------
        html.H3("Two moons: decision regions", className="section-title"),
        html.Div([
            card([
                _field("α", _num("lab-moons-alpha", _q(q, "moons_alpha", 1.0), min=0.01)),
                _field("class separation δ",
                       _num("lab-moons-separation", _q(q, "separation", 0.5), step=0.1)),
                _field("seeded runs", _num("lab-moons-runs", _q(q, "moons_runs",
                                                                _q(q, "runs", 10, int), int),
                                           min=1, max=20)),
                _field("epochs (1500: the paper's text; 1000: the authors' code)",
                       _num("lab-moons-epochs", _q(q, "moons_epochs", 1500, int),
                            min=1, max=5000)),
                _field("training loop", _choice("lab-moons-loop", LOOP_OPTIONS, "correct")),
                _field("optimiser state", _choice("lab-moons-optstate", OPTIMIZER_OPTIONS,
                                                  "per-run")),
                _field("data", _choice("lab-moons-draw", DRAW_OPTIONS, "per-run")),
                _field("Lemma 2.3 ε", _num("lab-moons-eps", _q(q, "moons_eps", TUNED_EPS),
                                           min=0.001, max=10, step=0.01)),
                html.Button("Train two moons", id="lab-moons-run", className="btn btn-primary"),
                html.Div(id="lab-moons-status", className="field-help"),
                *_poller("lab-moons"),
            ], className="controls"),
            card(_graph("lab-moons-regions", "Press “Train two moons” (10 runs × 1500 epochs "
                        "take about a minute on a CPU)", 420),
                 title="Hard decision regions averaged over runs (fraction of runs predicting "
                       "class 1, as the paper's figure): ERM, mixup, and Lemma 2.3's h_ε"),
        ], className="explore-grid"),

        # --- Assumption 2.9 ------------------------------------------------------------------
        html.H3("Assumption 2.9 (no collinearity)", className="section-title"),
        html.Div([
            card([
                _field("dataset", dcc.Dropdown(id="lab-assume-dataset", options=[d for d in vocab("datasets") if d not in ASSUME_EXCLUDED],
                                               value="digits", clearable=False,
                                               className="dropdown")),
                _field("α", _num("lab-assume-alpha", 1024.0, min=0.01)),
                _field("subsample", _num("lab-assume-subsample", 0.2, min=0.01, max=1,
                                         step=0.05)),
                _field("procedure", _choice("lab-assume-procedure", PROCEDURE_OPTIONS,
                                            "authors")),
                html.Button("Check", id="lab-assume-run", className="btn btn-primary"),
                html.Div(id="lab-assume-status", className="field-help"),
                *_poller("lab-assume"),
            ], className="controls"),
            card(dcc.Loading(html.Div(id="lab-assume-result", children=html.P(
                "Pick a dataset and press “Check”: one epoch of mixup points (λ ~ Beta(α, α)) "
                "and their distance to the nearest point of a class other than the two mixed. "
                "A minimum near 0 means a mixed point lands on another class (Table 2).",
                className="field-help"))), title="Distance from mixup points to other classes"),
        ], className="explore-grid"),

        # --- stored runs ---------------------------------------------------------------------
        html.H3("Manifold mixup: flattening, the gradient split, a 2-D bottleneck",
                className="section-title"),
        html.Div([
            card([
                _field("runs to compare", dcc.Dropdown(id="lab-runs-pick", multi=True,
                                                       placeholder="runs with recorded epochs",
                                                       className="dropdown")),
                _field("layer", dcc.Input(id="lab-layer", value="penultimate", className="input",
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
                    card(_graph("lab-spectra", "Pick runs with recorded epochs"),
                         title="Per-class spectra over epochs (flattening)"),
                    card([_graph("lab-grad", "Pick a manifold-mixup run with MSE loss"),
                          html.Div(id="lab-grad-absent", className="field-help")],
                         title="Gradient at the mixing layer: usual vs cross terms"),
                ], className="two-col"),
                card([
                    html.Div([
                        _field("bottleneck run", dcc.Dropdown(id="lab-bottleneck-run",
                                                              placeholder="an mlp-bottleneck run",
                                                              className="dropdown")),
                        _field("epoch", dcc.Dropdown(id="lab-bottleneck-epoch",
                                                     placeholder="latest", className="dropdown")),
                    ], className="two-col"),
                    _graph("lab-bottleneck", "Launch a run with model mlp-bottleneck (Runs page) "
                           "to see its 2-D representations here", 460),
                ], title="2-D bottleneck representations, unprojected"),
            ]),
        ], className="explore-grid"),
    ])


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
    return _legend_below(style_figure(fig, height=420))


def _legend_below(fig: go.Figure) -> go.Figure:
    """Legends under the plot: several long trace names would cover titles above it."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
                      margin=dict(b=110, t=50))
    return fig


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


@callback(Output("lab-line-probs", "figure"), Output("lab-line-error", "figure"),
          Output("lab-line-table", "children"), Output("lab-line-status", "children"),
          Output("lab-line-job", "data"), Output("lab-line-poll", "disabled"),
          Input("lab-line-run", "n_clicks"), Input("lab-line-poll", "n_intervals"),
          State("lab-points", "value"), State("lab-classes", "value"), State("lab-alpha", "value"),
          State("lab-runs", "value"), State("lab-epochs", "value"), State("lab-eps", "value"),
          State("lab-loop", "value"), State("lab-optstate", "value"),
          State("lab-line-job", "data"))
def run_line(_n, _tick, points, classes, alpha, runs, epochs, eps, loop, optstate, job):
    # runs on page load too: the paper's setting is the first thing to see
    polling = dash.ctx.triggered_id == "lab-line-poll"
    state, res, job = fetch_lab("/lab/alternating-line", dict(
        points=points, classes=classes, alpha=alpha, runs=runs, epochs=epochs, eps=eps,
        loop=loop, optimizer_state=optstate), job, polling)
    if state == "pending":
        if polling:  # keep what is shown; the status already says computing
            return dash.no_update, dash.no_update, dash.no_update, res, job, False
        return (blank_figure(f"{res}: a worker trains mixup and ERM"),
                blank_figure("Training-error curves appear when the job is done"),
                html.P(res, className="field-help"), res, job, False)
    if state == "error":
        return (blank_figure(f"Could not train: {res}"), blank_figure("No curves"),
                html.P(res, className="field-error"), res, None, True)
    secs = sum(res[m].get("seconds", 0) for m in ("mixup", "erm"))
    st = res["settings"]
    status = (f"{st['runs']} runs × {st['epochs']} epochs, training took {secs:.1f} s "
              f"(stored: asking again is instant). {st.get('loop_label', '')}; "
              f"{st.get('optimizer_state_label', '')}.")
    return line_probs_figure(res), error_figure(res), line_table(res), status, None, True


# --------------------------------------------------------------------------- two moons
def moons_figure(res: dict) -> go.Figure:
    gx, gy = res["grid"]["x"], res["grid"]["y"]
    pts = np.array(res["points"])
    labels = np.array(res["labels"])
    loop = "authors' loop (bug)" if res["settings"].get("loop") == "authors" else "correct loop"
    titles = [f"ERM (linear agreement {res['erm']['decision']['linear_agreement']:.3f})",
              (f"mixup α={res['settings']['alpha']:g}, {loop} (linear agreement "
               f"{res['mixup']['decision']['linear_agreement']:.3f})"),
              f"Lemma 2.3 h_ε (ε={res['mixup_optimal']['eps']:g}"
              f"{', tuned' if res['mixup_optimal'].get('eps_tuned') else ''})"]
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
        for lab, colour in ((1, "#c92a2a"), (2, "#1864ab")):
            sel = labels == lab
            fig.add_trace(go.Scatter(x=pts[sel, 0], y=pts[sel, 1], mode="markers",
                                     name=f"class {lab}", showlegend=j == 1,
                                     marker=dict(color=colour, size=4,
                                                 line=dict(color="white", width=0.5)),
                                     hoverinfo="skip"), row=1, col=j)
    fig.update_xaxes(range=[gx[0], gx[-1]])
    fig.update_yaxes(range=[gy[0], gy[-1]])
    return _legend_below(style_figure(fig, height=460))


@callback(Output("lab-moons-regions", "figure"), Output("lab-moons-status", "children"),
          Output("lab-moons-job", "data"), Output("lab-moons-poll", "disabled"),
          Input("lab-moons-run", "n_clicks"), Input("lab-moons-poll", "n_intervals"),
          State("lab-moons-alpha", "value"), State("lab-moons-separation", "value"),
          State("lab-moons-runs", "value"), State("lab-moons-epochs", "value"),
          State("lab-moons-loop", "value"), State("lab-moons-optstate", "value"),
          State("lab-moons-draw", "value"), State("lab-moons-eps", "value"),
          State("lab-moons-job", "data"), prevent_initial_call=True)
def run_moons(_n, _tick, alpha, separation, runs, epochs, loop, optstate, draw, eps, job):
    polling = dash.ctx.triggered_id == "lab-moons-poll"
    state, res, job = fetch_lab("/lab/two-moons", dict(
        alpha=alpha, separation=separation, runs=runs, epochs=epochs, loop=loop,
        optimizer_state=optstate, draw=draw, eps=eps), job, polling)
    if state == "pending":
        if polling:
            return dash.no_update, res, job, False
        return blank_figure(f"{res}: a worker trains mixup and ERM", 420), res, job, False
    if state == "error":
        return blank_figure(f"Could not train: {res}", 420), res, None, True
    d_m, d_e = res["mixup"]["decision"], res["erm"]["decision"]
    st = res["settings"]
    status = (f"Training error: mixup {res['mixup']['train_error']:.3f}, ERM "
              f"{res['erm']['train_error']:.3f}. A linear agreement of 1 means a straight "
              f"boundary. Mixup agrees with h_ε on {d_m['optimal_agreement']:.0%} of the "
              f"cells where h_ε is defined (ERM: {d_e['optimal_agreement']:.0%}). "
              f"{st.get('epochs_label', '')}; {st.get('loop_label', '')}; "
              f"{st.get('optimizer_state_label', '')}; data: {st.get('draw', 'fixed')} "
              f"({res.get('points_note', 'one draw')} shown).")
    return moons_figure(res), status, None, True


# --------------------------------------------------------------------------- Assumption 2.9
@callback(Output("lab-assume-result", "children"), Output("lab-assume-status", "children"),
          Output("lab-assume-job", "data"), Output("lab-assume-poll", "disabled"),
          Input("lab-assume-run", "n_clicks"), Input("lab-assume-poll", "n_intervals"),
          State("lab-assume-dataset", "value"), State("lab-assume-alpha", "value"),
          State("lab-assume-subsample", "value"), State("lab-assume-procedure", "value"),
          State("lab-assume-job", "data"), prevent_initial_call=True)
def run_assumption(_n, _tick, dataset, alpha, subsample, procedure, job):
    polling = dash.ctx.triggered_id == "lab-assume-poll"
    state, res, job = fetch_lab("/lab/assumption-check", dict(
        dataset=dataset, alpha=alpha, subsample=subsample, procedure=procedure), job, polling)
    if state == "pending":
        if polling:
            return dash.no_update, res, job, False
        return html.P(res, className="field-help"), res, job, False
    if state == "error":
        return html.P(res, className="field-error"), "", None, True
    fmt = lambda v: "–" if v is None else f"{v:.4g}"
    names = {"train": "train (the subsample)" if res.get("procedure") == "authors" else "train",
             "test": "test"}
    rows = [html.Tr([html.Td(names[split]), html.Td(fmt(res[split]["min"])),
                     html.Td(fmt(res[split]["mean"]))])
            for split in ("train", "test") if res.get(split)]
    if res.get("paper"):
        rows.append(html.Tr([html.Td("paper, Table 2"), html.Td(f"{res['paper']['min']:g}"),
                             html.Td("–")]))
    return html.Div([
        html.P(f"{res['dataset']}: {res['num_mix']} mixup points, dimension {res['dim']}, "
               f"{res['num_classes']} classes, α = {res['alpha']:g}.", className="field-help"),
        html.P(f"{res.get('procedure_label', '')}. Normalisation: "
               f"{res.get('normalisation', '')}.", className="field-help",
               id="lab-assume-procedure-label"),
        html.Table([html.Thead(html.Tr([html.Th("reference points"), html.Th("min distance (ε)"),
                                        html.Th("mean distance")])), html.Tbody(rows)],
                   className="table", id="lab-assume-table"),
    ]), "", None, True


# --------------------------------------------------------------------------- stored runs
@callback(Output("lab-runs-pick", "options"), Output("lab-runs-pick", "value"),
          Output("lab-bottleneck-run", "options"), Output("lab-bottleneck-run", "value"),
          Input("lab-runs-refresh", "n_clicks"), State("lab-runs-pick", "value"))
def load_runs(_n, current):
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
        "σ_i at the last epoch: per class (mean), dotted all classes",
        "Σ_{i≥2} σ_i / σ_1 over epochs"])
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
    fig.update_xaxes(title_text="epoch (dotted: all classes together)", row=1, col=2)
    fig.update_yaxes(title_text="mean over classes", row=1, col=2)
    return _legend_below(style_figure(fig, height=420))


@callback(Output("lab-spectra", "figure"), Input("lab-runs-pick", "value"),
          Input("lab-layer", "value"))
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
    return _legend_below(style_figure(fig, height=420))


@callback(Output("lab-grad", "figure"), Output("lab-grad-absent", "children"),
          Input("lab-runs-pick", "value"))
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


@callback(Output("lab-bottleneck-epoch", "options"), Output("lab-bottleneck-epoch", "value"),
          Input("lab-bottleneck-run", "value"))
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
        lam_low = np.where(ca[diff] <= cb[diff], lam[diff], 1 - lam[diff])
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
    return _legend_below(style_figure(fig, height=500))


@callback(Output("lab-bottleneck", "figure"), Input("lab-bottleneck-run", "value"),
          Input("lab-bottleneck-epoch", "value"))
def show_bottleneck(run_id, epoch):
    if not run_id:
        return blank_figure("No mlp-bottleneck run yet: launch one on the Runs page (model "
                            "mlp-bottleneck) to see its 2-D representations here", 460)
    try:
        rep = api().get(f"/lab/runs/{run_id}/representations", epoch=epoch)
    except ApiError as exc:
        return blank_figure(format_detail(exc.detail), 460)
    return bottleneck_figure(rep)
