"""Overheads of the training loop, as ratios measured in one process (one CPU thread).

1. A mixup training epoch of ``trainer.loop`` (Mixer plan, MixModel forward_mixed, soft CE,
   per-step LR and cancel polling) vs the same epoch in a bare torch loop (nn.Sequential of
   the same layers, same data on the device, numpy Beta λ, plain soft CE). Target ≤ 1.10.
2. Extraction + metrics of a recorded epoch (all probe activations, classifier, trajectory,
   spectra, model snapshot, test/probe metrics) vs one training epoch, in CPU time. Target
   ≤ 0.25. In a run they go to a second thread while the next epoch trains
   (``Settings.metrics_thread``): also printed, what the training loop waits for them.
   The ratio depends on the probe size relative to the training set: it is printed for the
   digits demo (a 1 347-example training set but a 3 250-point probe: the probe is larger than
   the data, so extraction cannot be a small fraction there) and for a 20 000-example
   Gaussian mixture with the same probe recipe (closer to the real datasets).
3. Metrics of a non-recorded epoch (test pass + probe-subset pass + metrics) vs one epoch.

    python benchmarks/bench_trainer.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

import numpy as np
import torch
from torch import nn

from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import Store


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bare_epoch_fn(X: torch.Tensor, Y: torch.Tensor, cfg: RunConfig, num_classes: int):
    """The reference: the same MLP as nn.Sequential and the simplest correct mixup loop."""
    a = cfg.model_args
    dims = [X.shape[1]] + [a.width] * a.depth + [a.feature_dim]
    layers: list[nn.Module] = []
    for i, o in itertools.pairwise(dims):
        layers += [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]
    torch.manual_seed(0)
    model = nn.Sequential(*layers, nn.Linear(dims[-1], num_classes))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(0)
    n, bs = len(Y), cfg.batch_size
    onehot = torch.nn.functional.one_hot(Y, num_classes).float()

    def epoch() -> None:
        model.train()
        perm = torch.randperm(n)
        for s in range(0, n - 1, bs):
            idx = perm[s:s + bs]
            lam = float(rng.beta(cfg.alpha, cfg.alpha))
            part = torch.randperm(len(idx))
            x, t = X[idx], onehot[idx]
            xm = lam * x + (1 - lam) * x[part]
            tm = lam * t + (1 - lam) * t[part]
            loss = -(tm * torch.log_softmax(model(xm), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epoch


def session(store: Store, cfg: RunConfig):
    from trainer.loop import _Session

    run = store.create_run(cfg)
    store.claim_run(run.id, "bench")
    s = _Session(store, run.id, cfg, "bench", None)
    s._setup()
    s._train_epoch(1)  # warm-up
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    r = args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Settings(store=Path(tmp), database_url=None, artifact_url=None,
                               _env_file=None))
        store.migrate()
        demo = RunConfig.from_preset("digits-demo")
        s = session(store, demo)
        bare = bare_epoch_fn(s.X, s.Y, demo, s.num_classes)
        bare()
        # interleave the two loops so machine load affects both alike
        ours, ref = [], []
        for _ in range(r):
            ours.append(median_time(lambda: s._train_epoch(2), 1))
            ref.append(median_time(bare, 1))
        t_ours, t_bare = float(np.median(ours)), float(np.median(ref))
        rec = next(e for e in range(1, demo.epochs) if e not in s.recorded)
        t_metrics = median_time(lambda: s._epoch_metrics(s.model, rec, 0.0), r)
        t_record = median_time(lambda: s._epoch_metrics(s.model, demo.epochs, 0.0), r)
        print("digits demo (MLP 64-512-512-64, batch 128, 1 347 examples, probe "
              f"{s.n_clean + len(s.probe['pair_a'])} points), 1 torch thread:")
        print(f"  training epoch: ours {t_ours * 1e3:.1f} ms, bare torch {t_bare * 1e3:.1f} ms "
              f"-> ratio {t_ours / t_bare:.3f} (target <= 1.10)")
        print(f"  recorded epoch extraction+metrics {t_record * 1e3:.1f} ms -> "
              f"{t_record / t_ours:.3f} of a training epoch (target <= 0.25)")
        print(f"  non-recorded epoch metrics {t_metrics * 1e3:.1f} ms -> "
              f"{t_metrics / t_ours:.3f} of a training epoch in CPU time (a run computes "
              "them on a copy of the network while the next epoch trains: what that costs "
              "the training loop is bench_demo_digits.py's figure)")

        big = RunConfig.from_preset(
            "digits-demo", dataset="gaussian-mixture",
            dataset_args={"classes": 10, "dim": 64, "samples": 20_000, "noise": 1.0,
                              "test_fraction": 0.1})
        s2 = session(store, big)
        t2 = median_time(lambda: s2._train_epoch(2), max(3, r // 2))
        t2_rec = median_time(lambda: s2._epoch_metrics(s2.model, big.epochs, 0.0), max(3, r // 2))
        print("gaussian mixture (20 000 examples, same model and probe recipe):")
        print(f"  training epoch {t2 * 1e3:.1f} ms; recorded epoch extraction+metrics "
              f"{t2_rec * 1e3:.1f} ms -> {t2_rec / t2:.3f} of it in CPU time (target <= 0.25)")
        # in a run they overlap the next epoch (Settings.metrics_thread): what the loop waits
        from trainer.loop import execute_run

        run_cfg = big.model_copy(update={"epochs": 4, "record": big.record.model_copy(
            update={"epochs": [0, 1, 2, 3, 4], "checkpoint_every": 100})})
        run = store.create_run(run_cfg)
        store.claim_run(run.id, "bench")
        assert execute_run(store, run.id) == "succeeded"
        waits = [m["metrics_wait_s"] * m["samples_per_s"] / s2.n
                 for m in store.epoch_metrics(run.id) if 1 <= m["epoch"] < 4]
        print(f"  in a run (recorded epochs 1-3; the last epoch always waits): the training "
              f"loop waited {float(np.median(waits)):.3f} of a training epoch for them "
              "(target <= 0.25)")
        store.close()


if __name__ == "__main__":
    main()
