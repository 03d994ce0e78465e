"""The GPU path (issue 14, target 8): the trainer's WRN throughput against a bare torch loop of
the same model, and what a recorded epoch's extraction costs, on generated CIFAR-10 files.

Measures, on whatever device torch finds (CUDA if present; ``--tiny`` for a CPU check):
1. images/s of a mixup training epoch of ``trainer.loop`` (the ``wrn-paper`` recipe with the
   model swapped for WRN-16-4: SGD + momentum, step schedule, input mixup α = 1, bf16 autocast
   and channels-last on CUDA) vs the same network in the simplest correct mixup loop with the
   same autocast and memory format. Target: ours / bare ≤ 1.10 in time per epoch.
2. extraction + metrics of a recorded epoch (probe activations, classifier, trajectory, spectra,
   snapshot, test and probe metrics) / one training epoch. Target ≤ 0.25.

Results are printed together with the exact config that produced them.

    python benchmarks/bench_gpu_wrn.py [--images 5000] [--repeats 3] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import Store


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def bare_epoch_fn(session, cfg: RunConfig):
    """The same network (a fresh copy built by the product's builder) in a plain mixup loop."""
    from trainer.models import build_model

    device = session.device
    torch.manual_seed(0)
    model = build_model(cfg, tuple(session.bundle.input_shape), session.num_classes).to(device)
    channels_last = device.type == "cuda"
    X = session.X
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    T = session.T
    n, bs = len(X), cfg.batch_size
    rng = np.random.default_rng(0)

    def epoch() -> None:
        model.train()
        perm = torch.randperm(n, device=device)
        for s in range(0, n - 1, bs):
            idx = perm[s:s + bs]
            lam = float(rng.beta(cfg.alpha, cfg.alpha))
            part = torch.randperm(len(idx), device=device)
            x = X[idx]
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            t = T[idx]
            xm = lam * x + (1 - lam) * x[part]
            tm = lam * t + (1 - lam) * t[part]
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" \
                else torch.autocast("cpu", enabled=False)
            with ctx:
                loss = -(tm * torch.log_softmax(model(xm).float(), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000, help="generated training images")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="a CPU check: 200 images, WRN-10-1")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.tiny:
        args.images, args.repeats = 200, 1
    torch.set_num_threads(1 if args.tiny else max(1, (os.cpu_count() or 2) // 2))

    import trainer.data as data
    from trainer.dataset_files import verified_classes, write_cifar10
    from trainer.loop import _Session

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_cifar10(tmp / "data", per_batch=args.images // 5, n_test=max(100, args.images // 10))
        data.TORCHVISION_CLASSES.update(verified_classes(tmp / "data"))
        settings = Settings(store=tmp / "store", data_dir=tmp / "data", database_url=None,
                            artifact_url=None, broker_url=None, _env_file=None)
        store = Store(settings)
        store.migrate()
        cfg = RunConfig.from_preset(
            "wrn-paper", model="wrn-10-1" if args.tiny else "wrn-16-4", epochs=10,
            method="input-mixup", alpha=1.0,
            probe={"clean_per_class": 20 if args.tiny else 100,
                   "pairs_per_class_pair": 5 if args.tiny else 20},
            record={"epochs": [0, 10]})
        run = store.create_run(cfg)
        store.claim_run(run.id, "bench")
        s = _Session(store, run.id, cfg, "bench", None)
        s._setup()
        dev = s.device
        bare = bare_epoch_fn(s, cfg)
        # warm-up (cudnn autotune, allocator) for both
        timed(lambda: s._train_epoch(1), dev)
        timed(bare, dev)
        ours, ref = [], []
        for _ in range(args.repeats):  # interleaved so load changes hit both alike
            ours.append(timed(lambda: s._train_epoch(2), dev))
            ref.append(timed(bare, dev))
        t_ours, t_bare = float(np.median(ours)), float(np.median(ref))
        t_record = float(np.median([timed(lambda: s._epoch_metrics(s.model, cfg.epochs, 0.0), dev)
                                    for _ in range(args.repeats)]))
        n = len(s.X)
        name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
        probe_points = s.n_clean + len(s.probe["pair_a"])
        result = {
            "device": name, "model": cfg.model, "images": n, "batch_size": cfg.batch_size,
            "probe_points": probe_points, "repeats": args.repeats,
            "ours_images_per_s": n / t_ours, "bare_images_per_s": n / t_bare,
            "ratio_time_ours_over_bare": t_ours / t_bare, "ratio_target": 1.10,
            "recorded_epoch_s": t_record, "training_epoch_s": t_ours,
            "extraction_over_epoch": t_record / t_ours, "extraction_target": 0.25,
            "config": cfg.model_dump(mode="json"),
        }
        print(f"device: {name}; {cfg.model} on {n} generated CIFAR-10 images, batch "
              f"{cfg.batch_size}, probe {probe_points} points")
        print(f"  training epoch: ours {t_ours:.3f} s ({n / t_ours:.0f} img/s), bare torch "
              f"{t_bare:.3f} s ({n / t_bare:.0f} img/s) -> ratio {t_ours / t_bare:.3f} "
              "(target <= 1.10)")
        print(f"  recorded epoch extraction+metrics {t_record:.3f} s -> "
              f"{t_record / t_ours:.3f} of a training epoch (target <= 0.25)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        store.close()


if __name__ == "__main__":
    main()
