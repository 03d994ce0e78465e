"""Datasets: every registry entry loads, with the shapes, dtypes and splits it promises.

The image sets are read from tiny files written in the official on-disk formats
(``trainer.dataset_files``) by torchvision's own dataset classes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.runconfig import DATASETS, RunConfig
from trainer import data
from trainer.data import DATASET_REGISTRY, DatasetNotFoundError, load_dataset
from trainer.dataset_files import verified_classes, write_all, write_cifar10, write_fashion_mnist

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchvision-data")
    write_all(root, seed=3)
    return root


@pytest.fixture
def real_format(image_root, monkeypatch):
    """The data folder with generated files, and CIFAR classes expecting their md5 sums."""
    for name, cls in verified_classes(image_root).items():
        monkeypatch.setitem(data.TORCHVISION_CLASSES, name, cls)
    return image_root


def cfg(dataset: str, **kw) -> RunConfig:
    return RunConfig(dataset=dataset, **kw)


def test_registry_covers_every_dataset_name():
    assert set(DATASET_REGISTRY) == set(DATASETS)


# (dataset, input shape, classes, train rows, test rows, stored dtype)
EXPECTED = [
    ("digits", (64,), 10, 1797 - 450, 450, torch.float32),
    ("two-moons", (2,), 2, 300, 100, torch.float32),
    ("alternating-line", (1,), 2, 3, 0, torch.float32),
    ("gaussian-mixture", (16,), 2, 300, 100, torch.float32),
    ("fashion-mnist", (1, 28, 28), 10, 40, 20, torch.uint8),
    ("mnist", (1, 28, 28), 10, 40, 20, torch.uint8),
    ("rotated-digit", (1, 24, 24), 2, 300, 100, torch.float32),
    ("cifar10", (3, 32, 32), 10, 20, 6, torch.uint8),
    ("cifar100", (3, 32, 32), 100, 200, 100, torch.uint8),
]


@pytest.mark.parametrize("name,shape,classes,n_train,n_test,dtype", EXPECTED,
                         ids=[e[0] for e in EXPECTED])
def test_every_dataset_loads(real_format, name, shape, classes, n_train, n_test, dtype):
    b = load_dataset(cfg(name), real_format)
    assert b.name == name
    assert b.input_shape == shape
    assert b.num_classes == classes == len(b.class_names)
    assert b.train_x.shape == (n_train, *shape) and b.train_x.dtype == dtype
    assert b.test_x.shape == (n_test, *shape) and b.test_x.dtype == dtype
    assert b.train_y.dtype == torch.int64 and b.train_y.shape == (n_train,)
    assert b.test_y.shape == (n_test,)
    assert 0 <= int(b.train_y.min()) and int(b.train_y.max()) < classes
    x = b.prepare(b.train_x[:5], "cpu")
    assert x.dtype == torch.float32 and x.shape == (min(5, n_train), *shape)
    assert torch.isfinite(x).all()


def test_cifar10_reads_the_generated_pixels_and_names(real_format):
    """The real loader's reshape: data rows are R, G, B planes; names come from the meta."""
    b = load_dataset(cfg("cifar10"), real_format)
    assert b.class_names[0] == "airplane" and b.class_names[9] == "truck"
    import pickle

    with open(real_format / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    first = torch.as_tensor(raw["data"][0]).view(3, 32, 32)
    assert torch.equal(b.train_x[0], first)
    assert b.train_y[: len(raw["labels"])].tolist() == raw["labels"]


def test_image_prepare_normalises_per_channel(real_format):
    b = load_dataset(cfg("cifar10"), real_format)
    x = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    out = b.prepare(x, "cpu")
    expect = (1.0 - b.mean) / b.std
    assert torch.allclose(out[0, :, 0, 0], expect)


def test_cifar_checksums_are_really_checked(image_root, tmp_path, monkeypatch):
    """A corrupted file fails torchvision's md5 check and reads as a missing dataset."""
    write_cifar10(tmp_path, seed=1)
    monkeypatch.setitem(data.TORCHVISION_CLASSES, "cifar10",
                        verified_classes(tmp_path)["cifar10"])
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "ab") as f:
        f.write(b"x")
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_dataset(cfg("cifar10"), tmp_path)


@pytest.mark.parametrize("name,where", [("cifar10", "cifar-10-batches-py"),
                                        ("cifar100", "cifar-100-python"),
                                        ("fashion-mnist", "FashionMNIST/raw"),
                                        ("mnist", "MNIST/raw")])
def test_missing_image_set_says_where_to_put_it(tmp_path, name, where):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(cfg(name), tmp_path / "empty", allow_download=False)
    msg = str(err.value)
    assert where in msg and str(tmp_path / "empty") in msg and "MIXSCOPE_ALLOW_DOWNLOAD" in msg


def test_fashion_mnist_idx_round_trip(tmp_path):
    write_fashion_mnist(tmp_path, n_train=10, n_test=5, seed=2)
    b = load_dataset(cfg("fashion-mnist"), tmp_path)
    raw = (tmp_path / "FashionMNIST/raw/train-images-idx3-ubyte").read_bytes()
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(10, 28, 28).copy()
    assert torch.equal(b.train_x[:, 0], torch.as_tensor(pixels))
    assert b.class_names[0] == "T-shirt/top"


def test_digits_is_standardised_with_450_held_out_by_seed():
    a = load_dataset(cfg("digits", seed=0))
    b = load_dataset(cfg("digits", seed=0))
    c = load_dataset(cfg("digits", seed=1))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.test_x, c.test_x)
    assert len(a.test_y) == 450
    assert torch.allclose(a.train_x.mean(0), torch.zeros(64), atol=1e-5)
    std = a.train_x.std(0, unbiased=False)
    varying = std > 0
    assert torch.allclose(std[varying], torch.ones(int(varying.sum())), atol=1e-4)
    # stratified: every class is held out in proportion
    assert a.test_y.bincount().min() >= 40


def test_alternating_line_follows_the_paper():
    b = load_dataset(cfg("alternating-line", dataset_args={"points": 10, "classes": 3}))
    assert b.train_x[:, 0].tolist() == list(range(10))
    assert b.train_y.tolist() == [v % 3 for v in range(10)]
    assert b.class_names == ["1", "2", "3"]
    assert len(b.test_x) == 0
    with pytest.raises(ValueError, match="dataset_args.classes"):
        load_dataset(cfg("alternating-line", dataset_args={"points": 3, "classes": 4}))


def test_two_moons_separation_moves_classes_apart():
    def gap(delta):
        b = load_dataset(cfg("two-moons", dataset_args={"separation": delta, "noise": 0.0,
                                                            "test_fraction": 0.0}))
        x0 = b.train_x[b.train_y == 0, 0]
        x1 = b.train_x[b.train_y == 1, 0]
        # The separating direction is the first coordinate (the plane is rotated).
        return float(x0.min() - x1.max()), b

    g05, b = gap(0.5)
    g01, _ = gap(0.1)
    assert g05 == pytest.approx(g01 + 0.8, abs=1e-5)   # each class moved by δ
    assert g05 > 0 and b.train_y.bincount().tolist() == [150, 150]


def test_gaussian_mixture_is_seeded_and_balanced():
    args = {"classes": 4, "dim": 8, "samples": 200, "noise": 0.05, "test_fraction": 0.2}
    a = load_dataset(cfg("gaussian-mixture", dataset_args=args, seed=5))
    b = load_dataset(cfg("gaussian-mixture", dataset_args=args, seed=5))
    c = load_dataset(cfg("gaussian-mixture", dataset_args=args, seed=6))
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    assert a.train_x.shape == (200, 8) and a.test_x.shape == (50, 8)
    # low noise: each class sits near its own unit-norm mean
    means = torch.stack([a.train_x[a.train_y == k].mean(0) for k in range(4)])
    assert torch.allclose(means.norm(dim=1), torch.ones(4), atol=0.1)


def test_subset_is_class_balanced_and_seeded(real_format):
    a = load_dataset(cfg("digits", dataset_args={"subset": 55}, seed=2))
    b = load_dataset(cfg("digits", dataset_args={"subset": 55}, seed=2))
    c = load_dataset(cfg("digits", dataset_args={"subset": 55}, seed=3))
    assert len(a.train_y) == 55
    assert sorted(a.train_y.bincount().tolist()) == [5] * 5 + [6] * 5
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    assert len(a.test_y) == 450                                   # test split untouched
    img = load_dataset(cfg("cifar100", dataset_args={"subset": 100}), real_format)
    assert img.train_y.bincount(minlength=100).tolist() == [1] * 100


def test_unknown_dataset_is_named():
    config = RunConfig()
    object.__setattr__(config, "dataset", "svhn")     # bypass validation on purpose
    with pytest.raises(ValueError, match="dataset"):
        load_dataset(config)


def test_keep_classes_restricts_and_renumbers(real_format):
    """003 Fig. 5 top: a model trained on MNIST digits 0-4 only."""
    full = load_dataset(cfg("mnist"), real_format)
    b = load_dataset(cfg("mnist", dataset_args={"keep_classes": [3, 1]}), real_format)
    assert b.class_names == [full.class_names[3], full.class_names[1]]
    assert torch.equal(b.train_x, full.train_x[(full.train_y == 3) | (full.train_y == 1)])
    assert torch.equal(b.train_y, (full.train_y[(full.train_y == 3) | (full.train_y == 1)]
                                   == 1).long())
    assert set(b.test_y.tolist()) == {0, 1}
    with pytest.raises(ValueError, match="keep_classes"):
        load_dataset(cfg("digits", dataset_args={"keep_classes": [0, 10]}))
    with pytest.raises(ValueError, match="keep_classes"):
        cfg("digits", dataset_args={"keep_classes": [1, 1]})
