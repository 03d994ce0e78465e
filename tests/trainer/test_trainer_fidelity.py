"""003's experiments as runs: MNIST, the bottleneck nets and their spectra, the rotated-digit
task with factor mixup, PreActResNet with BCE and a blocked gradient. Tiny real training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.maths.spectra import class_spectra, mean_first_singular
from backend.runconfig import PRESETS, RunConfig
from backend.settings import Settings
from trainer import rendered
from trainer.data import load_dataset
from trainer.dataset_files import verified_classes, write_cifar10, write_mnist
from trainer.loop import execute_run
from trainer.mixup import mix_inputs, softmax_bce

torch.set_num_threads(1)

PROBE = {"clean_per_class": 4, "pairs_per_class_pair": 1, "trajectory_pairs": 0}


@pytest.fixture
def data_store(tmp_path):
    """A store whose data folder holds generated MNIST and CIFAR-10 files."""
    from backend.store import Store

    data = tmp_path / "data"
    write_mnist(data, n_train=60, n_test=20, seed=1)
    write_cifar10(data, per_batch=6, n_test=8, seed=1)
    s = Store(Settings(store=tmp_path / "store", data_dir=data, database_url=None,
                       artifact_url=None, broker_url=None, _env_file=None))
    s.migrate()
    yield s
    s.close()


def train(store, **cfg) -> tuple[str, list[dict]]:
    config = RunConfig.model_validate({"probe": PROBE, "seed": 1, **cfg})
    run = store.create_run(config)
    assert store.claim_run(run.id, "test")
    status = execute_run(store, run.id)
    assert status == "succeeded", store.get_run(run.id).error
    return run.id, store.epoch_metrics(run.id)


# -- the rotated-digit task (003 App. A) ---------------------------------------------------

@pytest.mark.parametrize("task", ["A", "B", "C"])
def test_rotated_digit_angles_follow_the_appendix(task):
    xtr, ytr, xte, yte, names, f = rendered.rotated_digit(task, 200, 100, seed=0)
    assert xtr.shape == (200, 1, 24, 24) and xte.shape == (100, 1, 24, 24)
    a = f.angle.numpy()
    if task != "C":   # the label is the side of the training angle
        assert np.all((a[ytr == 0] > -70) & (a[ytr == 0] < -50))
        assert np.all((a[ytr == 1] > 50) & (a[ytr == 1] < 80))
    else:             # the label is the digit; both angle ranges occur for both digits
        assert names == ["1", "7"]
        for c in (0, 1):
            assert (a[ytr == c] < 0).any() and (a[ytr == c] > 0).any()
    assert set(np.unique(ytr)) == {0, 1} and set(np.unique(yte)) == {0, 1}
    # images are the rendered factors: rendering a row again gives the same pixels
    assert torch.allclose(f.render(torch.arange(5)), xtr[:5])


def test_rotation_moves_ink_the_right_way():
    """A horizontal bar rotated by +90° becomes a vertical one."""
    img = torch.zeros(1, 1, 24, 24)
    img[0, 0, 11:13, 4:20] = 1.0
    out = rendered.rotate(img, torch.tensor([90.0]))[0, 0]
    assert out[4:20, 11:13].mean() > 0.8 and out[11:13, 4:8].mean() < 0.1


def test_factor_mixup_renders_mixed_factors_not_mixed_pixels():
    _, _, _, _, _, f = rendered.rotated_digit("A", 50, 0, seed=0)
    idx = torch.tensor([0, 1])
    partner = torch.tensor([1, 0])
    lam = torch.tensor([0.5, 0.5])
    fm = f.render_mixed(idx, partner, lam)
    im = mix_inputs(f.render(idx), partner, lam)
    # λ = 1 reproduces the row itself
    assert torch.allclose(f.render_mixed(idx, partner, torch.ones(2)), f.render(idx), atol=1e-6)
    # the factor mix is the glyph blend rotated by the mean angle
    mean_angle = (f.angle[0] + f.angle[1]) / 2
    blend = 0.5 * f.glyphs[f.glyph[0]] + 0.5 * f.glyphs[f.glyph[1]]
    expect = rendered.rotate(blend[None], mean_angle[None])[0]
    assert torch.allclose(fm[0], expect, atol=1e-5)
    if (f.angle[0] > 0) != (f.angle[1] > 0):   # opposite sides: the two mixes differ
        assert not torch.allclose(fm, im, atol=1e-3)


def test_factor_mixup_needs_a_rendered_dataset():
    with pytest.raises(ValueError, match="method: factor-mixup"):
        RunConfig(dataset="digits", method="factor-mixup")


@pytest.mark.parametrize("method", ["erm", "input-mixup", "factor-mixup"])
def test_rotated_digit_trains_and_records_test_nll(store, method):
    run_id, epochs = train(store, dataset="rotated-digit",
                           dataset_args={"task": "A", "samples": 60, "test_fraction": 0.4},
                           model="mlp", model_args={"width": 16, "depth": 1, "feature_dim": 8,
                                                    "batchnorm": False},
                           method=method, optimizer="adam", lr=1e-2, weight_decay=0.0,
                           epochs=2, batch_size=20)
    last = epochs[-1]
    assert last["test_nll"] > 0 and np.isfinite(last["test_nll"])
    assert last["test_nll"] == pytest.approx(last["test_loss"])   # ce: the same number
    assert epochs[1]["train_loss"] != epochs[2]["train_loss"]


# -- MNIST and the bottleneck nets (003 App. B, G) ---------------------------------------------

def test_mnist_reads_the_idx_files(tmp_path):
    write_mnist(tmp_path, n_train=12, n_test=6, seed=4)
    b = load_dataset(RunConfig(dataset="mnist"), tmp_path)
    raw = (tmp_path / "MNIST/raw/train-images-idx3-ubyte").read_bytes()
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(12, 28, 28)
    assert torch.equal(b.train_x[:, 0], torch.as_tensor(pixels.copy()))
    labels = np.frombuffer((tmp_path / "MNIST/raw/t10k-labels-idx1-ubyte").read_bytes()[8:],
                           dtype=np.uint8)
    assert b.test_y.tolist() == labels.tolist()
    assert b.class_names[0].startswith("0") and b.input_shape == (1, 28, 28)


def test_bottleneck_run_records_bottleneck_spectra(data_store):
    cfg = PRESETS["mm-svd12-cpu"]
    run_id, epochs = train(data_store, **{**cfg, "model_args": {**cfg["model_args"],
                                                                 "width": 16},
                                          "dataset_args": {}, "epochs": 2, "batch_size": 20})
    info = data_store.get_run(run_id)
    assert "bottleneck" in info.layers
    sp = data_store.get_arrays(run_id, "spectra", epoch=2, layer="bottleneck")
    feats = data_store.get_arrays(run_id, "activations", epoch=2, layer="bottleneck")["features"]
    assert feats.shape[1] == 12
    assert sp["per_class"].shape[1] <= 12
    # per class (10 MNIST digits); the raw spectra's first value includes the class mean
    assert sp["per_class"].shape[0] == sp["per_class_uncentred"].shape[0] == 10
    assert np.all(sp["per_class_uncentred"][:, 0] >= sp["per_class"][:, 0] - 1e-4)
    assert mean_first_singular(sp["per_class_uncentred"]) > 0


def test_uncentred_spectra_and_first_singular_value():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(40, 5)) + 10.0      # far from the origin
    y = np.repeat([0, 1], 20)
    raw = class_spectra(H, y, 2, centre=False)
    cen = class_spectra(H, y, 2)
    for c in (0, 1):
        assert np.allclose(raw["per_class"][c], np.linalg.svd(H[y == c], compute_uv=False))
    # the class mean dominates the raw spectrum's first value (|mean| · sqrt(n) ≈ 100)
    assert mean_first_singular(raw["per_class"]) > 80 > 3 * mean_first_singular(cen["per_class"])


# -- PreActResNet, BCE, blocked gradient (003 Figs. 6-7) -----------------------------------------

def test_bce_matches_torch_bce_on_softmax():
    z = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    t = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), 1)
    ref = torch.nn.BCELoss()(torch.softmax(z, 1), t)
    assert softmax_bce(z, t).item() == pytest.approx(ref.item(), rel=1e-5)
    z = torch.tensor([[60.0, 0.0, 0.0]], requires_grad=True)   # saturated: finite gradient
    softmax_bce(z, torch.tensor([[0.0, 1.0, 0.0]])).backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("block", [False, True])
def test_preact_resnet_bce_manifold_run(data_store, monkeypatch, block):
    from trainer import data

    for name, cls in verified_classes(data_store.settings.resolved_data_dir).items():
        monkeypatch.setitem(data.TORCHVISION_CLASSES, name, cls)
    cfg = {**PRESETS["mm-preact18-cifar10-cpu"], "dataset_args": {}, "epochs": 1,
           "batch_size": 10, "manifold_layers": ["block2"], "block_gradient": block}
    _, epochs = train(data_store, **cfg)
    assert 0 < epochs[1]["train_loss"] < 1.0      # BCE over 10 outputs of soft targets


def test_manifold_mixing_set_sweep_differs(store):
    """A sweep over mixing sets: each set trains differently (the Fig. 6 curves)."""
    losses = {}
    for layers in (["input"], ["hidden1"], ["hidden2"]):
        _, ep = train(store, dataset="digits", dataset_args={"subset": 100}, model="mlp",
                      model_args={"width": 16, "depth": 2, "feature_dim": 8},
                      method="manifold-mixup", manifold_layers=layers, loss="bce", epochs=2,
                      batch_size=25)
        losses[layers[0]] = [e["train_loss"] for e in ep[1:]]
    assert len({tuple(v) for v in losses.values()}) == 3


def test_sweep_over_mixing_sets_through_the_api(client):
    """003 Fig. 6's curves as one sweep: a run per mixing set, plus the blocked gradient."""
    base = {**PRESETS["mm-preact18-cifar10-cpu"], "dataset_args": {"subset": 100}}
    sets = [["input"], ["block1"], ["block2"], ["block3"]]
    r = client.post("/api/sweeps", json={"base": base, "field": "manifold_layers",
                                         "values": sets, "name": "fig6"})
    assert r.status_code == 201, r.text
    runs = r.json()["runs"]
    assert [run["config"]["manifold_layers"] for run in runs] == sets
    assert all(run["config"]["loss"] == "bce" for run in runs)
    r = client.post("/api/sweeps", json={"base": {**base, "manifold_layers": ["block1"]},
                                         "field": "block_gradient", "values": [False, True]})
    assert r.status_code == 201, r.text
    assert [run["config"]["block_gradient"] for run in r.json()["runs"]] == [False, True]
