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

6. **Scores**: with the classifier basis, a file that holds ``scores`` (the rows times the
   classifier, :mod:`backend.activations`) is projected from its triple's three columns
   (:func:`backend.maths.project_triple_scores`); ``GET /frames`` projects and measures every
   such epoch in one batched pass. The pure per-frame functions are :mod:`backend.api.frames`.

Results are kept in an LRU cache keyed by (run, epoch, layer, triple, filters).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from backend.api.cache import LRU
from backend.api.frames import (  # noqa: F401 (Filters, KIND_CODES: the routers' names)
    KIND_CODES,
    Filters,
    Selection,
    class_mean_basis,
    class_mean_rows_of,
    frame_bodies,
    frame_body,
    select,
)
from backend.errors import QueryError
from backend.probe_rows import ProbeRows, row_ranges

#: a frames request reads whole ``scores`` arrays up to this size (10 classes × 5 505 probe
#: rows: 220 KiB, less than a triple's own rows of features) and keeps them in memory
SCORES_WHOLE_BYTES = 1 << 20
#: memory an API process gives those arrays (least recently used go first)
SCORES_CACHE_BYTES = 256 << 20
#: memory an API process gives computed frames, by the bytes of their b64 arrays: a sweep
#: grid of 36 runs × 24 epochs × 1 000 points is ~40 MB (counted in entries, 256 frames,
#: every warm grid request recomputed most of its frames)
FRAMES_CACHE_BYTES = 256 << 20


def frame_bytes(body: dict[str, Any]) -> int:
    """What a cached frame body weighs: its b64 arrays' text plus a little for the rest."""
    return 512 + sum(len(v["data"]) for v in body.values()
                     if isinstance(v, dict) and "data" in v)


class NotCovered(Exception):
    """The probe set holds no pairs for some class pair of the triple (extract on demand)."""


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

    def __init__(self, store, cache_bytes: int = FRAMES_CACHE_BYTES,
                 cache_size: int | None = None):
        """Frames are cached up to ``cache_bytes`` of their arrays, or (``cache_size``) up
        to that many frames."""
        self.store = store
        self.cache = LRU(cache_size) if cache_size is not None else \
            LRU(cache_bytes, weigh=frame_bytes)
        self._probes = LRU(16)  # run id -> ProbeRows (fixed at run creation)
        self._selections = LRU(1024)  # selections, coverage, per-epoch bases
        # small runs' whole `scores` arrays (per epoch file), so that a frames request of a
        # triple is array indexing once they are read; larger ones are read in row ranges
        self._scores = LRU(SCORES_CACHE_BYTES, weigh=lambda a: a.nbytes)
        self._finished_rows = LRU(64)   # (run, kind, layer, status, epochs) -> index rows
        # one frames computation at a time per process: it is Python-bound, so concurrent
        # ones only trade the GIL (bench_scale, 8 concurrent clients: p50 170 -> 115 ms)
        self._one_at_a_time = threading.Lock()

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
        """:meth:`frame` of each epoch. The index rows of the activations and classifiers are
        looked up in two queries instead of two per epoch, and the epochs whose files hold
        ``scores`` are projected together (:meth:`_scored_frames`)."""
        with self._one_at_a_time:
            return self._frames(run, epochs, layer, classes, f)

    def _frames(self, run, epochs: list[int], layer: str, classes: tuple[int, int, int],
                f: Filters) -> list[dict[str, Any]]:
        found = (self._artifact_rows(run, "activations", layer),
                 self._artifact_rows(run, "classifier", None))
        done = {e: hit for e in epochs
                if (hit := self.cache.get((run.id, e, layer, classes, f))) is not None}
        todo = [e for e in epochs if e not in done]
        if todo and self.covered(run.id, classes):
            done.update(self._scored_frames(run, todo, layer, classes, f, found))
        return [done[e] if e in done else
                self.frame(run, e, layer, classes, f, _rows=(found[0].get(e), found[1].get(e)))
                for e in epochs]

    def _scored_frames(self, run, epochs: list[int], layer: str, classes: tuple[int, int, int],
                       f: Filters, found: tuple[dict, dict]) -> dict[int, dict[str, Any]]:
        """Frames of a covered triple at several epochs from the stored ``scores``: per epoch
        the triple's rows of ``scores`` (C floats each), the clean mean and the classifier's
        three rows, then one batched projection and one batched metrics pass
        (:func:`backend.maths.project_scores_epochs`). Epochs this cannot do (no scores, an
        ill-conditioned classifier) are left out for :meth:`frame`."""
        from backend import maths

        probe = self.probe_rows(run.id)
        sel = self._selection(run.id, probe, classes, f)
        ranges = row_ranges(sel.rows)
        cols = list(classes)
        got, scores, grams, centres = [], [], [], []
        for e in epochs:
            arow, crow = found[0].get(e), found[1].get(e)
            if arow is None or crow is None:
                continue
            basis = self._epoch_basis(run.id, e, layer, arow, crow)
            if basis is None:
                continue
            gram, centre_scores = basis
            part = self._scores_rows(run.id, e, layer, arow, sel.rows, ranges,
                                     len(probe) * len(gram) * 4)
            if part is None or part.shape[1] <= max(cols):
                continue
            got.append(e)
            scores.append(part[:, cols])
            grams.append(gram[np.ix_(cols, cols)])
            centres.append(centre_scores[cols])
        if not got:
            return {}
        coords3, arrows, ok = maths.project_scores_epochs(
            np.stack(grams), np.stack(scores), np.stack(centres) if f.centre else None)
        keep = np.flatnonzero(ok)
        if not len(keep):
            return {}
        points = coords3[keep] @ maths.triangle_vertices().T
        names = list(run.class_names)
        out = {}
        for i, body in zip(keep, frame_bodies(points, arrows[keep], probe, sel, classes)):
            body.update(epoch=got[i], layer=layer, basis="classifier",
                        class_names=[names[c] if c < len(names) else str(c) for c in classes])
            self.cache.put((run.id, got[i], layer, classes, f), body)
            out[got[i]] = body
        return out

    def _artifact_rows(self, run, kind: str, layer: str | None) -> dict:
        """:meth:`Store.artifact_rows`; kept for a finished run, whose recorded epochs'
        files no longer change (the key holds its status and recorded epochs, so a resumed
        run is looked up again)."""
        if not run.finished:
            return self.store.artifact_rows(run.id, kind, layer=layer)
        key = (run.id, kind, layer, run.status, tuple(run.recorded_epochs))
        rows = self._finished_rows.get(key)
        if rows is None:
            rows = self.store.artifact_rows(run.id, kind, layer=layer)
            self._finished_rows.put(key, rows)
        return rows

    def _scores_rows(self, run_id: str, epoch: int, layer: str, arow, rows: np.ndarray,
                     ranges: list[tuple[int, int]], whole_bytes: int) -> np.ndarray | None:
        """The ``scores`` of probe rows ``rows`` (whose ranges are ``ranges``) of an epoch's
        activations file, or None when it has none. A file whose whole scores array is at
        most :data:`SCORES_WHOLE_BYTES` is read whole once and kept; others in ranges."""
        if whole_bytes > SCORES_WHOLE_BYTES:
            return self.store.get_rows(run_id, "activations", {"scores": ranges},
                                       epoch=epoch, layer=layer, row=arow).get("scores")
        key = ("scores", arow.path, str(arow.created_at))
        whole = self._scores.get(key)
        if whole is None:
            whole = self.store.get_rows(run_id, "activations", {"scores": None},
                                        epoch=epoch, layer=layer, row=arow).get("scores")
            if whole is None:
                return None
            self._scores.put(key, whole)
        return whole[rows]

    def _epoch_basis(self, run_id: str, epoch: int, layer: str, arow, crow
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """What an epoch's classifier gives every triple's frame from scores: the Gram
        matrix ``W Wᵀ`` (C, C) and the clean mean's scores ``W μ`` (C,) of the layer, or
        None when the widths differ. Read once per stored version of the two files (the
        key holds their paths and write times), then cached."""
        key = ("basis", run_id, epoch, layer, arow.path, str(arow.created_at), crow.path,
               str(crow.created_at))
        hit = self._selections.get(key)
        if hit is None:
            W = np.asarray(self.store.get_rows(run_id, "classifier", {"weight": None},
                                               epoch=epoch, row=crow)["weight"], np.float64)
            mu = self.store.get_rows(run_id, "activations", {"clean_mean": None},
                                     epoch=epoch, layer=layer, row=arow).get("clean_mean")
            if mu is None or W.ndim != 2 or W.shape[1] != np.shape(mu)[0]:
                hit = (None,)
            else:
                hit = (W @ W.T, W @ np.asarray(mu, np.float64))
            self._selections.put(key, hit)
        return None if hit[0] is None else hit

    def frame(self, run, epoch: int, layer: str, classes: tuple[int, int, int],
              f: Filters, _rows: tuple[Any, Any] = (None, None)) -> dict[str, Any]:
        """The projection (Frame fields) of one epoch; raises NotCovered when the triple
        needs an on-demand extraction that has not happened yet.

        Reads only the triple's rows of the epoch's activations (a few contiguous ranges:
        :func:`backend.probe_rows.row_ranges`), the stored clean mean, and the classifier's
        three rows of the triple (``Store.get_rows``). Of those rows it reads the classifier
        ``scores`` (C floats a row) where the writer stored them, and projects from the
        triple's three columns (:func:`backend.maths.project_triple_scores`); the d features
        only for a layer of another width, files written before scores, or a classifier too
        ill-conditioned for scores."""
        from backend import maths

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
            parts = self.store.get_rows(run.id, "activations", {"scores": ranges,
                                                                "clean_mean": None},
                                        epoch=epoch, layer=layer, row=_rows[0])
            scores = parts.get("scores")
            if "clean_mean" in parts:
                mean = np.asarray(parts["clean_mean"], np.float64)

            def features() -> np.ndarray:
                return self.store.get_rows(run.id, "activations", {"features": ranges},
                                           epoch=epoch, layer=layer, row=_rows[0])["features"]
        else:
            cache = self._extract_cache(run.id, epoch, layer, classes)
            if cache is None:
                raise NotCovered()
            probe = ProbeRows.from_arrays(cache)
            sel = self._selection(run.id, probe, classes, f, cached=False)
            scores = cache["scores"][sel.rows] if "scores" in cache else None
            if not self.store.has_arrays(run.id, "activations", epoch=epoch, layer=layer):
                # all classes' clean rows unknown: the extraction's own
                mean = np.asarray(cache["features"][:probe.num_clean], np.float64).mean(0)

            def features() -> np.ndarray:
                return cache["features"][sel.rows]

        def global_mean() -> np.ndarray:
            return mean if mean is not None else \
                self._clean_mean(run.id, epoch, layer, main.num_clean, _rows[0])

        centre = global_mean() if f.centre else None
        weight = self.store.get_rows(run.id, "classifier",
                                     {"weight": [(c, c + 1) for c in classes]},
                                     epoch=epoch, row=_rows[1])["weight"]
        basis, proj = "classifier", None
        if scores is not None and np.shape(scores)[1] > max(classes):
            try:
                proj = maths.project_triple_scores(weight, scores[:, list(classes)], (0, 1, 2),
                                                   centre=centre)
            except ValueError:  # ill-conditioned or degenerate: the rows decide below
                proj = None
        if proj is None:
            feats = features()
            if np.shape(weight)[1] != np.shape(feats)[1]:  # a layer the classifier does not read
                try:
                    weight = class_mean_rows_of(feats, probe, sel.rows, classes, global_mean())
                except ValueError as exc:
                    raise QueryError("layer", f"layer {layer!r}: {exc}") from None
                basis = "class-means"
            try:
                proj = maths.project_triple(weight, feats, (0, 1, 2), centre=centre)
            except ValueError as exc:  # degenerate rows: e.g. two classes with the same mean
                raise QueryError("classes", f"classes {list(classes)} cannot be projected at "
                                 f"layer {layer!r}, epoch {epoch}: {exc}") from None
        body = frame_body(proj, probe, sel, classes)
        names = list(run.class_names)
        body.update(epoch=epoch, layer=layer, basis=basis,
                    class_names=[names[c] if c < len(names) else str(c) for c in classes])
        self.cache.put(key, body)
        return body

    def forget_damaged(self, run_id: str, paths: list[str]) -> None:
        """A file of the run was found damaged: drop everything this process holds of the
        run (frames, bases, scores, selections) and the artifact store's arrays of those
        files, so the next request reads the file again and answers its 409 (issue 24)."""
        self.forget_run(run_id)
        for path in paths:
            self.store.files.forget(path)

    def forget_run(self, run_id: str) -> None:
        self.cache.drop(lambda k: k[0] == run_id)
        self._finished_rows.drop(lambda k: k[0] == run_id)
        self._scores.drop(lambda k: f"/{run_id}/" in str(k[1]))
        self._probes.drop(lambda k: k == run_id)
        self._selections.drop(lambda k: k[1] == run_id)


def _short(xs: list[int], n: int = 12) -> str:
    s = ", ".join(map(str, xs[:n]))
    return s + (f", … ({len(xs)} in all)" if len(xs) > n else "")
