"""The small sets' seeded split, standardisation and scikit-learn's packaged digits, in numpy:
the same arrays, bit for bit, as ``sklearn.model_selection.train_test_split`` (stratified
or shuffled), ``sklearn.preprocessing.StandardScaler`` and ``sklearn.datasets.load_digits``
give (``tests/trainer/test_split.py`` compares them where scikit-learn is importable),
without importing scikit-learn.

Why: importing scikit-learn (and the scipy.stats it loads) costs about a second, which a
long-lived Celery worker pays once and every fresh process (a Slurm job per run, the demo,
``mixscope train``) paid per run before its first epoch. Only the digits *file* is read from
the installed scikit-learn package (located without importing it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def digits_file() -> Path:
    """scikit-learn's packaged ``datasets/data/digits.csv.gz``, found without importing
    scikit-learn (FileNotFoundError naming what to install when it is missing)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the digits dataset ships with scikit-learn: "
                                "pip install scikit-learn")
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    raise FileNotFoundError(f"digits.csv.gz is not in scikit-learn's package "
                            f"({list(spec.submodule_search_locations)})")


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``(data, target)`` as ``sklearn.datasets.load_digits()`` gives them: float64
    (1797, 64) pixel values 0-16 and int64 (1797,) labels."""
    data = np.loadtxt(digits_file(), delimiter=",")   # np.loadtxt reads .gz itself
    return data[:, :-1], data[:, -1].astype(int, copy=False)


def _approximate_mode(class_counts: np.ndarray, n_draws: int,
                      rng: np.random.RandomState) -> np.ndarray:
    """scikit-learn's ``utils.extmath._approximate_mode`` (the same draws from ``rng``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def split_indices(y: np.ndarray, n_test: int, seed: int, stratify: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` row indices, as ``train_test_split(..., test_size=n_test,
    random_state=seed, stratify=y if stratify else None)`` picks them
    (``StratifiedShuffleSplit`` / ``ShuffleSplit``, one split). ``n_test`` ≥ 1."""
    n = len(y)
    n_train = n - n_test
    rng = np.random.RandomState(seed)
    if not stratify:
        perm = rng.permutation(n)
        return perm[n_test:n_test + n_train], perm[:n_test]
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    if class_counts.min() < 2 or n_train < len(classes) or n_test < len(classes):
        raise ValueError(f"cannot stratify {n} rows of {len(classes)} classes "
                         f"(least populated: {class_counts.min()}) into {n_test} test rows")
    class_indices = np.split(np.argsort(y_indices, kind="stable"),
                             np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(len(classes)):
        permutation = rng.permutation(class_counts[i])
        members = class_indices[i].take(permutation, mode="clip")
        train.extend(members[:n_i[i]])
        test.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def standard_scale(fit: np.ndarray, *apply: np.ndarray) -> list[np.ndarray]:
    """``StandardScaler().fit(fit).transform(a)`` for each ``a`` in ``apply`` (float64 2-D,
    no NaN): the per-column mean and population std of ``fit`` (scikit-learn's corrected
    two-pass sums, in its order), near-constant columns keeping scale 1."""
    n = fit.shape[0]
    count = np.full(fit.shape[1], float(n))
    new_sum = np.sum(fit, axis=0)
    mean = (0.0 + new_sum) / count   # scikit-learn adds the (empty) earlier sum
    temp = fit - new_sum / count
    correction = np.sum(temp, axis=0)
    temp **= 2
    var = np.sum(temp, axis=0)
    var -= correction ** 2 / count
    var = var / count
    eps = np.finfo(np.float64).eps
    n_seen = count[0]
    constant = var <= n_seen * eps * var + (n_seen * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    out = []
    for a in apply:
        a = np.array(a, dtype=np.float64, copy=True)
        a -= mean
        a /= scale
        out.append(a)
    return out
