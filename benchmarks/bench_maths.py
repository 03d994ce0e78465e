"""Median timings of the maths core's hot paths (speed targets live here, not in tests).

- UFM closed form for 5000 λ ~ U(0, 1) (target: well under 10 ms), cold (new parameters,
  so the Newton seed table is built) and warm (repeated parameters, as the API and CLI see).
- Projection of 100 000 × 640 float32 features onto a class triple (one (n×d)@(d×3) product).

Run: ``.venv/bin/python benchmarks/bench_maths.py`` (``--repeat N`` to change repetitions).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

from backend.maths import project_triple, solve_ufm


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    lam = rng.uniform(0, 1, 5000)
    solve_ufm(3, 10, 1e-6, lam)  # warm imports and the seed table
    warm = _median_ms(lambda: solve_ufm(3, 10, 1e-6, lam), args.repeat)
    counter = iter(range(10**6))
    # a new λ_H every call: the seed table is rebuilt each time
    cold = _median_ms(lambda: solve_ufm(3, 10, 1e-6 * (1 + 1e-9 * next(counter)), lam),
                      args.repeat)
    amp = _median_ms(lambda: solve_ufm(3, 10, 1e-6, lam, amplify=True), args.repeat)
    print(f"ufm_solve_5000_lambda_ms  warm {warm:8.3f}   cold {cold:8.3f}   amplified {amp:8.3f}")

    W = rng.standard_normal((10, 640)).astype(np.float32)
    H = rng.standard_normal((100_000, 640)).astype(np.float32)
    mu = H.mean(axis=0)
    project_triple(W, H, (0, 1, 2), centre=mu)
    proj = _median_ms(lambda: project_triple(W, H, (0, 1, 2), centre=mu), max(5, args.repeat // 2))
    print(f"projection_100000x640_float32_ms  {proj:8.3f}")
    print(f"numpy {np.__version__}, threads OMP={os.environ.get('OMP_NUM_THREADS')}, "
          f"cpus={os.cpu_count()}")


if __name__ == "__main__":
    main()
