"""The usual/cross split of the manifold-mixup gradient (blog 001) against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.maths import gradient_split

torch = pytest.importorskip("torch")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 8), k=st.integers(1, 5), seed=st.integers(0, 9999),
       per_pair=st.booleans(), with_bias=st.booleans(), mean=st.booleans())
def test_matches_autograd(n, d, k, seed, per_pair, with_bias, mean):
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((k, d))
    b = rng.standard_normal(k) if with_bias else None
    fa, fb = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    ya, yb = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    lam = rng.uniform(0, 1, n) if per_pair else float(rng.uniform(0, 1))
    split = gradient_split(G, fa, fb, ya, yb, lam, bias=b, scale=2.0 / (n * k) if mean else 1.0)

    tfa = torch.tensor(fa, requires_grad=True)
    tfb = torch.tensor(fb, requires_grad=True)
    tl = torch.as_tensor(np.broadcast_to(lam, (n,)).copy())[:, None]
    z = tl * tfa + (1 - tl) * tfb
    pred = z @ torch.tensor(G).T + (torch.tensor(b) if b is not None else 0.0)
    target = tl * torch.tensor(ya) + (1 - tl) * torch.tensor(yb)
    if mean:
        loss = torch.nn.functional.mse_loss(pred, target)
    else:
        loss = 0.5 * ((target - pred) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(split.grad_a, tfa.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(split.grad_b, tfb.grad.numpy(), atol=1e-10)


def test_cross_terms_use_the_partners_error():
    G = np.eye(2)
    fa, fb = np.array([[1.0, 0]]), np.array([[0.0, 0]])
    ya, yb = np.array([[1.0, 0]]), np.array([[0.0, 1]])  # partner a fitted, b off by (0, 1)
    s = gradient_split(G, fa, fb, ya, yb, 0.25)
    np.testing.assert_allclose(s.usual_a, 0.0)  # a's own error is zero
    np.testing.assert_allclose(s.cross_a, [[0, -0.25 * 0.75]])  # pushed by b's error
    np.testing.assert_allclose(s.usual_b, [[0, -0.75**2]])
    np.testing.assert_allclose(s.cross_b, 0.0)
    assert s.cross_ratio == pytest.approx(0.25 * 0.75 / 0.75**2)
    m = s.metrics()
    assert set(m) == {"grad_usual_norm", "grad_cross_norm", "grad_cross_ratio"}
    # solved regression: every term vanishes, however the representations lie
    z = gradient_split(G, fa, fb, fa, fb, 0.3)
    assert z.usual_norm == 0 and z.cross_norm == 0 and z.cross_ratio == 0


def test_shape_errors():
    with pytest.raises(ValueError, match="f_a"):
        gradient_split(np.eye(2), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 2)),
                       np.zeros((1, 2)), 0.5)
    with pytest.raises(ValueError, match="y_a"):
        gradient_split(np.eye(2), np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((2, 2)),
                       np.zeros((2, 2)), 0.5)
