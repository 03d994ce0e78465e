"""Collapse metrics: 0 on an exact ETF with collapsed features; alignment and channel radius."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.maths import (
    channel_radius,
    cosine_std,
    etf,
    nc1,
    nc2,
    nc3,
    neural_collapse,
    norm_cv,
    optimal_features,
    project_triple,
    projection_metrics,
    solve_ufm,
    vertex_geometry,
)

FAST = settings(max_examples=30, deadline=None)


@FAST
@given(C=st.integers(3, 15), extra=st.integers(0, 10), m=st.floats(0.1, 10.0),
       scale=st.floats(0.1, 10.0), per=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_metrics_vanish_on_an_exact_etf(C, extra, m, scale, per, seed):
    W = etf(C, m, d=C + extra, seed=seed)
    labels = np.repeat(np.arange(C), per)
    H = scale * W[labels] + 0.7  # collapsed features aligned with W, shifted by a constant
    out = neural_collapse(W, H, labels)
    for key, value in out.items():
        assert value == pytest.approx(0.0, abs=1e-7), key


def test_metrics_detect_departures_from_an_etf():
    rng = np.random.default_rng(0)
    W = etf(10, 2.0, d=32, seed=1)
    labels = np.repeat(np.arange(10), 20)
    W_bad = W.copy()
    W_bad[0] *= 2.0
    assert norm_cv(W_bad) > 0.05
    assert cosine_std(W + 0.3 * rng.standard_normal(W.shape)) > 0.01
    H = W[labels] + 0.5 * rng.standard_normal((labels.size, 32))
    assert nc1(H, labels) > 0.01
    H_skew = W_bad[labels]
    assert nc2(H_skew, labels) > 0.01
    assert nc3(W, W_bad[labels], labels) > 0.01
    # cosine of an exact ETF: -1/(C-1) everywhere
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    off = (Wn @ Wn.T)[~np.eye(10, dtype=bool)]
    np.testing.assert_allclose(off, -1 / 9, atol=1e-12)


def test_norm_cv_and_cosine_std_by_hand():
    W = np.array([[1.0, 0.0], [0.0, 3.0], [0.0, 0.0001]])
    n = np.array([1.0, 3.0, 0.0001])
    assert norm_cv(W) == pytest.approx(n.std() / n.mean())
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c = 1 / np.sqrt(2)
    cos = np.array([0, c, 0, c, c, c])  # ordered pairs
    assert cosine_std(W) == pytest.approx(cos.std())


def _triple_points(radius_diff: float, n: int = 200, seed: int = 0):
    """Clean points at unit vertices, same-class points spread around them, different-class
    points with λ≈½ at ``radius_diff`` from the centre (on the edge-midpoint directions)."""
    rng = np.random.default_rng(seed)
    V = np.array([[0.0, 1.0], [np.sqrt(3) / 2, -0.5], [-np.sqrt(3) / 2, -0.5]]) + [0.3, -0.2]
    pts, kind, ca, cb, lam = [], [], [], [], []
    for k in range(3):
        pts.append(V[k] + 0.01 * rng.standard_normal((n, 2)))
        kind += [0] * n
        ca += [k] * n
        cb += [k] * n
        lam += [1.0] * n
        pts.append(V[k] * 0.9 + 0.1 * np.array([0.3, -0.2]) + 0.02 * rng.standard_normal((n, 2)))
        kind += [1] * n
        ca += [k] * n
        cb += [k] * n
        lam += list(rng.uniform(0, 1, n))
    centre = np.array([0.3, -0.2])
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        mid = (V[a] + V[b]) / 2 - centre
        direction = mid / np.linalg.norm(mid)
        pts.append(centre + radius_diff * direction + 0.001 * rng.standard_normal((n, 2)))
        kind += [2] * n
        ca += [a] * n
        cb += [b] * n
        lam += list(rng.uniform(0.4, 0.6, n))
    arrows = (V - centre) * 5.0
    return (np.concatenate(pts), np.array(kind), np.array(ca), np.array(cb), np.array(lam),
            arrows)


@pytest.mark.parametrize("r", [0.5, 0.78, 1.2])
def test_channel_radius_is_in_units_of_the_vertex_radius(r):
    pts, kind, ca, cb, lam, arrows = _triple_points(r)
    centre, _pos, radius = vertex_geometry(pts, kind, ca, cb, (0, 1, 2))
    np.testing.assert_allclose(centre, [0.3, -0.2], atol=2e-3)
    assert radius == pytest.approx(1.0, abs=2e-3)
    out = projection_metrics(pts, kind, ca, cb, lam, arrows, (0, 1, 2))
    assert out["channel_radius"] == pytest.approx(r, abs=5e-3)
    assert out["alignment"] > 0.99
    # scale-free: blowing up the picture changes nothing
    out2 = projection_metrics(pts * 7.0, kind, ca, cb, lam, arrows, (0, 1, 2))
    assert out2["channel_radius"] == pytest.approx(out["channel_radius"], rel=1e-9)
    assert out2["alignment"] == pytest.approx(out["alignment"], rel=1e-9)


def test_alignment_drops_when_same_class_points_leave_their_arrow():
    pts, kind, ca, cb, lam, arrows = _triple_points(0.6)
    rolled = np.roll(arrows, 1, axis=0)  # every class now points at another class's vertex
    out = projection_metrics(pts, kind, ca, cb, lam, rolled, (0, 1, 2))
    assert out["alignment"] < -0.4


def test_channel_radius_edge_cases():
    assert np.isnan(channel_radius(np.zeros((3, 2)), np.array([0.1, 0.2, 0.9]), np.zeros(2), 1.0))
    with pytest.raises(ValueError, match="class 2"):
        vertex_geometry(np.zeros((2, 2)), np.array([0, 0]), np.array([0, 1]), np.array([0, 1]),
                        (0, 1, 2))


def test_ufm_optimum_is_a_bowed_hexagon():
    """The theory's optimal features (Fig. 6): same-class points on the arrows, λ≈½ points
    further out than the straight edge midpoints (0.5)."""
    sol = solve_ufm(3, 10, 1e-6, np.linspace(0, 1, 201))
    f = optimal_features(sol)
    W = etf(10, 3.0)
    p = project_triple(W, f["features"], (0, 1, 2))
    out = projection_metrics(p.points, f["kind"], f["class_a"], f["class_b"], f["lam"], p.arrows,
                             (0, 1, 2))
    assert out["alignment"] == pytest.approx(1.0, abs=1e-9)
    assert 0.5 < out["channel_radius"] < 1.2
