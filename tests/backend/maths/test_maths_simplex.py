"""Simplex projection (000 App. B.2): orientation, ETF vertices, rotation invariance, centring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.maths import etf, orthonormal_frame, project_triple, triangle_vertices

FAST = settings(max_examples=30, deadline=None)


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_triangle_orientation_a_on_top_then_clockwise():
    A = triangle_vertices()
    assert A.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0)
    np.testing.assert_allclose(A.sum(axis=1), 0.0, atol=1e-15)
    # a at the top, b lower right, c lower left: clockwise from the top
    assert A[1, 0] == pytest.approx(1.0)
    assert A[0, 1] > 0 > A[1, 1] and A[0, 2] < 0 > A[1, 2]
    cross = A[0, 0] * A[1, 1] - A[1, 0] * A[0, 1]
    assert cross < 0  # turning from a to b is clockwise


@FAST
@given(C=st.integers(3, 12), extra=st.integers(0, 20), m=st.floats(0.1, 10.0),
       seed=st.integers(0, 10_000), data=st.data())
def test_etf_rows_project_onto_the_vertices(C, extra, m, seed, data):
    W = etf(C, m, d=C + extra, seed=seed)
    classes = data.draw(st.permutations(range(C))).__getitem__(slice(0, 3))
    proj = project_triple(W, W[list(classes)], classes)
    # each row lands on its own vertex direction, all at the same radius
    r = np.linalg.norm(proj.points, axis=1)
    np.testing.assert_allclose(r, r[0], rtol=1e-9)
    np.testing.assert_allclose(proj.points / r[:, None], proj.vertices, atol=1e-9)
    # the analytic radius: m · sqrt(C/(C-1)) for the raw rows
    np.testing.assert_allclose(r, m * np.sqrt(C / (C - 1)), rtol=1e-9)
    np.testing.assert_allclose(proj.arrows, proj.points, atol=1e-9 * m)


@FAST
@given(C=st.integers(3, 8), d=st.integers(3, 24), n=st.integers(1, 40),
       seed=st.integers(0, 10_000), centre=st.sampled_from([None, "mean", "vector"]))
def test_invariant_to_orthogonal_rotation_of_feature_space(C, d, n, seed, centre):
    d = max(d, 3)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((C, d))
    H = rng.standard_normal((n, d)) * 3 + 1
    mu = rng.standard_normal(d) if centre == "vector" else centre
    R = _rotation(d, seed + 1)
    p1 = project_triple(W, H, (0, 1, 2), centre=mu)
    mu_r = mu @ R.T if centre == "vector" else centre
    p2 = project_triple(W @ R.T, H @ R.T, (0, 1, 2), centre=mu_r)
    np.testing.assert_allclose(p2.points, p1.points, atol=1e-9 * (1 + np.abs(p1.points).max()))
    np.testing.assert_allclose(p2.arrows, p1.arrows, atol=1e-9 * (1 + np.abs(p1.arrows).max()))
    np.testing.assert_allclose(p2.coords3, p1.coords3, atol=1e-9 * (1 + np.abs(p1.coords3).max()))


@FAST
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_orientation_is_stable_under_perturbation_and_row_scaling(seed, scale):
    """Q Wᵀ stays positive definite, so a small change of W never flips or rotates the picture,
    and rescaling the rows changes nothing."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((5, 16))
    Q = orthonormal_frame(W[:3])
    G = Q @ (W[:3] / np.linalg.norm(W[:3], axis=1, keepdims=True)).T
    np.testing.assert_allclose(G, G.T, atol=1e-12)
    assert np.linalg.eigvalsh(G).min() > 0
    W2 = W.copy()
    W2[:3] *= scale
    H = rng.standard_normal((10, 16))
    np.testing.assert_allclose(project_triple(W2, H).points, project_triple(W, H).points,
                               atol=1e-10)
    W3 = W + 1e-6 * rng.standard_normal(W.shape)
    np.testing.assert_allclose(project_triple(W3, H).points, project_triple(W, H).points,
                               atol=1e-4)


def test_centring_options():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 8))
    H = rng.standard_normal((50, 8)) + 5.0
    mu = H.mean(axis=0)
    p_none = project_triple(W, H)
    p_mean = project_triple(W, H, centre="mean")
    p_vec = project_triple(W, H, centre=mu)
    np.testing.assert_allclose(p_mean.points, p_vec.points, atol=1e-10)
    np.testing.assert_allclose(p_none.points - p_vec.points,
                               np.broadcast_to(p_none.points.mean(axis=0), (50, 2)), atol=1e-10)
    np.testing.assert_allclose(p_mean.points.mean(axis=0), 0.0, atol=1e-10)
    # a shift along Qᵀ1 is invisible (A's columns sum to zero)
    shift = p_none.Q.T @ np.ones(3)
    np.testing.assert_allclose(project_triple(W, H + 3.0 * shift).points, p_none.points, atol=1e-9)
    with pytest.raises(ValueError, match="centre"):
        project_triple(W, H, centre="median")
    with pytest.raises(ValueError, match="centre"):
        project_triple(W, H, centre=np.zeros(3))


def test_float32_stays_float32_and_matches_float64():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((10, 64)).astype(np.float32)
    H = rng.standard_normal((1000, 64)).astype(np.float32)
    p32 = project_triple(W, H, (3, 1, 7), centre=H.mean(axis=0))
    p64 = project_triple(W.astype(np.float64), H.astype(np.float64), (3, 1, 7),
                         centre=H.mean(axis=0, dtype=np.float64))
    assert p32.points.dtype == np.float32 and p32.coords3.dtype == np.float32
    np.testing.assert_allclose(p32.points, p64.points, atol=1e-4)
    assert project_triple(W, H.astype(np.float16), (0, 1, 2)).points.dtype == np.float32


def test_bad_input_is_named():
    W = np.eye(4)
    with pytest.raises(ValueError, match="classes"):
        project_triple(W, np.zeros((2, 4)), (0, 0, 1))
    with pytest.raises(ValueError, match="out of range"):
        project_triple(W, np.zeros((2, 4)), (0, 1, 9))
    with pytest.raises(ValueError, match="H must be"):
        project_triple(W, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="linearly dependent"):
        project_triple(np.array([[1.0, 0], [0, 1], [1, 1]]), np.zeros((1, 2)))
