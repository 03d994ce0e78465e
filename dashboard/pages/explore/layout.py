# ruff: noqa: C408  (dict(...) reads better than literals for component keyword arguments)
"""The Explore page's components: the controls column, the simplex card with its epoch
slider, the metrics card and the small multiples card."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard.common import blank_figure, card, point_kinds, triple_picker
from dashboard.live import FOLLOW, LIVE_MS
from dashboard.pages.explore import ids

GRAPH_CONFIG = {
    "displaylogo": False, "displayModeBar": "hover", "scrollZoom": True,
    # the file name follows the view (mixscope-RUN-eE-LAYER-a-b-c, set in assets/explore.js)
    "toImageButtonOptions": {"format": "png", "filename": "mixscope-simplex", "scale": 2},
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}


def parse_classes(text: str | None) -> list[str] | None:
    """The three entries of ``?classes=a,b,c`` (indices or names), else None."""
    vals = [x.strip() for x in (text or "").split(",") if x.strip() != ""]
    return vals if len(vals) == 3 else None


def _int(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def controls() -> html.Div:
    dd = dict(clearable=False, className="dropdown")
    return card([
        html.Label("Run", className="field-label"),
        dcc.Dropdown(id=ids.RUN, placeholder="pick a run", **dd),
        *triple_picker(ids.CLASSES),
        html.Label("Layer", className="field-label"),
        dcc.Dropdown(id=ids.LAYER, **dd),
        html.Div(id=ids.RECORD_MODE, className="field-help"),
        html.Div(id=ids.MIXING, className="field-help"),
        *point_kinds(ids.KINDS),
        html.Label("λ on the lower class", className="field-label"),
        dcc.RangeSlider(id=ids.LAM, min=0, max=1, step=0.05, value=[0, 1],
                        marks={0: "0", 0.5: "½", 1: "1"}, className="slider"),
        html.Label("Compare with a second run", className="field-label"),
        dcc.Dropdown(id=ids.COMPARE, placeholder="(none)", clearable=True,
                     className="dropdown"),
        dcc.Checklist(id=ids.UFM, options=[{"label": " overlay the UFM optimum",
                                            "value": "ufm"}], value=[],
                      className="checklist ufm-toggle"),
        html.Div([
            html.Button("SVG", id=ids.SVG, className="btn btn-small", n_clicks=0,
                        title="Download the plot as SVG (PNG: camera icon on the plot)"),
            html.Button("CSV", id=ids.CSV, className="btn btn-small", n_clicks=0,
                        title="Download this epoch's points as CSV"),
            dcc.Download(id=ids.DOWNLOAD),
            html.Span(id=ids.SVG_DONE, hidden=True),
        ], className="export-row"),
    ], className="controls")


def simplex_card() -> html.Div:
    return card([
        html.Div([
            html.Button("▶ Play", id=ids.PLAY, className="btn btn-small", n_clicks=0),
            # the slider moves over the *indices* of the recorded epochs (marks show the
            # epochs), so every stop is a recorded frame
            html.Div(dcc.Slider(id=ids.EPOCH_SLIDER, min=0, max=1, step=1, value=None,
                                marks={}, updatemode="drag", allow_direct_input=False,
                                className="slider"),
                     className="epoch-slider-wrap"),
            html.Span(id=ids.EPOCH_LABEL, className="epoch-label"),
            dcc.Checklist(id=ids.FOLLOW, options=[{"label": " follow latest",
                                                   "value": FOLLOW}],
                          value=[], className="checklist follow-toggle"),
        ], className="epoch-row"),
        html.Div(id=ids.LIVE_NOTE, className="form-note live-note"),
        html.Div(id=ids.MESSAGE, className="form-message"),
        html.Div(id=ids.BASIS, className="form-note"),
        html.Div([
            dcc.Graph(id=ids.SIMPLEX, config=GRAPH_CONFIG, className="simplex-graph",
                      figure=blank_figure("Loading…", 520)),
            html.Div(dcc.Graph(id=ids.SIMPLEX_B, config=GRAPH_CONFIG,
                               className="simplex-graph"),
                     id=ids.SIMPLEX_B_WRAP, style={"display": "none"}),
        ], className="simplex-row"),
    ], className="plot-card")


def multiples_card() -> html.Div:
    return card([
        html.Div([
            html.Span("Several triples at the current epoch (the paper's Fig. 11)",
                      className="muted"),
            dcc.Dropdown(id=ids.MULTI_N, options=[4, 6, 9], value=6, clearable=False,
                         className="dropdown small-dd"),
            html.Button("Show", id=ids.MULTI_GO, className="btn btn-small", n_clicks=0),
        ], className="multi-row"),
        dcc.Loading(dcc.Graph(id=ids.MULTI, config=GRAPH_CONFIG, style={"display": "none"}),
                    type="dot"),
    ], title="Small multiples", className="multi-card")


def layout(run: str | None = None, classes: str | None = None, epoch: str | None = None,
           layer: str | None = None, **_query: Any) -> html.Div:
    """The page; the URL's query (``?run=ID&classes=a,b,c&epoch=E&layer=L``) seeds the view."""
    init = {"run": run, "classes": parse_classes(classes), "epoch": _int(epoch),
            "layer": layer}
    return html.Div([
        dcc.Store(id=ids.URL_INIT, data=init),
        *(dcc.Store(id=i) for i in (ids.RUN_INFO, ids.FRAMES, ids.FRAMES_META,
                                    ids.FRAMES_NEXT, ids.FRAMES_B, ids.UFM_DATA,
                                    ids.MULTI_DATA, ids.URL_WRITTEN)),
        dcc.Interval(id=ids.WAIT, interval=4000, disabled=True),
        dcc.Interval(id=ids.POLL, interval=1500, disabled=True),
        dcc.Interval(id=ids.LIVE, interval=LIVE_MS, disabled=True),
        dcc.Interval(id=ids.PLAY_INTERVAL, interval=700, disabled=True),
        html.Div([html.H2("Explore"),
                  html.P("Penultimate-layer activations of mixup points projected onto the "
                         "simplex of three classes. Different-class mixes are coloured by λ; "
                         "arrows are the classifier rows.", className="lede")],
                 className="page-head"),
        html.Div(id=ids.EMPTY),
        html.Div([
            controls(),
            html.Div([
                simplex_card(),
                card([dcc.Graph(id=ids.METRICS,
                                config={"displaylogo": False, "displayModeBar": "hover"},
                                figure=blank_figure("", 280)),
                      html.Div(id=ids.METRICS_NOTE, className="form-note")],
                     title="Collapse metrics over training", className="metrics-card"),
                multiples_card(),
            ], className="main-col"),
        ], id=ids.BODY, className="explore-grid"),
    ])
