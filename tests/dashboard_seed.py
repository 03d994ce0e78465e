"""Fill a store with a synthetic, finished run whose arrays look like mixup training
(features drifting from noise towards a simplex ETF, different-class mixes pushed out to the
channels). Used by the browser benchmark, which needs a run with a known number of probe
points (e.g. 5 000 for one triple) without training one. Real arrays, real store."""

from __future__ import annotations

import itertools

import numpy as np


def _etf(C: int, d: int, rng: np.random.Generator) -> np.ndarray:
    U, _ = np.linalg.qr(rng.standard_normal((d, C)))
    M = np.sqrt(C / (C - 1)) * (np.eye(C) - np.ones((C, C)) / C)
    return (M @ U.T).astype(np.float32)  # (C, d), unit rows


def seed_synthetic_run(store, *, classes: int = 10, clean_per_class: int = 30,
                       pairs_per_class_pair: int = 50, epochs=(0, 1, 2, 5, 10, 20),
                       d: int = 64, seed: int = 0, name: str = "synthetic",
                       config: dict | None = None, sweep_id: str | None = None) -> str:
    """Create a succeeded run with probe, activations, classifier and per-epoch metrics.

    Probe points for a triple: 3 * clean_per_class + 6 * pairs_per_class_pair. ``config``:
    more RunConfig fields (a sweep's differing ones), ``sweep_id``: its sweep.
    Returns the run id.
    """
    from backend.runconfig import RunConfig

    rng = np.random.default_rng(seed)
    # the arrays below may hold a denser probe than a trainer config allows (the 100 000-point
    # view of bench_explore_scale); the config says the most it can
    cfg = RunConfig(dataset="digits", epochs=max(epochs), name=name,
                    record={"epochs": list(epochs)},
                    probe={"clean_per_class": min(clean_per_class, 5000),
                           "pairs_per_class_pair": min(pairs_per_class_pair, 5000)},
                    **(config or {}))
    run = store.create_run(cfg, sweep_id=sweep_id)
    assert store.claim_run(run.id, "seed")
    C = classes
    clean_class = np.repeat(np.arange(C), clean_per_class)
    pa, pb, ca, cb, lam = [], [], [], [], []
    for i, j in itertools.combinations_with_replacement(range(C), 2):
        n = pairs_per_class_pair
        ca.append(np.full(n, i))
        cb.append(np.full(n, j))
        lam.append(rng.uniform(0, 1, n))
    ca, cb, lam = np.concatenate(ca), np.concatenate(cb), np.concatenate(lam).astype(np.float32)
    n_c, n_p = len(clean_class), len(ca)
    clean_index = np.arange(n_c, dtype=np.int64)
    pa = rng.integers(0, 1000, n_p).astype(np.int64)
    pb = rng.integers(0, 1000, n_p).astype(np.int64)
    store.put_arrays(run.id, "probe", {
        "clean_index": clean_index, "clean_class": clean_class.astype(np.int64),
        "pair_a": pa, "pair_b": pb, "pair_class_a": ca.astype(np.int64),
        "pair_class_b": cb.astype(np.int64), "pair_lambda": lam})
    W_end = _etf(C, d, rng) * 3.0
    W_start = rng.standard_normal((C, d)).astype(np.float32) * 0.3
    noise_c = rng.standard_normal((n_c, d)).astype(np.float32)
    noise_p = rng.standard_normal((n_p, d)).astype(np.float32)
    last = max(epochs)
    for e in epochs:
        t = (e / last) ** 0.5 if last else 1.0
        W = ((1 - t) * W_start + t * W_end).astype(np.float32)
        scale = 0.5 + 2.5 * t
        clean = scale * W[clean_class] / 3.0 + (1.2 - t) * noise_c * 0.3
        mix = lam[:, None] * W[ca] + (1 - lam[:, None]) * W[cb]
        # mixup pushes different-class mixes outwards (the "channels") as training goes on
        push = 1 + 1.5 * t * (ca != cb)[:, None] * (1 - np.abs(2 * lam[:, None] - 1))
        pairs = scale * push * mix / 3.0 + (1.2 - t) * noise_p * 0.3
        feats = np.concatenate([clean, pairs]).astype(np.float32)
        store.put_arrays(run.id, "activations", {"features": feats}, epoch=e,
                         layer="penultimate")
        store.put_arrays(run.id, "classifier", {"weight": W, "bias": np.zeros(C, np.float32)},
                         epoch=e)
        acc = 0.1 + 0.85 * t
        counts = [0] * 15
        counts[min(14, int(acc * 15))] = 400
        counts[max(0, int(acc * 15) - 2)] = 50
        store.record_epoch(run.id, e, {
            "train_loss": 2.3 * (1 - t) + 0.3, "train_accuracy": acc, "test_loss": 2.3 - 2 * t,
            "test_accuracy": acc - 0.02, "ece": 0.2 * (1 - t) + 0.03, "mce": 0.3,
            "reliability": {"counts": counts, "accuracy": [min(1, (k + .5) / 15 + .03)
                                                             for k in range(15)],
                            "confidence": [(k + .5) / 15 for k in range(15)]},
            "norm_cv": 0.5 * (1 - t), "cosine_std": 0.4 * (1 - t), "nc1": 3 * (1 - t) + .1,
            "nc2": 0.5 * (1 - t), "nc3": 0.6 * (1 - t), "alignment": 0.3 + 0.6 * t,
            "channel_radius": 0.4 + 0.8 * t, "lr": 0.05, "epoch_time_s": 0.1,
            "samples_per_s": 1000.0})
        store.heartbeat(run.id, e, e / last if last else 1.0, 0.0)
    store.update_run_info(run.id, class_names=[str(c) for c in range(C)],
                          layers=["penultimate"], recorded_epochs=list(epochs),
                          num_probe=n_c + n_p,
                          summary={"test_accuracy": 0.93, "ece": 0.03, "channel_radius": 1.2})
    store.finish_run(run.id, "succeeded")
    return run.id
