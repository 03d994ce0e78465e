"""Singular-value spectra for the manifold-mixup flattening analysis (003 App. G).

For each class, the singular values of its representations centred on the class mean; and
the singular values of all classes together, centred on the global mean. Manifold mixup
shrinks the smaller per-class singular values (flattening) while the all-class spectrum
barely changes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_spectra", "mean_first_singular"]


def _svals(X: np.ndarray, centre: bool = True) -> np.ndarray:
    if X.shape[0] == 0:
        return np.zeros(0)
    return np.linalg.svd(X - X.mean(axis=0) if centre else X, compute_uv=False)


def mean_first_singular(per_class: np.ndarray) -> float:
    """The largest singular value averaged over the classes: the number 003's captions of
    Figs. 9–11 print ("the first singular value, averaged across the plots")."""
    per_class = np.asarray(per_class, dtype=np.float64)
    if per_class.size == 0:
        return float("nan")
    return float(per_class[:, 0].mean())


def class_spectra(H: np.ndarray, labels: np.ndarray, num_classes: int | None = None,
                  k: int | None = None, normalise: bool = False,
                  centre: bool = True) -> dict[str, np.ndarray]:
    """Singular values of centred representations, per class and of all classes.

    Args:
        H: (n, d) representations (any float dtype; computed in float64). Higher-rank inputs
            (e.g. conv maps n×c×h×w) are flattened to (n, -1).
        labels: (n,) integer classes in [0, C).
        num_classes: C (default ``labels.max() + 1``).
        k: keep the k largest values (default: ``min(d, largest class size)`` per class and
            ``min(n, d)`` for all classes).
        normalise: divide each spectrum by its largest value (shape only).
        centre: subtract the class (global) mean first; False gives the SVD of the raw
            representations, as 003 App. G describes it (the mean then shows up as the first
            singular value).

    Returns:
        ``per_class`` (C, k) float64, descending, zero-padded where a class has fewer than k
        non-trivial values (rank ≤ its size - 1 after centring); ``all`` (k_all,) float64.
    """
    H = np.asarray(H)
    H = H.reshape(H.shape[0], -1).astype(np.float64)
    labels = np.asarray(labels)
    if labels.shape != (H.shape[0],):
        raise ValueError(f"labels must have shape ({H.shape[0]},), got {labels.shape}")
    C = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    d = H.shape[1]
    per = [_svals(H[labels == c], centre) for c in range(C)]
    k_cls = min(d, max((s.size for s in per), default=0)) if k is None else int(k)
    out = np.zeros((C, k_cls))
    for c, s in enumerate(per):
        s = s[:k_cls]
        if normalise and s.size and s[0] > 0:
            s = s / s[0]
        out[c, : s.size] = s
    all_s = _svals(H, centre)
    if k is not None:
        all_s = np.pad(all_s[:k], (0, max(0, k - all_s.size)))
    if normalise and all_s.size and all_s[0] > 0:
        all_s = all_s / all_s[0]
    return {"per_class": out, "all": all_s}
