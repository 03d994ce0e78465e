"""ECE / MCE / reliability data: hand-computed cases, the bin convention, torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.maths import bin_index, ece, mce, reliability, reliability_from_probs


def test_hand_computed_two_bins():
    # M = 2: bins (0, .5] and (.5, 1]
    conf = np.array([0.2, 0.4, 0.9, 0.8, 0.7])
    correct = np.array([1, 0, 1, 1, 0])
    r = reliability(conf, correct, n_bins=2)
    np.testing.assert_array_equal(r.counts, [2, 3])
    np.testing.assert_allclose(r.accuracy, [0.5, 2 / 3])
    np.testing.assert_allclose(r.confidence, [0.3, 0.8])
    expected = 2 / 5 * abs(0.5 - 0.3) + 3 / 5 * abs(2 / 3 - 0.8)
    assert r.ece == pytest.approx(expected)
    assert r.mce == pytest.approx(max(0.2, 0.8 - 2 / 3))
    np.testing.assert_allclose(r.edges, [0, 0.5, 1])


def test_hand_computed_fifteen_bins_with_empty_bins():
    conf = np.array([0.95, 0.95, 0.95, 0.95, 0.55])
    correct = np.array([1, 1, 1, 0, 1])
    r = reliability(conf, correct)
    assert r.counts.sum() == 5 and (r.counts > 0).sum() == 2
    assert r.counts[14] == 4 and r.counts[8] == 1  # 0.95 in (14/15, 1], 0.55 in (8/15, 9/15]
    assert r.ece == pytest.approx(4 / 5 * abs(0.75 - 0.95) + 1 / 5 * abs(1 - 0.55))
    assert r.mce == pytest.approx(0.45)
    assert r.accuracy[0] == 0 and r.confidence[0] == 0  # empty bins report zeros


def test_bin_convention_edges():
    M = 15
    # exactly on an inner edge m/M -> bin m (1-based), i.e. index m-1
    edges = np.arange(1, M) / M
    np.testing.assert_array_equal(bin_index(edges, M), np.arange(M - 1))
    # 1.0 -> last bin, 0.0 -> first bin, just above an edge -> next bin
    np.testing.assert_array_equal(bin_index(np.array([1.0, 0.0]), M), [M - 1, 0])
    np.testing.assert_array_equal(bin_index(np.nextafter(edges, 2), M), np.arange(1, M))


def test_perfect_and_fully_confident():
    r = reliability(np.ones(10), np.ones(10))
    assert r.ece == 0 and r.mce == 0 and r.counts[-1] == 10
    r = reliability(np.ones(10), np.zeros(10))
    assert r.ece == pytest.approx(1.0) and r.counts[-1] == 10


def test_from_probs_and_shortcuts():
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    y = np.array([0, 1, 1])
    r = reliability_from_probs(P, y, n_bins=10)
    direct = reliability(np.array([0.7, 0.8, 0.4]), np.array([1, 0, 1]), n_bins=10)
    assert r.ece == pytest.approx(direct.ece)
    assert ece(P, y, 10) == pytest.approx(direct.ece) and mce(P, y, 10) == pytest.approx(direct.mce)
    d = r.to_dict()
    assert set(d) == {"ece", "mce", "bins"}
    assert set(d["bins"]) == {"counts", "accuracy", "confidence", "edges"}
    assert len(d["bins"]["counts"]) == 10 and len(d["bins"]["edges"]) == 11


def test_bad_input():
    with pytest.raises(ValueError, match="confidences"):
        reliability(np.array([1.2]), np.array([1]))
    with pytest.raises(ValueError, match="shape"):
        reliability(np.array([0.2, 0.3]), np.array([1]))
    with pytest.raises(ValueError, match="n_bins"):
        reliability(np.array([0.2]), np.array([1]), n_bins=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), C=st.integers(2, 12), n=st.integers(20, 400),
       n_bins=st.sampled_from([5, 10, 15, 20]), temp=st.floats(0.2, 5.0))
def test_matches_torchmetrics_away_from_the_edges(seed, C, n, n_bins, temp):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, C)) * temp
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    # stay away from bin edges and from confidence 1.0 (the known edge case) where the two
    # conventions ((a, b] here, [a, b) in torchmetrics) legitimately differ
    conf = P.max(axis=1)
    keep = (np.abs(conf * n_bins - np.round(conf * n_bins)) > 1e-6) & (conf < 1 - 1e-6)
    P, y = P[keep], rng.integers(0, C, n)[keep]
    if P.shape[0] == 0:
        return
    ours = reliability_from_probs(P, y, n_bins)
    Pt = torch.tensor(P, dtype=torch.float64)
    yt = torch.tensor(y)
    theirs_l1 = tm.multiclass_calibration_error(Pt, yt, num_classes=C, n_bins=n_bins, norm="l1")
    theirs_max = tm.multiclass_calibration_error(Pt, yt, num_classes=C, n_bins=n_bins, norm="max")
    # torchmetrics accumulates in float32
    assert ours.ece == pytest.approx(float(theirs_l1), abs=1e-6)
    assert ours.mce == pytest.approx(float(theirs_max), abs=1e-6)
