"""Browser test of the Papers page's verdicts on the real stack (uvicorn API, Dash app):
the counts at the top come from the store and filter the table; an entry's page shows its
compared table (published, computed, tolerance and its source, ✓/✗) and the parts of its
claim per seed. The store is filled first by ``mixscope reproduce`` (a theory entry and a
small lab entry), so nothing here waits on training."""

from __future__ import annotations

import json

import pytest
from browser import Stack, browser_available, screenshot, start_chrome, stop_chrome, wait_for
from click.testing import CliRunner

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def _reproduce(store, entry_id) -> dict:
    from mixscope.cli import main

    res = CliRunner().invoke(main, ["reproduce", entry_id, "--json", "--store", str(store)])
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def test_entry_page_shows_compared_table_and_parts(tmp_path):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    store = tmp_path / "store"
    theory = _reproduce(store, "000/fig6")   # published numbers compared (one differs)
    lab = _reproduce(store, "002/fig4")      # a claim tested in three seeds
    assert theory["verdict"] == "differs" and lab["verdict"] == "claim-holds"
    s = Stack(store, worker=False).start()
    d = start_chrome()
    try:
        d.get(s.dash_url + "/papers")
        counts = wait_for(d, lambda dr: (t := _text(dr, "papers-counts")) and "differs" in t
                          and t, what="the verdict counts")
        assert "1 differs" in counts and "1 claim-holds" in counts and "0 matches" in counts
        d.find_element("id", "papers-count-differs").click()
        wait_for(d, lambda dr: "000/fig6" in (_text(dr, "papers-table") or "")
                 and "002/fig4" not in (_text(dr, "papers-table") or ""),
                 what="the table filtered by 'differs'")
        screenshot(d, "papers-verdict-counts")

        d.get(s.dash_url + "/papers?entry=000/fig6")
        wait_for(d, lambda dr: _text(dr, "papers-verdict") == "differs",
                 what="000/fig6's verdict")
        compared = _text(d, "papers-compared")
        assert "mean_loss" in compared and "0.33457" in compared and "✓" in compared
        assert "amplification_increase" in compared and "✗" in compared
        assert "rounding" in compared  # the tolerance's source is shown
        assert "paper-error" in (_text(d, "papers-differs-kind") or "")
        assert "no part of the claim" in _text(d, "papers-parts")

        d.get(s.dash_url + "/papers?entry=002/fig4")
        wait_for(d, lambda dr: _text(dr, "papers-verdict") == "claim-holds",
                 what="002/fig4's verdict")
        parts = _text(d, "papers-parts")
        assert "eps_limit_classifies_all" in parts and "seed 2" in parts
        assert "✗" not in parts and parts.count("✓") >= 4
        # no published number: the compared table says why instead of being empty
        assert "nothing compared" in _text(d, "papers-compared")
        assert _text(d, "papers-seeds") == "0, 2, 4"
        screenshot(d, "papers-verdict-entry")
    finally:
        stop_chrome(d)
        s.stop()
