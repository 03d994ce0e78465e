"""Lemma 2.3's mixup-optimal classifier (002) and the Assumption 2.9 distance check."""

from __future__ import annotations

import numpy as np
import pytest

from backend.maths import alternating_line, grid_2d, mixup_optimal, other_class_distances

PROP_25_X = np.array([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])
PROP_25_Y = np.array([0, 0, 1, 1])


@pytest.mark.parametrize("method", ["exact", "sample"])
def test_proposition_2_5_half_half_at_the_origin(method):
    """X_1 = {(0,±1)}, X_2 = {(±1,0)}, P_f = U[0,1]: h(0,0) = (½, ½), while nearby points on
    either segment are classified fully as their own class (the discontinuity)."""
    grid = np.array([[0.0, 0.0], [0.0, 0.3], [0.3, 0.0]])
    out = mixup_optimal(PROP_25_X, PROP_25_Y, grid, alpha=1.0, eps=0.05, method=method,
                        n_samples=400_000, seed=1)
    tol = 1e-12 if method == "exact" else 0.02
    np.testing.assert_allclose(out.h[0], [0.5, 0.5], atol=tol)
    np.testing.assert_allclose(out.h[1], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out.h[2], [0.0, 1.0], atol=1e-12)
    if method == "exact":
        # ξ^{11} = ξ^{22} = (1/8)·P(|2λ-1| ≤ ε) = ε/8, total ε/4. (The paper's proof says ε/4
        # each, taking the λ-measure as 2ε; the ratio, and so h, is the same.)
        assert out.mass[0] == pytest.approx(0.05 / 4, rel=1e-9)


def test_exact_and_sampled_agree_on_the_alternating_line():
    X, y = alternating_line(3)
    grid = np.linspace(-0.2, 2.2, 13)
    exact = mixup_optimal(X, y, grid, alpha=2.0, eps=0.1, method="exact")
    sampled = mixup_optimal(X, y, grid, alpha=2.0, eps=0.1, n_samples=300_000, seed=0)
    np.testing.assert_allclose(sampled.h, exact.h, atol=0.02)
    assert np.isnan(exact.h[0]).all()  # -0.2 is outside the mixing hull: not in X_mix


@pytest.mark.parametrize("alpha, expect_fail", [(1.0, False), (128.0, True)])
def test_theorem_2_7_middle_point_flips_for_large_alpha(alpha, expect_fail):
    """On X_3^2 the middle point (class 2) is pulled towards class 1 as Beta(α,α) concentrates."""
    X, y = alternating_line(3)
    out = mixup_optimal(X, y, np.array([0.0, 1.0, 2.0]), alpha=alpha, eps=0.05, method="exact")
    assert out.h[0, 0] > 0.99 and out.h[2, 0] > 0.99
    assert (out.h[1, 0] > 0.5) == expect_fail


def test_two_dimensional_grid_helper_and_validation():
    g = grid_2d((-1, 1), (0, 2), 5)
    assert g.shape == (25, 2) and g[0].tolist() == [-1, 0] and g[-1].tolist() == [1, 2]
    with pytest.raises(ValueError, match="eps"):
        mixup_optimal(PROP_25_X, PROP_25_Y, g, eps=0)
    with pytest.raises(ValueError, match="method"):
        mixup_optimal(PROP_25_X, PROP_25_Y, g, method="magic")
    with pytest.raises(ValueError, match="dimension"):
        mixup_optimal(PROP_25_X, PROP_25_Y, np.zeros((2, 3)))


def test_assumption_2_9_distances_on_a_constructed_dataset():
    """Three one-point classes at (0,0), (2,0), (1,3) and hand-picked mixes."""
    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]])
    y = np.array([0, 1, 2])
    pa = np.array([0, 0, 1, 2])
    pb = np.array([1, 2, 2, 2])
    lam = np.array([0.5, 0.8, 0.5, 0.3])
    out = other_class_distances(X, y, pair_a=pa, pair_b=pb, lam=lam)
    # (1,0) vs class 2 at (1,3): 3;  (0.2,0.6) vs (2,0): sqrt(3.6);
    # (1.5,1.5) vs (0,0): sqrt(4.5);  same-class (1,3) vs nearest of (0,0),(2,0): sqrt(10)
    expected = [3.0, np.sqrt(3.6), np.sqrt(4.5), np.sqrt(10.0)]
    np.testing.assert_allclose(out["distances"], expected, rtol=1e-12)
    assert out["min"] == pytest.approx(np.sqrt(3.6))
    assert out["mean"] == pytest.approx(np.mean(expected))


def test_assumption_2_9_sampled_epoch_respects_the_geometric_bound():
    """Class 0 on the x-axis at x∈[0,1], class 1 at x∈[3,4], class 2 far above at y = 5:
    every 0-1 mix lies on the x-axis, so its distance to class 2 is ≥ 5, and with α large
    the 0-1 mixes sit near x = 2, at ≥ sqrt(4 + 25) from the nearest class-2 point when that
    class is at x ∈ [0, 1] too."""
    rng = np.random.default_rng(0)
    X = np.concatenate([np.c_[rng.uniform(0, 1, 30), np.zeros(30)],
                        np.c_[rng.uniform(3, 4, 30), np.zeros(30)],
                        np.c_[rng.uniform(0, 1, 30), np.full(30, 5.0)]])
    y = np.repeat([0, 1, 2], 30)
    out = other_class_distances(X, y, alpha=1024.0, seed=3)
    d = out["distances"]
    assert d.shape == (90,) and out["min"] == pytest.approx(d.min())
    ya, yb = y[out["pair_a"]], y[out["pair_b"]]
    zero_one = ((ya == 0) & (yb == 1)) | ((ya == 1) & (yb == 0))
    assert zero_one.any() and np.all(d[zero_one] >= 5.0)
    # brute force for every mix
    Z = out["lam"][:, None] * X[out["pair_a"]] + (1 - out["lam"][:, None]) * X[out["pair_b"]]
    for z, a, b, got in zip(Z, ya, yb, d):
        others = (y != a) & (y != b)
        assert got == pytest.approx(np.linalg.norm(X[others] - z, axis=1).min(), rel=1e-9)
    sub = other_class_distances(X, y, alpha=1024.0, seed=3, subsample=0.2)
    assert sub["distances"].shape == (18,)
    # same seed -> same mixes; fewer reference points can only be farther away
    fewer = other_class_distances(X, y, alpha=1024.0, seed=3, X_ref=X[::2], y_ref=y[::2])
    np.testing.assert_array_equal(fewer["pair_b"], out["pair_b"])
    assert np.all(fewer["distances"] >= out["distances"] - 1e-12)
