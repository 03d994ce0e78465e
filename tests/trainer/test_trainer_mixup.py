"""Mixup helpers: λ draws, partners, soft targets, losses and the per-batch Mixer."""

from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch.nn import functional as F

from backend.runconfig import RunConfig
from trainer.mixup import (
    Mixer,
    MixupBatch,
    mix_inputs,
    mixed_targets,
    sample_lambda,
    sample_partners,
    soft_cross_entropy,
    soft_mse,
)
from trainer.models import build_model

torch.set_num_threads(1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_lambda_per_batch_is_shared_and_per_sample_varies():
    lb = sample_lambda(16, 1.0, "batch", gen(), "cpu")
    ls = sample_lambda(16, 1.0, "sample", gen(), "cpu")
    assert lb.shape == ls.shape == (16,) and lb.dtype == torch.float32
    assert torch.all(lb == lb[0])
    assert len(torch.unique(ls)) == 16
    assert ((ls >= 0) & (ls <= 1)).all()


@pytest.mark.parametrize("alpha", [0.4, 1.0, 2.0, 32.0])
def test_lambda_follows_beta(alpha):
    lam = sample_lambda(4000, alpha, "sample", gen(1), "cpu").double().numpy()
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    # and not some other Beta
    other = 4 * alpha
    assert stats.kstest(lam, stats.beta(other, other).cdf).pvalue < 1e-6


def test_draws_are_repeatable_from_the_generator_state():
    g = gen(7)
    a = sample_lambda(5, 1.0, "sample", g, "cpu"), sample_partners(5, g, "cpu")
    g2 = gen(7)
    b = sample_lambda(5, 1.0, "sample", g2, "cpu"), sample_partners(5, g2, "cpu")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = sample_lambda(5, 1.0, "sample", gen(8), "cpu")
    assert not torch.equal(a[0], c)


def test_partners_are_a_permutation():
    p = sample_partners(50, gen(), "cpu")
    assert p.dtype == torch.int64 and sorted(p.tolist()) == list(range(50))


def test_lambda_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        sample_lambda(3, 0.0, "batch", gen(), "cpu")
    with pytest.raises(ValueError, match="mix_per"):
        sample_lambda(3, 1.0, "pair", gen(), "cpu")


def test_mix_inputs_per_row_and_scalar():
    x = torch.arange(12.0).view(3, 2, 2)
    p = torch.tensor([2, 0, 1])
    lam = torch.tensor([1.0, 0.25, 0.0])
    out = mix_inputs(x, p, lam)
    assert torch.equal(out[0], x[0])
    assert torch.allclose(out[1], 0.25 * x[1] + 0.75 * x[0])
    assert torch.equal(out[2], x[1])
    assert torch.allclose(mix_inputs(x, p, 0.5), 0.5 * (x + x[p]))


def test_mixed_targets_sum_to_one_and_put_lambda_on_y():
    y = torch.tensor([0, 1, 2, 2])
    p = torch.tensor([1, 2, 3, 0])
    lam = torch.tensor([0.7, 0.2, 0.9, 0.4])
    t = mixed_targets(y, p, lam, 4)
    assert t.shape == (4, 4)
    assert torch.allclose(t.sum(1), torch.ones(4))
    assert t[0, 0] == pytest.approx(0.7) and t[0, 1] == pytest.approx(0.3)
    assert t[1, 1] == pytest.approx(0.2) and t[1, 2] == pytest.approx(0.8)
    assert t[2, 2] == pytest.approx(1.0)                     # same-class pair: all on y
    assert t[3, 2] == pytest.approx(0.4) and t[3, 0] == pytest.approx(0.6)


def test_label_smoothing_is_explicit():
    y = torch.tensor([1])
    t = mixed_targets(y, torch.tensor([0]), 1.0, 5, smoothing=0.1)
    assert t[0, 1] == pytest.approx(0.9 + 0.02) and t[0, 0] == pytest.approx(0.02)
    assert torch.equal(mixed_targets(y, torch.tensor([0]), 1.0, 5), F.one_hot(y, 5).float())


def test_soft_losses_match_their_definitions():
    logits = torch.randn(6, 4, generator=gen(2))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    onehot = F.one_hot(y, 4).float()
    assert torch.allclose(soft_cross_entropy(logits, onehot), F.cross_entropy(logits, y))
    t = mixed_targets(y, torch.roll(torch.arange(6), 1), torch.full((6,), 0.3), 4)
    manual = -(t * logits.log_softmax(1)).sum(1).mean()
    assert torch.allclose(soft_cross_entropy(logits, t), manual)
    # the 002 form: λ CE(y) + (1 − λ) CE(y') is the same loss
    p = torch.roll(torch.arange(6), 1)
    paper = 0.3 * F.cross_entropy(logits, y) + 0.7 * F.cross_entropy(logits, y[p])
    assert torch.allclose(soft_cross_entropy(logits, t), paper)
    assert torch.allclose(soft_mse(logits, t), ((logits - t) ** 2).sum(1).mean())
    assert soft_mse(t.clone(), t) == 0


def small_model(**kw):
    cfg = RunConfig(model="mlp", model_args={"width": 16, "depth": 2, "feature_dim": 8}, **kw)
    return cfg, build_model(cfg, (10,), 4)


def test_mixer_erm_is_the_identity():
    cfg, model = small_model(method="erm")
    mixer = Mixer.from_config(cfg, model)
    plan = mixer(5)
    assert not plan.active and not mixer.active
    assert torch.equal(plan.partner, torch.arange(5)) and torch.equal(plan.lam, torch.ones(5))
    y = torch.tensor([0, 1, 2, 3, 0])
    assert torch.equal(mixer.targets(y, plan), F.one_hot(y, 4).float())


def test_mixer_input_mixup_batch():
    cfg, model = small_model(method="input-mixup", alpha=1.0, mix_per="batch", seed=3)
    mixer = Mixer.from_config(cfg, model)
    x, y = torch.randn(8, 10), torch.arange(8) % 4
    batch = mixer.mix_batch(x, y)
    assert isinstance(batch, MixupBatch) and batch.mix_at == "input"
    assert torch.all(batch.lam == batch.lam[0])
    assert torch.allclose(batch.x, mix_inputs(x, batch.partner, batch.lam))
    assert torch.allclose(batch.target, mixed_targets(y, batch.partner, batch.lam, 4))
    partner, lam, mix_at = mixer(8)                      # a plan unpacks as a tuple
    assert mix_at == "input" and lam.shape == (8,) and partner.shape == (8,)


def test_mixer_manifold_draws_every_eligible_point():
    cfg, model = small_model(method="manifold-mixup", alpha=2.0, mix_per="sample")
    mixer = Mixer.from_config(cfg, model)
    assert mixer.mixing_points == model.mixing_points == ["input", "hidden1", "hidden2"]
    seen = {mixer(4).mix_at for _ in range(60)}
    assert seen == {"input", "hidden1", "hidden2"}
    cfg2 = RunConfig(**{**cfg.model_dump(), "manifold_layers": ["hidden2", "penultimate"]})
    assert Mixer.from_config(cfg2, model).mixing_points == ["hidden2", "penultimate"]


def test_mixer_rejects_a_point_the_model_does_not_have():
    cfg, model = small_model(method="manifold-mixup", manifold_layers=["block1"])
    with pytest.raises(ValueError, match="manifold_layers.*block1"):
        Mixer.from_config(cfg, model)


def test_mixer_is_seeded_and_resumable():
    cfg, model = small_model(method="manifold-mixup", seed=11)
    a = Mixer.from_config(cfg, model)
    b = Mixer.from_config(cfg, model)
    for _ in range(3):
        pa, pb = a(6), b(6)
        assert torch.equal(pa.partner, pb.partner) and torch.equal(pa.lam, pb.lam)
        assert pa.mix_at == pb.mix_at
    state = a.state_dict()
    ahead = [a(6) for _ in range(4)]
    c = Mixer.from_config(cfg, model)
    c.load_state_dict(state)
    again = [c(6) for _ in range(4)]
    assert all(torch.equal(u.lam, v.lam) and torch.equal(u.partner, v.partner)
               and u.mix_at == v.mix_at for u, v in zip(ahead, again))


def test_mixup_step_trains():
    """One λ per batch, mixed at a hidden layer, with the soft CE: the loss goes down."""
    torch.manual_seed(0)
    cfg, model = small_model(method="manifold-mixup", seed=0)
    mixer = Mixer.from_config(cfg, model)
    x, y = torch.randn(64, 10), torch.arange(64) % 4
    x = x + 2 * F.one_hot(y, 10).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(40):
        plan = mixer(len(x))
        loss = soft_cross_entropy(model.forward_mixed(x, plan.partner, plan.lam, plan.mix_at),
                                  mixer.targets(y, plan))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() > 0.9
