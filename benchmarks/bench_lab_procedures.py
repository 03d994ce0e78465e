"""The lab's procedures beside the published numbers (issue 9, reference §7).

- Two moons, α = 1, 10 runs, 500 hidden units: linear agreement of the averaged hard decision
  region with the correct loop vs the authors' loop (gradients never zeroed, one Adam across
  runs). Reference §7 measured 0.981 (correct) vs 0.860 (their loop): the paper's curved α = 1
  panel comes from the bug.
- Table 2 (Assumption 2.9) with the authors' procedure on every dataset the data folder holds
  (MNIST 11.43, CIFAR-10 17.72, CIFAR-100 12.94 in the paper); missing sets are listed.

Targets: the authors' loop bends the α = 1 boundary (linear agreement lower than the correct
loop's by > 0.05); each Table 2 minimum within 15 % of the paper's.

    python benchmarks/bench_lab_procedures.py [--epochs 1000] [--runs 10] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.lab import PAPER_TABLE2, assumption_check, default_moons_settings, two_moons  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--data", default=None, help="data folder (default: MIXSCOPE_DATA_DIR)")
    args = ap.parse_args()
    ok = True
    agree = {}
    for loop, state in (("correct", "per-run"), ("authors", "shared")):
        t0 = time.perf_counter()
        s = default_moons_settings(epochs=args.epochs, runs=args.runs, loop=loop,
                                   optimizer_state=state)
        r = two_moons(settings=s, grid_size=40)
        agree[loop] = r["mixup"]["decision"]["linear_agreement"]
        print(f"two moons α=1 {loop:8s} loop, {state:7s} Adam, {args.epochs} epochs: linear "
              f"agreement {agree[loop]:.3f} (reference §7: "
              f"{0.981 if loop == 'correct' else 0.860}), {time.perf_counter() - t0:.0f} s")
    ok &= agree["correct"] - agree["authors"] > 0.05
    data = args.data or os.environ.get("MIXSCOPE_DATA_DIR")
    for name, paper in PAPER_TABLE2.items():
        try:
            out = assumption_check(name, data_dir=data)
        except Exception as exc:  # noqa: BLE001  (a set not in the data folder)
            print(f"Table 2 {name}: skipped ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        got = out["train"]["min"]
        print(f"Table 2 {name}: min {got:.2f} mean {out['train']['mean']:.2f} "
              f"(paper min {paper}), {out['normalisation']}")
        ok &= abs(got - paper) / paper < 0.15
    print("targets met" if ok else "TARGETS MISSED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
