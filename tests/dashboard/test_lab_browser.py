"""Browser test of the Lab page against the real stack (uvicorn API, Celery worker, Dash app)
on a temporary store, driven by headless Chromium: every plot renders with data.

Runs for the stored-run plots are launched through the API (tiny configs: ERM, input mixup,
manifold mixup with MSE, and an mlp-bottleneck on two moons) and trained by the real worker;
the lab experiments use small settings through the page's query parameters.
"""

from __future__ import annotations

import json

import pytest
import requests
from browser import (
    Stack,
    browser_available,
    plot_data_signature,
    screenshot,
    start_chrome,
    stop_chrome,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

TINY = dict(dataset="digits", dataset_args=dict(subset=120), model="mlp",
            model_args=dict(width=32, depth=1, feature_dim=16, batchnorm=False), epochs=3,
            batch_size=40, lr=0.05, seed=3,
            probe=dict(clean_per_class=3, pairs_per_class_pair=2, trajectory_pairs=0),
            record=dict(epochs=[0, 1, 3]))
RUNS = {
    "erm": dict(TINY, method="erm", name="lab erm"),
    "input": dict(TINY, method="input-mixup", name="lab input"),
    "manifold": dict(TINY, method="manifold-mixup", loss="mse", name="lab manifold mse",
                     manifold_layers=["penultimate"]),
    "bottleneck": dict(TINY, model="mlp-bottleneck", dataset="two-moons",
                       dataset_args=dict(samples=100), method="input-mixup", epochs=10,
                       model_args=dict(width=32, depth=1, batchnorm=True),
                       record=dict(epochs=[0, 5, 10]), name="lab bottleneck"),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    s = Stack(tmp_path_factory.mktemp("lab-store") / "store").start()
    try:
        ids = [requests.post(f"{s.api_url}/api/runs", json=cfg, timeout=30).json()["id"]
               for cfg in RUNS.values()]

        def done(_):
            runs = requests.get(f"{s.api_url}/api/runs", timeout=30).json()
            return all(r["status"] in ("succeeded", "failed", "cancelled")
                       for r in runs if r["id"] in ids)

        wait_for(None, done, timeout=400, poll=1, what="the seeded runs to finish")
        bad = [r for r in requests.get(f"{s.api_url}/api/runs", timeout=30).json()
               if r["status"] != "succeeded"]
        assert not bad, ([(r["name"], r["error"]) for r in bad], s.log("worker")[-3000:])
        yield s
    finally:
        s.stop()


def _has_data(driver, graph_id, min_traces=1):
    sig = plot_data_signature(driver, graph_id)
    return sig is not None and len(json.loads(sig)) >= min_traces and sig


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def test_lab_page_renders_every_plot_with_data(stack, driver):
    driver.set_window_size(1440, 1000)
    driver.get(stack.dash_url + "/lab?runs=2&epochs=300&moons_runs=2&moons_epochs=60")
    wait_for(driver, lambda d: d.execute_script(
        "return !!document.querySelector('.page .page-head')"), what="the Lab page")

    # alternating line: opening the page queues nothing (issue 19); the button trains the
    # query's small setting
    wait_for(driver, lambda d: "Not computed yet" in (_text(d, "lab-line-status") or ""),
             what="the not-computed note")
    driver.find_element("id", "lab-line-run").click()
    sig = wait_for(driver, lambda d: _has_data(d, "lab-line-probs", 3), timeout=240,
                   what="class probabilities")
    names = [t[0] for t in json.loads(sig)]
    assert any(n.startswith("mixup") for n in names) and any(n.startswith("ERM") for n in names)
    assert any("Lemma 2.3" in n for n in names) and any("Table 1" in n for n in names)
    assert any("tuned" in n for n in names) and any("ε → 0" in n for n in names)
    assert wait_for(driver, lambda d: _has_data(d, "lab-line-error", 4), what="error curves")
    # the paper's column beside ours
    wait_for(driver, lambda d: "0.603" in (t := _text(d, "lab-line-table") or "") and "±" in t,
             what="the table with the paper's column", seen=lambda d: _text(d, "lab-line-table"))

    # two moons: press the button
    driver.find_element("id", "lab-moons-run").click()
    sig = wait_for(driver, lambda d: _has_data(d, "lab-moons-regions", 9), timeout=240,
                   what="decision regions")
    wait_for(driver, lambda d: "linear agreement" in (t := _text(d, "lab-moons-status") or "")
             or "agrees" in t, what="the two-moons status",
             seen=lambda d: _text(d, "lab-moons-status"))

    # Assumption 2.9 on digits
    driver.find_element("id", "lab-assume-run").click()
    wait_for(driver, lambda d: "min distance" in (_text(d, "lab-assume-result") or ""),
             timeout=120, what="the Assumption 2.9 table")
    assert "train" in _text(driver, "lab-assume-result")
    assert "authors' procedure" in _text(driver, "lab-assume-result")

    # stored runs: spectra, gradient split, bottleneck
    sig = wait_for(driver, lambda d: _has_data(d, "lab-spectra", 2), timeout=60,
                   what="spectra")
    assert len({t[0] for t in json.loads(sig)}) >= 2
    sig = wait_for(driver, lambda d: _has_data(d, "lab-grad", 3), timeout=60,
                   what="gradient split")
    assert any("cross" in t[0] for t in json.loads(sig))
    # the picked ERM run has none, and the page says why instead of an empty plot
    wait_for(driver, lambda d: "method is erm" in (_text(d, "lab-grad-absent") or ""),
             what="why the ERM run has no split", seen=lambda d: _text(d, "lab-grad-absent"))
    sig = wait_for(driver, lambda d: _has_data(d, "lab-bottleneck", 2), timeout=60,
                   what="bottleneck representations")
    assert any(t[0].startswith("class") for t in json.loads(sig))
    screenshot(driver, "lab")


def test_lab_page_without_stored_runs_says_what_to_do(tmp_path):
    """A fresh store: the stored-run plots explain how to get data; with no worker the lab
    experiment shows its pending job."""
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    s = Stack(tmp_path / "store", worker=False).start()
    d = start_chrome()
    try:
        d.get(s.dash_url + "/lab?runs=1&epochs=5")
        wait_for(d, lambda dr: "launch" in (dr.find_element("id", "lab-spectra").text or "")
                 .lower(), what="the spectra hint")
        wait_for(d, lambda dr: "manifold-mixup" in (b := dr.find_element("tag name", "body").text)
                 and "mlp-bottleneck" in b, what="the hints naming what to launch")
        # opening the page queued nothing: it says how to compute the experiment
        wait_for(d, lambda dr: "Not computed yet" in (_text(dr, "lab-line-status") or ""),
                 what="the not-computed note")
        from backend.settings import settings_for_store
        from backend.store import Store

        store = Store(settings_for_store(s.store))
        assert store.list_jobs() == []
        store.close()
        # no worker: once asked, the experiment stays a pending job, and the page says so
        d.find_element("id", "lab-line-run").click()
        wait_for(d, lambda dr: "computing… (job " in (_text(dr, "lab-line-status") or ""),
                 what="the pending lab job")
        job_id = _text(d, "lab-line-status").split("(job ")[1].rstrip(")")
        job = requests.get(f"{s.api_url}/api/jobs/{job_id}", timeout=30).json()
        assert job["status"] == "pending" and job["kind"] == "lab"
    finally:
        stop_chrome(d)
        s.stop()
