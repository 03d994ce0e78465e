"""Lab: the data dependency of mixup (Chidambaram et al.) and manifold mixup's geometry.

One page, two subjects, each in its own module (``dashboard/lab/``): the 002 experiments
(``experiments``: alternating line, two moons, Assumption 2.9, each a worker job shown through
the one job panel of ``dashboard/jobpanel.py``) and the views of stored runs
(``stored_runs``: spectra, gradient split, 2-D bottleneck). They stay on one page at ``/lab``
so every link, query preset (``/lab?alpha=128&runs=5&epochs=2000&moons_epochs=300``) and
element id keeps working.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.lab import experiments, stored_runs

dash.register_page(__name__, path="/lab", name="Lab", title="mixscope · Lab", order=6)


def layout(**query: Any) -> html.Div:
    return html.Div([
        html.Div([html.H2("Lab"),
                  html.P("When does mixup fail to fit the training data, and what does manifold "
                         "mixup do to representations? Small seeded experiments from the "
                         "data-dependency paper, and views of stored runs.", className="lede")],
                 className="page-head"),
        *experiments.sections(query),
        *stored_runs.section(),
    ])


# Dash executes this module afresh for each app it builds: wire the sections' callbacks here.
experiments.register()
stored_runs.register()
