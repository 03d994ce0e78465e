"""Latency of the projection and frames routes over loopback HTTP (uvicorn), next to the
bare numpy projection of the same arrays.

A 10-class digits-like run is written to a temporary store with real arrays the way the
trainer writes them (``backend.activations.activation_arrays``, float32 rows with the clean
mean and the classifier scores beside them, through ``Store.put_arrays``): 50 clean points per class and 91 pairs for each of the 55 class pairs
(5 505 probe points), d = 64 and d = 512, 24 recorded epochs. Each timed projection asks
for a different triple (cache misses); a second series repeats one (cache hits).

    python benchmarks/bench_api.py [--requests 100]

Target: projection p50 <= 30 ms on loopback.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from backend import maths
from backend.activations import activation_arrays
from backend.probe_rows import ProbeRows
from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import Store

C, CLEAN, PAIRS, EPOCHS = 10, 50, 91, 24


def make_run(store: Store, d: int, seed: int = 0) -> tuple[str, dict]:
    rng = np.random.default_rng(seed)
    epochs = list(range(EPOCHS))
    run = store.create_run(RunConfig(epochs=EPOCHS - 1, name=f"bench d={d}",
                                     record={"epochs": epochs}))
    cc = np.repeat(np.arange(C), CLEAN)
    cp = np.array([p for p in itertools.combinations_with_replacement(range(C), 2)
                   for _ in range(PAIRS)])
    lam = rng.uniform(0, 1, len(cp)).astype(np.float32)
    probe = {"clean_index": np.arange(len(cc), dtype=np.int64), "clean_class": cc,
             "pair_a": rng.integers(0, 1347, len(cp)), "pair_b": rng.integers(0, 1347, len(cp)),
             "pair_class_a": cp[:, 0].astype(np.int64), "pair_class_b": cp[:, 1].astype(np.int64),
             "pair_lambda": lam}
    store.put_arrays(run.id, "probe", probe)
    rows = ProbeRows.from_arrays(probe)
    W = rng.normal(size=(C, d)).astype(np.float32)
    arrays = {}
    for e in epochs:
        H = np.concatenate([W[cc], lam[:, None] * W[cp[:, 0]] + (1 - lam[:, None]) * W[cp[:, 1]]])
        H = (H + rng.normal(scale=0.3, size=H.shape)).astype(np.float32)
        stored, meta = activation_arrays(H, rows, requested="float32", weight=W,
                                         default_triple=(0, 1, 2), num_classes=C)
        store.put_arrays(run.id, "activations", stored, epoch=e, layer="penultimate",
                         meta=meta)
        store.put_arrays(run.id, "classifier", {"weight": W, "bias": np.zeros(C, np.float32)},
                         epoch=e)
        arrays[e] = (H, W)
    store.update_run_info(run.id, class_names=[str(i) for i in range(C)],
                          layers=["penultimate"], recorded_epochs=epochs,
                          num_probe=len(cc) + len(cp))
    return run.id, {"probe": probe, "arrays": arrays}


def bare_projection(probe, H, W, triple) -> float:
    """Seconds for what the route computes, in plain numpy: row selection, centring,
    projection (no HTTP, no encoding, no store)."""
    t = time.perf_counter()
    ca = np.concatenate([probe["clean_class"], probe["pair_class_a"]])
    cb = np.concatenate([probe["clean_class"], probe["pair_class_b"]])
    rows = np.flatnonzero(np.isin(ca, triple) & np.isin(cb, triple))
    mu = H[:len(probe["clean_class"])].mean(0, dtype=np.float64)
    maths.project_triple(W, H[rows], triple, centre=mu)
    return time.perf_counter() - t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--frames", type=int, default=10, help="frames requests per d")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store=Path(tmp) / "store", _env_file=None)
        store = Store(settings)
        store.migrate()
        runs = {d: make_run(store, d) for d in (64, 512)}
        port = free_port()
        env = {**os.environ, "MIXSCOPE_STORE": str(settings.store)}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "backend.api.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
        base = f"http://127.0.0.1:{port}/api"
        try:
            with httpx.Client(timeout=60) as client:
                for _ in range(200):
                    try:
                        if client.get(f"{base}/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                triples = [t for t in itertools.permutations(range(C), 3)]
                print(f"{'route':<34}{'d':>5}{'p50 ms':>10}{'p95 ms':>10}{'n':>6}")
                for d, (rid, data) in runs.items():
                    rng = np.random.default_rng(1)
                    picks = [triples[i] for i in rng.choice(len(triples), args.requests,
                                                            replace=False)]
                    e = EPOCHS - 1
                    H, W = data["arrays"][e]
                    bare = [bare_projection(data["probe"], H, W, t) for t in picks]
                    miss, hit = [], []
                    for t in picks:
                        q = f"{base}/runs/{rid}/projection?epoch={e}&classes={','.join(map(str, t))}"
                        t0 = time.perf_counter()
                        r = client.get(q)
                        miss.append(time.perf_counter() - t0)
                        assert r.status_code == 200, r.text
                    q = f"{base}/runs/{rid}/projection?epoch={e}&classes=0,1,2"
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        client.get(q)
                        hit.append(time.perf_counter() - t0)
                    n_pts = len(r.json()["points"]["data"]) * 3 // 4 // 8
                    frames = []
                    for t in picks[:args.frames]:
                        q = f"{base}/runs/{rid}/frames?classes={','.join(map(str, t))}"
                        t0 = time.perf_counter()
                        r = client.get(q)
                        frames.append(time.perf_counter() - t0)
                        assert r.status_code == 200 and len(r.json()["frames"]) == EPOCHS
                    for name, xs in (("numpy projection (bare)", bare),
                                     ("GET projection (new triple)", miss),
                                     ("GET projection (cached)", hit),
                                     (f"GET frames ({EPOCHS} epochs)", frames)):
                        print(f"{name:<34}{d:>5}{pct(xs, 50):>10.2f}{pct(xs, 95):>10.2f}"
                              f"{len(xs):>6}")
                    print(f"  ({n_pts} points per triple; target: projection p50 <= 30 ms; "
                          f"HTTP/bare p50 ratio {pct(miss, 50) / pct(bare, 50):.1f})")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
