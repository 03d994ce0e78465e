"""Projection from classifier scores (issue 14 target 2): three scores per row stand in for
its d features, so frames read C floats a row. Checked against the projection of the rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.maths import (
    etf,
    project_scores_epochs,
    project_triple,
    project_triple_scores,
    projection_metrics,
    projection_metrics_epochs,
)
from backend.maths.simplex import SCORES_CONDITION

FAST = settings(max_examples=40, deadline=None)


def _scores(W, H, classes):
    return (np.asarray(H, np.float64) @ np.asarray(W, np.float64)[list(classes)].T
            ).astype(np.float32)


@FAST
@given(C=st.integers(3, 20), d=st.integers(3, 96), n=st.integers(1, 60),
       seed=st.integers(0, 10_000), centre=st.booleans(), data=st.data())
def test_scores_give_the_points_and_arrows_of_the_rows(C, d, n, seed, centre, data):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((C, d)) * rng.uniform(0.2, 5.0, (C, 1))
    H = (rng.standard_normal((n, d)) * 3 + 1).astype(np.float32)
    mu = rng.standard_normal(d) if centre else None
    classes = tuple(data.draw(st.permutations(range(C)))[:3])
    rows = project_triple(W, H, classes, centre=mu)
    try:
        got = project_triple_scores(W, _scores(W, H, classes), classes, centre=mu)
    except ValueError:   # refused: only for an ill-conditioned W* (then the rows are used)
        s = np.linalg.svd(W[list(classes)] / np.linalg.norm(W[list(classes)], axis=1,
                                                             keepdims=True), compute_uv=False)
        assert s[-1] < SCORES_CONDITION * s[0]
        return
    scale = max(1.0, float(np.abs(rows.points).max()))
    assert np.abs(got.points - rows.points).max() <= 1e-4 * scale
    np.testing.assert_allclose(got.arrows, rows.arrows, atol=1e-9 * np.abs(rows.arrows).max())
    np.testing.assert_allclose(got.Q, rows.Q, atol=1e-12)


def test_the_three_class_etf_is_drawn_from_scores_too():
    """A 3-class ETF's rows are dependent along (1, 1, 1): the rank-2 frame of the rows."""
    W = etf(3, 2.0, d=16, seed=3)
    H = np.random.default_rng(0).standard_normal((40, 16)).astype(np.float32)
    rows = project_triple(W, H, (0, 1, 2))
    got = project_triple_scores(W, _scores(W, H, (0, 1, 2)), (0, 1, 2))
    np.testing.assert_allclose(got.points, rows.points, atol=1e-5)
    np.testing.assert_allclose(got.arrows, rows.arrows, atol=1e-12)


def test_an_ill_conditioned_classifier_is_refused_not_drawn_wrong():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 32))
    W[2] = W[0] + 1e-6 * rng.standard_normal(32)       # nearly the same direction as row 0
    H = rng.standard_normal((10, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="ill-conditioned"):
        project_triple_scores(W, _scores(W, H, (0, 1, 2)), (0, 1, 2))
    gram = (W @ W.T)[None]
    _, _, ok = project_scores_epochs(gram, _scores(W, H, (0, 1, 2))[None])
    assert not ok[0]


def test_epochs_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(2)
    E, n, d = 5, 30, 24
    Ws = rng.standard_normal((E, 3, d))
    Hs = rng.standard_normal((E, n, d))
    mus = rng.standard_normal((E, d))
    coords3, arrows, ok = project_scores_epochs(
        np.einsum("eid,ejd->eij", Ws, Ws), np.einsum("end,ekd->enk", Hs, Ws),
        np.einsum("ekd,ed->ek", Ws, mus))
    assert ok.all()
    for e in range(E):
        one = project_triple(Ws[e], Hs[e], (0, 1, 2), centre=mus[e])
        np.testing.assert_allclose(coords3[e], one.coords3, atol=1e-9)
        np.testing.assert_allclose(arrows[e], one.arrows, atol=1e-9)


def test_batched_metrics_equal_the_metrics_of_each_epoch():
    rng = np.random.default_rng(4)
    n = 90
    kind = rng.integers(0, 3, n)
    ca = rng.integers(0, 3, n)
    cb = np.where(kind == 2, (ca + 1 + rng.integers(0, 2, n)) % 3, ca)
    lam = np.where(kind == 0, 1.0, rng.uniform(0, 1, n))
    pts = rng.standard_normal((4, n, 2))
    arrows = rng.standard_normal((4, 3, 2))
    got = projection_metrics_epochs(pts, kind, ca, cb, lam, arrows, (0, 1, 2))
    for e in range(4):
        one = projection_metrics(pts[e], kind, ca, cb, lam, arrows[e], (0, 1, 2))
        for k, v in one.items():
            assert got[k][e] == pytest.approx(v, rel=1e-12)
    # a class with neither clean nor same-class points has no vertex: named, as before
    with pytest.raises(ValueError, match="class 2"):
        projection_metrics_epochs(pts, np.where(ca == 2, 2, kind), ca, cb, lam, arrows,
                                  (0, 1, 2))
