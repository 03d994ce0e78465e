"""One triple's frames as pure functions of the probe rows and projected points: which rows
a triple shows (:func:`select`, the filters and the subsample), and the JSON-ready Frame
fields of E epochs at once (:func:`frame_bodies`). The rules are in
:mod:`backend.api.projection`'s docstring; the service there reads the store and caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.api.encoding import encode_array
from backend.jsonsafe import finite_or_none
from backend.probe_rows import KIND_CODES, ProbeRows


@dataclass(frozen=True)
class Filters:
    kinds: frozenset[str] = frozenset(KIND_CODES)
    lam_min: float = 0.0
    lam_max: float = 1.0
    max_points: int | None = None
    seed: int = 0
    centre: bool = True


@dataclass
class Selection:
    """The rows of a triple: ``rows`` index probe rows; ``keep`` (bool over ``rows``) are the
    filtered, subsampled ones shown."""

    rows: np.ndarray
    keep: np.ndarray
    num_selected: int


def select(probe: ProbeRows, classes: tuple[int, int, int], f: Filters) -> Selection:
    """The triple's probe rows and which of them pass ``f`` (see the module docstring)."""
    tri = np.asarray(classes)
    rows = np.flatnonzero(np.isin(probe.class_a, tri) & np.isin(probe.class_b, tri))
    kind = probe.kind[rows]
    lam = probe.lam[rows]
    ok = np.isin(kind, [KIND_CODES[k] for k in f.kinds])
    ok &= (kind == 0) | ((lam >= f.lam_min) & (lam <= f.lam_max))
    idx = np.flatnonzero(ok)
    n_sel = len(idx)
    if f.max_points is not None and n_sel > f.max_points:
        idx = np.sort(np.random.default_rng(f.seed).choice(idx, f.max_points, replace=False))
    keep = np.zeros(len(rows), bool)
    keep[idx] = True
    return Selection(rows=rows, keep=keep, num_selected=n_sel)


def frame_body(proj, probe: ProbeRows, sel: Selection, classes: tuple[int, int, int]
               ) -> dict[str, Any]:
    """The JSON-ready Frame fields of a projected triple (``proj``: a
    :class:`backend.maths.TripleProjection` of the rows ``sel.rows``): :func:`frame_bodies`
    of one epoch."""
    return frame_bodies(np.asarray(proj.points)[None], np.asarray(proj.arrows)[None], probe,
                        sel, classes)[0]


def frame_bodies(points: np.ndarray, arrows: np.ndarray, probe: ProbeRows, sel: Selection,
                 classes: tuple[int, int, int]) -> list[dict[str, Any]]:
    """The JSON-ready Frame fields (all but epoch, layer, basis and class names) of the rows
    ``sel.rows`` projected at E epochs: ``points`` (E, n, 2), ``arrows`` (E, 3, 2) the raw
    projected classifier rows.

    ``radius`` is the vertex radius of :func:`backend.maths.projection_metrics` (mean
    distance of the three class clusters from their centroid, in plot units); ``vertices``
    are the unit triangle's vertices times it, and ``arrows`` the projected classifier rows
    scaled so that the longest is ``radius`` long (their ratios kept). The metrics use every
    row of the triple, before filters and subsampling. The rows' own fields (λ, classes,
    kinds, indices) are the same at every epoch and encoded once."""
    from backend import maths

    rows, keep = sel.rows, sel.keep
    pts = np.asarray(points, dtype=np.float32)
    kind, lam = probe.kind[rows], probe.lam[rows]
    ca, cb = probe.class_a[rows], probe.class_b[rows]
    arrows = np.asarray(arrows, dtype=np.float64)
    shared = {
        "classes": list(classes),
        "lam": encode_array(lam[keep], "float32"),
        "class_a": encode_array(ca[keep], "int16"),
        "class_b": encode_array(cb[keep], "int16"),
        "kind": encode_array(kind[keep], "int16"),
        "index_a": encode_array(probe.index_a[rows][keep], "int32"),
        "index_b": encode_array(probe.index_b[rows][keep], "int32"),
        "num_selected": sel.num_selected,
    }
    try:
        m = maths.projection_metrics_epochs(pts, kind, ca, cb, lam, arrows, classes)
    except ValueError:  # a class without clean or same-class points: no vertex to place
        m = {}
    unit = maths.triangle_vertices().T                       # (3, 2) unit vertices a, b, c
    out = []
    for e in range(len(pts)):
        radius = finite_or_none(m["radius"][e]) if m else None
        if radius is None or radius <= 0:
            # no vertex clusters: the largest point norm sets the scale
            radius = float(np.linalg.norm(pts[e], axis=1).max()) if pts.shape[1] else 1.0
            radius = radius if np.isfinite(radius) and radius > 0 else 1.0
        radius = float(radius)
        longest = float(np.linalg.norm(arrows[e], axis=1).max())
        scaled = arrows[e] * (radius / longest) if longest > 0 else arrows[e]
        out.append({
            **shared,
            "points": encode_array(pts[e][keep], "float32"),
            "arrows": _pairs(scaled),
            "vertices": _pairs(unit * radius),
            "radius": radius,
            "metrics": {k: finite_or_none(m[k][e]) if m else None
                        for k in ("alignment", "channel_radius")},
        })
    return out


def class_mean_basis(features: np.ndarray, probe: ProbeRows, classes: tuple[int, int, int],
                     global_mean: np.ndarray) -> np.ndarray:
    """A stand-in classifier for a layer of another width: rows ``classes`` hold the layer's
    clean class means minus ``global_mean`` (the other rows are zero and never read)."""
    from backend import maths

    clean = np.arange(min(probe.num_clean, len(features)))
    rows = maths.class_mean_rows(features[clean], probe.class_a[clean], classes, global_mean)
    out = np.zeros((max(classes) + 1, rows.shape[1]))
    out[list(classes)] = rows
    return out


def class_mean_rows_of(features: np.ndarray, probe: ProbeRows, rows: np.ndarray,
                       classes: tuple[int, int, int], global_mean: np.ndarray) -> np.ndarray:
    """:func:`class_mean_basis` from a triple's own rows (``features`` holds the rows
    ``rows``): the (3, d) clean class means of ``classes`` minus ``global_mean``."""
    from backend import maths

    clean = rows < probe.num_clean
    return maths.class_mean_rows(features[clean], probe.class_a[rows][clean], classes,
                                 global_mean)


def _pairs(a) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in np.asarray(a, dtype=np.float64).reshape(-1, 2)]
