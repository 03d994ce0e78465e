"""The grid's classifier-to-ETF distance (``backend.maths.classifier_etf_distance``): zero at
a simplex ETF whatever its scale and rotation, positive away from one."""

from __future__ import annotations

import numpy as np

from backend.maths import classifier_etf_distance, etf


def test_zero_at_a_rotated_scaled_etf_and_positive_elsewhere():
    rng = np.random.default_rng(0)
    C, d = 5, 12
    M = np.eye(C) - 1.0 / C
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0][:C]
    assert classifier_etf_distance(7.0 * M @ Q) < 1e-12
    assert classifier_etf_distance(etf(C)) < 1e-12
    W = rng.normal(size=(C, d))
    assert classifier_etf_distance(W) > 0.1
    assert np.isclose(classifier_etf_distance(W), classifier_etf_distance(3 * W))
    assert np.isnan(classifier_etf_distance(np.zeros((C, d))))
