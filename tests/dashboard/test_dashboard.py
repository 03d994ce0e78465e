"""Browser tests of the dashboard against the real stack: uvicorn API, a Celery worker
(`mixscope worker`) and the Dash app on a temporary store, driven by headless Chromium.

One module-scoped stack and browser serve every test; the tests run in file order (the
first launches the run the later ones explore). Screenshots of every page land in
test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from browser import (
    Stack,
    browser_available,
    plot_data_signature,
    screenshot,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

RUN_EPOCHS = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    # frames in pages of 2: the Explore test scrubs a run whose frames arrive page by page
    s = Stack(tmp_path_factory.mktemp("dash-store") / "store",
              dashboard_env={"MIXSCOPE_FRAMES_PAGE": "2"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def state():
    return {}


def _open(driver, stack, path):
    driver.set_window_size(1440, 1000)
    driver.get(stack.dash_url + path)
    wait_for(driver, lambda d: d.execute_script(
        "return !!document.querySelector('.navbar .nav-link') && "
        "!!document.querySelector('.page .page-head')"),
        what=f"{path} to load")


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def _set_input(driver, id_, value):
    from selenium.webdriver.common.keys import Keys

    el = driver.find_element("id", id_)
    el.send_keys(Keys.CONTROL, "a")  # clear() does not reach React's controlled inputs
    el.send_keys(Keys.DELETE)
    el.send_keys(str(value))
    assert el.get_attribute("value") == str(value), (id_, el.get_attribute("value"))


def _choose(driver, dropdown_id, label):
    """Pick ``label`` in a Dash 4 dropdown (a Radix popover listing role=option items)."""
    driver.find_element("id", dropdown_id).click()
    option = wait_for(driver, lambda d: next(
        (o for o in d.find_elements("css selector", "[role=option]")
         if o.text.strip() == label), None), what=f"option {label!r} in {dropdown_id}")
    option.click()
    if driver.find_elements("css selector", "[role=listbox]"):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        ActionChains(driver).send_keys(Keys.ESCAPE).perform()


def _slider_key(driver, slider_id, key):
    from selenium.webdriver.common.keys import Keys

    thumb = driver.find_element("css selector", f"#{slider_id} [role=slider]")
    thumb.send_keys(getattr(Keys, key))


def test_empty_store_says_what_to_do(stack, driver):
    for path, words in (("/explore", "No runs yet"), ("/calibration", "No runs"),
                        ("/trajectory", "No recorded runs yet"), ("/runs", "No runs yet")):
        _open(driver, stack, path)
        wait_for(driver, lambda d, w=words: w in d.find_element("tag name", "body").text,
                 what=f"empty state on {path}")
    screenshot(driver, "runs-empty")


def test_launch_form_shows_api_validation_next_to_fields(stack, driver):
    _open(driver, stack, "/runs")
    _set_input(driver, "runs-lr", "-1")
    driver.find_element("id", "runs-launch").click()
    msg = wait_for(driver, lambda d: _text(d, "err-lr"), what="error next to the lr field")
    assert "greater than 0" in msg
    assert not _text(driver, "err-epochs")
    assert requests.get(f"{stack.api_url}/api/runs").json() == []


def test_launch_form_extra_fields_box_must_hold_a_json_object(stack, driver):
    """The form reaches every RunConfig field (003's bottleneck sizes, ...) through a JSON
    box; text that is not a JSON object is named beside it and nothing is launched."""
    _open(driver, stack, "/runs")
    _set_input(driver, "runs-extra", "model_args: 12")
    driver.find_element("id", "runs-launch").click()
    msg = wait_for(driver, lambda d: _text(d, "err-extra"), what="error next to the JSON box")
    assert "not JSON" in msg
    assert requests.get(f"{stack.api_url}/api/runs").json() == []
    _set_input(driver, "runs-extra", "")


def test_launch_tiny_run_and_watch_it_finish(stack, driver, state):
    _open(driver, stack, "/runs")
    _set_input(driver, "runs-name", "tiny digits")
    _set_input(driver, "runs-epochs", RUN_EPOCHS)
    _set_input(driver, "runs-lr", "0.05")
    _set_input(driver, "runs-batch", "256")
    _set_input(driver, "runs-record", "0,1,2,4")
    driver.find_element("id", "runs-launch").click()
    wait_for(driver, lambda d: "Queued" in (_text(d, "runs-launch-msg") or ""),
             what="launch confirmation", seen=lambda d: _text(d, "runs-launch-msg"))
    runs = requests.get(f"{stack.api_url}/api/runs").json()
    assert len(runs) == 1 and runs[0]["config"]["epochs"] == RUN_EPOCHS
    state["run"] = runs[0]["id"]
    # the live table follows the run to the end
    wait_for(driver, lambda d: "tiny digits" in (_text(d, "runs-table") or ""), what="row")
    try:
        wait_for(driver, lambda d: "succeeded" in (_text(d, "runs-table") or "")
                 or "failed" in (_text(d, "runs-table") or ""), timeout=300, poll=1,
                 what="the run to finish")
    finally:
        screenshot(driver, "runs")
    run = requests.get(f"{stack.api_url}/api/runs/{state['run']}").json()
    assert run["status"] == "succeeded", (run.get("error"), stack.log("worker")[-3000:])
    assert len(run["recorded_epochs"]) >= 2


def test_explore_pick_triple_and_scrub_epochs(stack, driver, state):
    run_id = state.get("run") or pytest.skip("no finished run")
    _open(driver, stack, f"/explore?run={run_id}")
    first = wait_for(driver, lambda d: plot_data_signature(d, "simplex"), timeout=60,
                     what="the simplex plot")
    # pick a different third class by name
    _choose(driver, "ex-class-c", "7")
    after_pick = wait_for(driver, lambda d: (s := plot_data_signature(d, "simplex")) != first
                          and s, timeout=60, what="the plot for the new triple")
    wait_for(driver, lambda d: "classes=0,1,7" in d.current_url,
             what="the URL to hold the triple", seen=lambda d: d.current_url)
    # scrub: the first recorded epoch (before training) looks different from the last
    _slider_key(driver, "epoch-slider", "HOME")
    # the plot, the label and the URL follow the slider one after another: wait for each
    wait_for(driver, lambda d: plot_data_signature(d, "simplex") != after_pick,
             what="the plot to change with the epoch")
    wait_for(driver, lambda d: "epoch 0 " in (_text(d, "ex-epoch-label") or ""),
             what="the label to read epoch 0", seen=lambda d: _text(d, "ex-epoch-label"))
    wait_for(driver, lambda d: "epoch=0" in d.current_url, what="the URL to hold epoch 0",
             seen=lambda d: d.current_url)
    _slider_key(driver, "epoch-slider", "END")
    wait_for(driver, lambda d: f"epoch {RUN_EPOCHS}" in (_text(d, "ex-epoch-label") or ""),
             what="the last epoch", seen=lambda d: _text(d, "ex-epoch-label"))
    # metrics below the plot have data
    wait_for(driver, lambda d: plot_data_signature(d, "ex-metrics"), what="the metric curves")
    # a shared URL restores the view
    _open(driver, stack, f"/explore?run={run_id}&classes=3,4,5&epoch=1&layer=penultimate")
    wait_for(driver, lambda d: "epoch 1 " in (_text(d, "ex-epoch-label") or "") and
             plot_data_signature(d, "simplex"), timeout=60, what="the shared view",
             seen=lambda d: _text(d, "ex-epoch-label"))
    wait_for(driver, lambda d: (_text(d, "ex-class-a") or "").strip() == "3",
             what="class a to read 3", seen=lambda d: _text(d, "ex-class-a"))
    screenshot(driver, "explore")


def test_explore_small_multiples_and_csv(stack, driver, state):
    state.get("run") or pytest.skip("no finished run")
    driver.find_element("id", "ex-multi-go").click()
    wait_for(driver, lambda d: plot_data_signature(d, "ex-multi"), timeout=60,
             what="the small multiples")
    driver.find_element("id", "ex-csv").click()
    import glob
    import os
    csvs = wait_for(driver, lambda d: glob.glob(os.path.join(d._profile, "*.csv")),
                    timeout=20, what="the CSV download")
    head = Path(csvs[0]).read_text().splitlines()
    assert head[0].startswith("epoch,layer,x,y,kind") and len(head) > 10
    screenshot(driver, "explore-multiples")


def test_theory_slider_changes_the_loss(stack, driver):
    _open(driver, stack, "/theory")
    before = wait_for(driver, lambda d: (t := _text(d, "ufm-loss")) not in (None, "", "…", "–")
                      and t, timeout=60, what="the loss readout")
    assert float(before) > 0
    # λ_H = 1e-6 -> 1e-4 (m and C barely move the loss at this λ_H: the soft target's
    # entropy dominates it)
    for _ in range(20):
        _slider_key(driver, "th-lh", "ARROW_RIGHT")
    after = wait_for(driver, lambda d: (t := _text(d, "ufm-loss")) != before and
                     t not in ("…", "–") and t, timeout=30, what="the loss to change",
                     seen=lambda d: _text(d, "ufm-loss"))
    assert float(after) != float(before)
    wait_for(driver, lambda d: plot_data_signature(d, "th-simplex"), what="the UFM simplex")
    screenshot(driver, "theory")


def test_calibration_page(stack, driver, state):
    state.get("run") or pytest.skip("no finished run")
    _open(driver, stack, "/calibration")
    wait_for(driver, lambda d: plot_data_signature(d, "cal-reliability") and
             plot_data_signature(d, "cal-ece"), timeout=60, what="calibration plots")
    screenshot(driver, "calibration")


def test_trajectory_page(stack, driver, state):
    state.get("run") or pytest.skip("no finished run")
    _open(driver, stack, "/trajectory")
    wait_for(driver, lambda d: plot_data_signature(d, "tr-graph"), timeout=60,
             what="the trajectory plot", seen=lambda d: _text(d, "tr-msg"))
    screenshot(driver, "trajectory")
