"""Projections of stored activations onto a class triple's simplex plane (the API's core).

For a run, an epoch, a layer and a triple (a, b, c):

1. **Selection** (from the run's fixed probe set, so it is the same at every epoch): the
   clean probe rows of classes a, b, c, and the mixed pairs whose *both* classes are in the
   triple (same-class pairs and different-class pairs within the triple). Probe row order is
   clean rows then pairs (``docs/contracts.md``).
2. **Centring**: features minus the mean of *all* clean probe features of the layer (every
   class, not only the triple's): the neural-collapse convention of the reference
   (§2, "Projection onto the simplex"). Because the triangle's coordinates sum to zero, a
   shift along the classifier mean does not move the picture. ``centre=false`` skips it.
3. **Projection** with :func:`backend.maths.project_triple` (class a at the top vertex, then
   b and c clockwise), and the triple's mixup-aware metrics (alignment, channel radius)
   computed on every selected row, before the filters.
4. **Filters** (kinds, λ range on pairs; clean points have λ = 1 and pass any λ filter) and a
   **subsample** to ``max_points`` drawn with ``numpy.random.default_rng(seed)`` without
   replacement, kept in probe order. The subsample depends only on the probe set, the triple
   and the filters, never on the epoch, so every frame of a triple shows the same points.

5. **Basis**: the classifier's rows a, b, c when the layer has the classifier's input width
   (``"basis": "classifier"``); otherwise (a hidden layer of another width) the layer's own
   clean class means, centred on the global clean mean (``"basis": "class-means"``, the
   same construction: :func:`backend.maths.class_mean_rows`).

Results are kept in an LRU cache keyed by (run, epoch, layer, triple, filters).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.api.encoding import encode_array
from backend.errors import QueryError
from backend.jsonsafe import finite_or_none
from backend.probe_rows import KIND_CODES, ProbeRows, row_ranges


class NotCovered(Exception):
    """The probe set holds no pairs for some class pair of the triple (extract on demand)."""


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


def project_frame(features: np.ndarray, weight: np.ndarray, probe: ProbeRows, sel: Selection,
                  classes: tuple[int, int, int], centre: np.ndarray | None) -> dict[str, Any]:
    """One frame: project ``features`` (len(sel.rows), d), the rows ``sel.rows`` of the probe,
    with the classifier rows ``weight`` (3, d) of ``classes`` (in that order), subtracting
    ``centre`` (d,) if given. Returns the JSON-ready fields of
    :class:`backend.api.schemas.Frame` except epoch, layer and class names.

    ``radius`` is the vertex radius of :func:`backend.maths.projection_metrics` (mean
    distance of the three class clusters from their centroid, in plot units); ``vertices``
    are the unit triangle's vertices times it, and ``arrows`` the projected classifier rows
    scaled so that the longest is ``radius`` long (their ratios kept). The metrics use every
    row of the triple, before filters and subsampling."""
    from backend import maths

    rows, keep = sel.rows, sel.keep
    proj = maths.project_triple(weight, features, (0, 1, 2), centre=centre)
    pts = np.asarray(proj.points, dtype=np.float32)
    kind, lam = probe.kind[rows], probe.lam[rows]
    ca, cb = probe.class_a[rows], probe.class_b[rows]
    arrows = np.asarray(proj.arrows, dtype=np.float64)
    metrics, radius = frame_metrics(pts, kind, lam, ca, cb, classes, arrows)
    longest = float(np.linalg.norm(arrows, axis=1).max())
    arrows = arrows * (radius / longest) if longest > 0 else arrows
    unit = np.asarray(proj.vertices, dtype=np.float64)          # (3, 2) unit vertices a, b, c
    return {
        "classes": list(classes),
        "points": encode_array(pts[keep], "float32"),
        "lam": encode_array(lam[keep], "float32"),
        "class_a": encode_array(ca[keep], "int16"),
        "class_b": encode_array(cb[keep], "int16"),
        "kind": encode_array(kind[keep], "int16"),
        "index_a": encode_array(probe.index_a[rows][keep], "int32"),
        "index_b": encode_array(probe.index_b[rows][keep], "int32"),
        "arrows": _pairs(arrows),
        "vertices": _pairs(unit * radius),
        "radius": radius,
        "metrics": metrics,
        "num_selected": sel.num_selected,
    }


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


def frame_metrics(points, kind, lam, class_a, class_b, classes, arrows
                  ) -> tuple[dict[str, float | None], float]:
    """(``{"alignment", "channel_radius"}``, vertex radius) of a projected triple with
    :func:`backend.maths.projection_metrics`. A metric that is undefined (e.g. no
    different-class points with λ near ½) is None; without clean or same-class points to
    place the vertices, the radius falls back to the largest point norm."""
    from backend import maths

    try:
        m = maths.projection_metrics(points, kind, class_a, class_b, lam, arrows, classes)
    except ValueError:
        m = {}
    radius = finite_or_none(m.get("radius"))
    if radius is None or radius <= 0:
        radius = float(np.linalg.norm(points, axis=1).max()) if len(points) else 1.0
        radius = radius if np.isfinite(radius) and radius > 0 else 1.0
    return ({"alignment": finite_or_none(m.get("alignment")),
             "channel_radius": finite_or_none(m.get("channel_radius"))}, float(radius))


def _pairs(a) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in np.asarray(a, dtype=np.float64).reshape(-1, 2)]


class LRU:
    """A small thread-safe LRU cache (FastAPI runs sync routes in a thread pool)."""

    def __init__(self, size: int):
        self.size = size
        self._d: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def drop(self, pred) -> None:
        """Remove every entry whose key satisfies ``pred``."""
        with self._lock:
            for k in [k for k in self._d if pred(k)]:
                del self._d[k]


# --- the service the routes use -----------------------------------------------------------------

def parse_classes(text: str | None, num_classes: int, default: tuple[int, int, int]
                  ) -> tuple[int, int, int]:
    """``"a,b,c"`` -> three distinct class indices in ``0..num_classes-1`` (QueryError)."""
    if text is None or not text.strip():
        classes = tuple(int(c) for c in default)
    else:
        try:
            classes = tuple(int(t) for t in text.split(","))
        except ValueError:
            raise QueryError("classes", f"{text!r} is not three comma-separated class "
                             "indices, e.g. 0,1,2") from None
    if len(classes) != 3:
        raise QueryError("classes", f"give exactly three classes, got {len(classes)}")
    if len(set(classes)) != 3:
        raise QueryError("classes", f"classes must be distinct, got {list(classes)}")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise QueryError("classes", f"classes {bad} out of range: this run has "
                         f"{num_classes} classes (0..{num_classes - 1})")
    return classes  # type: ignore[return-value]


class ProjectionService:
    """Validates projection queries against a run, reads the store, caches results."""

    def __init__(self, store, cache_size: int = 256):
        self.store = store
        self.cache = LRU(cache_size)
        self._probes = LRU(16)  # run id -> ProbeRows (fixed at run creation)
        self._selections = LRU(256)  # (run, triple, filters) -> Selection; coverage

    # validation ----------------------------------------------------------------------
    def resolve(self, run, epoch: int | None, layer: str | None, classes: str | None
                ) -> tuple[int, str, tuple[int, int, int]]:
        """Check (epoch, layer, classes) against what ``run`` recorded; fill the defaults
        (latest recorded epoch, ``penultimate``, the run's default triple)."""
        recorded = list(run.recorded_epochs)
        if not recorded:
            raise QueryError("epoch", f"run {run.id} has no recorded epochs yet "
                             f"(status {run.status})")
        if epoch is None:
            epoch = recorded[-1]
        elif epoch not in recorded:
            raise QueryError("epoch", f"epoch {epoch} not recorded; recorded epochs: "
                             f"{_short(recorded)}")
        layer = self.resolve_layer(run, layer)
        return epoch, layer, self.resolve_classes(run, classes, epoch)

    @staticmethod
    def resolve_layer(run, layer: str | None) -> str:
        layer = layer or "penultimate"
        if run.layers and layer not in run.layers:
            raise QueryError("layer", f"unknown layer {layer!r}; this run recorded "
                             f"{', '.join(run.layers)}")
        return layer

    def resolve_classes(self, run, classes: str | None, epoch: int | None
                        ) -> tuple[int, int, int]:
        num = len(run.class_names)
        if not num and epoch is not None:  # names not written: count the classifier's rows
            num = len(self.store.get_arrays(run.id, "classifier", epoch=epoch)["weight"])
        default = tuple(run.config.get("record", {}).get("default_triple", (0, 1, 2)))
        return parse_classes(classes, num, default)

    # data ----------------------------------------------------------------------------
    def probe_rows(self, run_id: str) -> ProbeRows:
        rows = self._probes.get(run_id)
        if rows is None:
            rows = ProbeRows.from_arrays(self.store.get_arrays(run_id, "probe"))
            self._probes.put(run_id, rows)
        return rows

    def covered(self, run_id: str, classes: tuple[int, int, int]) -> bool:
        key = ("covers", run_id, tuple(sorted(classes)))
        hit = self._selections.get(key)
        if hit is None:
            hit = self.probe_rows(run_id).covers(classes)
            self._selections.put(key, hit)
        return hit

    def _extract_cache(self, run_id: str, epoch: int, layer: str,
                       classes: tuple[int, int, int]) -> dict[str, np.ndarray] | None:
        key = ",".join(str(c) for c in sorted(classes))
        for art in self.store.list_artifacts(run_id, "extract_cache"):
            if art.epoch == epoch and art.layer == layer and art.meta.get("classes") == key:
                return self.store.get_arrays(run_id, "extract_cache", epoch=epoch, layer=layer)
        return None

    def missing_epochs(self, run, epochs: list[int], layer: str,
                       classes: tuple[int, int, int]) -> list[int]:
        """Epochs whose triple must still be extracted on demand (empty when covered)."""
        if self.covered(run.id, classes):
            return []
        return [e for e in epochs if self._extract_cache(run.id, e, layer, classes) is None]

    def _selection(self, run_id: str, probe: ProbeRows, classes: tuple[int, int, int],
                   f: Filters, cached: bool = True) -> Selection:
        """The triple's rows and the shown subset: the same at every epoch (cached)."""
        key = ("selection", run_id, classes, f)
        sel = self._selections.get(key) if cached else None
        if sel is None:
            sel = select(probe, classes, f)
            if cached:
                self._selections.put(key, sel)
        return sel

    def _clean_mean(self, run_id: str, epoch: int, layer: str, num_clean: int,
                    row: Any = None) -> np.ndarray:
        """The mean of every class's clean rows: the stored ``clean_mean``, or for
        activations written before it, computed from the clean rows (then cached)."""
        key = ("clean_mean", run_id, epoch, layer)
        mean = self._selections.get(key)
        if mean is None:
            parts = self.store.get_rows(run_id, "activations", {"clean_mean": None},
                                        epoch=epoch, layer=layer, row=row)
            if "clean_mean" in parts:
                return np.asarray(parts["clean_mean"], np.float64)
            clean = self.store.get_rows(run_id, "activations", {"features": [(0, num_clean)]},
                                        epoch=epoch, layer=layer, row=row)["features"]
            mean = np.asarray(clean, np.float64).mean(axis=0)
            self._selections.put(key, mean)
        return mean

    def frames(self, run, epochs: list[int], layer: str, classes: tuple[int, int, int],
               f: Filters) -> list[dict[str, Any]]:
        """:meth:`frame` of each epoch, with the index rows of the activations and
        classifiers looked up in two queries instead of two per epoch."""
        found = (self.store.artifact_rows(run.id, "activations", layer=layer),
                 self.store.artifact_rows(run.id, "classifier"))
        return [self.frame(run, e, layer, classes, f, _rows=(found[0].get(e), found[1].get(e)))
                for e in epochs]

    def frame(self, run, epoch: int, layer: str, classes: tuple[int, int, int],
              f: Filters, _rows: tuple[Any, Any] = (None, None)) -> dict[str, Any]:
        """The projection (Frame fields) of one epoch; raises NotCovered when the triple
        needs an on-demand extraction that has not happened yet.

        Reads only the triple's rows of the epoch's activations (a few contiguous ranges:
        :func:`backend.probe_rows.row_ranges`), the stored clean mean, and the classifier's
        three rows of the triple (``Store.get_rows``)."""
        key = (run.id, epoch, layer, classes, f)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        main = self.probe_rows(run.id)
        mean: np.ndarray | None = None
        if self.covered(run.id, classes):
            probe = main
            sel = self._selection(run.id, probe, classes, f)
            ranges = row_ranges(sel.rows)
            parts = self.store.get_rows(run.id, "activations", {"features": ranges,
                                                                "clean_mean": None},
                                        epoch=epoch, layer=layer, row=_rows[0])
            feats = parts["features"]
            if "clean_mean" in parts:
                mean = np.asarray(parts["clean_mean"], np.float64)
        else:
            cache = self._extract_cache(run.id, epoch, layer, classes)
            if cache is None:
                raise NotCovered()
            probe = ProbeRows.from_arrays(cache)
            sel = self._selection(run.id, probe, classes, f, cached=False)
            feats = cache["features"][sel.rows]
            if not self.store.has_arrays(run.id, "activations", epoch=epoch, layer=layer):
                # all classes' clean rows unknown: the extraction's own
                mean = np.asarray(cache["features"][:probe.num_clean], np.float64).mean(0)

        def global_mean() -> np.ndarray:
            return mean if mean is not None else \
                self._clean_mean(run.id, epoch, layer, main.num_clean, _rows[0])

        centre = global_mean() if f.centre else None
        weight = self.store.get_rows(run.id, "classifier",
                                     {"weight": [(c, c + 1) for c in classes]},
                                     epoch=epoch, row=_rows[1])["weight"]
        basis = "classifier"
        if np.shape(weight)[1] != np.shape(feats)[1]:  # a layer the classifier does not read
            try:
                weight = class_mean_rows_of(feats, probe, sel.rows, classes, global_mean())
            except ValueError as exc:
                raise QueryError("layer", f"layer {layer!r}: {exc}") from None
            basis = "class-means"
        try:
            body = project_frame(feats, weight, probe, sel, classes, centre)
        except ValueError as exc:  # degenerate rows: e.g. two classes with the same mean
            raise QueryError("classes", f"classes {list(classes)} cannot be projected at "
                             f"layer {layer!r}, epoch {epoch}: {exc}") from None
        names = list(run.class_names)
        body.update(epoch=epoch, layer=layer, basis=basis,
                    class_names=[names[c] if c < len(names) else str(c) for c in classes])
        self.cache.put(key, body)
        return body

    def forget_run(self, run_id: str) -> None:
        self.cache.drop(lambda k: k[0] == run_id)
        self._probes.drop(lambda k: k == run_id)
        self._selections.drop(lambda k: k[1] == run_id)


def _short(xs: list[int], n: int = 12) -> str:
    s = ", ".join(map(str, xs[:n]))
    return s + (f", … ({len(xs)} in all)" if len(xs) > n else "")
