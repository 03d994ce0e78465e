"""The sweep grid in a real browser (issue 20): a real α × method sweep (digits, trained for
real, a few epochs) opens as a grid of panels; moving the one epoch slider redraws every
panel; hovering a point of the linked curves outlines its panel; the grid exports as one SVG
with its facet labels. Every wait is on an event (a panel's epoch, a class, a file)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from browser import Stack, browser_available, screenshot, start_chrome, stop_chrome, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

ALPHAS = (0.4, 2.0)
METHODS = ("erm", "input-mixup")
EPOCHS = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    import torch

    from backend.runconfig import RunConfig
    from backend.settings import settings_for_store
    from backend.store import Store
    from trainer.loop import execute_run

    torch.set_num_threads(1)
    store_dir = tmp_path_factory.mktemp("grid") / "store"
    store = Store(settings_for_store(store_dir))
    store.migrate()
    sweep_id = store.create_sweep("alpha x method", "alpha", list(ALPHAS))
    ids = []
    for method in METHODS:
        for alpha in ALPHAS:
            cfg = RunConfig.model_validate({
                "dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
                "model_args": {"width": 32, "depth": 1, "feature_dim": 16},
                "epochs": EPOCHS, "batch_size": 32, "method": method, "alpha": alpha,
                "probe": {"clean_per_class": 5, "pairs_per_class_pair": 4,
                          "trajectory_pairs": 0},
                "record": {"epochs": list(range(EPOCHS + 1))},
                "name": f"{method} α={alpha}"})
            run = store.create_run(cfg, sweep_id=sweep_id)
            assert store.claim_run(run.id, "test")
            assert execute_run(store, run.id, worker="test") == "succeeded"
            ids.append(run.id)
    store.close()
    s = Stack(store_dir, worker=False).start()
    s.sweep_id, s.run_ids = sweep_id, ids
    yield s
    s.stop()


@pytest.fixture(scope="module")
def driver(stack):
    d = start_chrome(width=1600, height=1100)
    yield d
    stop_chrome(d)


def _panels(driver) -> list[dict]:
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#grid-panels .grid-panel')).map(a => ({
            id: a.id, epoch: a.dataset.epoch, points: a.dataset.points, href: a.href,
            title: a.querySelector('.grid-panel-title').textContent,
            note: a.querySelector('.grid-panel-note').textContent,
            pixels: a.querySelector('canvas').toDataURL().length
                    + ':' + a.querySelector('canvas').toDataURL().slice(-80),
            outlined: a.classList.contains('outlined')}));""")


def _download(driver, pattern) -> Path:
    found = wait_for(driver, lambda d: [p for p in glob.glob(os.path.join(d._profile, pattern))
                                        if not p.endswith(".crdownload")],
                     what=f"a download matching {pattern}")
    path = Path(found[0])
    wait_for(driver, lambda d: path.stat().st_size > 0, what=f"{path} to fill")
    return path


def test_grid_of_a_real_sweep_follows_the_slider(stack, driver):
    driver.get(f"{stack.dash_url}/grid?sweep={stack.sweep_id}&classes=0,1,2&epoch=1")
    panels = wait_for(driver, lambda d: (p := _panels(d)) and len(p) == 4
                      and all(x["epoch"] == "1" for x in p) and p,
                      what="four panels drawn at epoch 1 (from the URL)")
    # α as columns, the method as rows: the facets were found by diffing the configs
    labels = driver.execute_script("""return [
        Array.from(document.querySelectorAll('.grid-col-label')).map(e => e.textContent),
        Array.from(document.querySelectorAll('.grid-row-label')).map(e => e.textContent)];""")
    assert labels[0] == ["alpha = 0.4", "alpha = 2"], labels
    assert labels[1] == ["method = erm", "method = input-mixup"], labels
    assert all(int(p["points"]) > 0 for p in panels)
    assert all("/explore?run=" in p["href"] and "epoch=1" in p["href"] for p in panels)
    before = {p["id"]: p["pixels"] for p in panels}

    # the slider's last stop (keyboard on its handle): every panel redraws at epoch 3
    handle = driver.find_element("css selector", "#grid-epoch [role=slider]")
    handle.click()
    from selenium.webdriver.common.keys import Keys
    handle.send_keys(Keys.END)
    after = wait_for(driver, lambda d: (p := _panels(d)) and
                     all(x["epoch"] == str(EPOCHS) for x in p) and p,
                     what=f"every panel at epoch {EPOCHS}")
    assert all(p["pixels"] != before[p["id"]] for p in after), "a panel did not change"
    assert all(p["note"].startswith(f"epoch {EPOCHS}") for p in after)
    wait_for(driver, lambda d: f"epoch={EPOCHS}" in d.current_url, what="the URL's epoch")
    screenshot(driver, "grid-sweep")


def test_hovering_a_curve_point_outlines_its_panel(stack, driver):
    # a point of the curves (its customdata is its panel), hovered with the real mouse
    wait_for(driver, lambda d: d.execute_script(
        "const gd = document.querySelector('#grid-curves .js-plotly-plot');"
        "return gd && gd.data && gd.data.length > 0 && gd.data[0].x.length > 1;"),
        what="the curves drawn")
    target, dx, dy = driver.execute_script("""
        const gd = document.querySelector('#grid-curves .js-plotly-plot');
        const tr = gd.data[0];                       // test accuracy, first line, 2nd point
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const box = gd.getBoundingClientRect();
        return [tr.customdata[1], xa._offset + xa.d2p(tr.x[1]) - box.width / 2,
                ya._offset + ya.d2p(tr.y[1]) - box.height / 2];""")
    from selenium.webdriver.common.action_chains import ActionChains
    graph = driver.find_element("css selector", "#grid-curves .js-plotly-plot")
    ActionChains(driver).move_to_element_with_offset(graph, int(dx), int(dy)).perform()
    outlined = wait_for(driver, lambda d: [p["id"] for p in _panels(d) if p["outlined"]],
                        what="a panel outlined")
    assert outlined == [f"grid-panel-{target}"]


def test_svg_export_has_every_panel_and_the_facet_labels(stack, driver):
    driver.find_element("id", "grid-svg").click()
    svg = _download(driver, "mixscope-grid*.svg").read_text(errors="replace")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<image ") == 4
    for label in ("alpha = 0.4", "alpha = 2", "method = erm", "method = input-mixup",
                  f"epoch {EPOCHS}"):
        assert label in svg, label


def test_a_running_run_follows_live(stack, driver):
    """A running run's new recorded epoch reaches its panel without a reload (the slider,
    at its end, follows)."""
    from api_fixtures import synthetic_run

    from backend.settings import settings_for_store
    from backend.store import Store

    store = Store(settings_for_store(stack.store))
    try:
        run_id = synthetic_run(store, num_classes=4, clean=5, pairs=4, epochs=(0, 1, 2),
                               status="running", config={"alpha": 8.0})
        store.update_run_info(run_id, recorded_epochs=[0, 1])  # epoch 2 not announced yet
        driver.get(f"{stack.dash_url}/grid?runs={stack.run_ids[0]},{run_id}&classes=0,1,2")
        wait_for(driver, lambda d: [p["epoch"] for p in _panels(d)] == [str(EPOCHS), "1"],
                 what="the running run's panel at its epoch 1")
        assert "running" in _panels(driver)[1]["note"]
        store.update_run_info(run_id, recorded_epochs=[0, 1, 2])  # the worker recorded 2
        wait_for(driver, lambda d: [p["epoch"] for p in _panels(d)][1] == "2",
                 what="the running run's panel at its new epoch 2")
    finally:
        store.close()


def test_csv_export_holds_every_panels_shown_points(stack, driver):
    driver.get(f"{stack.dash_url}/grid?sweep={stack.sweep_id}&classes=0,1,2&epoch=2")
    panels = wait_for(driver, lambda d: (p := _panels(d)) and len(p) == 4
                      and all(x["epoch"] == "2" for x in p) and p,
                      what="four panels drawn at epoch 2")
    driver.find_element("id", "grid-csv").click()
    lines = _download(driver, "mixscope-grid*.csv").read_text().splitlines()
    head = lines[0].split(",")
    assert head[:4] == ["run_id", "run_name", "alpha", "method"]
    assert head[-2:] == ["x", "y"]
    rows = [dict(zip(head, line.split(","))) for line in lines[1:]]
    # every shown point of every panel (same- and different-class mixes by default; the CSV
    # holds the clean ones too), at the epoch each panel shows
    assert {r["run_id"] for r in rows} == set(stack.run_ids)
    assert all(r["epoch"] == "2" for r in rows)
    shown = sum(1 for r in rows if r["kind"] != "clean")
    assert shown == sum(int(p["points"]) for p in panels)


def test_panel_hover_shows_the_pair_and_lambda_and_a_click_opens_explore(stack, driver):
    from selenium.webdriver.common.action_chains import ActionChains

    driver.get(f"{stack.dash_url}/grid?sweep={stack.sweep_id}&classes=0,1,2&epoch=2")
    wait_for(driver, lambda d: (p := _panels(d)) and len(p) == 4
             and all(x["epoch"] == "2" for x in p), what="four panels drawn at epoch 2")
    # a drawn point of the first panel: a pixel in the λ colours, found on the canvas
    dx, dy = driver.execute_script("""
        const c = document.querySelector('#grid-panel-0 canvas');
        const ctx = c.getContext('2d'), img = ctx.getImageData(0, 0, c.width, c.height).data;
        const r = c.getBoundingClientRect(), s = c.width / r.width;
        for (let y = 2; y < c.height - 2; y++) { for (let x = 2; x < c.width - 2; x++) {
          const i = 4 * (y * c.width + x);
          // a point's centre: opaque, and so are its four neighbours (lines are thinner)
          const on = (k) => img[k + 3] === 255;
          if (on(i) && on(i - 4) && on(i + 4) && on(i - 4 * c.width) && on(i + 4 * c.width)
              && img[i] + img[i + 1] + img[i + 2] > 60) {
            return [x / s - r.width / 2, y / s - r.height / 2]; } } }
        return null;""")
    canvas = driver.find_element("css selector", "#grid-panel-0 canvas")
    ActionChains(driver).move_to_element_with_offset(canvas, int(dx), int(dy)).perform()
    tip = wait_for(driver, lambda d: d.execute_script(
        "const t = document.querySelector('#grid-panel-0 .grid-tip');"
        "return t.style.display === 'block' ? t.innerText : null;"),
        what="the panel's hover text")
    assert "λ(" in tip or "(clean)" in tip or " × " in tip, tip

    href = driver.find_element("id", "grid-panel-0").get_attribute("href")
    run_id = href.split("run=")[1].split("&")[0]
    driver.find_element("css selector", "#grid-panel-0 .grid-panel-title").click()
    wait_for(driver, lambda d: "/explore?" in d.current_url, what="Explore opened")
    assert f"run={run_id}" in driver.current_url and "classes=0,1,2" in driver.current_url
    wait_for(driver, lambda d: d.execute_script(
        "const e = document.getElementById('ex-epoch-label');"
        "return e && e.innerText.startsWith('epoch 2 ');"), what="Explore at epoch 2")
