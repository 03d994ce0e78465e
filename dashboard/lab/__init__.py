"""The Lab page's two subjects, each in its own module behind the one ``/lab`` page
(``dashboard/pages/lab.py``):

- ``experiments``: the data-dependency paper's seeded experiments (alternating line, two
  moons, Assumption 2.9), computed as worker jobs through ``dashboard.jobpanel``; their
  figures live in ``experiment_figures``.
- ``stored_runs``: views of stored runs (per-class spectra, the manifold-mixup gradient split,
  a 2-D bottleneck's representations).

``widgets`` holds the small form and graph helpers both use. The modules register their
callbacks through ``register()``, which the page module calls each time Dash loads it.
"""
