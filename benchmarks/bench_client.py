"""Reads of ``mixscope.Client`` from a local store (issue 21): ``runs()`` of 1 000 runs, and
``frames`` of one triple × 24 recorded epochs, printed beside their targets.

The store is temporary: 1 000 runs with configs and summaries (what the run table shows),
and one 10-class digits-like run written the way the trainer writes it (``bench_api.make_run``:
5 505 probe points, d = 64, float32 rows with the clean mean and classifier scores, 24
recorded epochs). ``frames`` is timed cold (a new Client, so a new projection service with
empty caches; the files are in the OS cache) and warm (the same Client asking again).

    python benchmarks/bench_client.py [--runs 1000] [--repeats 7]

Targets: runs() of 1 000 runs <= 200 ms; frames of one triple x 24 epochs <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import make_run

from backend.runconfig import RunConfig
from backend.store import Store
from mixscope import Client

RUNS_TARGET_MS, FRAMES_TARGET_MS = 200.0, 100.0


def fill_runs(store: Store, n: int) -> None:
    methods = ("erm", "input-mixup", "manifold-mixup")
    for i in range(n):
        cfg = RunConfig(name=f"run {i}", method=methods[i % 3], alpha=0.2 + (i % 10) / 10,
                        epochs=10)
        run = store.create_run(cfg)
        store.update_run_info(run.id, summary={"epoch": 10, "test_accuracy": 0.9,
                                               "ece": 0.05, "channel_radius": 0.4})


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each call (CPU: this process's time, what a quiet machine's
    wall time would be for this single-threaded work; the wall time also counts waiting for
    a shared, busy CPU)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        store = Store.open(Path(tmp) / "store")
        t = time.perf_counter()
        fill_runs(store, args.runs - 1)
        run_id, _ = make_run(store, d=64)
        store.close()
        print(f"store: {args.runs} runs written in {time.perf_counter() - t:.1f} s")

        client = Client(store=Path(tmp) / "store")
        table = client.runs()  # the first call imports pandas: not timed
        assert len(table) == args.runs, len(table)
        runs_ms = timed(client.runs, args.repeats)

        def cold():
            with Client(store=Path(tmp) / "store") as c:
                fr = c.run(run_id).frames((0, 1, 2))
            assert fr.points.shape[0] == 24

        run = client.run(run_id)
        run.frames((0, 1, 2))
        cold()  # imports, first file reads
        cold_ms = timed(cold, args.repeats)
        warm_ms = timed(lambda: run.frames((0, 1, 2)), args.repeats)
        n_points = run.frames((0, 1, 2)).points.shape[1]
        client.close()

    def row(name, xs, target):
        wall, cpu = (statistics.median(x) for x in xs)
        verdict = "ok" if wall <= target else ("ok in CPU time" if cpu <= target else "OVER")
        print(f"{name:<44} p50 wall {wall:7.1f} ms  cpu {cpu:7.1f} ms   target <= "
              f"{target:.0f} ms  {verdict}")

    print(f"(median of {args.repeats}; frames: {n_points} points per epoch; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    row(f"runs() of {args.runs} runs -> DataFrame", runs_ms, RUNS_TARGET_MS)
    row("frames (0,1,2) x 24 epochs, cold client", cold_ms, FRAMES_TARGET_MS)
    row("frames (0,1,2) x 24 epochs, warm (cached)", warm_ms, FRAMES_TARGET_MS)


if __name__ == "__main__":
    main()
