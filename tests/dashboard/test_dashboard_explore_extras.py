"""Browser tests of the Explore page's extras: play/pause of the epoch slider, a second run
side by side, the UFM-optimum overlay and SVG/PNG export (CSV is in test_dashboard.py).

The store is filled by ``dashboard_seed`` (synthetic finished runs written through the real
Store; the real training pipeline is covered by test_dashboard.py), then the real API and the
dashboard (no worker: nothing here needs one) serve it to headless Chromium. One stack and
one browser per module; the tests share the page and run in file order.

Run B is seeded with the same seed as run A but records only a subset of A's epochs, so its
frame at any recorded epoch equals A's frame there: the compare plot can be checked point
for point against what the main plot showed.
"""

from __future__ import annotations

import glob
import os
import struct
import time
from pathlib import Path

import pytest
from browser import (
    Stack,
    browser_available,
    dash_idle,
    plot_data_signature,
    screenshot,
    start_chrome,
    stop_chrome,
    wait_for,
)
from dashboard_seed import seed_synthetic_run
from timing import patience

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

EPOCHS_A = (0, 1, 2, 5, 10, 20)
EPOCHS_B = (0, 2, 20)  # a subset: at A's epoch 5, B shows its epoch 2
SMALL = {"classes": 4, "clean_per_class": 20, "pairs_per_class_pair": 30, "seed": 3}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    from backend.settings import settings_for_store
    from backend.store import Store

    store_dir = tmp_path_factory.mktemp("explore-extras") / "store"
    store = Store(settings_for_store(store_dir))
    store.migrate()
    run_a = seed_synthetic_run(store, epochs=EPOCHS_A, name="run A", **SMALL)
    # B is the newer run (created_at orders runs; two rows in one clock tick would tie): let
    # the clock move, a lower bound that holds on any machine. The page opens A by URL anyway.
    time.sleep(0.01)
    run_b = seed_synthetic_run(store, epochs=EPOCHS_B, name="run B", **SMALL)
    store.close()
    s = Stack(store_dir, worker=False).start()
    s.run_a, s.run_b = run_a, run_b
    yield s
    s.stop()


@pytest.fixture(scope="module")
def driver(stack):
    d = start_chrome()
    d.set_script_timeout(patience(20))
    d.get(f"{stack.dash_url}/explore?run={stack.run_a}&classes=0,1,2&epoch=0")
    wait_for(d, lambda d: plot_data_signature(d, "simplex") and
             "epoch 0 " in (_text(d, "ex-epoch-label") or ""), timeout=60,
             what="the simplex of run A at epoch 0")
    yield d
    stop_chrome(d)


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def _trace_names(driver, graph_id):
    """Names of the traces drawn in a dcc.Graph (None until it has a figure)."""
    return driver.execute_script("""
        const host = document.getElementById(arguments[0]);
        const gd = host && (host.classList.contains('js-plotly-plot') ? host
                            : host.querySelector('.js-plotly-plot'));
        return gd && gd.data ? gd.data.map(t => t.name) : null;""", graph_id)


def _ufm_to_vertex_ratio(driver) -> float:
    """Mean radius of the drawn UFM optimum over the radius of the drawn simplex vertices."""
    return driver.execute_script("""
        const gd = document.querySelector('#simplex .js-plotly-plot');
        const u = gd.data.find(t => t.name === 'UFM optimum');
        const v = gd.data.find(t => t.name === 'simplex');
        const r = (x, y) => Math.hypot(x, y);
        let s = 0;
        for (let i = 0; i < u.x.length; i++) { s += r(u.x[i], u.y[i]); }
        return (s / u.x.length) / r(v.x[0], v.y[0]);""")


def _title(driver, graph_id):
    return driver.execute_script(
        "const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return gd && gd.layout && gd.layout.title ? gd.layout.title.text : null;", graph_id)


def _slider_value(driver) -> str | None:
    return driver.find_element("css selector", "#epoch-slider [role=slider]").get_attribute(
        "aria-valuenow")


def _at_rest(driver):
    """(epoch, slider position) once no Dash callback is in flight and the label shows the
    slider's epoch, else None."""
    idle = dash_idle(driver)
    epoch, position = _epoch(driver), _slider_value(driver)
    if not idle or position is None or epoch != EPOCHS_A[int(position)]:
        return None
    return epoch, position


def _epoch(driver) -> int | None:
    """The epoch the label under the slider reports ("epoch 5 · 270 points")."""
    words = (_text(driver, "ex-epoch-label") or "").split()
    return int(words[1]) if len(words) > 1 and words[0] == "epoch" else None


def _slider_key(driver, key):
    from selenium.webdriver.common.keys import Keys

    driver.find_element("css selector", "#epoch-slider [role=slider]").send_keys(
        getattr(Keys, key))


def _go_to_epoch(driver, epoch):
    _slider_key(driver, "HOME")
    for _ in range(EPOCHS_A.index(epoch)):
        _slider_key(driver, "ARROW_RIGHT")
    wait_for(driver, lambda d: _epoch(d) == epoch, what=f"epoch {epoch}",
             seen=lambda d: _text(d, "ex-epoch-label"))


def _choose_containing(driver, dropdown_id, words):
    """Pick the option whose label contains ``words`` in a Dash 4 dropdown."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.find_element("id", dropdown_id).click()
    option = wait_for(driver, lambda d: next(
        (o for o in d.find_elements("css selector", "[role=option]") if words in o.text),
        None), what=f"option with {words!r} in {dropdown_id}")
    option.click()
    if driver.find_elements("css selector", "[role=listbox]"):
        ActionChains(driver).send_keys(Keys.ESCAPE).perform()


def _download(driver, pattern, timeout=20.0) -> Path:
    """The finished download matching ``pattern`` in the browser profile folder."""
    found = wait_for(driver, lambda d: [p for p in glob.glob(os.path.join(d._profile, pattern))
                                        if not p.endswith(".crdownload")],
                     timeout=timeout, what=f"a download matching {pattern}")
    path = Path(found[0])
    wait_for(driver, lambda d: path.stat().st_size > 0, what=f"{path} to fill")
    return path


def test_play_advances_the_epoch_and_pause_stops_it(stack, driver):
    play = driver.find_element("id", "ex-play")
    assert _epoch(driver) == 0 and "Play" in play.text
    play.click()
    wait_for(driver, lambda d: "Pause" in d.find_element("id", "ex-play").text,
             what="the button to read Pause")
    seen = {0}
    # the interval steps every 0.7 s: two steps forward
    wait_for(driver, lambda d: seen.add(_epoch(d)) or max(seen) >= EPOCHS_A[2],
             poll=0.1, what="playback to reach the third recorded epoch",
             seen=lambda d: sorted(e for e in seen if e is not None))
    wait_for(driver, lambda d: "epoch=" in d.current_url, what="the URL to hold the epoch",
             seen=lambda d: d.current_url)
    driver.find_element("id", "ex-play").click()
    wait_for(driver, lambda d: "Play" in d.find_element("id", "ex-play").text,
             what="the button to read Play")
    # a tick already on its way may still land: wait until the page is at rest (no callback
    # in flight, the label showing the slider's epoch)
    stopped, position = wait_for(driver, _at_rest, what="the page to come to rest",
                                 seen=lambda d: (_text(d, "ex-epoch-label"), _slider_value(d)))
    # The one negative check: that playback *stopped* has no event to wait for, only the
    # absence of one. Three intervals (0.7 s each), stretched to the machine's load, would
    # have moved the slider were it still playing; a tick that fired would also leave the
    # page mid-update, so wait for rest again before reading it.
    time.sleep(patience(3 * 0.7))
    assert wait_for(driver, _at_rest, what="the page to come to rest again") == \
        (stopped, position)


def test_second_run_side_by_side_follows_the_slider(stack, driver):
    # what run A's plot shows at epochs 2 and 5 (B's frames equal A's at B's epochs)
    _go_to_epoch(driver, 2)
    a_at_2 = wait_for(driver, lambda d: plot_data_signature(d, "simplex"), what="A at 2")
    _go_to_epoch(driver, 20)
    a_at_20 = wait_for(driver, lambda d: plot_data_signature(d, "simplex"), what="A at 20")
    assert a_at_2 != a_at_20
    assert not driver.find_element("id", "simplex-b").is_displayed()

    _choose_containing(driver, "ex-compare", "run B")
    wait_for(driver, lambda d: d.find_element("id", "simplex-b").is_displayed(),
             what="the second plot to appear")
    # same triple and epoch: B at 20 is A at 20, point for point
    wait_for(driver, lambda d: plot_data_signature(d, "simplex-b") == a_at_20, timeout=30,
             what="the second plot at epoch 20")
    # the compared run says which of its epochs it shows (and, like the main plot, what view)
    wait_for(driver, lambda d: _title(d, "simplex-b") ==
             "run B · layer penultimate · classes 0, 1, 2 · epoch 20",
             what="the second plot's title", seen=lambda d: _title(d, "simplex-b"))
    wait_for(driver, lambda d: _title(d, "simplex") ==
             "run A · layer penultimate · classes 0, 1, 2 · epoch 20",
             what="the main plot's title", seen=lambda d: _title(d, "simplex"))
    # A at epoch 5: B has no epoch 5 and shows its last one before, epoch 2
    _go_to_epoch(driver, 5)
    wait_for(driver, lambda d: plot_data_signature(d, "simplex-b") == a_at_2,
             what="the second plot to follow to B's epoch 2")
    wait_for(driver, lambda d: _title(d, "simplex-b") ==
             "run B · layer penultimate · classes 0, 1, 2 · epoch 2",
             what="the second plot's title at B's epoch 2",
             seen=lambda d: _title(d, "simplex-b"))
    wait_for(driver, lambda d: plot_data_signature(d, "simplex") not in (None, a_at_2, a_at_20),
             what="the main plot at A's epoch 5")
    _go_to_epoch(driver, 20)
    wait_for(driver, lambda d: plot_data_signature(d, "simplex-b") == a_at_20,
             what="the second plot back at epoch 20")
    path = screenshot(driver, "explore-compare")
    assert path.stat().st_size > 10_000


def test_ufm_overlay_adds_and_removes_the_optimum(stack, driver):
    assert "UFM optimum" not in _trace_names(driver, "simplex")
    box = driver.find_element("css selector", "#ex-ufm input")
    box.click()
    wait_for(driver, lambda d: "UFM optimum" in (_trace_names(d, "simplex") or []),
             timeout=30, what="the UFM trace on the main plot")
    wait_for(driver, lambda d: "UFM optimum" in (_trace_names(d, "simplex-b") or []),
             what="the UFM trace on the second plot")
    n_ufm, finite = driver.execute_script("""
        const gd = document.querySelector('#simplex .js-plotly-plot');
        const t = gd.data.find(t => t.name === 'UFM optimum');
        const xs = Array.from(t.x), ys = Array.from(t.y);
        return [xs.length, xs.concat(ys).every(Number.isFinite)];""")
    assert n_ufm > 10 and finite
    # the overlay is drawn at each frame's scale: relative to the triangle of the
    # classifier directions it is the same at every epoch
    ratio_late = _ufm_to_vertex_ratio(driver)
    assert 0.3 < ratio_late < 3, ratio_late
    late = plot_data_signature(driver, "simplex")
    _go_to_epoch(driver, 0)
    # the overlay is redrawn with the frame: wait for epoch 0's points before measuring
    wait_for(driver, lambda d: plot_data_signature(d, "simplex") not in (None, late),
             what="the points of epoch 0")
    wait_for(driver, lambda d: _ufm_to_vertex_ratio(d) == pytest.approx(ratio_late, rel=1e-3),
             what="the overlay at epoch 0's scale", seen=_ufm_to_vertex_ratio)
    screenshot(driver, "explore-ufm")
    driver.find_element("css selector", "#ex-ufm input").click()
    wait_for(driver, lambda d: "UFM optimum" not in (_trace_names(d, "simplex") or ["UFM optimum"]),
             what="the UFM trace to go")


def test_svg_export_downloads_the_plot(stack, driver):
    assert not glob.glob(os.path.join(driver._profile, "*.svg"))
    driver.find_element("id", "ex-svg").click()
    # named after the view: mixscope-RUN-eE-LAYER-a-b-c (issue 19), with a title inside
    epoch = _text(driver, "ex-epoch-label").split()[1]
    name = f"mixscope-{stack.run_a[:8]}-e{epoch}-penultimate-0-1-2"
    svg = _download(driver, f"{name}*.svg").read_text(errors="replace")
    assert f"run A · layer penultimate · classes 0, 1, 2 · epoch {epoch}" in svg
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'width="900"' in svg and 'height="820"' in svg
    # the class labels of the triple are text in the SVG
    assert "<text" in svg and ">0<" in svg


def test_png_export_from_the_camera_button(stack, driver):
    # the mode bar shows on hover; its camera button carries the page's PNG options. A real
    # (WebDriver) click: Chrome lets a page download a second file only after user input.
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element(driver.find_element("id", "simplex")).perform()
    camera = wait_for(driver, lambda d: next(
        (b for b in d.find_elements("css selector", "#simplex .modebar-btn")
         if "png" in (b.get_attribute("data-title") or "").lower() and b.is_displayed()),
        None), what="the camera button")
    camera.click()
    epoch = _text(driver, "ex-epoch-label").split()[1]
    png = _download(driver, f"mixscope-{stack.run_a[:8]}-e{epoch}-penultimate-0-1-2*.png"
                    ).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    css_width = driver.execute_script(
        "return document.querySelector('#simplex .js-plotly-plot').getBoundingClientRect().width")
    assert width == pytest.approx(2 * css_width, abs=4)  # toImageButtonOptions scale 2
    assert height == 2 * 520
