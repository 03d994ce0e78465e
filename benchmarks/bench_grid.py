"""The sweep grid (issue 20), measured in headless Chromium, each figure beside its target:

1. slider redraw p50, 16 runs × 2 000 points (target <= 100 ms) and 36 runs × 1 000 points
   (<= 150 ms): from a real key press on the epoch slider's handle (timestamped by a
   capturing keydown listener) to the next animation frame after every panel was redrawn
   (``window.mixscopeGridLast.painted``, set by assets/grid.js);
2. first grid painted after the page opens on a warm API (16 runs, 24 epochs; <= 3 s):
   ``window.mixscopeGridFirst.painted``, milliseconds since the navigation started;
3. API bytes of ``GET /api/grid`` against the panels' own points (float32 x, y of every
   point of every frame; <= 1.5 ×).

The runs are synthetic (real arrays written through the Store by ``tests/dashboard_seed.py``,
no training), in a sweep whose runs differ in α and lr (4 × 4, then 6 × 6), 24 recorded
epochs each, served by the real API and dashboard.

    .venv/bin/python benchmarks/bench_grid.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import requests
from browser import Stack, browser_available, start_chrome, stop_chrome, wait_for
from dashboard_seed import seed_synthetic_run

EPOCHS = tuple(range(24))
ALPHAS = (0.2, 0.4, 1.0, 2.0, 4.0, 8.0)
LRS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)

ARM = """
window.__bench = {t0: null};
document.addEventListener('keydown', () => {
  if (window.__bench.t0 === null) { window.__bench.t0 = performance.now(); } },
  {capture: true, once: true});
"""
DONE = """
const b = window.__bench, l = window.mixscopeGridLast;
return b.t0 !== null && l && l.at > b.t0 && l.painted !== null ? l.painted - b.t0 : null;
"""


def seed_sweep(store, side: int, clean: int, pairs: int) -> str:
    """A sweep of side × side runs (α × lr), three classes: 3·clean + 6·pairs points."""
    sweep_id = store.create_sweep(f"bench {side}x{side}", "alpha", list(ALPHAS[:side]))
    for i, alpha in enumerate(ALPHAS[:side]):
        for j, lr in enumerate(LRS[:side]):
            seed_synthetic_run(store, classes=3, clean_per_class=clean,
                               pairs_per_class_pair=pairs, epochs=EPOCHS, d=32,
                               seed=side * i + j, name=f"α={alpha} lr={lr}",
                               config={"alpha": alpha, "lr": lr}, sweep_id=sweep_id)
    return sweep_id


def api_bytes(stack, sweep_id: str, points: int) -> tuple[int, int, float]:
    """(response bytes, the panels' own point bytes, seconds) of one grid request."""
    from backend.api.encoding import decode_array

    t0 = time.perf_counter()
    r = requests.get(f"{stack.api_url}/api/grid", params={
        "sweep": sweep_id, "classes": "0,1,2", "max_points": points}, timeout=300)
    dt = time.perf_counter() - t0
    r.raise_for_status()
    own = sum(decode_array(f["points"]).astype("<f4").nbytes
              for p in r.json()["panels"] for f in p["frames"])
    return len(r.content), own, dt


def open_grid(driver, stack, sweep_id: str, points: int, n_runs: int) -> float:
    """Open the grid; the first grid painted (ms since navigation start)."""
    driver.get(f"{stack.dash_url}/grid?sweep={sweep_id}&classes=0,1,2&points={points}")
    first = wait_for(driver, lambda d: d.execute_script(
        "const f = window.mixscopeGridFirst; return f && f.painted ? f : null;"),
        timeout=300, poll=0.05, what="the first grid painted")
    assert first["panels"] == n_runs, first
    return first["painted"]


def scrub(driver, n_stops: int, repeats: int) -> list[float]:
    from selenium.webdriver.common.keys import Keys

    thumb = driver.find_element("css selector", "#grid-epoch [role=slider]")
    out, pos, step = [], int(thumb.get_attribute("aria-valuenow")), -1
    for _ in range(repeats):
        if not 0 <= pos + step < n_stops:
            step = -step
        pos += step
        driver.execute_script(ARM)
        thumb = driver.find_element("css selector", "#grid-epoch [role=slider]")
        thumb.send_keys(Keys.ARROW_LEFT if step < 0 else Keys.ARROW_RIGHT)
        out.append(wait_for(driver, lambda d: d.execute_script(DONE), timeout=60, poll=0.01,
                            what=f"the grid redrawn at stop {pos}"))
        time.sleep(0.05)
    return out


def line(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{name:<46} {value:>14}   target {target:<10} {'OK' if ok else 'OVER TARGET'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    reason = browser_available()
    if reason:
        sys.exit(f"no browser: {reason}")
    from backend.settings import settings_for_store
    from backend.store import Store

    with tempfile.TemporaryDirectory(prefix="mixscope-bench-grid-") as tmp:
        store_dir = Path(tmp) / "store"
        store = Store(settings_for_store(store_dir))
        store.migrate()
        t0 = time.perf_counter()
        cases = [("16 runs × 2 000 points", 4, 2000, seed_sweep(store, 4, 100, 300), 100),
                 ("36 runs × 1 000 points", 6, 1000, seed_sweep(store, 6, 50, 150), 150)]
        store.close()
        print(f"seeded {16 + 36} runs × {len(EPOCHS)} epochs in {time.perf_counter() - t0:.0f} s")
        stack = Stack(store_dir, worker=False).start()
        driver = start_chrome(width=1700, height=1200)
        try:
            for name, side, points, sweep_id, target in cases:
                n = side * side
                size, own, cold = api_bytes(stack, sweep_id, points)
                _size, _own, warm = api_bytes(stack, sweep_id, points)
                open_grid(driver, stack, sweep_id, points, n)           # warm the page too
                firsts = [open_grid(driver, stack, sweep_id, points, n) for _ in range(3)]
                samples = scrub(driver, len(EPOCHS), args.repeats)
                p50 = statistics.median(samples)
                p95 = sorted(samples)[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
                print(f"\n{name}, {len(EPOCHS)} epochs (API: {cold:.2f} s cold, "
                      f"{warm:.2f} s warm)")
                line("slider redraw p50", f"{p50:.0f} ms", f"<= {target} ms", p50 <= target)
                print(f"{'  (p95)':<46} {p95:>11.0f} ms")
                if side == 4:
                    first = statistics.median(firsts)
                    line("first grid painted (warm API, median of 3)", f"{first / 1000:.2f} s",
                         "<= 3 s", first <= 3000)
                ratio = size / own
                line("API bytes / the panels' own points", f"{ratio:.2f} ×", "<= 1.5 ×",
                     ratio <= 1.5)
                print(f"{'  (bytes)':<46} {size:>14,} of {own:,} own")
        finally:
            stop_chrome(driver)
            stack.stop()


if __name__ == "__main__":
    main()
