"""trainer.split gives scikit-learn's arrays bit for bit (digits file, stratified and shuffled
split, standardisation) without importing scikit-learn, so the small sets' runs are unchanged
while a fresh process (a Slurm job per run) stops paying scikit-learn's import."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from paths import ROOT
from timing import patience

from trainer import split

sk_datasets = pytest.importorskip("sklearn.datasets")
sk_split = pytest.importorskip("sklearn.model_selection")
sk_pre = pytest.importorskip("sklearn.preprocessing")


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b), f"{np.count_nonzero(a != b)} entries differ"


def test_digits_arrays_are_load_digits():
    data, target = split.load_digits_arrays()
    d = sk_datasets.load_digits()
    _same(data, d.data)
    _same(target, d.target)


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 42, 123, 2**31 - 1])
def test_digits_split_and_scale_are_sklearns(seed):
    d = sk_datasets.load_digits()
    x, y = d.data.astype(np.float64), d.target.astype(np.int64)
    xtr, xte, ytr, yte = sk_split.train_test_split(x, y, test_size=450, random_state=seed,
                                                   stratify=y)
    train, test = split.split_indices(y, 450, seed, stratify=True)
    _same(x[train], xtr)
    _same(x[test], xte)
    _same(y[train], ytr)
    _same(y[test], yte)
    scaler = sk_pre.StandardScaler().fit(xtr)
    ours = split.standard_scale(xtr, xtr, xte)
    _same(ours[0], scaler.transform(xtr))
    _same(ours[1], scaler.transform(xte))


@pytest.mark.parametrize("seed", [0, 5, 99])
def test_uneven_classes_and_shuffled_split_are_sklearns(seed):
    """Class counts whose approximate mode needs random tie-breaks, and the unstratified
    (ShuffleSplit) path a set with a one-member class takes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(7), [3, 5, 5, 8, 13, 2, 21])
    x = rng.normal(size=(len(y), 4)) * [1.0, 1e-9, 100.0, 3.0]
    x[:, 3] = 2.5   # a constant column keeps scale 1
    for n_test in (7, 11, 20):
        tr, te = split.split_indices(y, n_test, seed, stratify=True)
        xtr, xte, ytr, yte = sk_split.train_test_split(x, y, test_size=n_test,
                                                       random_state=seed, stratify=y)
        _same(x[tr], xtr)
        _same(y[te], yte)
        tr, te = split.split_indices(y, n_test, seed, stratify=False)
        xtr, xte, ytr, yte = sk_split.train_test_split(x, y, test_size=n_test,
                                                       random_state=seed)
        _same(x[tr], xtr)
        _same(x[te], xte)
        _same(y[tr], ytr)
        _same(y[te], yte)
        scaler = sk_pre.StandardScaler().fit(xtr)
        _same(split.standard_scale(xtr, xte)[0], scaler.transform(xte))


def test_the_digits_run_loads_no_sklearn(tmp_path):
    """A fresh process loading a digits run's data imports neither scikit-learn nor
    scipy.stats (what the loader used to cost every Slurm job)."""
    code = ("import sys; from backend.runconfig import RunConfig; "
            "from trainer.data import load_dataset; "
            "b = load_dataset(RunConfig(dataset='digits', model='mlp'), None); "
            "print(len(b.train_y), len(b.test_y), "
            "sorted({m.split('.')[0] for m in sys.modules} & {'sklearn'}), "
            "'scipy.stats' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "MIXSCOPE_STORE": str(tmp_path / "store")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=patience(300))
    assert out.stdout.split() == ["1347", "450", "[]", "False"]
