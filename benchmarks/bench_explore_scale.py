"""Explore at scale (issue 14, targets 4 and 7), measured in headless Chromium.

From an epoch-slider key press to the redrawn simplex (Plotly's ``plotly_afterplot`` plus one
animation frame; the same probe as ``bench_browser.py``), p50 and p95, for:

1. 24 recorded epochs, ~5 000 points a frame (the figure measured so far);
2. 200 recorded epochs of one run, ~5 000 points (target 4: redraw <= 100 ms), with the time
   to the first frame and to the last page of frames (they load progressively);
3. a triple's view holding 100 000 points (target 7: redraw <= 100 ms as the slider moves).

Past 2 000 points the renderer draws the points on its canvas layer (its own hover); below,
on Plotly's WebGL scatter. Cases 1 and 2 are also measured on Plotly's WebGL scatter (what
the renderer used before: one trace per kind of point), for comparison.

The scrub walks the slider one stop at a time and bounces at the ends, so the first pass
draws frames never drawn before (decoded on the fly) and the next ones frames already seen.
Each run is synthetic (real arrays written through the Store by ``tests/dashboard_seed.py``;
no training), served by the real API and dashboard.

    .venv/bin/python benchmarks/bench_explore_scale.py [--repeats 30] [--dense-epochs 12]
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
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench_browser import ARM  # the shared key-press-to-redraw probe
from browser import Stack, browser_available, start_chrome, stop_chrome, wait_for
from dashboard_seed import seed_synthetic_run

TARGET_MS = 100


def _label(driver) -> str:
    return driver.execute_script(
        "const e = document.getElementById('ex-epoch-label'); return e ? e.innerText : '';")


def scrub(driver, n_stops: int, repeats: int) -> list[float]:
    """Redraw times of ``repeats`` one-stop slider moves, bouncing between the ends."""
    from selenium.webdriver.common.keys import Keys

    thumb = driver.find_element("css selector", "#epoch-slider [role=slider]")
    out, pos, step = [], int(thumb.get_attribute("aria-valuenow")), -1
    for _ in range(repeats):
        if not 0 <= pos + step < n_stops:
            step = -step
        pos += step
        driver.execute_script(ARM, "simplex", None)
        thumb = driver.find_element("css selector", "#epoch-slider [role=slider]")
        thumb.send_keys(Keys.ARROW_LEFT if step < 0 else Keys.ARROW_RIGHT)
        try:
            out.append(wait_for(driver, lambda d: d.execute_script(
                "const b = window.__bench; return b.t1 !== null ? b.t1 - b.t0 : null;"),
                timeout=30, poll=0.02, what="the simplex to redraw"))
        except TimeoutError:
            state = driver.execute_script("return window.__bench")
            raise TimeoutError(f"no redraw at stop {pos}: {state}, label {_label(driver)!r}")
        time.sleep(0.1)
    return out


def report(name: str, samples: list[float], extra: str = "") -> None:
    s = sorted(samples)
    p50 = statistics.median(s)
    p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
    flag = "OK" if p50 <= TARGET_MS and p95 <= TARGET_MS else (
        "p50 OK, p95 over" if p50 <= TARGET_MS else "SLOWER THAN TARGET")
    load = os.getloadavg()[0]
    print(f"{name:<44} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {s[-1]:7.1f} ms  "
          f"(n={len(s)}; target <= {TARGET_MS} ms: {flag}; load {load:.1f} on "
          f"{os.cpu_count()} cores){extra}", flush=True)


def open_view(driver, stack, run_id: str, epochs: tuple[int, ...], points: int) -> dict:
    """Open the run at its first epoch with every kind shown; wait for the last page."""
    t0 = time.perf_counter()
    driver.get(f"{stack.dash_url}/explore?run={run_id}&classes=0,1,2&epoch={epochs[0]}")
    wait_for(driver, lambda d: d.find_elements("css selector", "#ex-kinds input"),
             timeout=60, what="the point toggles")
    wait_for(driver, lambda d: f"epoch {epochs[0]} " in _label(d), timeout=120,
             what="the first frame")
    first = time.perf_counter() - t0
    boxes = driver.find_elements("css selector", "#ex-kinds input")
    if not boxes[2].is_selected():
        boxes[2].click()  # clean examples too: every point of the triple is drawn
    from selenium.webdriver.common.keys import Keys

    thumb = driver.find_element("css selector", "#epoch-slider [role=slider]")
    thumb.send_keys(Keys.END)
    wait_for(driver, lambda d: f"epoch {epochs[-1]} · {points} points" in _label(d),
             timeout=600, poll=0.05, what="the last page of frames")
    return {"first_s": first, "all_s": time.perf_counter() - t0}


def case(driver, store_dir: Path, name: str, epochs: tuple[int, ...], pairs: int,
         repeats: int, d: int, webgl_too: bool = True) -> None:
    from backend.settings import settings_for_store
    from backend.store import Store

    store = Store(settings_for_store(store_dir))
    store.migrate()
    t = time.perf_counter()
    run_id = seed_synthetic_run(store, classes=3, clean_per_class=50,
                                pairs_per_class_pair=pairs, epochs=epochs, d=d, name=name)
    store.close()
    points = 3 * 50 + 6 * pairs
    print(f"-- {name}: {len(epochs)} recorded epochs, {points} points a frame "
          f"(store written in {time.perf_counter() - t:.1f} s)", flush=True)
    stack = Stack(store_dir, worker=False).start()
    try:
        times = open_view(driver, stack, run_id, epochs, points)
        print(f"   first frame {times['first_s']:.1f} s after opening the page; all "
              f"{len(epochs)} frames {times['all_s']:.1f} s (pages load in the background)",
              flush=True)
        scrub(driver, len(epochs), 3)  # warm-up (JIT, WebGL buffers)
        report(f"{name}: slider -> redrawn simplex", scrub(driver, len(epochs), repeats),
               extra=f"  [{_label(driver)}]")
        if points < 20_000 and webgl_too:  # the same frames on Plotly's WebGL scatter
            driver.execute_script("window.mixscopeDensePoints = 1e9;")
            scrub(driver, len(epochs), 3)
            report(f"{name}: same on Plotly's scattergl", scrub(driver, len(epochs), repeats))
            driver.execute_script("window.mixscopeDensePoints = null;")
        shots = ROOT / "test-artifacts"
        shots.mkdir(exist_ok=True)
        driver.save_screenshot(str(shots / f"bench-explore-{name.replace(' ', '-')}.png"))
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dense-epochs", type=int, default=12,
                        help="recorded epochs of the 100 000-point run")
    parser.add_argument("--only", choices=["24", "200", "dense"], action="append",
                        help="run only these cases (default: all three)")
    args = parser.parse_args()
    reason = browser_available()
    if reason:
        print(f"bench_explore_scale: skipped ({reason})")
        return
    cases = {
        "24": ("24 epochs", tuple(range(24)), 809, 64),
        "200": ("200 epochs", tuple(range(200)), 809, 64),
        "dense": ("100k points", tuple(range(args.dense_epochs)), (100_000 - 150) // 6, 16),
    }
    driver = start_chrome()
    try:
        driver.set_script_timeout(60)
        for key in args.only or ["24", "200", "dense"]:
            name, epochs, pairs, d = cases[key]
            with tempfile.TemporaryDirectory(prefix="mixscope-bench-") as tmp:
                case(driver, Path(tmp) / "store", name, epochs, pairs, args.repeats, d)
    finally:
        stop_chrome(driver)


if __name__ == "__main__":
    main()
