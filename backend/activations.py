"""How probe activations are stored: dtype (float16 when the picture allows it), the clean mean.

Every ``activations`` artifact (one per recorded epoch and layer) holds

- ``features`` (n_c + n_p, d), rows in probe order (:mod:`backend.probe_rows`), in the stored
  dtype, and
- ``clean_mean`` (d,) float32: the mean of the clean rows computed from the float32 features
  before any cast: the centre every projection subtracts, so a frame reads its triple's rows
  and this vector, never the other classes' rows; and
- ``scores`` (n_c + n_p, C) float32, for a layer the classifier reads (its width): the rows'
  classifier scores ``h · w_k`` (no bias) computed from the float32 features. A frame of a
  triple projects from three of these columns (:func:`backend.maths.project_triple_scores`):
  it reads C floats per row instead of d and never converts float16 rows.

**float16 by default** (``record.dtype: "float16"``, issue 14 target 5): half the bytes of
float32. float16 keeps ~3 significant digits, so before storing a layer in float16 the writer
measures what the rounding does to the picture (:func:`float16_deviation`): the largest
distance between a point projected from the float16 rows and from the float32 ones, in units
of the frame's vertex radius (the triangle's size), over the run's default triple and a few
other triples the probe covers. Above :data:`FLOAT16_TOLERANCE` (1e-3) that layer of that
epoch is stored in float32 instead (the fallback is per layer and epoch); the artifact's meta
says which (``dtype``, ``dtype_requested``, ``float16_deviation``). ``record.dtype: "float32"``
always stores float32. The projection itself always computes in float32/float64.

numpy only (the trainer, the recorder and the ingest routes call it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from backend.probe_rows import ProbeRows

FLOAT16_TOLERANCE = 1e-3
#: Triples checked besides the default one (seeded, among those the probe covers).
EXTRA_TRIPLES = 3


def clean_mean(features: np.ndarray, num_clean: int) -> np.ndarray:
    """(d,) float32 mean of the first ``num_clean`` rows (computed in float64)."""
    return np.asarray(features[:num_clean], np.float64).mean(axis=0).astype(np.float32)


def triple_points(features: np.ndarray, probe: ProbeRows, classes: Sequence[int],
                  weight: np.ndarray | None, centre: np.ndarray) -> tuple[np.ndarray, float]:
    """(points (n, 2), vertex radius) of a triple's rows as the API draws them: onto the
    classifier rows when ``weight`` fits the width, else onto the clean class means."""
    from backend import maths

    rows = probe.rows_of(classes)
    H = np.asarray(features[rows], np.float32)
    kind, ca, cb = probe.kind[rows], probe.class_a[rows], probe.class_b[rows]
    if weight is None or np.shape(weight)[1] != H.shape[1]:
        clean = kind == 0
        means = maths.class_mean_rows(H[clean], ca[clean], classes, centre)
        weight = np.zeros((max(classes) + 1, H.shape[1]))
        weight[list(classes)] = means
    proj = maths.project_triple(weight, H, tuple(classes), centre=centre)
    pts = np.asarray(proj.points, np.float64)
    try:
        _, _, radius = maths.vertex_geometry(pts, kind, ca, cb, classes)
    except ValueError:
        radius = 0.0
    if not radius > 0:
        radius = float(np.linalg.norm(pts, axis=1).max()) if len(pts) else 1.0
    return pts, float(radius) if radius > 0 else 1.0


def checked_triples(probe: ProbeRows, default: Sequence[int], num_classes: int,
                    extra: int = EXTRA_TRIPLES, seed: int = 0) -> list[tuple[int, int, int]]:
    """The default triple (when it is valid and covered) and up to ``extra`` other covered
    triples, drawn with a fixed seed."""
    out = []
    d = tuple(int(c) for c in default)
    if len(set(d)) == 3 and max(d) < num_classes and probe.covers(d):
        out.append(d)
    present = sorted(set(probe.class_a[:probe.num_clean].tolist()))
    if len(present) < 3:
        return out
    rng = np.random.default_rng(seed)
    if len(present) <= 12:
        pool = [t for t in combinations(present, 3) if t not in out and probe.covers(t)]
        picks = [pool[i] for i in rng.permutation(len(pool))[:extra]]
    else:  # many classes: try a few random draws
        picks = []
        for _ in range(20 * extra):
            t = tuple(sorted(int(c) for c in rng.choice(present, 3, replace=False)))
            if t not in out and t not in picks and probe.covers(t):
                picks.append(t)
            if len(picks) == extra:
                break
    return out + picks


def float16_deviation(features: np.ndarray, probe: ProbeRows, weight: np.ndarray | None,
                      triples: Sequence[Sequence[int]], centre: np.ndarray | None = None
                      ) -> float:
    """Largest ‖p16 − p32‖ / radius over the points of ``triples``: p32 projected from the
    float32 ``features``, p16 from the same rows rounded to float16 (both centred on the
    float32 clean mean, as stored). Without a triple to draw (fewer than three classes, or a
    layer too narrow to project, e.g. a 2-D bottleneck), the largest row error over the mean
    distance of the centred rows from the clean mean."""
    H32 = np.asarray(features, np.float32)
    H16 = H32.astype(np.float16)
    mu = clean_mean(H32, probe.num_clean) if centre is None else centre
    worst, measured = 0.0, 0
    for t in triples:
        try:
            p32, radius = triple_points(H32, probe, t, weight, mu)
            p16, _ = triple_points(H16, probe, t, weight, mu)
        except ValueError:  # a triple this layer cannot draw (e.g. 2-D features)
            continue
        worst = max(worst, float(np.linalg.norm(p16 - p32, axis=1).max() / radius))
        measured += 1
    if measured:
        return worst
    err = np.linalg.norm(H16.astype(np.float64) - H32, axis=1).max() if len(H32) else 0.0
    scale = np.linalg.norm(H32 - mu, axis=1).mean() if len(H32) else 1.0
    return float(err / scale) if scale > 0 else 0.0


def activation_arrays(features: np.ndarray, probe: ProbeRows, *, requested: str,
                      weight: np.ndarray | None, default_triple: Sequence[int],
                      num_classes: int, tolerance: float = FLOAT16_TOLERANCE
                      ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """What to store for one layer of one epoch: ``({"features", "clean_mean"[, "scores"]},
    meta)``.

    ``features`` (n_probe, d) float32 (or float16 already rounded, e.g. uploaded by a remote
    recorder: then it is kept as is and nothing can be measured); ``requested`` the run's
    ``record.dtype``; ``weight`` (C, d) the epoch's classifier (None or another width: the
    class-means basis is checked)."""
    H = np.asarray(features)
    mu = clean_mean(H, probe.num_clean)
    meta = {"dtype_requested": requested}
    if H.dtype == np.float16 or requested != "float16":
        stored = H if H.dtype == np.float16 else H.astype(np.float32)
    else:
        triples = checked_triples(probe, default_triple, num_classes)
        dev = float16_deviation(H, probe, weight, triples, mu)
        meta["float16_deviation"] = f"{dev:.3g}"
        stored = H.astype(np.float16) if dev <= tolerance else H.astype(np.float32)
    meta["dtype"] = str(stored.dtype)
    out = {"features": np.ascontiguousarray(stored), "clean_mean": mu}
    scores = classifier_scores(H, weight)
    if scores is not None:
        out["scores"] = scores
    return out, meta


def classifier_scores(features: np.ndarray, weight: np.ndarray | None) -> np.ndarray | None:
    """``features @ weightᵀ`` (n, C) float32, computed in float32 from the rows as given
    (before any float16 cast), or None when the layer is not the classifier's input (no
    weight, or another width). A frame of a triple projects from 3 of these columns instead
    of d features (:func:`backend.maths.project_triple_scores`)."""
    if weight is None:
        return None
    W = np.asarray(weight, np.float32)
    H = np.asarray(features)
    if W.ndim != 2 or H.ndim != 2 or W.shape[1] != H.shape[1]:
        return None
    return np.ascontiguousarray(H.astype(np.float32, copy=False) @ W.T)


def stored_dtypes(metas: Sequence[Mapping[str, str]]) -> dict[str, int]:
    """How many activation artifacts hold each dtype (``"unknown"``: written before the
    dtype was recorded in the meta)."""
    out: dict[str, int] = {}
    for m in metas:
        k = (m or {}).get("dtype", "unknown")
        out[k] = out.get(k, 0) + 1
    return out
