"""Explore at scale, in headless Chromium: a run of 200 recorded epochs loads page by page
and every epoch can be scrubbed to; the small multiples are drawn by the browser's simplex
renderer; the CSV of the shown epoch comes from the API (the browser's frames are never sent
back). Timings are benchmarks' business (benchmarks/bench_explore_scale.py), not asserted.

The store is filled by ``dashboard_seed`` (a synthetic finished run written through the real
Store), then the real API and dashboard (no worker) serve it.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from browser import (
    Stack,
    browser_available,
    plot_data_signature,
    screenshot,
    start_chrome,
    stop_chrome,
    wait_for,
)
from dashboard_seed import seed_synthetic_run
from timing import patience

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

EPOCHS = tuple(range(200))
SMALL = {"classes": 4, "clean_per_class": 10, "pairs_per_class_pair": 12, "d": 16, "seed": 5}
POINTS = 3 * 10 + 6 * 12
DENSE_PAIRS = 500  # 3 000 mixed points a frame: past the renderer's canvas threshold


def test_frame_pages_are_sized_by_points():
    from dashboard.pages.explore.frames import FIRST_PAGE, FRAMES_PAGE, PAGE_POINTS, page_limit

    assert FIRST_PAGE <= FRAMES_PAGE
    assert page_limit(POINTS) == FRAMES_PAGE
    assert page_limit(100_000) == PAGE_POINTS // 100_000 >= 1
    assert page_limit(10 * PAGE_POINTS) == 1
    assert page_limit(100_000, first=True) == 1  # a dense view's first epoch comes alone
    assert page_limit(POINTS, first=True) == FIRST_PAGE


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    from backend.settings import settings_for_store
    from backend.store import Store

    store_dir = tmp_path_factory.mktemp("explore-scale") / "store"
    store = Store(settings_for_store(store_dir))
    store.migrate()
    run_id = seed_synthetic_run(store, epochs=EPOCHS, name="long run", **SMALL)
    dense_id = seed_synthetic_run(store, classes=3, clean_per_class=10,
                                  pairs_per_class_pair=DENSE_PAIRS, epochs=(0, 5, 10), d=8,
                                  name="dense run", seed=2)
    store.close()
    s = Stack(store_dir, worker=False).start()
    s.run_id, s.dense_id = run_id, dense_id
    yield s
    s.stop()


@pytest.fixture(scope="module")
def driver(stack):
    d = start_chrome()
    d.set_script_timeout(patience(20))
    yield d
    stop_chrome(d)


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def _slider_key(driver, key):
    from selenium.webdriver.common.keys import Keys

    driver.find_element("css selector", "#epoch-slider [role=slider]").send_keys(
        getattr(Keys, key))


def test_two_hundred_epochs_load_progressively_and_scrub(stack, driver):
    driver.get(f"{stack.dash_url}/explore?run={stack.run_id}&classes=0,1,2&epoch=0")
    wait_for(driver, lambda d: "epoch 0 " in (_text(d, "ex-epoch-label") or "") and
             plot_data_signature(d, "simplex"), timeout=60, what="the first frame")
    # the last epoch arrives with the last page; until then END shows the latest loaded
    _slider_key(driver, "END")
    wait_for(driver, lambda d: f"epoch {EPOCHS[-1]} " in (_text(d, "ex-epoch-label") or ""),
             timeout=120, what="the last of 200 epochs")
    last = plot_data_signature(driver, "simplex")
    for _ in range(3):  # step back frame by frame: each is a recorded epoch of its own
        _slider_key(driver, "ARROW_LEFT")
    # clean points hidden: the label counts the mixed ones
    label = f"epoch {EPOCHS[-4]} · {POINTS - 30} points"
    wait_for(driver, lambda d: label in (_text(d, "ex-epoch-label") or ""),
             what=f"the label to read {label!r}", seen=lambda d: _text(d, "ex-epoch-label"))
    wait_for(driver, lambda d: plot_data_signature(d, "simplex") not in (None, last),
             what="the plot three epochs back")
    wait_for(driver, lambda d: f"epoch={EPOCHS[-4]}" in d.current_url,
             what="the URL to hold the epoch", seen=lambda d: d.current_url)


def test_small_multiples_are_drawn_by_the_browser_renderer(stack, driver):
    driver.find_element("id", "ex-multi-go").click()
    wait_for(driver, lambda d: plot_data_signature(d, "ex-multi"), timeout=60,
             what="the small multiples")
    panels, axes, titles = driver.execute_script("""
        const gd = document.querySelector('#ex-multi .js-plotly-plot');
        const axes = new Set(gd.data.map(t => t.xaxis || 'x'));
        return [gd.layout.annotations.length, axes.size,
                gd.layout.annotations.map(a => a.text)];""")
    assert panels == 4 and axes == 4, (panels, axes)  # 4 classes: the 4 triples there are
    assert titles[0] == "0 · 1 · 2"
    screenshot(driver, "explore-scale-multiples")


def test_csv_of_the_shown_epoch(stack, driver):
    driver.find_element("id", "ex-csv").click()
    found = wait_for(driver, lambda d: [p for p in glob.glob(os.path.join(d._profile, "*.csv"))
                                        if not p.endswith(".crdownload")],
                     what="the CSV download")
    path = Path(found[0])
    wait_for(driver, lambda d: len(path.read_text().splitlines()) >= POINTS + 1,
             what="the CSV's last row", seen=lambda d: len(path.read_text().splitlines()))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("epoch,layer,x,y,kind") and len(lines) == POINTS + 1
    # mixscope-RUN-eE-LAYER-a-b-c (issue 19)
    assert f"-e{EPOCHS[-4]}-penultimate-" in path.name and path.name.endswith(".csv")
    assert {ln.split(",")[0] for ln in lines[1:]} == {str(EPOCHS[-4])}


def _canvas_image(driver):
    return driver.execute_script("""
        const cv = document.querySelector('#simplex canvas.mixscope-dense');
        return cv && cv.style.display !== 'none' ? cv.toDataURL() : null;""")


def test_a_dense_view_draws_on_the_canvas_layer_hovers_and_exports_it(stack, driver):
    driver.get(f"{stack.dash_url}/explore?run={stack.dense_id}&classes=0,1,2&epoch=10")

    def dense_state(d):
        state = d.execute_script("""
            const gd = document.querySelector('#simplex .js-plotly-plot');
            return {layer: window.mixscopeDense.shown('simplex'),
                    canvases: Array.from(document.querySelectorAll('canvas.mixscope-dense'))
                      .map(c => [c.style.display, c.width, c.height, c.parentNode.className]),
                    plotted: Boolean(gd && gd._fullLayout && gd._fullLayout.xaxis),
                    traces: gd && gd.data ? gd.data.map(t => t.name) : null};""")
        return (f"label {_text(d, 'ex-epoch-label')!r}, canvas shown: "
                f"{bool(_canvas_image(d))}, {state}")

    wait_for(driver, lambda d: f"epoch 10 · {6 * DENSE_PAIRS} points" in
             (_text(d, "ex-epoch-label") or "") and _canvas_image(d), timeout=90,
             what="the dense view at epoch 10", seen=dense_state)
    late = _canvas_image(driver)
    names = driver.execute_script(
        "return document.querySelector('#simplex .js-plotly-plot').data.map(t => t.name)")
    # Plotly keeps the legend and colour bar; points, triangle and arrows are on the canvas
    assert set(names) == {"same class", "different class"}, names
    _slider_key(driver, "HOME")
    wait_for(driver, lambda d: "epoch 0 " in (_text(d, "ex-epoch-label") or ""),
             what="epoch 0", seen=lambda d: _text(d, "ex-epoch-label"))
    wait_for(driver, lambda d: _canvas_image(d) not in (None, late),
             what="the canvas to show epoch 0")
    # hover: the point nearest the pointer, as text (a grid of pointer moves over the plot)
    hovered = driver.execute_script("""
        const gd = document.querySelector('#simplex .js-plotly-plot');
        const cv = gd.querySelector('canvas.mixscope-dense').getBoundingClientRect();
        for (let i = 1; i < 30; i++) { for (let j = 1; j < 30; j++) {
          gd.dispatchEvent(new MouseEvent('mousemove', {clientX: cv.left + cv.width * i / 30,
                                                        clientY: cv.top + cv.height * j / 30}));
          const tip = gd.querySelector('.mixscope-dense-tip');
          if (tip && tip.style.display === 'block') { return tip.textContent; }
        } }
        return null;""")
    assert hovered and ("λ(" in hovered or "clean" in hovered) and "<" not in hovered, hovered
    for svg in glob.glob(os.path.join(driver._profile, "*.svg")):
        os.remove(svg)
    driver.find_element("id", "ex-svg").click()
    found = wait_for(driver, lambda d: [p for p in glob.glob(os.path.join(d._profile, "*.svg"))
                                        if not p.endswith(".crdownload")],
                     what="the SVG download")
    path = Path(found[0])
    wait_for(driver, lambda d: "</svg>" in path.read_text(errors="replace"),
             what="the SVG's closing tag")
    svg = path.read_text(errors="replace")
    assert "<image" in svg and "data:image/png;base64," in svg  # the layer, embedded
    screenshot(driver, "explore-dense")
