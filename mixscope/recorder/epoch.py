"""One recorded epoch of an external run: checks that name the bad argument, then the same
artifacts and metric keys as ``trainer.loop`` / ``trainer.extract`` (computed by the same
``trainer.metrics`` helpers), as the ``backend.recorded.EpochParts`` that a sink writes (a
local store, or the API through ``/api/ingest``: both by ``backend.recorded.write_epoch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from backend.recorded import EpochParts
from backend.runconfig import RunConfig


def _array(x: Any, name: str, ndim: int | None = None) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().float().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency of the recorder
        pass
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not a numeric array ({exc})") from exc
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    return a


def validate(probe: Mapping[str, np.ndarray], num_classes: int, widths: Mapping[str, int], *,
             features: Any, classifier_weight: Any, classifier_bias: Any = None,
             test_probs: Any = None, test_labels: Any = None,
             layers: Mapping[str, Any] | None = None,
             trajectory: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Checked float32 arrays of one epoch; ValueError naming the argument otherwise.

    widths: the feature width of each layer at the first logged epoch (must not change)."""
    n = len(probe["clean_index"]) + len(probe["pair_a"])
    C = num_classes
    H = _array(features, "features")
    if H.ndim != 2:
        H = H.reshape(len(H), -1) if H.ndim > 2 else H
    if H.ndim != 2 or len(H) != n:
        raise ValueError(f"features: expected one row per probe point ({n}, d), got "
                         f"shape {H.shape}")
    if not np.isfinite(H).all():
        raise ValueError(f"features: {int((~np.isfinite(H)).sum())} NaN/inf values")
    W = _array(classifier_weight, "classifier_weight", 2)
    if W.shape[0] != C:
        raise ValueError(f"classifier_weight: {W.shape[0]} rows but the run has {C} classes")
    if W.shape[1] != H.shape[1]:
        raise ValueError(f"features: width {H.shape[1]} but the classifier takes "
                         f"{W.shape[1]} inputs")
    if "penultimate" in widths and H.shape[1] != widths["penultimate"]:
        raise ValueError(f"features: width {H.shape[1]} differs from the first logged "
                         f"epoch's {widths['penultimate']}")
    if not np.isfinite(W).all():
        raise ValueError("classifier_weight: NaN/inf values")
    b = np.zeros(C, np.float32) if classifier_bias is None else \
        _array(classifier_bias, "classifier_bias", 1)
    if b.shape != (C,):
        raise ValueError(f"classifier_bias: expected shape ({C},), got {b.shape}")
    out: dict[str, Any] = {"features": H, "weight": W, "bias": b, "layers": {},
                           "test_probs": None, "test_labels": None, "trajectory": None}
    for name, arr in (layers or {}).items():
        key = f"layers[{name!r}]"
        if name == "penultimate" or not isinstance(name, str) or not name or len(name) > 100:
            raise ValueError(f"layers: bad layer name {name!r}")
        A = _array(arr, key)
        A = A.reshape(len(A), -1) if A.ndim >= 2 else A
        if A.ndim != 2 or len(A) != n:
            raise ValueError(f"{key}: expected ({n}, k), got shape {A.shape}")
        if not np.isfinite(A).all():
            raise ValueError(f"{key}: NaN/inf values")
        if name in widths and A.shape[1] != widths[name]:
            raise ValueError(f"{key}: width {A.shape[1]} differs from the first logged "
                             f"epoch's {widths[name]}")
        out["layers"][name] = A
    if (test_probs is None) != (test_labels is None):
        raise ValueError("test_labels: give test_probs and test_labels together")
    if test_probs is not None:
        P = _array(test_probs, "test_probs", 2)
        y = np.asarray(test_labels).astype(np.int64).reshape(-1)
        if P.shape[1] != C:
            raise ValueError(f"test_probs: {P.shape[1]} columns but the run has {C} classes")
        if len(y) != len(P):
            raise ValueError(f"test_labels: {len(y)} labels for {len(P)} rows of test_probs")
        if len(y) and (y.min() < 0 or y.max() >= C):
            raise ValueError(f"test_labels: classes must be in 0..{C - 1}")
        out["test_probs"], out["test_labels"] = P, y
    if trajectory is not None:
        out["trajectory"] = _trajectory(probe, trajectory, {
            "penultimate": H.shape[1], **{k: v.shape[1] for k, v in out["layers"].items()}})
    return out


def trajectory_lambdas(config: RunConfig) -> np.ndarray:
    """The λ grid of the layer-wise trajectories (``probe.trajectory_lambdas`` points)."""
    return np.linspace(0.0, 1.0, config.probe.trajectory_lambdas, dtype=np.float32)


def _trajectory(probe: Mapping[str, np.ndarray], traj: Mapping[str, Any],
                widths: Mapping[str, int]) -> dict[str, np.ndarray]:
    P = len(probe["trajectory_a"])
    if P == 0:
        raise ValueError("trajectory: the probe has no trajectory pairs "
                         "(probe={'trajectory_pairs': 0})")
    out: dict[str, np.ndarray] = {}
    T = None
    for name, arr in traj.items():
        key = f"trajectory[{name!r}]"
        if name not in widths:
            raise ValueError(f"{key}: no such layer logged this epoch (features are "
                             "'penultimate')")
        A = _array(arr, key)
        T = T or (A.shape[1] if A.ndim == 3 else None)
        if A.ndim != 3 or A.shape != (P, T, widths[name]):
            raise ValueError(f"{key}: expected ({P}, T, {widths[name]}) for the "
                             f"{P} trajectory pairs, got shape {A.shape}")
        if not np.isfinite(A).all():
            raise ValueError(f"{key}: NaN/inf values")
        out[f"layer:{name}"] = A
    if T is None or T < 2:
        raise ValueError("trajectory: give (P, T, d) arrays with T >= 2 λ values")
    out["lambdas"] = np.linspace(0.0, 1.0, T, dtype=np.float32)
    out["pair_a"] = np.asarray(probe["trajectory_a"], np.int64)
    out["pair_b"] = np.asarray(probe["trajectory_b"], np.int64)
    return out


def epoch_metrics(config: RunConfig, probe: Mapping[str, np.ndarray], num_classes: int,
                  arrays: Mapping[str, Any], train_loss: float | None) -> dict[str, Any]:
    """The metric keys of ``trainer.loop`` (docs/contracts.md), from the epoch's arrays."""
    from backend.probe_rows import probe_rows_info, triple_rows
    from trainer.metrics import classifier_metrics, test_metrics, triple_metrics

    H, W, b = arrays["features"], arrays["weight"], arrays["bias"]
    n_c = len(probe["clean_index"])
    yc = np.asarray(probe["clean_class"])
    clean = H[:n_c]
    clean_logits = clean.astype(np.float64) @ W.T.astype(np.float64) + b
    out: dict[str, Any] = {}
    P, y = arrays["test_probs"], arrays["test_labels"]
    if P is not None and len(y):
        p_true = np.clip(P[np.arange(len(y)), y].astype(np.float64), 1e-12, None)
        out["test_loss"] = out["test_nll"] = float(-np.log(p_true).mean())
        out["test_accuracy"] = float((P.argmax(1) == y).mean())
        out.update(test_metrics(P, y))
    else:
        out.update(test_loss=None, test_nll=None, test_accuracy=None, ece=None, mce=None,
                   reliability=None)
    out["train_accuracy"] = float((clean_logits.argmax(1) == yc).mean()) if len(yc) else None
    if train_loss is None and len(yc):
        z = clean_logits - clean_logits.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        train_loss = float(-logp[np.arange(len(yc)), yc].mean())
    out["train_loss"] = train_loss
    out.update(classifier_metrics(W, clean, yc))
    if num_classes >= 3:
        trip = tuple(config.record.default_triple)
        rows = triple_rows(probe, trip)
        out.update(triple_metrics(W, H[rows], probe_rows_info(probe, rows), trip,
                                  clean.mean(axis=0)))
    else:
        out.update(alignment=None, channel_radius=None)
    return out


def epoch_parts(epoch: int, config: RunConfig, probe: Mapping[str, np.ndarray],
                num_classes: int, arrays: Mapping[str, Any],
                train_loss: float | None) -> EpochParts:
    """The epoch as stored: metrics, spectra of the clean rows of every layer (from the
    float32 features) and activations in the run's ``record.dtype`` (float16 falls back to
    float32 per layer when rounding would move the picture: ``backend.activations``)."""
    from backend.activations import activation_arrays
    from backend.probe_rows import ProbeRows
    from trainer.extract import spectra_arrays

    metrics = epoch_metrics(config, probe, num_classes, arrays, train_loss)
    rows = ProbeRows.from_arrays(probe)
    n_c = rows.num_clean
    acts, spectra = {}, {}
    for name, A in [*arrays["layers"].items(), ("penultimate", arrays["features"])]:
        # float16 where the picture allows it (checked here, where float32 still exists)
        stored, _ = activation_arrays(A, rows, requested=config.record.dtype,
                                      weight=arrays["weight"],
                                      default_triple=config.record.default_triple,
                                      num_classes=num_classes)
        acts[name] = stored["features"]
        spectra[name] = spectra_arrays(A[:n_c], probe["clean_class"], num_classes)
    return EpochParts(int(epoch), acts, spectra, np.ascontiguousarray(arrays["weight"]),
                      np.ascontiguousarray(arrays["bias"]), metrics, arrays.get("trajectory"))
