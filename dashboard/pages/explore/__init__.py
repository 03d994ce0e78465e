"""Explore: the simplex projection of a run's activations for a class triple, epoch by epoch.

URL: ``/explore?run=ID&classes=a,b,c&epoch=E&layer=L`` (read on load, written back as the
view changes, so a view can be shared). The frames of every recorded epoch of the chosen
(run, triple, layer) load page by page into the browser (``ex-frames``); the epoch slider
swaps frames there, drawn by the one simplex renderer (``assets/simplex.js``), with no server
round trip.

Modules: ``ids`` (every element id), ``layout``, ``callbacks`` (the view), ``frames``
(loading), ``export`` (SVG, CSV), ``multiples`` (small multiples), ``page`` (registration).
"""
