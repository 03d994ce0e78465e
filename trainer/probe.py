"""The probe set: fixed training examples and mixed pairs whose activations are recorded.

Drawn once (seeded by the run's seed) when a run first starts and stored as the artifact
kind ``probe``; every later extraction uses exactly these points, so pictures at different
epochs are comparable. Probe point order everywhere = clean points, then pairs.

Arrays (see docs/contracts.md): ``clean_index``/``clean_class`` (n_c,), ``pair_a``/``pair_b``
(n_p,) training indices with ``pair_class_a <= pair_class_b``, ``pair_lambda`` (n_p,) float32
(the weight on ``pair_a``), plus ``trajectory_a``/``trajectory_b`` (P,) — the fixed image pairs
traced across layers over a λ grid.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from backend.probe_rows import probe_rows_info, triple_rows  # noqa: F401 (their home)
from backend.runconfig import RunConfig

KIND = "probe"


def probe_lambda(config: RunConfig) -> tuple[str, float, str]:
    """The probe's λ law: (distribution "uniform" | "beta", α, a label saying which).

    ``probe.lambda_distribution = "training"`` follows the training draw, Beta(α, α) with
    the run's ``alpha`` (an ERM run mixes nothing: then uniform, and the label says so)."""
    p = config.probe
    if p.lambda_distribution == "training":
        if config.method == "erm":
            return "uniform", 1.0, "uniform on [0, 1] (same as training asked; ERM mixes nothing)"
        return "beta", config.alpha, f"Beta({config.alpha:g}, {config.alpha:g}) (same as training)"
    if p.lambda_distribution == "beta":
        return "beta", p.lambda_alpha, f"Beta({p.lambda_alpha:g}, {p.lambda_alpha:g}) (chosen)"
    return "uniform", 1.0, "uniform on [0, 1]"


def probe_class_pairs(config: RunConfig, num_classes: int) -> list[tuple[int, int]]:
    """Class pairs (i <= j, same-class included) the probe covers.

    All pairs up to ``probe.max_all_pairs_classes`` classes; above that only the pairs inside
    the configured triples and the default triple.
    """
    if num_classes <= config.probe.max_all_pairs_classes:
        return list(combinations_with_replacement(range(num_classes), 2))
    triples = list(config.probe.triples or []) + [tuple(config.record.default_triple)]
    pairs: set[tuple[int, int]] = set()
    for t in triples:
        for a, b in combinations_with_replacement(sorted(t), 2):
            pairs.add((a, b))
    return sorted(pairs)


def covered_classes(probe: dict[str, np.ndarray]) -> set[tuple[int, int]]:
    """The class pairs present in a stored probe."""
    return set(zip(probe["pair_class_a"].tolist(), probe["pair_class_b"].tolist()))


def dense_class_pairs(config: RunConfig) -> set[tuple[int, int]]:
    """Class pairs (i <= j) drawn ``probe.triple_pairs_per_class_pair`` times: those inside
    the configured triples and the default triple (empty when the option is unset)."""
    if config.probe.triple_pairs_per_class_pair is None:
        return set()
    triples = list(config.probe.triples or []) + [tuple(config.record.default_triple)]
    return {(a, b) for t in triples for a, b in combinations_with_replacement(sorted(t), 2)}


def draw_pairs(labels: np.ndarray, class_pairs: list[tuple[int, int]],
               per_pair: int | dict[tuple[int, int], int],
               rng: np.random.Generator, distribution: str, alpha: float
               ) -> dict[str, np.ndarray]:
    """``per_pair`` mixed pairs for each class pair (a dict: per class pair); λ uniform or
    Beta(alpha, alpha).

    Same-class pairs use two different examples when the class has at least two.
    """
    by_class = {c: np.flatnonzero(labels == c) for pair in class_pairs for c in pair}
    counts = per_pair if isinstance(per_pair, dict) else dict.fromkeys(class_pairs, per_pair)
    a_idx, b_idx, ca, cb = [], [], [], []
    for i, j in class_pairs:
        k = counts[(i, j)]
        pool_i, pool_j = by_class[i], by_class[j]
        if len(pool_i) == 0 or len(pool_j) == 0:
            continue
        a = rng.choice(pool_i, size=k, replace=len(pool_i) < k)
        if i == j and len(pool_i) > 1:
            # partner: another example of the same class (shift within the class pool)
            pos = np.searchsorted(pool_i, a)
            shift = rng.integers(1, len(pool_i), size=k)
            b = pool_i[(pos + shift) % len(pool_i)]
        else:
            b = rng.choice(pool_j, size=k, replace=len(pool_j) < k)
        a_idx.append(a)
        b_idx.append(b)
        ca.append(np.full(k, i))
        cb.append(np.full(k, j))
    n = sum(len(x) for x in a_idx)
    if distribution == "beta":
        lam = rng.beta(alpha, alpha, size=n)
    else:
        lam = rng.uniform(0.0, 1.0, size=n)
    cat = (lambda xs: np.concatenate(xs).astype(np.int64)) if n else \
        (lambda xs: np.zeros(0, np.int64))
    return {"pair_a": cat(a_idx), "pair_b": cat(b_idx), "pair_class_a": cat(ca),
            "pair_class_b": cat(cb), "pair_lambda": lam.astype(np.float32)}


def build_probe(config: RunConfig, train_labels: np.ndarray, num_classes: int
                ) -> dict[str, np.ndarray]:
    """Draw the probe set for a run (deterministic in ``config.seed``).

    train_labels: (n,) int class of every training example.
    """
    labels = np.asarray(train_labels).astype(np.int64)
    rng = np.random.default_rng([config.seed, 0x9B0BE])
    p = config.probe
    clean_idx, clean_cls = [], []
    for c in range(num_classes):
        pool = np.flatnonzero(labels == c)
        take = min(p.clean_per_class, len(pool))
        clean_idx.append(np.sort(rng.choice(pool, size=take, replace=False)))
        clean_cls.append(np.full(take, c))
    out = {"clean_index": np.concatenate(clean_idx).astype(np.int64),
           "clean_class": np.concatenate(clean_cls).astype(np.int64)}
    dist, alpha, _ = probe_lambda(config)
    pairs = probe_class_pairs(config, num_classes)
    dense = dense_class_pairs(config)
    counts = {pair: p.triple_pairs_per_class_pair if pair in dense else p.pairs_per_class_pair
              for pair in pairs}
    out.update(draw_pairs(labels, pairs, counts, rng, dist, alpha))
    # Trajectory pairs: different-class pairs spread over the default triple's classes
    # (over the first classes that have examples when there is no usable triple).
    present = [c for c in range(num_classes) if (labels == c).any()]
    trip = [c for c in config.record.default_triple if c in present]
    if len(trip) < 3:
        trip = present[:3]
    cls_pairs = [(a, b) for k, a in enumerate(trip) for b in trip[k + 1:]] or \
        [(trip[0], trip[0])]
    ta, tb = [], []
    for k in range(p.trajectory_pairs):
        i, j = cls_pairs[k % len(cls_pairs)]
        ta.append(int(rng.choice(np.flatnonzero(labels == i))))
        tb.append(int(rng.choice(np.flatnonzero(labels == j))))
    out["trajectory_a"] = np.asarray(ta, np.int64)
    out["trajectory_b"] = np.asarray(tb, np.int64)
    return out


def load_or_create(store, run_id: str, config: RunConfig, train_labels: np.ndarray,
                   num_classes: int) -> dict[str, np.ndarray]:
    """The run's stored probe; drawn and stored on the first start."""
    if store.has_arrays(run_id, KIND):
        return store.get_arrays(run_id, KIND)
    probe = build_probe(config, train_labels, num_classes)
    store.put_arrays(run_id, KIND, probe)
    return probe
