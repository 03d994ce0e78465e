"""Models: every family builds, runs, exposes its layers and mixes where it says it can."""

from __future__ import annotations

import pytest
import torch

from backend.runconfig import RunConfig
from trainer.models import MixModel, build_model, set_simplex_etf

torch.set_num_threads(1)

SMALL_MLP = {"width": 24, "depth": 2, "feature_dim": 12, "batchnorm": True}

# (id, model, model_args, input shape, batch size, expected layer names, mixing points, d)
FAMILIES = [
    ("mlp", "mlp", SMALL_MLP, (64,), 6, ["hidden1", "hidden2", "penultimate"],
     ["input", "hidden1", "hidden2"], 12),
    ("mlp-depth0", "mlp", {"width": 8, "depth": 0, "feature_dim": 16, "batchnorm": False}, (1,), 5,
     ["penultimate"], ["input"], 16),
    ("mlp-bottleneck", "mlp-bottleneck", SMALL_MLP, (2,), 6,
     ["hidden1", "hidden2", "penultimate"], ["input", "hidden1", "hidden2"], 2),
    # 003 App. C: a Wide-ResNet mixes at the input or after its first block
    ("wrn-10-1", "wrn-10-1", {}, (3, 32, 32), 4, ["block1", "block2", "block3", "penultimate"],
     ["input", "block1"], 64),
    ("wrn-10-1-28px", "wrn-10-1", {}, (1, 28, 28), 3,
     ["block1", "block2", "block3", "penultimate"], ["input", "block1"], 64),
    # 003 App. G: LeakyReLU layers, a 12-unit linear bottleneck after 3, then 4 more
    ("mlp-mid-bottleneck", "mlp-mid-bottleneck",
     {"width": 16, "depth": 3, "bottleneck_dim": 12, "depth_after": 4, "batchnorm": False,
      "activation": "leaky-relu"}, (1, 28, 28), 5,
     ["hidden1", "hidden2", "hidden3", "bottleneck", "hidden4", "hidden5", "hidden6",
      "penultimate"], ["bottleneck"], 16),
    ("preact-resnet18", "preact-resnet18", {}, (3, 32, 32), 2,
     ["block1", "block2", "block3", "block4", "penultimate"], ["input", "block1", "block2"],
     512),
    ("resnet18", "resnet18", {}, (3, 32, 32), 2,
     ["layer1", "layer2", "layer3", "layer4", "penultimate"], ["input", "layer1", "layer2"],
     512),
    ("vit-tiny-32", "vit-tiny", {}, (3, 32, 32), 3,
     [f"cls{k}" for k in range(1, 13)] + ["penultimate"],
     ["input"] + [f"block{k}" for k in range(1, 13)], 192),
    ("vit-tiny-28", "vit-tiny", {}, (1, 28, 28), 2,
     [f"cls{k}" for k in range(1, 13)] + ["penultimate"],
     ["input"] + [f"block{k}" for k in range(1, 13)], 192),
]
C = 5


def make(model: str, model_args: dict, shape, seed: int = 0, **kw) -> MixModel:
    cfg = RunConfig(model=model, model_args=model_args, seed=seed, **kw)
    return build_model(cfg, shape, C)


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def family(request):
    _, model, args, shape, n, layers, points, d = request.param
    m = make(model, args, shape).eval()
    x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(1))
    return m, x, layers, points, d


def test_interface_and_shapes(family):
    m, x, layers, points, d = family
    n = len(x)
    assert m.layer_names == layers and m.mixing_points == points
    assert m.feature_dim == d and m.classifier.in_features == d
    assert m.classifier.out_features == C and m.classifier.bias is not None
    with torch.no_grad():
        logits = m(x)
        feats = m.forward_features(x)
        out, acts = m.forward_layers(x, layers)
    assert logits.shape == (n, C) and feats.shape == (n, d)
    assert torch.allclose(out, logits, atol=1e-5)
    assert list(acts) == layers
    for name, a in acts.items():
        assert a.dim() == 2 and a.shape[0] == n, name
    assert torch.allclose(acts["penultimate"], feats, atol=1e-5)


def test_forward_mixed_at_input_is_forward_on_mixed_input(family):
    m, x, *_ = family
    n = len(x)
    partner = torch.roll(torch.arange(n), 1)
    lam = torch.linspace(0.1, 0.9, n)
    lam_b = lam.view(-1, *([1] * (x.dim() - 1)))
    with torch.no_grad():
        mixed = m.forward_mixed(x, partner, lam, "input")
        direct = m(lam_b * x + (1 - lam_b) * x[partner])
        scalar = m.forward_mixed(x, partner, 0.3, "input")
        direct_scalar = m(0.3 * x + 0.7 * x[partner])
    assert torch.allclose(mixed, direct, atol=1e-5)
    assert torch.allclose(scalar, direct_scalar, atol=1e-5)


def test_mixing_at_every_point_continues_the_network(family):
    """λ = 0 at any state gives the partner's output; λ = 1 gives the row's own output;
    a genuine mixture differs from both."""
    m, x, _, points, _ = family
    n = len(x)
    partner = torch.roll(torch.arange(n), 1)
    with torch.no_grad():
        clean = m(x)
        # every point of the small nets; ViT: first, second and last block (same code path)
        for at in [*points[:3], *points[3:][-1:], "penultimate"]:
            assert torch.allclose(m.forward_mixed(x, partner, torch.zeros(n), at),
                                  clean[partner], atol=1e-4), at
            assert torch.allclose(m.forward_mixed(x, partner, 1.0, at), clean, atol=1e-4), at
            half, feats = m.forward_mixed_features(x, partner, torch.full((n,), 0.5), at)
            assert half.shape == (n, C) and feats.shape == (n, m.feature_dim)
            assert torch.allclose(half, m.classifier(feats), atol=1e-5)
            assert not torch.allclose(half, clean, atol=1e-4), at


def test_mixing_at_penultimate_mixes_logits_linearly(family):
    m, x, *_ = family
    n = len(x)
    partner = torch.roll(torch.arange(n), 1)
    lam = torch.rand(n, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        clean = m(x)
        mixed = m.forward_mixed(x, partner, lam, "penultimate")
    expect = lam[:, None] * clean + (1 - lam[:, None]) * clean[partner]
    assert torch.allclose(mixed, expect, atol=1e-4)


def test_half_precision_states_mix_with_the_exact_lambda():
    from trainer.models import mix_states

    h = torch.tensor([[100.0], [0.0]], dtype=torch.bfloat16)
    out = mix_states(h, torch.tensor([1, 0]), torch.tensor([0.3337, 0.5]))
    assert out.dtype == torch.bfloat16
    # exact: 33.37 -> bf16 33.25; with λ rounded to bf16 (0.33398) it would be 33.5
    assert float(out[0, 0]) == 33.25


def test_manifold_mixup_gradients_reach_early_layers():
    m = make("mlp", SMALL_MLP, (64,)).train()
    x = torch.randn(8, 64)
    m.forward_mixed(x, torch.randperm(8), torch.rand(8), "hidden2").sum().backward()
    first = m.stages["hidden1"][1].weight
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_vit_layers_come_from_timm_forward_intermediates():
    """ViT.forward_layers (timm's forward_intermediates) = the stage chain = timm's own
    features: cls_k is the CLS token after block k, penultimate the normalised CLS token."""
    m = make("vit-tiny", {}, (3, 32, 32)).eval()
    x = torch.randn(2, 3, 32, 32)
    layers = ["cls1", "cls7", "cls12", "penultimate"]
    with torch.no_grad():
        logits, timm_acts = m.forward_layers(x, layers)
        chain_logits, chain_acts = MixModel.forward_layers(m, x, layers)
        tokens = m.vit.forward_features(x)
        feats = m.vit.forward_head(tokens, pre_logits=True)
    for name in layers:
        assert torch.allclose(timm_acts[name], chain_acts[name], atol=1e-5), name
    assert torch.allclose(timm_acts["penultimate"], feats, atol=1e-5)
    assert torch.allclose(feats, tokens[:, 0], atol=1e-6)      # token pooling = the CLS token
    assert torch.allclose(logits, chain_logits, atol=1e-5)
    assert m.vit.patch_embed.patch_size == (4, 4)
    assert m.vit.cls_token is not None


def test_state_dict_has_each_weight_once_and_saves_as_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file

    for model, args, shape in [("vit-tiny", {}, (1, 28, 28)), ("resnet18", {}, (3, 32, 32)),
                               ("mlp", SMALL_MLP, (64,))]:
        m = make(model, args, shape)
        sd = m.state_dict()
        assert len({t.data_ptr() for t in sd.values() if t.numel()}) == \
            len([t for t in sd.values() if t.numel()])
        save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / f"{model}.st")
        m2 = make(model, args, shape, seed=9)
        m2.load_state_dict(load_file(tmp_path / f"{model}.st"))
        x = torch.randn(2, *shape)
        assert torch.allclose(m.eval()(x), m2.eval()(x), atol=1e-6)


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = make("wrn-10-1", {}, (3, 32, 32), seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    b = make("wrn-10-1", {}, (3, 32, 32), seed=4)
    c = make("wrn-10-1", {}, (3, 32, 32), seed=5)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_wideresnet_sizes_match_the_paper_architecture():
    """WRN-16-4 has 2.75M parameters in Zagoruyko & Komodakis (CIFAR-10 head)."""
    m = build_model(RunConfig(model="wrn-16-4"), (3, 32, 32), 10)
    n = sum(p.numel() for p in m.parameters())
    assert abs(n - 2.75e6) / 2.75e6 < 0.01
    assert m.feature_dim == 256


def test_simplex_etf_geometry():
    for d, c, scale in [(12, 5, 1.0), (64, 10, 3.0), (5, 5, 0.5)]:
        m = build_model(RunConfig(model="mlp", model_args=dict(SMALL_MLP, feature_dim=d)),
                        (64,), c)
        set_simplex_etf(m, scale)
        w = m.classifier.weight.detach().double()
        assert torch.allclose(w.norm(dim=1), torch.full((c,), scale, dtype=torch.float64),
                              atol=1e-5)
        wn = w / w.norm(dim=1, keepdim=True)
        cos = wn @ wn.T
        off = cos[~torch.eye(c, dtype=torch.bool)]
        assert torch.allclose(off, torch.full_like(off, -1 / (c - 1)), atol=1e-5)
        assert torch.allclose(w.sum(0), torch.zeros(d, dtype=torch.float64), atol=1e-5)
        assert not m.classifier.weight.requires_grad and not m.classifier.bias.requires_grad
        assert torch.equal(m.classifier.bias, torch.zeros(c))


def test_fixed_etf_from_config_stays_fixed_in_training():
    cfg = RunConfig(model="mlp", model_args=SMALL_MLP, fixed_etf=True, etf_scale=2.0)
    m = build_model(cfg, (64,), C)
    w0 = m.classifier.weight.clone()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m(torch.randn(8, 64)).logsumexp(1).mean().backward()
    opt.step()
    assert torch.equal(m.classifier.weight, w0)
    assert torch.allclose(w0.norm(dim=1), torch.full((C,), 2.0), atol=1e-5)


def test_etf_needs_feature_dim_at_least_classes():
    cfg = RunConfig(model="mlp-bottleneck", model_args=SMALL_MLP, fixed_etf=True)
    with pytest.raises(ValueError, match="fixed_etf.*feature_dim 2 < 5"):
        build_model(cfg, (64,), C)


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match="model.*image"):
        build_model(RunConfig(model="wrn-10-1"), (64,), C)
    with pytest.raises(ValueError, match="model.*divisible"):
        build_model(RunConfig(model="vit-tiny"), (3, 30, 30), C)
    m = make("mlp", SMALL_MLP, (64,))
    with pytest.raises(ValueError, match="record.layers.*block1"):
        m.forward_layers(torch.randn(2, 64), ["block1"])
    with pytest.raises(ValueError, match="manifold_layers.*block1"):
        m.forward_mixed(torch.randn(2, 64), torch.arange(2), 0.5, "block1")


def test_bottleneck_representations_are_not_clipped_to_a_quadrant():
    """The 2-D bottleneck is linear: its representations take negative values too."""
    import torch as _torch

    from backend.runconfig import RunConfig as _RunConfig
    from trainer.models import build_model as _build_model

    cfg = _RunConfig(model="mlp-bottleneck", model_args=SMALL_MLP)
    model = _build_model(cfg, (4,), 3).eval()
    feats = model.forward_features(_torch.randn(256, 4, generator=_torch.Generator().manual_seed(0)))
    assert feats.shape == (256, 2)
    assert (feats < 0).any() and (feats > 0).any()


def test_mid_bottleneck_shapes_and_leaky_activation():
    """003 Fig. 5's net: the bottleneck state is 2-D and linear; the hidden layers leak."""
    m = make("mlp-mid-bottleneck", {"width": 8, "depth": 2, "bottleneck_dim": 2,
                                     "depth_after": 2, "batchnorm": False,
                                     "activation": "leaky-relu"}, (1, 28, 28)).eval()
    x = torch.randn(7, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, out = m.forward_layers(x, ["hidden1", "bottleneck"])
    assert out["bottleneck"].shape == (7, 2)
    assert (out["hidden1"] < 0).any()   # LeakyReLU lets negatives through (ReLU would not)
    assert any(isinstance(mod, torch.nn.LeakyReLU) for mod in m.modules())


@pytest.mark.parametrize("depth,d", [(34, 512), (50, 2048)])
def test_preact_resnet_depths(depth, d):
    from trainer.models.preact import PreActBottleneck, PreActResNet

    m = PreActResNet((3, 32, 32), 4, depth)
    assert m.feature_dim == d
    blocks = [b for b in m.modules() if isinstance(b, torch.nn.Module) and hasattr(b, "expansion")]
    assert len(blocks) == 16   # 3 + 4 + 6 + 3 blocks in both
    assert any(isinstance(b, PreActBottleneck) for b in blocks) == (depth == 50)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, out = m.eval().forward_layers(x, ["block4", "penultimate"])
    assert logits.shape == (2, 4) and out["block4"].shape == (2, d)


def test_block_gradient_stops_before_the_mixing_point():
    m = make("mlp", SMALL_MLP, (64,)).train()
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(2))
    partner = torch.tensor([1, 0, 3, 2, 5, 4])
    for block, before_has_grad in ((False, True), (True, False)):
        m.zero_grad(set_to_none=True)
        m.forward_mixed(x, partner, 0.3, "hidden2", block_gradient=block).sum().backward()
        first = m.stages["hidden1"][1].weight   # [Flatten, Linear, ...]: hidden1's Linear
        after = m.classifier.weight
        assert (first.grad is not None and first.grad.abs().sum() > 0) == before_has_grad
        assert after.grad is not None and after.grad.abs().sum() > 0
