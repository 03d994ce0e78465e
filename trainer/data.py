"""Datasets of a run, chosen by name from a registry (never by a path from a request).

Every loader returns a :class:`DatasetBundle`: the whole training and test split as tensors
in memory (the largest, CIFAR, is 150 MB as uint8), so the training loop can index batches
directly and the probe set can refer to examples by their row in ``train_x``.

* Small generated / tabular sets (``digits``, ``two-moons``, ``alternating-line``,
  ``gaussian-mixture``) are stored as float32, already normalised: ``prepare`` only moves
  them to the device.
* ``rotated-digit`` (003 App. A) is rendered from known factors (``trainer.rendered``); its
  bundle carries a ``factors`` renderer that factor mixup draws mixed examples from.
* Image sets (``fashion-mnist``, ``mnist``, ``cifar10``, ``cifar100``) are stored as uint8 NCHW and
  normalised in ``prepare`` (on the device, batch by batch), with the usual per-channel
  means and standard deviations of each dataset.

The image sets are read by torchvision's own dataset classes from ``data_dir`` in their
official on-disk formats (CIFAR python pickle batches, FashionMNIST idx files). They are
downloaded only when ``allow_download`` is true; otherwise a missing dataset raises
:class:`DatasetNotFoundError` saying where to put the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.runconfig import DATASETS, RunConfig
from trainer.rendered import load_rotated_digit
from trainer.split import load_digits_arrays, split_indices, standard_scale


class DatasetNotFoundError(FileNotFoundError):
    """An image dataset is missing from the data folder and downloading is not allowed."""


@dataclass
class DatasetBundle:
    """One dataset, both splits, in memory.

    Attributes:
        name: registry name (``RunConfig.dataset``).
        train_x: (n, *input_shape); float32 (normalised) or uint8 (image sets, NCHW).
        train_y: (n,) int64 class indices.
        test_x, test_y: the held-out split, same layout; may have 0 rows.
        class_names: C names; ``class_names[k]`` names class index k.
        input_shape: shape of one example, e.g. (64,), (2,), (1,), (1, 28, 28), (3, 32, 32).
        mean, std: per-channel normalisation applied by ``prepare`` to uint8 images
            (shape (C_in,)); None for float data.
        factors: for sets rendered from known factors, an object with
            ``render_mixed(idx, partner, lam, device)`` giving the training rows ``idx``
            rendered from their factors mixed with their partners' (factor mixup); else None.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]
    input_shape: tuple[int, ...]
    mean: torch.Tensor | None = field(default=None, repr=False)
    std: torch.Tensor | None = field(default=None, repr=False)
    factors: Any = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prepare(self, x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """A batch ready for the model: float32 on ``device``, normalised.

        uint8 images are moved first and converted on the device (4× less to copy), then
        scaled to [0, 1] and standardised per channel.
        """
        if x.dtype != torch.uint8:
            return x.to(device=device, dtype=torch.float32, non_blocking=True)
        x = x.to(device=device, non_blocking=True).float().div_(255.0)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = self.mean.to(device).view(shape)
        std = self.std.to(device).view(shape)
        return (x - mean) / std

    def __post_init__(self) -> None:
        if len(self.train_x) != len(self.train_y) or len(self.test_x) != len(self.test_y):
            raise ValueError(f"{self.name}: inputs and labels differ in length")
        if self.train_x.dtype == torch.uint8 and (self.mean is None or self.std is None):
            raise ValueError(f"{self.name}: uint8 images need a mean and std for prepare()")


# --------------------------------------------------------------------------- helpers

def _split(x: np.ndarray, y: np.ndarray, n_test: int, seed: int):
    """Seeded split into (train_x, train_y, test_x, test_y), stratified when possible
    (scikit-learn's ``train_test_split``'s rows, ``trainer.split``)."""
    if n_test <= 0:
        return x, y, x[:0], y[:0]
    counts = np.bincount(y)
    train, test = split_indices(y, n_test, seed,
                                stratify=counts.min() >= 2 and n_test >= len(counts))
    return x[train], y[train], x[test], y[test]


def _n_test_for(n_train: int, test_fraction: float) -> int:
    """Extra held-out points so that ``n_train`` remain for training."""
    return round(n_train * test_fraction / (1.0 - test_fraction))


def _bundle(name, xtr, ytr, xte, yte, class_names, input_shape, **kw) -> DatasetBundle:
    def as_x(a):
        t = torch.as_tensor(a)
        return t if t.dtype == torch.uint8 else t.to(torch.float32)

    return DatasetBundle(name=name, train_x=as_x(xtr).contiguous(),
                         train_y=torch.as_tensor(ytr, dtype=torch.int64).contiguous(),
                         test_x=as_x(xte).contiguous(),
                         test_y=torch.as_tensor(yte, dtype=torch.int64).contiguous(),
                         class_names=list(class_names), input_shape=tuple(input_shape), **kw)


def balanced_subset(y: torch.Tensor, size: int, num_classes: int, seed: int) -> torch.Tensor:
    """Indices (sorted, int64) of a seeded class-balanced subset of ``size`` examples.

    Each class gets ``size // C`` examples (the first ``size % C`` classes one more); a class
    with too few examples gives all it has. Sorted so the subset keeps the dataset's order.
    """
    rng = np.random.default_rng(seed)
    y_np = y.numpy()
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(y_np == c)
        quota = size // num_classes + (1 if c < size % num_classes else 0)
        chosen.append(rng.choice(members, size=min(quota, len(members)), replace=False))
    return torch.as_tensor(np.sort(np.concatenate(chosen)), dtype=torch.int64)


# --------------------------------------------------------------------------- small sets

def load_digits_dataset(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """scikit-learn's 8×8 digits (1797 × 64), 450 held out (stratified, run seed),
    standardised with the training split's per-pixel mean and std (reference §6)."""
    data, target = load_digits_arrays()   # scikit-learn's file, not its (slow) import
    x, y = data.astype(np.float64), target.astype(np.int64)
    xtr, ytr, xte, yte = _split(x, y, 450, config.seed)
    xtr_s, xte_s = standard_scale(xtr, xtr, xte)   # constant pixels keep scale 1
    return _bundle("digits", xtr_s, ytr, xte_s, yte, [str(k) for k in range(10)], (64,))


def two_moons_points(n: int, noise: float, separation: float, seed: int):
    """The separated two moons of Pezeshki et al. (2020), used by the data-dependency paper.

    scikit-learn's ``make_moons`` centred, the two moons pushed apart vertically so each
    lies on its own side of the x axis, then each class moved away from the axis by the
    class separation δ (``separation``; δ < 0 makes them overlap), and the plane rotated by
    90° so that the separating direction is the first coordinate. Returns (x (n, 2), y (n,)).
    """
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    sign = 2.0 * y - 1.0                        # class 0 -> -1, class 1 -> +1
    x = x - np.stack([np.full(n, 0.5), 0.3 * sign], axis=1)
    x[:, 1] -= x[:, 1].mean()
    x[:, 1] *= np.sign(-x[:, 1] * sign)         # class 0 above the axis, class 1 below
    x[:, 1] -= sign * separation                # then δ further apart
    return np.ascontiguousarray(x[:, ::-1]), y.astype(np.int64)


def load_two_moons(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """Two moons: ``samples`` training points (+ held-out ones), noise and separation δ."""
    a = config.dataset_args
    n_test = _n_test_for(a.samples, a.test_fraction)
    x, y = two_moons_points(a.samples + n_test, a.noise, a.separation, config.seed)
    xtr, ytr, xte, yte = _split(x, y, n_test, config.seed)
    return _bundle("two-moons", xtr, ytr, xte, yte, ["0", "1"], (2,))


def load_alternating_line(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """X_m^k of the data-dependency paper: the points 0, 1, ..., m−1 on a line, point v in
    class v mod k. Class names "1".."k" follow the paper's numbering (class index 0 is the
    paper's class 1). Every point is a training point (the set *is* its support), so the
    test split is empty whatever ``test_fraction`` says."""
    a = config.dataset_args
    if a.classes > a.points:
        raise ValueError(f"dataset_args.classes ({a.classes}) must be at most "
                         f"dataset_args.points ({a.points}) for alternating-line")
    v = np.arange(a.points)
    x = v.astype(np.float32)[:, None]
    y = (v % a.classes).astype(np.int64)
    return _bundle("alternating-line", x, y, x[:0], y[:0],
                   [str(k + 1) for k in range(a.classes)], (1,))


def load_gaussian_mixture(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """C isotropic Gaussian classes in D dimensions: class means uniform on the unit sphere
    (seeded), spread ``noise`` per coordinate, balanced classes, ``samples`` training points."""
    a = config.dataset_args
    rng = np.random.default_rng(config.seed)
    means = rng.standard_normal((a.classes, a.dim))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    n_test = _n_test_for(a.samples, a.test_fraction)
    n = a.samples + n_test
    y = rng.permutation(np.arange(n) % a.classes).astype(np.int64)
    x = means[y] + a.noise * rng.standard_normal((n, a.dim))
    xtr, ytr, xte, yte = _split(x, y, n_test, config.seed)
    return _bundle("gaussian-mixture", xtr, ytr, xte, yte,
                   [str(k) for k in range(a.classes)], (a.dim,))


# --------------------------------------------------------------------------- image sets

# Per-channel statistics of the training images (the values used across the literature).
_STATS = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
# What the user has to put into the data folder for each image set.
_LAYOUT = {
    "fashion-mnist": ("FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte "
                      "(the four files of the FashionMNIST release, gunzipped)"),
    "mnist": ("MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte "
              "(the four files of the MNIST release, gunzipped)"),
    "cifar10": ("cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta: the "
                "extracted cifar-10-python.tar.gz)"),
    "cifar100": ("cifar-100-python/ (train, test, meta: the extracted "
                 "cifar-100-python.tar.gz)"),
}


# Registry name -> torchvision dataset class, by name (torchvision is imported lazily).
# Tests put a subclass here whose expected md5 sums are those of generated files.
TORCHVISION_CLASSES: dict[str, str | type] = {
    "fashion-mnist": "FashionMNIST", "mnist": "MNIST", "cifar10": "CIFAR10", "cifar100": "CIFAR100"}


def _open_torchvision(name: str, data_dir: Path, train: bool, allow_download: bool):
    cls = TORCHVISION_CLASSES[name]
    if isinstance(cls, str):
        from torchvision import datasets

        cls = getattr(datasets, cls)
    data_dir = Path(data_dir)
    try:
        return cls(root=str(data_dir), train=train, download=allow_download)
    except RuntimeError as err:
        if allow_download:
            raise
        raise DatasetNotFoundError(
            f"dataset {name!r} not found (or corrupted) under {data_dir}: put "
            f"{_LAYOUT[name]} there, or allow downloading (MIXSCOPE_ALLOW_DOWNLOAD=1 / "
            f"allow_download=True) on a machine that is online. torchvision said: {err}"
        ) from err


def _load_image_set(name: str, data_dir: Path, allow_download: bool) -> DatasetBundle:
    parts = []
    for train in (True, False):
        ds = _open_torchvision(name, data_dir, train, allow_download)
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)   # -> NCHW uint8
        y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
        parts.append((x.contiguous(), y))
        classes = list(ds.classes)
    (xtr, ytr), (xte, yte) = parts
    mean, std = _STATS[name]
    return _bundle(name, xtr, ytr, xte, yte, classes, tuple(xtr.shape[1:]),
                   mean=torch.tensor(mean), std=torch.tensor(std))


def load_fashion_mnist(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """FashionMNIST (1×28×28, 10 classes) through ``torchvision.datasets.FashionMNIST``."""
    return _load_image_set("fashion-mnist", data_dir, allow_download)


def load_mnist(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """MNIST (1×28×28, 10 digits) through ``torchvision.datasets.MNIST``."""
    return _load_image_set("mnist", data_dir, allow_download)


def load_cifar10(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """CIFAR-10 (3×32×32, 10 classes) through ``torchvision.datasets.CIFAR10``."""
    return _load_image_set("cifar10", data_dir, allow_download)


def load_cifar100(config: RunConfig, data_dir: Path, allow_download: bool = False):
    """CIFAR-100 (3×32×32, 100 fine classes) through ``torchvision.datasets.CIFAR100``."""
    return _load_image_set("cifar100", data_dir, allow_download)


DATASET_REGISTRY: dict[str, Callable[..., DatasetBundle]] = {
    "digits": load_digits_dataset,
    "two-moons": load_two_moons,
    "alternating-line": load_alternating_line,
    "gaussian-mixture": load_gaussian_mixture,
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "rotated-digit": load_rotated_digit,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
}
assert set(DATASET_REGISTRY) == set(DATASETS), "registry and RunConfig disagree"


def _keep_classes(bundle: DatasetBundle, keep: list[int]) -> None:
    """Restrict both splits to the classes ``keep``, renumbered 0..k-1 in that order."""
    bad = [c for c in keep if c >= bundle.num_classes]
    if bad:
        raise ValueError(f"dataset_args.keep_classes: {bad} out of range for "
                         f"{bundle.num_classes} classes")
    new_label = torch.full((bundle.num_classes,), -1, dtype=torch.int64)
    new_label[torch.tensor(keep)] = torch.arange(len(keep))
    for split in ("train", "test"):
        y = getattr(bundle, f"{split}_y")
        rows = torch.nonzero(new_label[y] >= 0).flatten()
        setattr(bundle, f"{split}_x", getattr(bundle, f"{split}_x")[rows].contiguous())
        setattr(bundle, f"{split}_y", new_label[y[rows]].contiguous())
        if split == "train" and bundle.factors is not None:
            bundle.factors.glyph = bundle.factors.glyph[rows]
            bundle.factors.angle = bundle.factors.angle[rows]
    bundle.class_names = [bundle.class_names[c] for c in keep]


def load_dataset(config: RunConfig, data_dir: Path | str | None = None,
                 allow_download: bool = False) -> DatasetBundle:
    """The dataset a run config names, with ``dataset_args.subset`` applied.

    Args:
        config: the run's config (``dataset``, ``dataset_args``, ``seed`` are used).
        data_dir: folder holding the torchvision datasets (only the image sets read it).
        allow_download: let torchvision download a missing image set.
    Raises:
        ValueError: unknown dataset name (naming the field ``dataset``).
        DatasetNotFoundError: an image set is missing and downloading is not allowed.
    """
    if config.dataset not in DATASET_REGISTRY:
        raise ValueError(f"dataset: unknown dataset {config.dataset!r}; choose one of "
                         f"{', '.join(DATASET_REGISTRY)}")
    bundle = DATASET_REGISTRY[config.dataset](config, Path(data_dir or "."), allow_download)
    if config.dataset_args.keep_classes is not None:
        _keep_classes(bundle, config.dataset_args.keep_classes)
    subset = config.dataset_args.subset
    if subset is not None and subset < len(bundle.train_y):
        idx = balanced_subset(bundle.train_y, subset, bundle.num_classes, config.seed)
        bundle.train_x = bundle.train_x[idx].contiguous()
        bundle.train_y = bundle.train_y[idx].contiguous()
        if bundle.factors is not None:   # keep each row's generative factors in step
            bundle.factors.glyph = bundle.factors.glyph[idx]
            bundle.factors.angle = bundle.factors.angle[idx]
    return bundle
