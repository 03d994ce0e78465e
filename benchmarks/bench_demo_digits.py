"""The digits demo (reference §6): MLP 64→512→512→64, SGD Nesterov, 300 epochs, α = 1.

Trains the ``digits-demo`` preset with input mixup and with ERM through the real training
loop into a temporary store, then prints for both: training time, test accuracy and the
channel radius of the stored activations (median over four class triples of the final
epoch's different-class points with λ ∈ [0.4, 0.6], in units of the vertex radius).
Targets: about 20 s of training each on one CPU thread, accuracy ≥ 0.97, mixup's radius
clearly above ERM's (reference: ≈ 0.78 vs ≈ 0.46).

Overhead (issue 14 target 1): the recorded mixup run end to end (``execute_run``: set-up,
training, every metric, recorded epochs, checkpoints, heartbeats) against a bare torch loop
of the same training (benchmarks/bench_trainer.py's: the same MLP as nn.Sequential, same
data, batch, optimizer and mixup, nothing recorded), both after the one-time imports: target
≤ 1.25. From the run's own stored metrics (against the training steps' time): what a
non-recorded epoch's metrics cost the training loop (target ≤ 0.15; they run on a copy of
the network in a second thread, ``Settings.metrics_thread``), the CPU time they take, and the
extraction + metrics of a recorded epoch (reported).

    python benchmarks/bench_demo_digits.py [--epochs 300] [--rounds 3] [--store DIR]
    python benchmarks/bench_demo_digits.py --compare-old 3   # before/after issue 19's cuts
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch

from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import Store

TRIPLES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (1, 5, 9)]


def stored_radius(store: Store, run_id: str, epoch: int) -> float:
    """Mean over TRIPLES of the channel radius of the stored penultimate activations."""
    from trainer.metrics import stored_triple_metrics

    return float(np.mean([stored_triple_metrics(store, run_id, epoch, t)["channel_radius"]
                          for t in TRIPLES]))


def bare_loop_s(epochs: int) -> float:
    """Seconds of ``epochs`` epochs of bench_trainer's bare torch mixup loop on the demo data."""
    from bench_trainer import bare_epoch_fn

    from trainer.data import load_dataset

    cfg = RunConfig.from_preset("digits-demo", epochs=epochs)
    bundle = load_dataset(cfg, Path(tempfile.gettempdir()), False)
    X = bundle.prepare(bundle.train_x, torch.device("cpu"))
    Y = torch.as_tensor(np.asarray(bundle.train_y), dtype=torch.long)
    t0 = time.perf_counter()
    epoch = bare_epoch_fn(X, Y, cfg, len(bundle.class_names))
    for _ in range(epochs):
        epoch()
    return time.perf_counter() - t0


def overheads(ms: list[dict], recorded: set[int], n: int) -> tuple[float, float, float]:
    """Medians over epochs ≥ 1, as fractions of the epoch's training steps' time, of: what
    the training loop paid for a non-recorded epoch's metrics (the hand-over of the network
    to the metrics thread and any wait for them: ``epoch_time_s − metrics_time_s − training
    + metrics_wait_s``); the CPU those metrics took (``metrics_time_s``, on the other core
    when they overlap); and the same CPU for recorded epochs (extraction + metrics)."""
    def train(m):
        return n / m["samples_per_s"]

    def paid(m):
        return (m["epoch_time_s"] - m["metrics_time_s"] - train(m) + m["metrics_wait_s"]) \
            / train(m)

    def cpu(m):
        return m["metrics_time_s"] / train(m)
    plain = [m for m in ms if m["epoch"] >= 1 and m["epoch"] not in recorded]
    rec = [m for m in ms if m["epoch"] >= 1 and m["epoch"] in recorded]

    def med(f, xs):
        return float(np.median([f(m) for m in xs])) if xs else float("nan")
    return med(paid, plain), med(cpu, plain), med(cpu, rec)


def train(store: Store, method: str, epochs: int) -> dict:
    from trainer.loop import execute_run

    cfg = RunConfig.from_preset("digits-demo", method=method, epochs=epochs)
    run = store.create_run(cfg)
    store.claim_run(run.id, "bench")
    t0 = time.perf_counter()
    status = execute_run(store, run.id)
    wall = time.perf_counter() - t0
    assert status == "succeeded", store.get_run(run.id).error
    ms = store.epoch_metrics(run.id)
    train_s = sum(m["epoch_time_s"] for m in ms)
    steps_s = sum(m["samples_per_s"] and (1347 / m["samples_per_s"]) or 0 for m in ms)
    waited_s = sum(m["metrics_wait_s"] for m in ms)
    last = ms[-1]
    paid, plain, rec = overheads(ms, set(store.get_run(run.id).recorded_epochs), 1347)
    return {"method": method, "metrics_paid": paid, "metrics_frac": plain,
            "recorded_frac": rec, "wall_s": wall, "epochs_s": train_s, "steps_s": steps_s,
            "waited_s": waited_s,
            "test_accuracy": last["test_accuracy"], "ece": last["ece"],
            "radius_triple": last["channel_radius"],
            "radius_4_triples": stored_radius(store, run.id, epochs)}


@contextlib.contextmanager
def old_hot_path():
    """The recorded epoch's hot path as it was before issue 19's cuts (the reference kept by
    tests/trainer/test_recorded_hot_path.py, which checks both record the same arrays)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trainer"))
    from test_recorded_hot_path import old_covers

    from backend.probe_rows import ProbeRows
    from trainer import extract

    covers, features_of = ProbeRows.covers, extract.features_of

    def old_features_of(*args, head_only=(), head_rows=0, **kw):
        return features_of(*args, **kw)

    ProbeRows.covers, extract.features_of = old_covers, old_features_of
    try:
        yield
    finally:
        ProbeRows.covers, extract.features_of = covers, features_of


@contextlib.contextmanager
def one_network_copy():
    """The metrics thread as it was before its pipeline: one copy of the network, so the loop
    waited for a recorded epoch's extraction after one training epoch."""
    from trainer import epoch_metrics

    copies = epoch_metrics.metrics_copies
    epoch_metrics.metrics_copies = lambda weight_bytes: 1
    try:
        yield
    finally:
        epoch_metrics.metrics_copies = copies


@contextlib.contextmanager
def full_collection():
    """The run's end as it was before: its garbage collection scans every object of the
    worker (guard.release_memory now freezes what survives the previous run's collection)."""
    import gc

    gc.unfreeze()
    yield


VARIANTS = {  # name -> what it undoes of issue 19's cuts
    "before issue 19": lambda: _stack(old_hot_path, one_network_copy, full_collection),
    "before this stop": lambda: _stack(one_network_copy, full_collection),
    "current": lambda: _stack(),
}


@contextlib.contextmanager
def _stack(*contexts):
    with contextlib.ExitStack() as stack:
        for c in contexts:
            stack.enter_context(c())
        yield


def compare_old(store: Store, epochs: int, reps: int) -> None:
    """``reps`` rounds of: the bare loop, then the recorded mixup run as it was before issue
    19's cuts (the old extraction hot path, one network copy in the metrics thread, a full
    garbage collection at the end), as it was before this stop (the new hot path only), and
    as it is (interleaved, so a shared machine's load falls on all)."""
    ratios: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for i in range(reps):
        bare = bare_loop_s(epochs)
        line = [f"round {i + 1}: bare {bare:.1f} s"]
        for name, variant in VARIANTS.items():
            with variant():
                r = train(store, "input-mixup", epochs)
            ratios[name].append(r["wall_s"] / bare)
            line.append(f"{name} {r['wall_s']:.1f} s -> {ratios[name][-1]:.3f} (waited "
                        f"{r['waited_s']:.2f} s)")
        print("; ".join(line) + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"median ratio to the bare loop over {reps} rounds: " + ", ".join(
        f"{name} {float(np.median(v)):.3f}" for name, v in ratios.items()) + " (target <= 1.25)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--store", default=None)
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds of bare loop / recorded run (the ratio is their "
                         "median)")
    ap.add_argument("--compare-old", type=int, default=0, metavar="ROUNDS",
                    help="instead: ROUNDS rounds of bare loop / recorded run with the hot path "
                         "before issue 19's cuts / with the current one, and their ratios")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Settings(store=Path(args.store or tmp), database_url=None,
                               artifact_url=None, _env_file=None))
        store.migrate()
        train(store, "input-mixup", 1)  # one-time imports (sklearn, torch optimisers) first
        if args.compare_old:
            compare_old(store, args.epochs, args.compare_old)
            store.close()
            return
        bares, mixes = [], []
        for i in range(args.rounds):  # interleaved: a shared machine's load falls on both
            bares.append(bare_loop_s(args.epochs))
            mixes.append(train(store, "input-mixup", args.epochs))
            m = mixes[-1]
            print(f"round {i + 1}: bare {bares[-1]:.2f} s, recorded run {m['wall_s']:.2f} s "
                  f"(training steps {m['steps_s']:.2f} s, waited {m['waited_s']:.2f} s) -> "
                  f"{m['wall_s'] / bares[-1]:.3f}; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
        rows = [mixes[int(np.argsort([m["wall_s"] for m in mixes])[len(mixes) // 2])],
                train(store, "erm", args.epochs)]
        bare = float(np.median(bares))
        ratio = float(np.median([m["wall_s"] / b for m, b in zip(mixes, bares)]))
        store.close()
    print(f"digits demo, {args.epochs} epochs, 1 torch thread")
    print(f"{'method':12} {'wall s':>7} {'epochs s':>8} {'steps s':>8} {'test acc':>8} "
          f"{'ECE':>6} {'radius(0,1,2)':>13} {'radius(4 triples)':>17}")
    for r in rows:
        print(f"{r['method']:12} {r['wall_s']:7.1f} {r['epochs_s']:8.1f} {r['steps_s']:8.1f} "
              f"{r['test_accuracy']:8.4f} {r['ece'] or float('nan'):6.3f} "
              f"{r['radius_triple'] or float('nan'):13.3f} {r['radius_4_triples']:17.3f}")
    mix, erm = rows
    print(f"overhead (target 1): recorded mixup run {mix['wall_s']:.1f} s vs bare torch loop "
          f"{bare:.1f} s (medians of {args.rounds} interleaved rounds) -> ratio {ratio:.3f} "
          f"(median of the rounds' ratios; target <= 1.25; load average "
          f"{os.getloadavg()[0]:.1f}); the loop waited {mix['waited_s']:.2f} s for metrics "
          f"in all; a non-recorded "
          f"epoch's metrics cost the training loop {mix['metrics_paid']:.3f} of its training "
          f"(target <= 0.15; Settings.metrics_thread computes them on a copy of the network "
          f"while the next epoch trains) and took {mix['metrics_frac']:.3f} of it in CPU time "
          f"on the other core; recorded epoch extraction + metrics "
          f"{mix['recorded_frac']:.3f} of its training in CPU time (reported)")
    print(f"targets: ~20 s each -> {mix['wall_s']:.1f} / {erm['wall_s']:.1f} s; accuracy >= 0.97 "
          f"-> {mix['test_accuracy']:.4f} / {erm['test_accuracy']:.4f}; radius mixup > erm -> "
          f"{mix['radius_4_triples']:.3f} vs {erm['radius_4_triples']:.3f}")


if __name__ == "__main__":
    main()
