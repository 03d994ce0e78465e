"""The Runs and Lab pages' parts against the real API (``dashboard/runs/``, ``dashboard/lab/``,
``dashboard/jobpanel.py``):

- the footprint on the Runs page (issue 14 target 5): a run's Details show the bytes it stores
  per artifact kind and per recorded epoch, exactly the figures of
  ``GET /api/runs/{id}/footprint`` and in the words ``mixscope runs show`` prints;
- the forms offer the API's vocabularies (issue 12: one home for each concept);
- the job panel's protocol: a lab job is pending, polled, and its failure shown.

A synthetic finished run (real arrays, real store: ``tests/dashboard_seed.py``) is served by
the real API and dashboard; the browser test clicks the run's Details button in headless
Chromium and reads the drawn bar chart back.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from browser import Stack, browser_available, screenshot, start_chrome, stop_chrome, wait_for
from dashboard_seed import seed_synthetic_run

SMALL = {"classes": 4, "clean_per_class": 10, "pairs_per_class_pair": 8, "seed": 5,
         "epochs": (0, 1, 3)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from backend.settings import settings_for_store
    from backend.store import Store

    store_dir = tmp_path_factory.mktemp("footprint") / "store"
    store = Store(settings_for_store(store_dir))
    store.migrate()
    run_id = seed_synthetic_run(store, name="footprint run", **SMALL)
    time.sleep(0.01)  # created_at orders the runs: let the clock move (true on any machine)
    other = seed_synthetic_run(store, name="other run", **{**SMALL, "epochs": (0, 2)})
    store.close()
    s = Stack(store_dir, worker=False).start()
    s.run_id, s.other = run_id, other
    yield s
    s.stop()


@pytest.fixture
def api_client(stack, monkeypatch):
    """The pages' ``api()`` outside a request: a client of the stack's API."""
    from dashboard import common
    from dashboard.client import ApiClient

    monkeypatch.setitem(common._FALLBACK, "default", ApiClient(stack.api_url))
    return common.api()


def _footprint(stack, run_id):
    r = requests.get(f"{stack.api_url}/api/runs/{run_id}/footprint", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_detail_figures_are_the_apis(stack, monkeypatch):
    """The detail's bar, table and sentence are built from the API's footprint unchanged."""
    from backend.store.footprint import human_bytes as cli_bytes
    from dashboard.runs import footprint as fp

    got = _footprint(stack, stack.run_id)
    assert got["recorded_epochs"] == 3 and got["bytes_total"] > 0
    fig = fp.footprint_figure(got)
    drawn = dict(zip(fig.data[0].y, fig.data[0].x))
    assert drawn == got["by_kind"]
    assert fp.summary_text(got) == (
        f"{cli_bytes(got['bytes_total'])} in all, {cli_bytes(got['bytes_per_recorded_epoch'])} "
        f"per recorded epoch ({got['recorded_epochs']} epochs hold artifacts)")
    for n in (0, 1023, 1024, 5 * 2**20 + 7, 3 * 2**30, None):
        assert fp.human_bytes(n) == cli_bytes(n)
    # where a footprint names dtypes, the table shows them (either shape the API may use)
    assert fp.kinds({"by_kind": {"activations": {"bytes": 10, "dtype": "float16"}, "probe": 4},
                     "dtypes": {"probe": "int64"}}) == [("activations", 10, "float16"),
                                                        ("probe", 4, "int64")]


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_runs_page_detail_shows_the_apis_footprint(stack):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    from backend.store.footprint import human_bytes as cli_bytes

    want = _footprint(stack, stack.run_id)
    d = start_chrome()
    try:
        d.get(f"{stack.dash_url}/runs")
        button = wait_for(d, lambda dr: dr.find_element(
            "css selector", f"[id*='run-details'][id*='{stack.run_id}']"),
            what="the run's Details button")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        drawn = wait_for(d, lambda dr: dr.execute_script("""
            const host = document.getElementById('runs-footprint-graph');
            const gd = host && host.querySelector('.js-plotly-plot');
            return gd && gd.data && gd.data.length ? JSON.stringify(
                [Array.from(gd.data[0].y), Array.from(gd.data[0].x)]) : null;"""),
            timeout=60, what="the footprint bars")
        kinds, sizes = json.loads(drawn)
        assert dict(zip(kinds, sizes)) == want["by_kind"]
        words = (cli_bytes(want["bytes_total"]) + " in all",
                 cli_bytes(want["bytes_per_recorded_epoch"]) + " per recorded epoch")
        wait_for(d, lambda dr: all(w in dr.find_element("id", "runs-footprint-summary").text
                                   for w in words),
                 what=f"the summary to say {words}",
                 seen=lambda dr: dr.find_element("id", "runs-footprint-summary").text)
        wait_for(d, lambda dr: all(k in dr.find_element("id", "runs-footprint-table").text
                                   for k in want["by_kind"]),
                 what=f"the table to list {sorted(want['by_kind'])}",
                 seen=lambda dr: dr.find_element("id", "runs-footprint-table").text)
        screenshot(d, "runs-footprint")

        # a link opens another run's detail directly
        other = _footprint(stack, stack.other)
        d.get(f"{stack.dash_url}/runs?run={stack.other}")
        wait_for(d, lambda dr: f"{other['recorded_epochs']} epochs hold artifacts" in (
            dr.execute_script("const e = document.getElementById('runs-footprint-summary');"
                              "return e ? e.innerText : ''") or ""), timeout=60,
                 what="the other run's footprint")
        wait_for(d, lambda dr: "other run" in dr.find_element("id", "runs-detail").text,
                 what="the other run's name in the detail",
                 seen=lambda dr: dr.find_element("id", "runs-detail").text)
    finally:
        stop_chrome(d)


def _options(component) -> list:
    return [o["value"] if isinstance(o, dict) else o for o in component.options]


def _find(tree, id_):
    """The component with ``id_`` in a Dash layout tree, or None."""
    if getattr(tree, "id", None) == id_:
        return tree
    children = getattr(tree, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            found = _find(child, id_)
            if found is not None:
                return found
    return None


def test_forms_offer_the_apis_vocabularies(stack, api_client):
    from dash import html

    from backend import vocab
    from dashboard.lab import experiments
    from dashboard.runs.form import launch_form

    served = requests.get(f"{stack.api_url}/api/vocab", timeout=30).json()
    assert served["factor_datasets"] == list(vocab.FACTOR_DATASETS)
    form = launch_form()
    assert _options(_find(form, "runs-dataset")) == list(vocab.DATASETS)
    assert sorted(_options(_find(form, "runs-method"))) == sorted(vocab.METHODS)
    assert sorted(_options(_find(form, "runs-loss"))) == sorted(vocab.LOSSES)
    assume = _find(html.Div(experiments.assumption_section()), "lab-assume-dataset")
    assert _options(assume) == [d for d in vocab.DATASETS if d not in vocab.FACTOR_DATASETS]


def test_job_panel_polls_a_pending_job_and_shows_its_failure(stack, api_client):
    """No worker: the lab job stays pending while polled; marked failed, the panel says why."""
    from backend.settings import settings_for_store
    from backend.store import Store
    from dashboard.jobpanel import fetch_job_result

    path = "/lab/assumption-check"
    params = {"dataset": "digits", "alpha": 7.0, "subsample": 0.1, "procedure": "authors"}
    state, message, job = fetch_job_result(path, params, None, polling=False)
    assert state == "pending" and message == f"computing… (job {job['job_id']})"
    assert job["params"] == params
    # a poll asks about the job with the params it was asked with, not the form's new ones
    state, message, again = fetch_job_result(path, {**params, "alpha": 99.0}, job, polling=True)
    assert (state, again) == ("pending", job)

    store = Store(settings_for_store(stack.store))
    try:
        store.finish_job(job["job_id"], "failed", error="the worker ran out of memory")
    finally:
        store.close()
    state, message, gone = fetch_job_result(path, params, job, polling=True)
    assert state == "error" and gone is None
    assert message == "the job failed: the worker ran out of memory"
