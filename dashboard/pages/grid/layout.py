# ruff: noqa: C408  (dict(...) reads better than literals for component keyword arguments)
"""The grid page's components: the controls (sweep, triple, layer, facets, seeds, export),
the epoch slider with play, the panels and the linked curves."""

from __future__ import annotations

from dash import dcc, html

from dashboard.common import blank_figure, card, point_kinds, triple_picker
from dashboard.pages.grid import ids


def controls() -> html.Div:
    dd = dict(clearable=False, className="dropdown")
    return card([
        html.Label("Sweep", className="field-label"),
        dcc.Dropdown(id=ids.SWEEP, placeholder="pick a sweep (or open ?runs=ID,ID,…)", **dd),
        *triple_picker(ids.CLASSES),
        html.Label("Layer", className="field-label"),
        dcc.Dropdown(id=ids.LAYER, **dd),
        html.Label("Columns", className="field-label"),
        dcc.Dropdown(id=ids.COLS, placeholder="(none)", clearable=True, className="dropdown"),
        html.Label("Rows", className="field-label"),
        dcc.Dropdown(id=ids.ROWS, placeholder="(none)", clearable=True, className="dropdown"),
        html.Button("⇄ Swap rows and columns", id=ids.SWAP, className="btn btn-small",
                    n_clicks=0),
        html.Label("Seeds of one setting", className="field-label"),
        dcc.RadioItems(id=ids.SEEDS, options=[{"label": " stack", "value": "stack"},
                                              {"label": " average", "value": "average"}],
                       value="stack", className="checklist", inline=True),
        *point_kinds(ids.KINDS),
        html.Div([
            html.Button("SVG", id=ids.SVG, className="btn btn-small", n_clicks=0,
                        title="Download the grid as one SVG, with its facet labels"),
            html.Button("PNG", id=ids.PNG, className="btn btn-small", n_clicks=0,
                        title="Download the grid as one PNG"),
            html.Button("CSV", id=ids.CSV, className="btn btn-small", n_clicks=0,
                        title="Download every panel's shown points as one CSV"),
        ], className="export-row"),
        html.Div(id=ids.EXPORTED, className="field-help"),
    ], className="controls")


def grid_card() -> html.Div:
    return card([
        html.Div([
            html.Button("▶ Play", id=ids.PLAY, className="btn btn-small", n_clicks=0),
            html.Div(dcc.Slider(id=ids.EPOCH, min=0, max=1, step=1, value=None, marks={},
                                updatemode="drag", allow_direct_input=False,
                                className="slider"),
                     className="epoch-slider-wrap"),
            html.Span(id=ids.EPOCH_LABEL, className="epoch-label"),
        ], className="epoch-row"),
        dcc.Interval(id=ids.TICK, interval=700, disabled=True),
        html.Div(id=ids.MSG, className="field-help"),
        # built and redrawn by assets/grid.js; Dash never renders children here
        html.Div(id=ids.PANELS, className="grid-panels"),
    ], className="grid-card")


def curves_card() -> html.Div:
    return card([
        dcc.Graph(id=ids.CURVES, figure=blank_figure("the sweep's curves appear here"),
                  config={"displaylogo": False, "displayModeBar": False},
                  style={"height": "760px"}),
    ], title="Metrics against the swept parameter (this epoch; bars: seed spread)",
        className="grid-curves-card")


def layout(**_query) -> html.Div:
    return html.Div([
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.QUERY),
        dcc.Store(id=ids.DATA),
        dcc.Store(id=ids.URL_OUT),
        dcc.Store(id=ids.HOVER_OUT),
        dcc.Interval(id=ids.LIVE, interval=5000, disabled=True),
        html.Div([html.H2("Grid"),
                  html.P("A sweep's runs side by side, one class triple, one epoch slider for "
                         "them all: the swept fields become columns and rows.",
                         className="lede")], className="page-head"),
        html.Div([
            controls(),
            html.Div([grid_card(), curves_card()], className="grid-main"),
        ], className="grid-page"),
    ])
