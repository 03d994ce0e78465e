"""Per-class and all-class singular values of centred representations."""

from __future__ import annotations

import numpy as np
import pytest

from backend.maths import class_spectra


def test_known_spectra():
    # class 0 varies along x only (rank 1), class 1 along x and y
    H0 = np.array([[1.0, 0, 0], [-1.0, 0, 0]]) + [5, 5, 5]
    H1 = np.array([[2.0, 0, 0], [-2.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]) - [3, 0, 1]
    H = np.concatenate([H0, H1])
    y = np.array([0, 0, 1, 1, 1, 1])
    out = class_spectra(H, y)
    assert out["per_class"].shape == (2, 3)
    np.testing.assert_allclose(out["per_class"][0], [np.sqrt(2), 0, 0], atol=1e-12)
    np.testing.assert_allclose(out["per_class"][1], [np.sqrt(8), np.sqrt(2), 0], atol=1e-12)
    np.testing.assert_allclose(out["all"], np.linalg.svd(H - H.mean(0), compute_uv=False))
    # shifting a whole class does not change its spectrum, only the all-class one
    H2 = H.copy()
    H2[y == 1] -= 10  # moves class 1 away from class 0
    out2 = class_spectra(H2, y)
    np.testing.assert_allclose(out2["per_class"], out["per_class"], atol=1e-12)
    assert out2["all"][0] > out["all"][0] + 1


def test_options_and_dtypes():
    rng = np.random.default_rng(0)
    H = rng.standard_normal((40, 4, 2)).astype(np.float16)  # flattened to (40, 8)
    y = np.repeat(np.arange(4), 10)
    out = class_spectra(H, y, k=5, normalise=True)
    assert out["per_class"].shape == (4, 5) and out["all"].shape == (5,)
    np.testing.assert_allclose(out["per_class"][:, 0], 1.0)
    assert out["all"][0] == pytest.approx(1.0)
    assert np.all(np.diff(out["per_class"], axis=1) <= 1e-12)
    empty = class_spectra(H, y, num_classes=5)
    assert np.all(empty["per_class"][4] == 0)
    with pytest.raises(ValueError, match="labels"):
        class_spectra(H, y[:-1])
