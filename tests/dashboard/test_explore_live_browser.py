"""Explore follows a running run (issue 19): epochs recorded while the page is open extend
the epoch slider within a refresh interval, without a reload; "follow latest" (on by default
while the run trains) moves the view to each new epoch, and with it off the view stays on the
user's epoch; when the run ends the page stops re-reading it.

The run is recorded by the real recorder (``mixscope.Recorder``, local mode) into the store the
real API serves; each step waits on what the page shows (the slider's bounds, the epoch label).
"""

from __future__ import annotations

import numpy as np
import pytest
from browser import Stack, browser_available, start_chrome, stop_chrome, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _arrays(rec, epoch: int, d: int = 8) -> dict:
    rng = np.random.default_rng(epoch)
    return {"features": rng.normal(size=(rec.num_probe, d)).astype(np.float32),
            "classifier_weight": rng.normal(size=(3, d)).astype(np.float32),
            "classifier_bias": np.zeros(3, np.float32)}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    from mixscope import Recorder

    store_dir = tmp_path_factory.mktemp("explore-live") / "store"
    rec = Recorder(name="live run", num_classes=3, store=store_dir, epochs=10,
                   config={"method": "cutmix"},
                   probe={"clean_per_class": 6, "pairs_per_class_pair": 5})
    rng = np.random.default_rng(0)
    rec.probe(rng.normal(size=(90, 4)).astype(np.float32), np.arange(90) % 3)
    rec.log_arrays(0, **_arrays(rec, 0))
    rec.log_arrays(1, **_arrays(rec, 1))
    stack = Stack(store_dir, worker=False).start()
    driver = start_chrome()
    yield rec, stack, driver
    stop_chrome(driver)
    stack.stop()
    if not rec.finished:
        rec.finish()
    rec.store.close()


def _slider(driver) -> dict | None:
    """The epoch slider's position and bounds (aria attributes of its handle) and the label."""
    return driver.execute_script("""
        const h = document.querySelector('#epoch-slider [role=slider]');
        const l = document.getElementById('ex-epoch-label');
        const f = document.querySelector('#ex-follow input');
        if (!h) { return null; }
        return {now: Number(h.getAttribute('aria-valuenow')),
                max: Number(h.getAttribute('aria-valuemax')),
                label: l ? l.innerText : '', follow: f ? f.checked : null};
    """)


def _note(driver) -> str:
    return driver.execute_script(
        "const e = document.getElementById('ex-live-note'); return e ? e.innerText : null;")


def test_slider_grows_while_the_run_records(live):
    rec, stack, driver = live
    driver.get(f"{stack.dash_url}/explore?run={rec.run_id}")
    wait_for(driver, lambda d: (s := _slider(d)) and s["max"] == 1 and
             s["label"].startswith("epoch 1 "), what="the run's epochs 0 and 1 on the slider")
    assert _slider(driver)["follow"] is True, "follow latest is on while the run trains"
    assert "running" in _note(driver)

    # epochs recorded while the page is open: the slider extends and, following, moves to them
    rec.log_arrays(2, **_arrays(rec, 2))
    rec.log_arrays(3, **_arrays(rec, 3))
    wait_for(driver, lambda d: (s := _slider(d)) and s["max"] == 3 and s["now"] == 3 and
             s["label"].startswith("epoch 3 "),
             what="the slider grown to epoch 3, the view on it (follow latest)")


def test_view_stays_on_the_users_epoch_without_follow(live):
    rec, _stack, driver = live
    box = driver.find_element("css selector", "#ex-follow input")
    box.click()
    wait_for(driver, lambda d: _slider(d)["follow"] is False, what="follow latest off")
    rec.log_arrays(4, **_arrays(rec, 4))
    wait_for(driver, lambda d: _slider(d)["max"] == 4, what="the slider grown to epoch 4")
    s = _slider(driver)
    assert s["now"] == 3 and s["label"].startswith("epoch 3 "), s


def test_refreshing_stops_when_the_run_ends(live):
    rec, _stack, driver = live
    rec.log_arrays(5, **_arrays(rec, 5))
    rec.finish()
    wait_for(driver, lambda d: _slider(d)["max"] == 5 and _note(d) == "",
             what="the last epoch on the slider and the training note gone")
    # then the live timer goes off (once the browser holds the last epoch's frames): Dash's
    # Interval has no DOM, so its prop is read from the renderer's layout store
    wait_for(driver, lambda d: d.execute_script(LIVE_DISABLED) is True,
             what="the live refresh switched off after the run ended")


LIVE_DISABLED = """
    const find = (node) => {
      if (!node || typeof node !== 'object') { return null; }
      if (node.props && node.props.id === 'ex-live') { return node.props.disabled; }
      for (const k of Object.keys(node)) { const r = find(node[k]); if (r !== null) return r; }
      return null;
    };
    return find(window.store.getState().layout);
"""
