"""001's gradient split against torch autograd of the real training loss (issue 18).

The trainer records, per recorded epoch, the relative residual between the four-term split
(float64) and autograd's gradient of ``soft_mse`` on the features mixed right before the
head (float32, ``trainer.metrics.autograd_partner_grads``), beside the float32 rounding bound
of that batch (``backend.maths.float32_residual_bound``). These tests show the bound holds
where only rounding separates the two (targets fitted so the residual cancels included), and
that a wrong split lands orders of magnitude outside it.
"""

from __future__ import annotations

import numpy as np
import pytest

from backend import maths
from backend.maths.gradient_split import GradientSplit
from trainer.metrics import autograd_partner_grads
from trainer.mixup import soft_mse


def _case(seed: int, fit: str):
    """A random float32 head, features (non-negative, as after a ReLU), λ law and targets:
    one-hot, or fitted (the targets are the head's own outputs, so the residual cancels)."""
    rng = np.random.default_rng(seed)
    n, d, C = int(rng.integers(2, 200)), int(rng.integers(1, 300)), int(rng.integers(2, 15))
    W = (rng.normal(size=(C, d)) * rng.uniform(0.01, 3)).astype(np.float32)
    b = (rng.normal(size=C) * rng.uniform(0, 3)).astype(np.float32)
    f = (np.abs(rng.normal(size=(n, d))) * rng.uniform(0.01, 10)).astype(np.float32)
    p = rng.permutation(n)
    if fit == "one-hot":
        y = np.eye(C, dtype=np.float32)[rng.integers(0, C, n)]
    else:
        y = (f.astype(np.float64) @ W.T.astype(np.float64) + b
             + rng.normal(size=(n, C)) * (1e-3 if fit == "nearly" else 0.0)).astype(np.float32)
    lam = (rng.beta(0.2, 0.2, n) if seed % 2 else np.full(n, rng.uniform())).astype(np.float32)
    return W, b, f, f[p], y, y[p], lam, 2.0 / n


@pytest.mark.parametrize("fit", ["one-hot", "nearly", "exactly"])
def test_the_float32_bound_covers_what_rounding_does(fit):
    """Autograd in float32 and the split in float64 differ (not the same numbers), by no
    more than the bound; fitted targets make the residual cancel, and the bound grows with
    the cancellation instead of failing."""
    for seed in range(12):
        W, b, fa, fb, ya, yb, lam, scale = _case(seed, fit)
        split = maths.gradient_split(W, fa, fb, ya, yb, lam, bias=b, scale=scale)
        ga, gb = autograd_partner_grads(W, b, fa, fb, ya, yb, lam, soft_mse)
        resid = maths.split_residual(split, ga, gb)
        bound = maths.float32_residual_bound(W, fa, fb, ya, yb, lam, bias=b, scale=scale)
        assert 0 < resid <= bound, (seed, resid, bound)
        if fit == "one-hot":  # no cancellation: float32's precision, far below a wrong split
            assert bound < 1e-2, (seed, bound)


def _wrong(split: GradientSplit, how: str) -> GradientSplit:
    if how == "cross sign flipped":
        return GradientSplit(split.usual_a, -split.cross_a, split.usual_b, -split.cross_b,
                             0.0, 0.0, 0.0)
    # each partner's cross term driven by its own error instead of its partner's:
    # λ(1−λ)Gᵀe for f where the split has λ(1−λ)Gᵀe' (cross_b is exactly that term)
    return GradientSplit(split.usual_a, split.cross_b, split.usual_b, split.cross_a,
                         0.0, 0.0, 0.0)


@pytest.mark.parametrize("how", ["cross sign flipped", "partner error swapped"])
def test_a_wrong_split_lands_far_outside_the_bound(how):
    W, b, fa, fb, ya, yb, lam, scale = _case(3, "one-hot")
    split = maths.gradient_split(W, fa, fb, ya, yb, lam, bias=b, scale=scale)
    ga, gb = autograd_partner_grads(W, b, fa, fb, ya, yb, lam, soft_mse)
    bound = maths.float32_residual_bound(W, fa, fb, ya, yb, lam, bias=b, scale=scale)
    assert maths.split_residual(_wrong(split, how), ga, gb) > 1e3 * bound
    assert maths.split_residual(split, ga, gb) <= bound


def test_split_residual_is_relative_over_both_partners():
    s = GradientSplit(np.ones((2, 3)), np.zeros((2, 3)), np.ones((2, 3)), np.zeros((2, 3)),
                      0.0, 0.0, 0.0)
    assert maths.split_residual(s, np.ones((2, 3)), np.ones((2, 3))) == 0.0
    # one partner's gradient doubled: ‖(0, 1)‖ / ‖(1, 1)‖ over equal-sized blocks
    assert maths.split_residual(s, np.ones((2, 3)), 2 * np.ones((2, 3))) == \
        pytest.approx(1 / np.sqrt(2))
    with pytest.raises(ValueError, match="grad_a"):
        maths.split_residual(s, np.ones((3, 3)), np.ones((2, 3)))


def test_the_001_recipe_mixes_the_digits_mlp_right_before_its_head():
    """001/gradient-split's runs (the digits-demo MLP) mix at ``penultimate``, the state
    the linear head reads: the trainer accepts it and records the split there (before issue
    18 the recipe used the model's default points, input and hidden layers, and no run of it
    ever recorded the ratio)."""
    import torch

    from backend.papers import runner
    from backend.papers.catalogue import load_catalogue
    from trainer.config_check import check_config
    from trainer.metrics import grad_split_absent_reason
    from trainer.models import build_model

    entry = load_catalogue().get("001/gradient-split")
    specs = entry.recipe("cpu").runs + entry.recipe("paper").runs
    assert specs
    for spec in specs:
        cfg = runner.run_config(entry, spec)
        model = build_model(cfg, (64,), 10)
        assert "penultimate" in model.supported_mixing_points
        check_config(cfg, model, 10)
        assert grad_split_absent_reason(cfg, model.mixing_points) is None, spec
        # the state mixed is the one the head reads: mixed logits are mixed head outputs
        x, p, lam = torch.rand(6, 64), torch.randperm(6), torch.rand(6)
        model.eval()
        with torch.no_grad():
            f = model.forward_features(x)
            want = model.classifier(lam[:, None] * f + (1 - lam[:, None]) * f[p])
            got = model.forward_mixed(x, p, lam, cfg.manifold_layers[0])
        torch.testing.assert_close(got, want)
