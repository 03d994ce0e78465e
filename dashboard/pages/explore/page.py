"""The Explore page's entry: Dash Pages finds this module (it registers the page) and takes
its ``layout``; importing the modules below registers the page's callbacks."""

from __future__ import annotations

import dash

from dashboard.pages.explore import callbacks, export, frames, live, multiples  # noqa: F401
from dashboard.pages.explore.layout import layout  # noqa: F401

dash.register_page(__name__, path="/explore", name="Explore", title="mixscope · Explore",
                   order=2)
