"""Browser test of the Papers page on the real stack (uvicorn API, Celery worker, Dash app):
the catalogue table lists every entry; an entry's page runs it with the Run button (its lab
job goes through the real worker) and shows the verdict, the published and computed numbers
and the live Lab view embedded."""

from __future__ import annotations

import pytest
import requests
from browser import Stack, browser_available, screenshot, start_chrome, stop_chrome, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def test_papers_page_runs_an_entry_and_shows_its_verdict(tmp_path):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    s = Stack(tmp_path / "store").start()
    d = start_chrome()
    try:
        d.get(s.dash_url + "/papers")
        wait_for(d, lambda dr: "002/fig4" in (_text(dr, "papers-table") or ""),
                 timeout=60, what="the catalogue table")
        table = _text(d, "papers-table")
        assert "000/fig1" in table and "003/table9" in table and "out-of-scope" in table
        screenshot(d, "papers-list")

        d.get(s.dash_url + "/papers?entry=002/fig4")
        wait_for(d, lambda dr: _text(dr, "papers-verdict") == "not-run", timeout=60,
                 what="the entry before it ran", seen=lambda dr: _text(dr, "papers-verdict"))
        assert "Lemma 2.3" in (_text(d, "papers-entry-body") or "")
        d.find_element("id", "papers-run").click()
        # the launch answers once the API has queued the entry's jobs: on a busy machine
        # that is well past the quiet machine's second or two
        wait_for(d, lambda dr: "launched" in (_text(dr, "papers-run-status") or ""),
                 timeout=120, what="the launch", seen=lambda dr: _text(dr, "papers-run-status"))
        verdict = wait_for(d, lambda dr: (_text(dr, "papers-verdict") or "")
                           if _text(dr, "papers-verdict") in ("claim-holds", "differs",
                                                              "not-comparable") else None,
                           timeout=400, poll=1, what="the verdict",
                           seen=lambda dr: (_text(dr, "papers-verdict"), _text(dr, "papers-runs")))
        assert verdict == "claim-holds", _text(d, "papers-reasons")
        numbers = _text(d, "papers-parts")
        assert "eps_limit_classifies_all" in numbers and "✓ yes" in numbers
        assert "lab alternating-line (seed 2): done" in _text(d, "papers-runs")
        src = d.find_element("id", "papers-frame").get_attribute("src")
        assert "/lab?" in src and "alpha=32" in src
        # the job the page launched is the API's lab job for the same setting
        api = requests.get(f"{s.api_url}/api/papers/002/fig4", timeout=30).json()
        job = requests.get(f"{s.api_url}/api/jobs/{api['job_ids'][0]}", timeout=30).json()
        assert job["status"] == "done" and job["kind"] == "lab"
        screenshot(d, "papers-entry")
    finally:
        stop_chrome(d)
        s.stop()
