"""Issue 9: NC in both conventions, the probe's λ, the gradient split as training sees it,
the extraction mode of the paper presets (tiny, real training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend import maths
from backend.runconfig import RunConfig
from trainer.loop import execute_run

torch.set_num_threads(1)


def _papyan_torch(W: torch.Tensor, H: torch.Tensor, y: torch.Tensor, C: int) -> dict:
    """Papyan et al.'s NC2/NC3 written the way their code does (torch.std, ddof = 1)."""
    mu = torch.stack([H[y == c].mean(0) for c in range(C)])      # (C, d)
    M = (mu - mu.mean(0)).T                                      # (d, C) centred means
    mn, wn = M.norm(dim=0), W.T.norm(dim=0)
    Mn = M / mn
    cos = Mn.T @ Mn
    iu = torch.triu_indices(C, C, 1)
    shifted = cos + 1.0 / (C - 1)
    shifted = shifted - torch.diag(torch.diag(shifted))
    return {"papyan_nc2_norm_cv_means": (mn.std() / mn.mean()).item(),
            "papyan_nc2_norm_cv_classifier": (wn.std() / wn.mean()).item(),
            "papyan_nc2_cos_std_means": cos[iu[0], iu[1]].std().item(),
            "papyan_nc2_cos_shift_means": (shifted.abs().sum() / (C * (C - 1))).item(),
            "papyan_nc3": ((W / W.norm() - M.T / M.norm()) ** 2).sum().item()}


def test_papyan_conventions_match_their_torch_code_and_vanish_at_collapse():
    rng = np.random.default_rng(0)
    C, d = 5, 8
    W, y = rng.normal(size=(C, d)), np.repeat(np.arange(C), 30)
    H = rng.normal(size=(C, d))[y] + 0.3 * rng.normal(size=(len(y), d))
    ours = maths.papyan_collapse(W, H, y)
    ref = _papyan_torch(torch.tensor(W), torch.tensor(H), torch.tensor(y), C)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, rel=1e-9), k
    # an exact simplex ETF with W = M: every Papyan metric is 0, and so are Zhu's nc2/nc3
    etf = np.eye(C) - 1.0 / C
    at = maths.papyan_collapse(etf, etf[y], y)
    assert max(abs(v) for v in at.values()) < 1e-12
    assert maths.nc2(etf[y], y) < 1e-12 and maths.nc3(etf, etf[y], y) < 1e-12


def tiny(**over) -> RunConfig:
    base = {"dataset": "digits", "dataset_args": {"subset": 120}, "model": "mlp",
            "model_args": {"width": 32, "depth": 1, "feature_dim": 16, "batchnorm": True},
            "method": "input-mixup", "epochs": 2, "batch_size": 32, "lr": 0.05, "seed": 3,
            "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2, "trajectory_pairs": 0},
            "record": {"epochs": [0, 2]}}
    for k, v in over.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) \
            else v
    return RunConfig.model_validate(base)


def _run(store, cfg: RunConfig) -> str:
    run = store.create_run(cfg)
    store.claim_run(run.id, "test")
    assert execute_run(store, run.id) == "succeeded"
    return run.id


def test_nc_both_conventions_per_epoch_and_on_the_whole_training_set(store):
    run_id = _run(store, tiny())
    by_epoch = {e["epoch"]: e for e in store.epoch_metrics(run_id)}
    papyan = ("papyan_nc2_norm_cv_means", "papyan_nc2_norm_cv_classifier",
              "papyan_nc2_cos_std_means", "papyan_nc2_cos_shift_means", "papyan_nc3")
    for e in (0, 1, 2):
        assert all(by_epoch[e][k] is not None for k in ("nc1", "nc2", "nc3") + papyan)
    for e in (0, 2):  # recorded epochs: the whole training set (120 points, not the probe)
        full = {k: by_epoch[e]["train_set_" + k] for k in ("nc1", "nc2", "nc3") + papyan}
        assert all(v is not None and np.isfinite(v) for v in full.values())
        assert full["nc1"] != by_epoch[e]["nc1"]
    assert "train_set_nc1" not in by_epoch[1]
    # the recorded value is the maths on every training example's eval-mode features
    from trainer import checkpoint
    from trainer.data import load_dataset
    from trainer.extract import train_set_features
    from trainer.loop import build_for_config

    cfg = RunConfig.model_validate(store.get_run(run_id).config)
    bundle = load_dataset(cfg)
    model = build_for_config(cfg, bundle, 10)
    checkpoint.load_model_tensors(model, checkpoint.load_epoch(store, run_id, 2))
    feats = train_set_features(model, bundle.prepare(bundle.train_x, "cpu"))
    W = model.classifier.weight.detach().numpy()
    assert len(feats) == 120
    assert by_epoch[2]["train_set_papyan_nc3"] == pytest.approx(
        maths.papyan_collapse(W, feats, bundle.train_y.numpy())["papyan_nc3"], rel=1e-4)


def test_probe_lambda_same_as_training_is_recorded(store):
    run_id = _run(store, tiny(alpha=0.2, probe={"lambda_distribution": "training",
                                                "pairs_per_class_pair": 40}))
    info = store.get_run(run_id)
    assert info.summary["probe_lambda"] == "Beta(0.2, 0.2) (same as training)"
    assert info.summary["record_mode"] == "eval"
    lam = store.get_arrays(run_id, "probe")["pair_lambda"]
    # Beta(0.2, 0.2) piles up near 0 and 1; the uniform default would not
    assert np.mean((lam < 0.1) | (lam > 0.9)) > 0.5
    default = _run(store, tiny())
    assert store.get_run(default).summary["probe_lambda"] == "uniform on [0, 1]"


def test_gradient_split_is_the_training_gradient_on_the_losss_scale():
    """Features f of a training batch, mixed right before the linear head: autograd's
    gradient of soft_mse w.r.t. f equals usual + cross terms at scale 2/n."""
    from trainer.mixup import soft_mse

    rng = np.random.default_rng(1)
    n, d, C = 12, 6, 4
    torch.manual_seed(0)                       # the head's initialisation: one fixed case
    head = torch.nn.Linear(d, C).double()
    f = torch.tensor(rng.normal(size=(n, d)), requires_grad=True)
    y = torch.nn.functional.one_hot(torch.tensor(rng.integers(0, C, n)), C).double()
    p = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    lam = torch.tensor(rng.beta(1, 1, n))
    z = lam[:, None] * f + (1 - lam[:, None]) * f[p]
    soft_mse(head(z), lam[:, None] * y + (1 - lam[:, None]) * y[p]).backward()
    s = maths.gradient_split(head.weight.detach().numpy(), f.detach().numpy(),
                             f.detach().numpy()[p], y.numpy(), y.numpy()[p], lam.numpy(),
                             bias=head.bias.detach().numpy(), scale=2.0 / n)
    total = s.grad_a.copy()
    np.add.at(total, p.numpy(), s.grad_b)
    # soft_mse computes in float32, as training does: equal to float32's precision (an
    # absolute 1e-12 with allclose's default rtol failed whenever the random head made one
    # gradient entry tiny)
    np.testing.assert_allclose(total, f.grad.numpy(), rtol=1e-5,
                               atol=1e-6 * np.abs(total).max())


@pytest.mark.parametrize("preset,mode", [("wrn-paper", "train"), ("vit-paper", "train"),
                                         ("digits-demo", "eval")])
def test_paper_presets_extract_in_the_papers_mode(preset, mode):
    assert RunConfig.from_preset(preset).record.mode == mode


def test_wrn_on_cifar100_is_eval_mode_as_in_the_paper():
    assert RunConfig.from_preset("wrn-paper", dataset="cifar100").record.mode == "eval"
    # an explicit choice wins
    assert RunConfig.from_preset("wrn-paper", dataset="cifar100",
                                 record={"mode": "train"}).record.mode == "train"
