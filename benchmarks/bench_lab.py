"""The data-dependency lab at the paper's setting (seed 002, Table 1).

X_3^2, two-layer ReLU net with 512 hidden units, full-batch Adam (lr 1e-3), 5000 epochs,
10 seeded runs, mixup and ERM, for α ∈ {1, 32, 128}. Prints, per α, the wall time of the
10 batched mixup runs and of the 10 ERM runs (one torch thread), the mean ± std of
p(class 1) at points 0, 1, 2 beside the paper's Table 1 and the range the authors' code gives
over seeds, the final training errors, and Lemma 2.3's h_ε at the points.

Targets: under a minute per α (both methods) on this CPU; mixup's p(class 1) at point 1
below ½ at α = 1 and above ½ at α = 32 and 128; ERM fits all three points.

    python benchmarks/bench_lab.py [--alphas 1,32,128] [--runs 10] [--epochs 5000]
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

import torch  # noqa: E402

from trainer.lab import AUTHORS_CODE_POINT1, PAPER_TABLE1, LabSettings, alternating_line  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alphas", default="1,32,128")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    alphas = [float(a) for a in args.alphas.split(",")]

    print(f"X_3^2, 512 hidden, full-batch Adam 1e-3, {args.epochs} epochs, {args.runs} runs, "
          f"torch threads {torch.get_num_threads()}")
    header = (f"{'α':>6}  {'mixup s':>8}  {'ERM s':>6}  {'total s':>7}  "
              f"{'p1(0)':>13}  {'p1(1)':>13}  {'p1(2)':>13}  {'paper':>19}  "
              f"{'authors p1(1)':>13}  {'err mix/ERM':>11}  {'h_ε p1(1)':>9}")
    print(header)
    print("-" * len(header))
    ok = True
    for alpha in alphas:
        t0 = time.perf_counter()
        r = alternating_line(3, 2, LabSettings(alpha=alpha, runs=args.runs, epochs=args.epochs,
                                                seed=args.seed))
        total = time.perf_counter() - t0
        mix, erm = r["mixup"], r["erm"]
        cells = [f"{mix['prob_mean'][i][0]:.3f}±{mix['prob_std'][i][0]:.3f}" for i in range(3)]
        paper = PAPER_TABLE1.get(alpha)
        authors = AUTHORS_CODE_POINT1.get(alpha)
        paper_s = "/".join(f"{p:.3f}" for p in paper) if paper else "-"
        authors_s = f"{authors[0]:.2f}–{authors[1]:.2f}" if authors else "-"
        h_mid = r["mixup_optimal"]["at_points"][1][0]
        print(f"{alpha:>6g}  {mix['seconds']:>8.1f}  {erm['seconds']:>6.1f}  {total:>7.1f}  "
              f"{cells[0]:>13}  {cells[1]:>13}  {cells[2]:>13}  {paper_s:>19}  {authors_s:>13}  "
              f"{mix['train_error']:>5.2f}/{erm['train_error']:<5.2f}  {h_mid:>9.3f}")
        misfit = mix["prob_mean"][1][0] > 0.5
        ok &= misfit == (alpha >= 32) and erm["train_error"] == 0.0
        ok &= total < 60.0
    print("targets met" if ok else "TARGETS MISSED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
