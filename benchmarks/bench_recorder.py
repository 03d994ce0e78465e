"""The recorder's overhead per recorded epoch relative to a training epoch of the same model.

A user-style loop (input mixup, Adam, batch 128) trains mixscope's default ``mlp`` on the
gaussian-mixture benchmark set (10 classes, D = 64, 20 000 training samples); every epoch is
recorded with ``Recorder.log`` (default probe: 50 clean per class, 100 pairs per class pair =
6 000 points, plus the test set for calibration) into a temporary local store.

    python benchmarks/bench_recorder.py [--epochs 5]

Remote mode (``--mode remote``) records the same loop through a real API (uvicorn on a free
loopback port, with a token, over its own temporary store): ``rec.log`` computes the metrics
and packs the epoch, a background thread uploads it while the next epoch trains. Its cost per
recorded epoch is the time in ``rec.log`` plus the final ``flush`` (uploads still pending
when training ends) spread over the epochs.

Target: recorder time / training-epoch time <= 0.25 (median over epochs), local and remote.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch
import torch.nn.functional as F

from backend.runconfig import RunConfig
from mixscope import Recorder
from trainer.build import build_for_config
from trainer.data import load_dataset

TARGET = 0.25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _live_api(store: Path, token: str):
    import requests

    port = _free_port()
    env = {**os.environ, "MIXSCOPE_STORE": str(store), "MIXSCOPE_API_TOKEN": token,
           "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for k in ("MIXSCOPE_DATABASE_URL", "MIXSCOPE_ARTIFACT_URL", "MIXSCOPE_BROKER_URL"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                             "backend.api.app:create_app", "--port", str(port),
                             "--host", "127.0.0.1", "--log-level", "warning"], env=env,
                            cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/api/health", timeout=2).ok:
                    break
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(mode: str, epochs: int, samples: int) -> float:
    """Train ``epochs`` epochs recording each; the median recorder/train time ratio."""
    cfg = RunConfig(dataset="gaussian-mixture", model="mlp", seed=0,
                    dataset_args={"classes": 10, "dim": 64, "samples": samples})
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        bundle = load_dataset(cfg, Path(tmp) / "data", False)
        C = len(bundle.class_names)
        X = bundle.prepare(bundle.train_x, torch.device("cpu"))
        y = torch.as_tensor(np.asarray(bundle.train_y), dtype=torch.long)
        Xt = bundle.prepare(bundle.test_x, torch.device("cpu"))
        yt = torch.as_tensor(np.asarray(bundle.test_y), dtype=torch.long)
        torch.manual_seed(0)
        model = build_for_config(cfg, bundle, C)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        where: dict = {"store": Path(tmp) / "store"}
        if mode == "remote":
            url = stack.enter_context(_live_api(Path(tmp) / "api-store", "bench-token"))
            where = {"api": url, "token": "bench-token"}
        rec = Recorder(name=f"bench {mode}", num_classes=C, epochs=epochs, **where)
        rec.probe(X, y)
        feats = lambda x: model.forward_layers(x, ["penultimate"])[1]["penultimate"]
        t_train, t_rec = [], []
        for epoch in range(1, epochs + 1):
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
            t_train.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rec.log(epoch, model, features=feats, classifier=model.classifier, test=(Xt, yt))
            t_rec.append(time.perf_counter() - t0)
            print(f"{mode} epoch {epoch}: train {t_train[-1]:.3f} s, record {t_rec[-1]:.3f} s, "
                  f"ratio {t_rec[-1] / t_train[-1]:.3f}")
        t0 = time.perf_counter()
        rec.flush()  # remote: the uploads still pending when training ends
        drain = time.perf_counter() - t0
        rec.finish()
        if rec.store is not None:
            rec.store.close()
    ratios = [(r + drain / epochs) / t for r, t in zip(t_rec, t_train, strict=True)]
    if drain > 0.01:
        print(f"{mode}: final flush {drain:.3f} s, spread over {epochs} epochs")
    return float(np.median(ratios))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--mode", choices=("local", "remote", "both"), default="both")
    args = ap.parse_args()
    torch.set_num_threads(1)
    modes = ("local", "remote") if args.mode == "both" else (args.mode,)
    results = {m: run(m, args.epochs, args.samples) for m in modes}
    for m, med in results.items():
        print(f"{m:6s} recorder/train ratio (median): {med:.3f}   target <= {TARGET}  "
              f"{'OK' if med <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
