"""Calibration: ECE, MCE and reliability-diagram data (000 App. C).

Bins: M equal-width bins over the top-1 confidence with edges ``m / M`` (m = 0..M, each the
float nearest to the fraction, so a confidence written as ``3/15`` sits exactly on an edge);
bin m (1-based) holds confidences in ``((m-1)/M, m/M]``. So a confidence of exactly 1.0
falls in the last bin (some libraries put it in an extra bin and drop it) and a confidence of
exactly 0 falls in the first bin. A confidence exactly on an inner edge goes to the lower bin.

``ECE = Σ_m |B_m|/n · |acc(B_m) - conf(B_m)|``; ``MCE = max_m |acc(B_m) - conf(B_m)|`` over
non-empty bins. Empty bins contribute nothing; their accuracy and confidence are reported as 0
(with count 0) so the reliability data stays JSON-friendly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reliability", "bin_index", "ece", "mce", "reliability", "reliability_from_probs"]


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data. Arrays have shape (M,) except ``edges`` (M+1,).

    ``counts`` int64 points per bin, ``accuracy`` and ``confidence`` the per-bin means (0 for
    empty bins), ``ece``, ``mce`` floats, ``n`` the number of predictions."""

    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    edges: np.ndarray
    ece: float
    mce: float
    n: int

    def to_dict(self) -> dict:
        """JSON-ready: ``{"ece", "mce", "bins": {"counts", "accuracy", "confidence", "edges"}}``."""
        return {
            "ece": self.ece,
            "mce": self.mce,
            "bins": {
                "counts": self.counts.tolist(),
                "accuracy": self.accuracy.tolist(),
                "confidence": self.confidence.tolist(),
                "edges": self.edges.tolist(),
            },
        }


def _edges(n_bins: int) -> np.ndarray:
    return np.arange(n_bins + 1) / n_bins


def bin_index(confidences: np.ndarray, n_bins: int = 15) -> np.ndarray:
    """0-based bin of each confidence in ``((m-1)/M, m/M]``; 0 goes to the first bin."""
    edges = _edges(n_bins)
    idx = np.searchsorted(edges, np.asarray(confidences, dtype=np.float64), side="left") - 1
    return np.clip(idx, 0, n_bins - 1)


def reliability(confidences: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> Reliability:
    """Reliability data from top-1 confidences (n,) in [0, 1] and correctness (n,) bool/0-1."""
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}")
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    corr = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != corr.shape:
        raise ValueError(f"confidences {conf.shape} and correct {corr.shape} differ in shape")
    if conf.size and (not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must lie in [0, 1]")
    idx = bin_index(conf, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=corr, minlength=n_bins)
    safe = np.maximum(counts, 1)
    acc = sum_acc / safe
    mean_conf = sum_conf / safe
    gap = np.abs(acc - mean_conf)
    n = conf.size
    ece_v = float(np.sum(counts * gap) / n) if n else 0.0
    mce_v = float(gap[counts > 0].max()) if n else 0.0
    return Reliability(counts=counts.astype(np.int64), accuracy=acc, confidence=mean_conf,
                       edges=_edges(n_bins), ece=ece_v, mce=mce_v, n=n)


def reliability_from_probs(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> Reliability:
    """Reliability data from class probabilities (n, C) and integer labels (n,).
    Confidence = max probability; prediction = its argmax (first on ties)."""
    P = np.asarray(probs, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError(f"probs must be (n, C), got shape {P.shape}")
    labels = np.asarray(labels)
    if labels.shape != (P.shape[0],):
        raise ValueError(f"labels must have shape ({P.shape[0]},), got {labels.shape}")
    pred = P.argmax(axis=1)
    return reliability(P[np.arange(P.shape[0]), pred], pred == labels, n_bins)


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of probabilities (n, C) against labels (n,)."""
    return reliability_from_probs(probs, labels, n_bins).ece


def mce(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Maximum calibration error of probabilities (n, C) against labels (n,)."""
    return reliability_from_probs(probs, labels, n_bins).mce
