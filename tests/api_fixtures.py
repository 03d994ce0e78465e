"""Real stores for the API tests: runs whose probe, activation, classifier, spectra,
trajectory and metric records are real arrays put through :class:`Store` (no training), so
the projection routes can be checked against numpy on known geometry."""

from __future__ import annotations

import itertools

import numpy as np

from backend.api.encoding import decode_array
from backend.runconfig import RunConfig

__all__ = ["decode", "reliability_record", "synthetic_run"]


def decode(obj) -> np.ndarray:
    return decode_array(obj)


def reliability_record(rng, n_bins: int = 15) -> dict:
    counts = rng.integers(0, 30, n_bins).tolist()
    return {"counts": counts,
            "accuracy": [float(x) for x in rng.uniform(0, 1, n_bins)],
            "confidence": [float(x) for x in np.linspace(0.03, 0.97, n_bins)]}


def synthetic_run(store, *, num_classes: int = 10, d: int = 16, epochs=(0, 5, 10),
                  clean: int = 20, pairs: int = 10, class_pairs=None, seed: int = 0,
                  layers=("penultimate",), trajectory: bool = True,
                  status: str | None = "succeeded", config: dict | None = None,
                  sweep_id: str | None = None) -> str:
    """A run with ``clean`` clean points per class and ``pairs`` mixed pairs for each class
    pair (``class_pairs``: only these (i <= j) pairs; default all). Features at epoch e are
    the mixes of class means (a scaled simplex ETF) plus noise that shrinks with e, and the
    classifier is the ETF itself, so the picture is the ideal one. ``config``: more RunConfig
    fields (a sweep's differing ones); ``sweep_id``: the sweep the run belongs to."""
    rng = np.random.default_rng(seed)
    C = num_classes
    cfg = RunConfig(dataset="digits", epochs=max(epochs), name="synthetic",
                    record={"epochs": list(epochs), "layers": list(layers)}, **(config or {}))
    run = store.create_run(cfg, sweep_id=sweep_id)
    if class_pairs is None:
        class_pairs = [(i, j) for i, j in itertools.combinations_with_replacement(range(C), 2)]
    clean_class = np.repeat(np.arange(C), clean)
    clean_index = np.arange(len(clean_class)) * 3
    pa, pb = np.array([p for p in class_pairs for _ in range(pairs)]).T.reshape(2, -1)
    lam = rng.uniform(0, 1, len(pa)).astype(np.float32)
    probe = {"clean_index": clean_index.astype(np.int64), "clean_class": clean_class,
             "pair_class_a": pa.astype(np.int64), "pair_class_b": pb.astype(np.int64),
             "pair_a": rng.integers(0, 1000, len(pa)).astype(np.int64),
             "pair_b": rng.integers(0, 1000, len(pa)).astype(np.int64),
             "pair_lambda": lam}
    store.put_arrays(run.id, "probe", probe)
    etf = np.eye(C) - 1.0 / C
    W = np.zeros((C, d))
    W[:, :C] = etf * 3.0
    W = W @ np.linalg.qr(rng.normal(size=(d, d)))[0]   # a random rotation of feature space
    offset = rng.normal(size=d)                          # a global shift that centring removes
    for e in epochs:
        noise = 1.0 / (1 + e)
        for layer in layers:
            H_clean = W[clean_class] + noise * rng.normal(size=(len(clean_class), d))
            H_pairs = lam[:, None] * W[pa] + (1 - lam[:, None]) * W[pb]
            H_pairs = H_pairs + noise * rng.normal(size=H_pairs.shape)
            feats = (np.concatenate([H_clean, H_pairs]) + offset).astype(np.float32)
            store.put_arrays(run.id, "activations", {"features": feats}, epoch=e, layer=layer)
            k = min(C, d)
            store.put_arrays(run.id, "spectra",
                             {"per_class": rng.uniform(0, 1, (C, k)).astype(np.float32),
                              "all": rng.uniform(0, 1, k).astype(np.float32)},
                             epoch=e, layer=layer)
        store.put_arrays(run.id, "classifier", {"weight": W.astype(np.float32),
                                                 "bias": np.zeros(C, np.float32)}, epoch=e)
        if trajectory:
            T, P = 5, 2
            lambdas = np.linspace(0, 1, T).astype(np.float32)
            arrays = {"lambdas": lambdas, "pair_a": np.array([1, 2]), "pair_b": np.array([3, 4])}
            for layer in layers:
                arrays[f"layer:{layer}"] = rng.normal(size=(P, T, d)).astype(np.float32)
            arrays["layer:narrow"] = rng.normal(size=(P, T, d + 1)).astype(np.float32)
            store.put_arrays(run.id, "trajectory", arrays, epoch=e)
        store.record_epoch(run.id, e, {"test_accuracy": 0.5 + e / 100, "ece": 0.1 / (1 + e),
                                       "mce": 0.2, "train_loss": 1.0 / (1 + e),
                                       "reliability": reliability_record(rng)})
    store.update_run_info(run.id, class_names=[f"c{i}" for i in range(C)], layers=list(layers),
                          recorded_epochs=list(epochs), num_probe=len(clean_class) + len(pa),
                          summary={"test_accuracy": 0.5 + max(epochs) / 100})
    if status is not None:
        assert store.claim_run(run.id, "synthetic")
        if status != "running":
            store.finish_run(run.id, status)
    return run.id
