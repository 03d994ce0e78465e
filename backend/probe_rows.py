"""Probe rows: the one place that expands a stored probe set into per-row arrays.

A run's probe (artifact kind ``probe``, drawn by ``trainer.probe.build_probe``) stores its
clean examples and its mixed pairs separately: ``clean_index``/``clean_class`` (n_c,) and
``pair_a``/``pair_b``/``pair_class_a``/``pair_class_b``/``pair_lambda`` (n_p,). Every stored
activation array has one row per probe point, **clean rows first, then the pairs**, in the
probe's own order. This module turns the stored arrays into per-row arrays (classes, λ on
``class_a``, kind, dataset indices), finds a class triple's rows, and cuts a row selection
into contiguous ranges (what a sliced read of an activation file needs).

The probe draws clean rows class by class and pairs class pair by class pair (i <= j, in
lexicographic order), so a triple's rows fall into at most 3 + 6 contiguous ranges: a
triple's frame reads those ranges of each epoch's activations, not the whole array
(:func:`row_ranges`, ``Store.get_rows``). Probes stored in another order still work: their
ranges are just more numerous.

numpy only: the API, the store, the trainer and the recorder all import it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from backend.maths.collapse import KIND_CLEAN, KIND_DIFFERENT, KIND_SAME

#: Query names of the row kinds (``kinds=clean,same,different``) -> their codes.
KIND_CODES = {"clean": KIND_CLEAN, "same": KIND_SAME, "different": KIND_DIFFERENT}


@dataclass
class ProbeRows:
    """Per probe row (clean rows then pairs): classes, λ on ``class_a``, kind, dataset indices.

    All arrays have shape (n_c + n_p,); clean rows read as (c, c, λ = 1, kind clean, i, i)."""

    class_a: np.ndarray
    class_b: np.ndarray
    lam: np.ndarray
    kind: np.ndarray
    index_a: np.ndarray
    index_b: np.ndarray
    num_clean: int

    @classmethod
    def from_arrays(cls, p: Mapping[str, np.ndarray]) -> ProbeRows:
        """Expand stored probe arrays (the probe artifact, or an extraction cache holding
        the same keys)."""
        cc = np.asarray(p["clean_class"], np.int64)
        ci = np.asarray(p["clean_index"], np.int64)
        pa, pb = np.asarray(p["pair_class_a"], np.int64), np.asarray(p["pair_class_b"], np.int64)
        return cls(
            class_a=np.concatenate([cc, pa]), class_b=np.concatenate([cc, pb]),
            lam=np.concatenate([np.ones(len(cc), np.float32),
                                np.asarray(p["pair_lambda"], np.float32)]),
            kind=np.concatenate([np.full(len(cc), KIND_CLEAN, np.int16),
                                 np.where(pa == pb, KIND_SAME, KIND_DIFFERENT)
                                 .astype(np.int16)]),
            index_a=np.concatenate([ci, np.asarray(p["pair_a"], np.int64)]),
            index_b=np.concatenate([ci, np.asarray(p["pair_b"], np.int64)]),
            num_clean=len(cc))

    def __len__(self) -> int:
        return len(self.class_a)

    @functools.cached_property
    def _class_pairs(self) -> frozenset[tuple[int, int]]:
        """The class pairs (both orders) that have at least one mixed pair: built once per
        probe (a recorded epoch asks :meth:`covers` of every triple of ten classes)."""
        pairs = self.kind != KIND_CLEAN
        have = set(zip(self.class_a[pairs].tolist(), self.class_b[pairs].tolist()))
        return frozenset(have | {(b, a) for a, b in have})

    def covers(self, classes: Sequence[int]) -> bool:
        """True when every class pair of the triple (same-class pairs included) has a pair."""
        have = self._class_pairs
        return all((int(i), int(j)) in have for i in classes for j in classes)

    def rows_of(self, classes: Sequence[int]) -> np.ndarray:
        """Row indices (ascending, so in probe order) of a class set's points: clean rows of
        its classes and the pairs with both classes in it."""
        s = np.asarray(sorted(int(c) for c in classes))
        return np.flatnonzero(np.isin(self.class_a, s) & np.isin(self.class_b, s))

    def clean_rows(self) -> np.ndarray:
        return np.arange(self.num_clean)


def expand(probe: Mapping[str, np.ndarray] | ProbeRows) -> ProbeRows:
    return probe if isinstance(probe, ProbeRows) else ProbeRows.from_arrays(probe)


def triple_rows(probe: Mapping[str, np.ndarray] | ProbeRows, classes: Sequence[int]
                ) -> np.ndarray:
    """Row indices (into probe order: clean then pairs) of the points of a class triple."""
    return expand(probe).rows_of(classes)


def probe_rows_info(probe: Mapping[str, np.ndarray] | ProbeRows, rows: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """Per selected probe row: ``class_a``, ``class_b``, ``lam`` (weight on class_a) and
    ``is_clean`` (clean rows read as (c, c, 1))."""
    p = expand(probe)
    return {"class_a": p.class_a[rows], "class_b": p.class_b[rows], "lam": p.lam[rows],
            "is_clean": np.asarray(rows) < p.num_clean}


def probe_index(probe: Mapping[str, np.ndarray] | ProbeRows, rows: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per probe row: (index_a, index_b, λ) with clean rows as (i, i, 1): what the trainer
    mixes (``λ x[index_a] + (1 − λ) x[index_b]``) to feed a probe point through the net."""
    p = expand(probe)
    if rows is None:
        return p.index_a, p.index_b, p.lam
    return p.index_a[rows], p.index_b[rows], p.lam[rows]


def row_ranges(rows: np.ndarray) -> list[tuple[int, int]]:
    """Cut ascending row indices into contiguous ``(start, stop)`` ranges (stop exclusive):
    ``[0, 1, 2, 7, 8] -> [(0, 3), (7, 9)]``."""
    rows = np.asarray(rows, np.int64).reshape(-1)
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(rows)]])
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, stops)]
