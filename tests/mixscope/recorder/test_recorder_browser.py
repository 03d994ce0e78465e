"""Browser test: a run recorded by the Lightning callback opens in Explore (issue 11)."""

from __future__ import annotations

import pytest
from browser import Stack, browser_available, plot_data_signature, screenshot, wait_for
from test_recorder import _example

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    pytest.importorskip("pytorch_lightning")
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    store = tmp_path_factory.mktemp("rec-store") / "store"
    cb = _example("lightning_digits").main(store=store, epochs=3)
    cb.recorder.store.close()
    return store, cb.recorder.run_id


@pytest.fixture(scope="module")
def stack(recorded):
    s = Stack(recorded[0], worker=False).start()
    yield s
    s.stop()


def test_lightning_run_opens_in_explore(stack, driver, recorded):
    run_id = recorded[1]
    driver.set_window_size(1440, 1000)
    driver.get(f"{stack.dash_url}/explore?run={run_id}")
    wait_for(driver, lambda d: plot_data_signature(d, "simplex"), timeout=90,
             what="the recorded run's simplex plot")
    def label(d):
        return d.execute_script(
            "const e = document.getElementById('ex-epoch-label'); return e && e.innerText;")

    wait_for(driver, lambda d: "epoch 3" in (label(d) or ""), what="the label at epoch 3",
             seen=label)
    screenshot(driver, "explore-recorded-lightning")


def test_recorded_run_listed_on_runs_page(stack, driver, recorded):
    """The Runs page lists the recorded run, described by the user's config."""
    driver.get(f"{stack.dash_url}/runs")
    wait_for(driver, lambda d: "recorded externally" in d.find_element("tag name", "body").text
             and "lightning mixup digits" in d.find_element("tag name", "body").text,
             timeout=60, what="the recorded run in the runs table")
