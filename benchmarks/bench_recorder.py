"""The recorder's overhead per recorded epoch relative to a training epoch of the same model.

A user-style loop (input mixup, Adam, batch 128) trains mixscope's default ``mlp`` on the
gaussian-mixture benchmark set (10 classes, D = 64, 20 000 training samples); every epoch is
recorded with ``Recorder.log`` (default probe: 50 clean per class, 100 pairs per class pair =
6 000 points, plus the test set for calibration) into a temporary local store.

    python benchmarks/bench_recorder.py [--epochs 5]

Target: recorder time / training-epoch time <= 0.25 (median over epochs). Remote mode
(``api=``) is not implemented yet: its ratio is reported as missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
import torch.nn.functional as F

from backend.runconfig import RunConfig
from mixscope import Recorder
from trainer.build import build_for_config
from trainer.data import load_dataset

TARGET = 0.25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=20_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = RunConfig(dataset="gaussian-mixture", model="mlp", seed=0,
                    dataset_args={"classes": 10, "dim": 64, "samples": args.samples})
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_dataset(cfg, Path(tmp) / "data", False)
        C = len(bundle.class_names)
        X = bundle.prepare(bundle.train_x, torch.device("cpu"))
        y = torch.as_tensor(np.asarray(bundle.train_y), dtype=torch.long)
        Xt = bundle.prepare(bundle.test_x, torch.device("cpu"))
        yt = torch.as_tensor(np.asarray(bundle.test_y), dtype=torch.long)
        torch.manual_seed(0)
        model = build_for_config(cfg, bundle, C)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        rec = Recorder(name="bench", num_classes=C, store=Path(tmp) / "store",
                       epochs=args.epochs)
        rec.probe(X, y)
        feats = lambda x: model.forward_layers(x, ["penultimate"])[1]["penultimate"]
        ratios = []
        for epoch in range(1, args.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            for idx in torch.randperm(len(y)).split(128):
                lam = float(np.random.beta(1.0, 1.0))
                perm = torch.randperm(len(idx))
                t = F.one_hot(y[idx], C).float()
                logits = model(lam * X[idx] + (1 - lam) * X[idx][perm])
                loss = torch.sum(-(lam * t + (1 - lam) * t[perm]) * F.log_softmax(logits, 1),
                                 1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            rec.log(epoch, model, features=feats, classifier=model.classifier, test=(Xt, yt))
            t_rec = time.perf_counter() - t0
            ratios.append(t_rec / t_train)
            print(f"epoch {epoch}: train {t_train:.3f} s, record {t_rec:.3f} s, "
                  f"ratio {t_rec / t_train:.3f}")
        rec.finish()
        rec.store.close()
    med = float(np.median(ratios))
    print(f"local  recorder/train ratio (median): {med:.3f}   target <= {TARGET}  "
          f"{'OK' if med <= TARGET else 'MISSED'}")
    print(f"remote recorder/train ratio: n/a (remote mode not implemented)   target <= {TARGET}")


if __name__ == "__main__":
    main()
