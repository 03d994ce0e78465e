"""Tiny image datasets written in the *official* on-disk formats, for tests and benchmarks.

The files are read back by torchvision's real dataset classes (``trainer.data`` never
sees the difference), so a test exercises the same parsing a real download goes through:

* CIFAR-10: ``cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta`` - pickled
  dicts with ``data`` (n, 3072) uint8 (R, G, B planes of 32×32, row-major) and ``labels``;
  the meta file has ``label_names``.
* CIFAR-100: ``cifar-100-python/train, test, meta`` - ``data``, ``fine_labels``,
  ``coarse_labels``; meta has ``fine_label_names`` and ``coarse_label_names``.
* FashionMNIST: ``FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` - idx
  files (MNIST: the same under ``MNIST/raw/``): a big-endian header (magic 2051 for images / 2049 for labels, then the sizes)
  followed by the uint8 pixels / labels.

Checksums: torchvision's CIFAR classes verify the md5 of every file against the md5 of the
real release (``train_list``, ``test_list``, ``meta`` class attributes), which generated
files cannot match. :func:`verified_classes` therefore returns subclasses whose expected
md5 sums are computed from the generated files; everything else (the integrity check
itself, unpickling, reshaping, the class names) is torchvision's unchanged code. Put them
into ``trainer.data.TORCHVISION_CLASSES`` (e.g. with pytest's ``monkeypatch.setitem``).
FashionMNIST checks only that the raw files exist, so it needs no subclass.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


def _images(rng: np.random.Generator, labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 images with a class-dependent mean level, so tiny models can learn something."""
    num_classes = int(labels.max()) + 1 if len(labels) else 1
    level = 40 + 170 * labels / max(num_classes - 1, 1)
    noise = rng.normal(0, 25, size=(len(labels), *shape))
    return np.clip(level.reshape(-1, *([1] * len(shape))) + noise, 0, 255).astype(np.uint8)


def _labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def _pickle(path: Path, obj: dict) -> None:
    # Protocol 2, like the original (Python 2) release; torchvision reads it with latin1.
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path | str, per_batch: int = 4, n_test: int = 6, seed: int = 0) -> Path:
    """Write ``cifar-10-batches-py`` under ``root``: 5 training batches of ``per_batch``
    images and a test batch of ``n_test``. Returns the folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    files = [(f"data_batch_{k}", per_batch) for k in range(1, 6)] + [("test_batch", n_test)]
    for name, n in files:
        y = _labels(rng, n, 10)
        _pickle(folder / name, {
            "batch_label": f"{name} of 5" if name != "test_batch" else "testing batch 1 of 1",
            "labels": [int(v) for v in y],
            "data": _images(rng, y, (3072,)),
            "filenames": [f"img_{name}_{i}.png" for i in range(n)],
        })
    _pickle(folder / "batches.meta", {"label_names": CIFAR10_NAMES,
                                      "num_cases_per_batch": per_batch, "num_vis": 3072})
    return folder


def write_cifar100(root: Path | str, n_train: int = 200, n_test: int = 100,
                   seed: int = 0) -> Path:
    """Write ``cifar-100-python`` (train, test, meta) under ``root``. Returns the folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        y = _labels(rng, n, 100)
        _pickle(folder / name, {
            "filenames": [f"img_{name}_{i}.png" for i in range(n)],
            "batch_label": f"{name} batch",
            "fine_labels": [int(v) for v in y],
            "coarse_labels": [int(v) // 5 for v in y],
            "data": _images(rng, y, (3072,)),
        })
    _pickle(folder / "meta", {"fine_label_names": [f"fine_{k:02d}" for k in range(100)],
                              "coarse_label_names": [f"coarse_{k:02d}" for k in range(20)]})
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file: magic (0, 0, type 0x08 = uint8, ndim), big-endian int32 sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fashion_mnist(root: Path | str, n_train: int = 40, n_test: int = 20,
                        seed: int = 0) -> Path:
    """Write the four raw idx files of FashionMNIST under ``root/FashionMNIST/raw``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "FashionMNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = _labels(rng, n, 10)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", _images(rng, y, (28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    return folder


def write_mnist(root: Path | str, n_train: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    """Write the four raw idx files of MNIST under ``root/MNIST/raw`` (the layout
    ``torchvision.datasets.MNIST`` reads; like FashionMNIST it checks only that they exist)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = _labels(rng, n, 10)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", _images(rng, y, (28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    return folder


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def verified_classes(root: Path | str) -> dict[str, type]:
    """torchvision CIFAR subclasses expecting the md5 sums of the files generated under
    ``root`` (for whichever of the two sets exist there), keyed by registry name."""
    from torchvision import datasets

    out: dict[str, type] = {}
    for name, base in (("cifar10", datasets.CIFAR10), ("cifar100", datasets.CIFAR100)):
        folder = Path(root) / base.base_folder
        if not folder.is_dir():
            continue
        attrs = {
            "train_list": [[f, _md5(folder / f)] for f, _ in base.train_list],
            "test_list": [[f, _md5(folder / f)] for f, _ in base.test_list],
            "meta": dict(base.meta, md5=_md5(folder / base.meta["filename"])),
        }
        out[name] = type(f"Generated{base.__name__}", (base,), attrs)
    return out


def write_all(root: Path | str, seed: int = 0) -> dict[str, type]:
    """Write all four image sets under ``root``; returns :func:`verified_classes`."""
    write_cifar10(root, seed=seed)
    write_cifar100(root, seed=seed)
    write_fashion_mnist(root, seed=seed)
    write_mnist(root, seed=seed)
    return verified_classes(root)
