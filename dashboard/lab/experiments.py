# ruff: noqa: C408  (dict(...) reads better than literals for query parameters)
"""The Lab's 002 experiments (Chidambaram et al., the data dependency of mixup).

- Alternating line X_m^k: class probabilities at the points (mean ± std over seeded runs)
  for mixup and ERM beside the mixup-optimal classifier of Lemma 2.3 and the paper's
  Table 1, and the training-error curves.
- Two moons: decision regions averaged over runs (ERM, mixup) beside Lemma 2.3's h_ε.
- Assumption 2.9: Table 2's ε estimate for a dataset.

Each is one job panel (``dashboard.jobpanel``): a worker computes it on demand and the panel
polls the job until the result can be drawn. A page URL's query presets the forms, e.g.
``/lab?alpha=128&runs=5&epochs=2000&moons_epochs=300``.
"""

from __future__ import annotations

from dash import Output, State, dcc, html

from dashboard.common import blank_figure, card, field, vocab
from dashboard.jobpanel import job_controls, register_job_panel
from dashboard.lab.experiment_figures import (
    error_figure,
    line_probs_figure,
    line_table,
    moons_figure,
)
from dashboard.lab.widgets import choice, graph, number, query_value

#: the switches of the authors' code (reference §7), labelled as such
LOOP_OPTIONS = {"correct": "correct loop (gradients zeroed)",
                "authors": "authors' loop (gradients never zeroed: their bug)"}
OPTIMIZER_OPTIONS = {"per-run": "fresh Adam per run (paper text)",
                     "shared": "one Adam across runs (authors' code)"}
DRAW_OPTIONS = {"per-run": "fresh make_moons per seed (authors)",
                "fixed": "one draw for every run"}
PROCEDURE_OPTIONS = {"authors": "authors' procedure (Table 2)", "product": "mixscope variant"}
TUNED_EPS = 0.1  # trainer.lab.TUNED_EPS: tuned to track the trained nets


# --------------------------------------------------------------------------- layout
def line_section(q: dict) -> list:
    """The alternating line's form, plots and table."""
    return [
        html.H3("Alternating line X_m^k", className="section-title"),
        html.Div([
            card([
                field("points m", number("lab-points", query_value(q, "points", 3, int),
                                         min=2, max=50)),
                field("classes k", number("lab-classes", query_value(q, "classes", 2, int),
                                          min=2, max=10)),
                field("α of Beta(α, α)", number("lab-alpha", query_value(q, "alpha", 32.0),
                                                min=0.01)),
                field("seeded runs", number("lab-runs", query_value(q, "runs", 10, int),
                                            min=1, max=20)),
                field("epochs (full-batch Adam)",
                      number("lab-epochs", query_value(q, "epochs", 5000, int), min=1,
                             max=20000)),
                field("Lemma 2.3 ε (0.1 is tuned; the ε → 0 limit is drawn too)",
                      number("lab-eps", query_value(q, "eps", TUNED_EPS), min=0.001, max=10)),
                field("training loop", choice("lab-loop", LOOP_OPTIONS, "correct")),
                field("optimiser state", choice("lab-optstate", OPTIMIZER_OPTIONS, "per-run")),
                *job_controls("lab-line", "Train mixup and ERM"),
            ], className="controls"),
            html.Div([
                html.Div([
                    card(graph("lab-line-probs", "Press “Train mixup and ERM” (the paper's "
                               "setting takes 10–30 s)"), title="Class probabilities at the "
                         "points, with Lemma 2.3's mixup-optimal classifier"),
                    card(graph("lab-line-error", "Training-error curves appear after training"),
                         title="Training error over epochs (mean ± std over runs)"),
                ], className="two-col"),
                card(html.Div(id="lab-line-table", children=html.P(
                    "The table of mean ± std probabilities appears after training.",
                    className="field-help")), title="Mean ± std over runs, beside the paper"),
            ]),
        ], className="explore-grid"),
    ]


def moons_section(q: dict) -> list:
    """The two moons' form and decision regions."""
    runs = query_value(q, "moons_runs", query_value(q, "runs", 10, int), int)
    return [
        html.H3("Two moons: decision regions", className="section-title"),
        html.Div([
            card([
                field("α", number("lab-moons-alpha", query_value(q, "moons_alpha", 1.0),
                                  min=0.01)),
                field("class separation δ",
                      number("lab-moons-separation", query_value(q, "separation", 0.5),
                             step=0.1)),
                field("seeded runs", number("lab-moons-runs", runs, min=1, max=20)),
                field("epochs (1500: the paper's text; 1000: the authors' code)",
                      number("lab-moons-epochs", query_value(q, "moons_epochs", 1500, int),
                             min=1, max=5000)),
                field("training loop", choice("lab-moons-loop", LOOP_OPTIONS, "correct")),
                field("optimiser state", choice("lab-moons-optstate", OPTIMIZER_OPTIONS,
                                                "per-run")),
                field("data", choice("lab-moons-draw", DRAW_OPTIONS, "per-run")),
                field("Lemma 2.3 ε", number("lab-moons-eps",
                                            query_value(q, "moons_eps", TUNED_EPS),
                                            min=0.001, max=10)),
                *job_controls("lab-moons", "Train two moons"),
            ], className="controls"),
            card(graph("lab-moons-regions", "Press “Train two moons” (10 runs × 1500 epochs "
                       "take about a minute on a CPU)", 420),
                 title="Hard decision regions averaged over runs (fraction of runs predicting "
                       "class 1, as the paper's figure): ERM, mixup, and Lemma 2.3's h_ε"),
        ], className="explore-grid"),
    ]


def assumption_section() -> list:
    """Assumption 2.9's form and result table."""
    # any dataset but those rendered from generative factors (rotated-digit): they need a task
    rendered = set(vocab("factor_datasets"))
    datasets = [d for d in vocab("datasets") if d not in rendered]
    return [
        html.H3("Assumption 2.9 (no collinearity)", className="section-title"),
        html.Div([
            card([
                field("dataset", dcc.Dropdown(id="lab-assume-dataset", options=datasets,
                                              value="digits", clearable=False,
                                              className="dropdown")),
                field("α", number("lab-assume-alpha", 1024.0, min=0.01)),
                field("subsample", number("lab-assume-subsample", 0.2, min=0.01, max=1)),
                field("procedure", choice("lab-assume-procedure", PROCEDURE_OPTIONS,
                                          "authors")),
                *job_controls("lab-assume", "Check"),
            ], className="controls"),
            card(dcc.Loading(html.Div(id="lab-assume-result", children=html.P(
                "Pick a dataset and press “Check”: one epoch of mixup points (λ ~ Beta(α, α)) "
                "and their distance to the nearest point of a class other than the two mixed. "
                "A minimum near 0 means a mixed point lands on another class (Table 2).",
                className="field-help"))), title="Distance from mixup points to other classes"),
        ], className="explore-grid"),
    ]


def sections(query: dict) -> list:
    """Every experiment's section, in page order."""
    return [*line_section(query), *moons_section(query), *assumption_section()]


# --------------------------------------------------------------------------- results
def line_done(res: dict) -> tuple[list, str]:
    secs = sum(res[m].get("seconds", 0) for m in ("mixup", "erm"))
    st = res["settings"]
    status = (f"{st['runs']} runs × {st['epochs']} epochs, training took {secs:.1f} s "
              f"(stored: asking again is instant). {st.get('loop_label', '')}; "
              f"{st.get('optimizer_state_label', '')}.")
    return [line_probs_figure(res), error_figure(res), line_table(res)], status


def line_pending(message: str) -> tuple[list, str]:
    return [blank_figure(f"{message}: a worker trains mixup and ERM"),
            blank_figure("Training-error curves appear when the job is done"),
            html.P(message, className="field-help")], message


def line_idle(message: str) -> tuple[list, str]:
    """The alternating line before anyone asked for it (the page queues nothing itself)."""
    return [blank_figure("Not computed yet: press “Train mixup and ERM”"),
            blank_figure("Training-error curves appear when the job is done"),
            html.P(message, className="field-help")], message


def line_error(message: str) -> tuple[list, str]:
    return [blank_figure(f"Could not train: {message}"), blank_figure("No curves"),
            html.P(message, className="field-error")], message


def moons_done(res: dict) -> tuple[list, str]:
    d_m, d_e = res["mixup"]["decision"], res["erm"]["decision"]
    st = res["settings"]
    status = (f"Training error: mixup {res['mixup']['train_error']:.3f}, ERM "
              f"{res['erm']['train_error']:.3f}. A linear agreement of 1 means a straight "
              f"boundary. Mixup agrees with h_ε on {d_m['optimal_agreement']:.0%} of the "
              f"cells where h_ε is defined (ERM: {d_e['optimal_agreement']:.0%}). "
              f"{st.get('epochs_label', '')}; {st.get('loop_label', '')}; "
              f"{st.get('optimizer_state_label', '')}; data: {st.get('draw', 'fixed')} "
              f"({res.get('points_note', 'one draw')} shown).")
    return [moons_figure(res)], status


def assumption_table(res: dict) -> html.Div:
    """The distances of Assumption 2.9's check, beside the paper's Table 2."""
    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.4g}"

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
    ])


# --------------------------------------------------------------------------- callbacks
def register() -> None:
    """Wire the three job panels (called by the page module each time Dash loads it)."""
    # runs on page load too: the paper's setting is the first thing to see
    register_job_panel(
        "lab-line", "/lab/alternating-line", on_load=True,
        outputs=[Output("lab-line-probs", "figure"), Output("lab-line-error", "figure"),
                 Output("lab-line-table", "children")],
        form=[State(f"lab-{k}", "value") for k in ("points", "classes", "alpha", "runs",
                                                   "epochs", "eps", "loop", "optstate")],
        params=lambda points, classes, alpha, runs, epochs, eps, loop, optstate: dict(
            points=points, classes=classes, alpha=alpha, runs=runs, epochs=epochs, eps=eps,
            loop=loop, optimizer_state=optstate),
        done=line_done, pending=line_pending, error=line_error, idle=line_idle)
    register_job_panel(
        "lab-moons", "/lab/two-moons",
        outputs=[Output("lab-moons-regions", "figure")],
        form=[State(f"lab-moons-{k}", "value") for k in ("alpha", "separation", "runs",
                                                         "epochs", "loop", "optstate",
                                                         "draw", "eps")],
        params=lambda alpha, separation, runs, epochs, loop, optstate, draw, eps: dict(
            alpha=alpha, separation=separation, runs=runs, epochs=epochs, loop=loop,
            optimizer_state=optstate, draw=draw, eps=eps),
        done=moons_done,
        pending=lambda m: ([blank_figure(f"{m}: a worker trains mixup and ERM", 420)], m),
        error=lambda m: ([blank_figure(f"Could not train: {m}", 420)], m))
    register_job_panel(
        "lab-assume", "/lab/assumption-check",
        outputs=[Output("lab-assume-result", "children")],
        form=[State(f"lab-assume-{k}", "value") for k in ("dataset", "alpha", "subsample",
                                                          "procedure")],
        params=lambda dataset, alpha, subsample, procedure: dict(
            dataset=dataset, alpha=alpha, subsample=subsample, procedure=procedure),
        done=lambda res: ([assumption_table(res)], ""),
        pending=lambda m: ([html.P(m, className="field-help")], m),
        error=lambda m: ([html.P(m, className="field-error")], ""))

