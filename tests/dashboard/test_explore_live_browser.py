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
    """An epoch as a user's loop computes it: features, head, test predictions, and the
    penultimate layer's outputs on the trajectory inputs."""
    from mixscope.recorder.epoch import trajectory_lambdas

    rng = np.random.default_rng(epoch)
    probs = rng.dirichlet(np.ones(3), size=60).astype(np.float32)
    P, T = len(rec._probe["trajectory_a"]), len(trajectory_lambdas(rec.config))
    return {"features": rng.normal(size=(rec.num_probe, d)).astype(np.float32),
            "classifier_weight": rng.normal(size=(3, d)).astype(np.float32),
            "classifier_bias": np.zeros(3, np.float32),
            "test_probs": probs, "test_labels": np.arange(60) % 3,
            "trajectory": {"penultimate": rng.normal(size=(P, T, d)).astype(np.float32)}}


def half_swap(xa, xb, lam):
    """The user's own mixing: the last two features from the partner (λ kept: ½)."""
    out = xa.clone()
    out[:, 2:] = xb[:, 2:]
    return out, lam * 0 + 0.5


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
    rec.probe(rng.normal(size=(90, 4)).astype(np.float32), np.arange(90) % 3, mix=half_swap)
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
    # the page says which mixing made the points (Recorder.probe(mix=...))
    wait_for(driver, lambda d: "Mixed points made by: half_swap" in d.find_element(
        "id", "ex-mixing").text, what="the mixing named on Explore")

    # epochs recorded while the page is open: the slider extends and, following, moves to them
    rec.log_arrays(2, **_arrays(rec, 2))
    rec.log_arrays(3, **_arrays(rec, 3))
    wait_for(driver, lambda d: (s := _slider(d)) and s["max"] == 3 and s["now"] == 3 and
             s["label"].startswith("epoch 3 "),
             what="the slider grown to epoch 3, the view on it (follow latest)")
    wait_for(driver, lambda d: d.execute_script("""
        const gd = document.querySelector('#ex-metrics .js-plotly-plot');
        return gd && gd.data && gd.data.some(t => t.x && Array.from(t.x).includes(3));
    """), what="the collapse-metric curves extended to epoch 3")


def test_view_stays_on_the_users_epoch_without_follow(live):
    rec, _stack, driver = live
    box = driver.find_element("css selector", "#ex-follow input")
    box.click()
    wait_for(driver, lambda d: _slider(d)["follow"] is False, what="follow latest off")
    rec.log_arrays(4, **_arrays(rec, 4))
    wait_for(driver, lambda d: _slider(d)["max"] == 4, what="the slider grown to epoch 4")
    s = _slider(driver)
    assert s["now"] == 3 and s["label"].startswith("epoch 3 "), s


def _ece_last_epoch(driver):
    """The last epoch of the ECE curve on Calibration (None until drawn)."""
    return driver.execute_script("""
        const gd = document.querySelector('#cal-ece .js-plotly-plot');
        if (!gd || !gd.data || !gd.data.length || !gd.data[0].x) { return null; }
        const x = Array.from(gd.data[0].x); return x.length ? Math.max(...x) : null;
    """)


def test_calibration_follows(live):
    rec, stack, driver = live
    driver.get(f"{stack.dash_url}/calibration?run={rec.run_id}")
    wait_for(driver, lambda d: _ece_last_epoch(d) == 4, what="the ECE curve up to epoch 4")
    rec.log_arrays(5, **_arrays(rec, 5))
    wait_for(driver, lambda d: _ece_last_epoch(d) == 5,
             what="epoch 5 added to the ECE curve without a reload")
    wait_for(driver, lambda d: "epoch 5 " in (d.execute_script(
        "const g = document.querySelector('#cal-reliability .gtitle');"
        "return g ? g.textContent : '';") or ""),
        what="the reliability diagram moved to the new last epoch")


def _trajectory_epochs(driver):
    return driver.execute_script("""
        const v = document.querySelector('#tr-epoch .Select-value-label, #tr-epoch [class*=singleValue]');
        const t = document.querySelector('#tr-graph .gtitle');
        return {value: v ? v.innerText : null, title: t ? t.textContent : ''};
    """)


def test_trajectory_follows(live):
    rec, stack, driver = live
    driver.get(f"{stack.dash_url}/trajectory?run={rec.run_id}")
    wait_for(driver, lambda d: _trajectory_epochs(d)["title"].startswith("epoch 5 "),
             what="the trajectory of the last epoch (5)")
    rec.log_arrays(6, **_arrays(rec, 6))
    wait_for(driver, lambda d: _trajectory_epochs(d)["title"].startswith("epoch 6 "),
             what="the trajectory of the new epoch 6 without a reload")


def test_refreshing_stops_when_the_run_ends(live):
    rec, stack, driver = live
    driver.get(f"{stack.dash_url}/explore?run={rec.run_id}")
    wait_for(driver, lambda d: (s := _slider(d)) and s["max"] == 6, what="Explore at epoch 6")
    rec.log_arrays(7, **_arrays(rec, 7))
    rec.finish()
    wait_for(driver, lambda d: _slider(d)["max"] == 7 and _note(d) == "",
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
