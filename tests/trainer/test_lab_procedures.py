"""Issue 9: the lab procedures as the authors ran them, beside mixscope's variants (tiny)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.maths.mixup_optimal import (
    alternating_line,
    mixup_optimal,
    mixup_optimal_limit,
    reference_to_mix_distances,
)
from trainer import lab

torch.set_num_threads(1)
X3, Y3 = np.arange(3, dtype=np.float32)[:, None], np.array([0, 1, 0])


# --- Assumption 2.9 (Table 2) -----------------------------------------------------------------
def test_reference_to_mix_distances_is_the_authors_procedure():
    """Reference points = the subsample; partners from the subsample with replacement; each
    reference point's distance to the nearest mix of two other classes (brute force)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 4, 200)
    r = reference_to_mix_distances(X, y, alpha=2.0, seed=1, subsample=0.2)
    ref = r["reference"]
    assert len(ref) == 40 and set(r["pair_a"]) == set(ref) and set(r["pair_b"]) <= set(ref)
    assert len(np.unique(r["pair_b"])) < 40  # with replacement (40 draws from 40: repeats)
    Z = r["lam"][:, None] * X[r["pair_a"]] + (1 - r["lam"][:, None]) * X[r["pair_b"]]
    brute = [min(np.linalg.norm(X[i] - Z[k]) for k in range(len(Z))
                 if y[r["pair_a"][k]] != y[i] and y[r["pair_b"][k]] != y[i]) for i in ref]
    assert np.allclose(r["distances"], brute)
    assert r["min"] == pytest.approx(min(brute)) and r["mean"] == pytest.approx(np.mean(brute))


def test_reference_to_mix_distances_measures_test_points_against_the_same_mixes():
    """Table 2's test row: every test point a reference point, against the very mixes of the
    train row (brute force), so the two rows differ only in their reference points."""
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(150, 4)), rng.integers(0, 4, 150)
    Xt, yt = rng.normal(size=(30, 4)), rng.integers(0, 4, 30)
    train = reference_to_mix_distances(X, y, alpha=2.0, seed=3, subsample=0.2)
    test = reference_to_mix_distances(X, y, alpha=2.0, seed=3, subsample=0.2, X_ref=Xt,
                                      y_ref=yt)
    for k in ("pair_a", "pair_b", "lam"):
        np.testing.assert_array_equal(train[k], test[k])
    Z = test["lam"][:, None] * X[test["pair_a"]] + (1 - test["lam"][:, None]) * X[test["pair_b"]]
    brute = [min((np.linalg.norm(Xt[i] - Z[k]) for k in range(len(Z))
                  if y[test["pair_a"][k]] != yt[i] and y[test["pair_b"][k]] != yt[i]),
                 default=np.inf) for i in range(30)]
    assert np.allclose(test["distances"], brute)
    assert test["reference"].tolist() == list(range(30))
    assert test["mean"] == pytest.approx(np.mean([b for b in brute if np.isfinite(b)]))
    with pytest.raises(ValueError, match="X_ref"):
        reference_to_mix_distances(X, y, X_ref=Xt[:, :2], y_ref=yt)


def test_assumption_check_names_its_procedure_and_keeps_the_product_variant():
    args = {"classes": 4, "dim": 3, "noise": 0.3, "samples": 200, "test_fraction": 0.2}
    a = lab.assumption_check("gaussian-mixture", seed=1, dataset_args=args)
    p = lab.assumption_check("gaussian-mixture", seed=1, dataset_args=args, procedure="product")
    assert a["procedure"] == "authors" and "reference points" in a["procedure_label"]
    assert p["procedure"] == "product" and p["test"] is not None and a["test"] is not None
    assert a["train"]["min"] != p["train"]["min"] or a["train"]["mean"] != p["train"]["mean"]
    with pytest.raises(ValueError, match="procedure"):
        lab.assumption_check("gaussian-mixture", dataset_args=args, procedure="nope")


def test_authors_cifar_stds_scale_the_distances(tmp_path, monkeypatch):
    """CIFAR-10 in the real file format: the authors' stds (0.2023, 0.1994, 0.2010) replace
    mixscope's (0.2470, 0.2435, 0.2616); same draws, so every distance scales between the
    two std ratios, and the paper's number comes along."""
    from trainer import data
    from trainer.dataset_files import verified_classes, write_cifar10

    write_cifar10(tmp_path, seed=1)
    monkeypatch.setitem(data.TORCHVISION_CLASSES, "cifar10",
                        verified_classes(tmp_path)["cifar10"])
    a = lab.assumption_check("cifar10", data_dir=tmp_path, subsample=1.0)
    assert a["normalisation"].startswith("authors' std (0.2023")
    assert a["paper"] == {"min": 17.72}
    # mixscope's stds on the same draws: the authors' (smaller) stds give larger distances
    from backend.maths.mixup_optimal import reference_to_mix_distances as ref_fn
    from backend.runconfig import RunConfig

    b = data.load_dataset(RunConfig(dataset="cifar10"), tmp_path)
    mine = ref_fn(b.prepare(b.train_x, "cpu").reshape(len(b.train_x), -1).double().numpy(),
                  b.train_y.numpy(), alpha=1024.0, seed=0, subsample=1.0)
    assert 0.2470 / 0.2010 * 0.999 < a["train"]["min"] / mine["min"] < 0.2616 / 0.1994 * 1.001


def test_table2_mnist_column_in_the_real_idx_format(tmp_path):
    """MNIST (the table's first column) from IDX files: standard normalisation (0.1307,
    0.3081), the paper's 11.43 alongside, through the CLI."""
    import json

    from click.testing import CliRunner

    from mixscope.cli import main
    from trainer.dataset_files import write_mnist

    write_mnist(tmp_path / "data", n_train=60, n_test=10, seed=2)
    (tmp_path / "store").mkdir()
    res = CliRunner().invoke(main, ["lab", "assumption-check", "--dataset", "mnist", "--json",
                                    "--subsample", "0.5"],
                             env={"MIXSCOPE_DATA_DIR": str(tmp_path / "data")})
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["dim"] == 784 and out["num_mix"] == 30 and out["paper"] == {"min": 11.43}
    assert out["procedure"] == "authors" and out["train"]["min"] > 0


# --- Lemma 2.3: ε as a control, the ε → 0 limit ------------------------------------------------
def test_limit_is_what_small_eps_tends_to_and_fits_every_point():
    x, y = alternating_line(3, 2)
    grid = np.array([[0.0], [0.7], [1.0], [1.3], [2.0]])
    lim = mixup_optimal_limit(x, y, grid, alpha=32.0)
    small = mixup_optimal(x, y, grid, alpha=32.0, eps=1e-4, method="exact").h
    assert np.allclose(lim, small, atol=2e-3)
    assert (mixup_optimal_limit(x, y, x, alpha=32.0).argmax(1) == y).all()  # Prop. 2.8
    # at ε = 0.1 the middle point is *not* fitted at α = 32 (h_ε(1) = 0.535 for class 1)
    assert mixup_optimal(x, y, x, alpha=32.0, eps=0.1, method="exact").h[1, 0] == \
        pytest.approx(0.535, abs=0.005)


def test_optimal_line_labels_a_tuned_eps():
    tuned = lab.optimal_line(X3, Y3, 2, 32.0, lab.TUNED_EPS)
    mine = lab.optimal_line(X3, Y3, 2, 32.0, 0.02)
    assert tuned["eps_tuned"] and "tuned" in tuned["eps_label"]
    assert not mine["eps_tuned"] and "tuned" not in mine["eps_label"]
    assert [p[0] for p in tuned["limit"]["at_points"]] == [1.0, 0.0, 1.0]
    assert mine["at_points"][1][0] == pytest.approx(0.20, abs=0.01)


# --- two moons and the authors' switches ---------------------------------------------------------
@pytest.mark.parametrize("loop", ["correct", "authors"])
@pytest.mark.parametrize("state", ["per-run", "shared"])
def test_switches_match_a_plain_script(loop, state):
    """Batched (or sequential, shared Adam) training equals a plain nn.Sequential script with
    the same switches; the switches change the outcome."""
    s = lab.LabSettings(alpha=1.0, runs=3, epochs=40, hidden=16, loop=loop,
                        optimizer_state=state)
    got = lab.train_batched(X3, Y3, 2, method="mixup", settings=s).probs
    ref = np.stack(lab.train_reference([X3] * 3, [Y3] * 3, 2, method="mixup", settings=s))
    assert np.abs(got - ref).max() < 1e-5
    plain = lab.train_batched(X3, Y3, 2, method="mixup",
                              settings=lab.LabSettings(alpha=1.0, runs=3, epochs=40, hidden=16))
    same_first = np.abs(got[0] - plain.probs[0]).max() < 1e-6
    assert same_first == (loop == "correct")  # a shared Adam only changes runs after the first
    if (loop, state) != ("correct", "per-run"):
        assert np.abs(got - plain.probs).max() > 1e-3


def test_two_moons_fresh_draw_per_seed_and_hard_average():
    s = lab.default_moons_settings(runs=3, epochs=30, hidden=16)
    assert lab.default_moons_settings().epochs == 1500 == lab.MOONS_EPOCHS_PAPER
    xs, ys = lab.moons_draws(40, 0.1, 0.5, [0, 1, 2], "per-run")
    assert xs.shape == (3, 40, 2) and not np.allclose(xs[0], xs[1])
    fixed, _ = lab.moons_draws(40, 0.1, 0.5, [0, 1, 2], "fixed")
    assert np.allclose(fixed[0], fixed[2]) and np.allclose(fixed[0], xs[0])
    out = lab.two_moons(40, settings=s, grid_size=12, optimal_samples=5000)
    d = out["mixup"]["decision"]
    hard = np.asarray(d["hard_mean"])
    assert hard.shape == (12, 12) and set(np.unique(hard * 3).round()) <= {0, 1, 2, 3}
    assert out["settings"]["draw"] == "per-run" and out["settings"]["loop"] == "correct"
    assert out["mixup_optimal"]["limit_train_accuracy"] == 1.0
    assert out["settings"]["epochs_label"].startswith("30 epochs (chosen")
