"""Runs as Slurm jobs (issue 22): mixscope's own time from submit to running, and a run under
Slurm against the same run on a Celery worker.

Needs a Slurm cluster (``SLURM_CONF``; ``scripts/slurm-cluster.sh start`` makes a one-node one
on loopback) and a store every node reaches (here a local folder: one node).

    eval "$(scripts/slurm-cluster.sh start)"
    python benchmarks/bench_slurm.py [--runs 3] [--epochs 40]

Per Slurm run it reports: the launch request (create the row, submitit's pickle, ``sbatch``),
Slurm's own wait (submission to the job's ``StartTime``, the scheduler's interval), and the
job's start-up until it has claimed the run (python, imports, the store). mixscope's own
time is the first plus the last. Then the same config trains on a ``mixscope worker``
(Celery, SQLite broker) and under Slurm, claim to finish.

The epochs' own time (``epoch_time_s`` summed) compares the training itself; claim to
finish adds the fixed start-up a fresh job pays per run (torch import, data, model) and a
long-lived worker pays once, seconds against a paper-scale run's hours.

It first prints a fresh job's imports, cumulative (``--start-up-only``: only that).

Targets: submit -> running ≤ 5 s of mixscope's own time; a run under Slurm ≤ 1.10 × the
same run on a Celery worker.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = str(ROOT)  # the jobs' python imports this checkout

from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.settings import Settings


def config(epochs: int, seed: int) -> dict:
    return {"dataset": "digits", "model": "mlp", "method": "input-mixup", "epochs": epochs,
            "seed": seed, "record": {"epochs": [0, epochs], "checkpoint_every": 10}}


def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8000",
                      client=("127.0.0.1", 50000))


def wait_finished(api: TestClient, rid: str, limit_s: float = 3600) -> dict:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        run = api.get(f"/api/runs/{rid}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {rid} did not finish")


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(
        tzinfo=timezone.utc).timestamp()


def train_seconds(api: TestClient, rid: str) -> float:
    """The run's epochs' own cost (``epoch_time_s``: training plus metrics), summed."""
    rows = api.get(f"/api/runs/{rid}/metrics").json()["epochs"]
    return sum(r.get("epoch_time_s") or 0.0 for r in rows)


def slurm_start(job_id: str) -> float:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                         text=True, check=True).stdout
    start = re.search(r"StartTime=(\S+)", out).group(1)
    return datetime.fromisoformat(start).timestamp()  # the controller's local time


#: what a fresh job imports before it trains, step by step (each step adds to the one before)
START_UP = [("python", []), ("+ submitit", ["submitit"]),
            ("+ the job's entry, tasks, store", ["trainer.slurm_job", "trainer.tasks",
                                                 "backend.store"]),
            ("+ torch", ["torch"]), ("+ the training loop", ["trainer.loop"]),
            ("+ the digits loader (sklearn)", ["sklearn.datasets", "sklearn.preprocessing"])]


def start_up_breakdown(repeat: int = 3) -> None:
    """A fresh job's imports, cumulative, best of ``repeat`` fresh interpreters each: what a
    Slurm job pays per run and a long-lived Celery worker once (``python -X importtime -c
    'import trainer.loop'`` names the modules)."""
    print(f"a fresh job's imports (best of {repeat} fresh interpreters, cumulative):")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    modules: list[str] = []
    for label, more in START_UP:
        modules += more
        code = f"import {', '.join(modules)}" if modules else "pass"
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
            best = min(best, time.perf_counter() - t)
        print(f"  {label:<34} {best:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--start-up-only", action="store_true",
                    help="only the fresh job's import times (no Slurm needed)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    start_up_breakdown()
    if args.start_up_only:
        return
    if not os.environ.get("SLURM_CONF"):
        sys.exit("no SLURM_CONF: eval \"$(scripts/slurm-cluster.sh start)\" first")
    tmp = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    slurm = Settings(store=tmp / "slurm", _env_file=None, executor="slurm",
                     slurm_shared_store=True)
    api = client(slurm)

    print(f"submit -> running, {args.runs} runs of digits/mlp ({args.epochs} epochs)")
    print(f"{'run':>4} {'launch s':>9} {'slurm wait s':>13} {'job start->claim s':>19} "
          f"{'mixscope own s':>15}")
    owns, slurm_train, slurm_epochs = [], [], []
    for i in range(args.runs):
        t0 = time.time()
        r = api.post("/api/runs", json=config(args.epochs, seed=i))
        t1 = time.time()
        assert r.status_code == 201, r.text
        rid, job = r.json()["id"], r.json()["summary"]["executor"]["job_id"]
        run = wait_finished(api, rid)
        assert run["status"] == "succeeded", run["error"]
        started = slurm_start(job)
        claim = ts(run["started_at"])
        own = (t1 - t0) + (claim - started)
        owns.append(own)
        slurm_train.append(ts(run["finished_at"]) - claim)
        slurm_epochs.append(train_seconds(api, rid))
        print(f"{i:>4} {t1 - t0:>9.2f} {started - t1:>13.2f} {claim - started:>19.2f} "
              f"{own:>15.2f}")
    print(f"mixscope's own submit -> running: max {max(owns):.2f} s (target <= 5 s; the job "
          f"start time has Slurm's one-second resolution)")

    celery = Settings(store=tmp / "celery", _env_file=None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIXSCOPE_")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    with open(tmp / "worker.log", "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "mixscope.cli", "worker", "--store",
                                   str(celery.store)], env=env, stdout=log, stderr=log,
                                  start_new_session=True, cwd=ROOT)
    try:
        capi = client(celery)
        celery_train, celery_epochs = [], []
        for i in range(args.runs):
            rid = capi.post("/api/runs", json=config(args.epochs, seed=i)).json()["id"]
            run = wait_finished(capi, rid)
            assert run["status"] == "succeeded", run["error"]
            celery_train.append(ts(run["finished_at"]) - ts(run["started_at"]))
            celery_epochs.append(train_seconds(capi, rid))
    finally:
        worker.terminate()
        worker.wait(30)
    s, c = min(slurm_epochs), min(celery_epochs)
    print(f"the epochs' own time (best of {args.runs}): Slurm {s:.2f} s, Celery worker "
          f"{c:.2f} s, ratio {s / c:.3f} (target <= 1.10)")
    s, c = min(slurm_train), min(celery_train)
    print(f"claim -> finished (best of {args.runs}): Slurm {s:.2f} s, Celery worker {c:.2f} s, "
          f"ratio {s / c:.3f}; the difference is a job's fixed start-up (torch import, data, "
          f"model) that a long-lived worker pays once: {s - c:.1f} s per run")


if __name__ == "__main__":
    main()
