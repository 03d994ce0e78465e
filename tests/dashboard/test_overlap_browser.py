"""Every page at 1400×1000 in headless Chromium (issue 19): no two pieces of text overlap
(their bounding boxes, read from the page: subplot titles, plot titles, annotations, legends,
headings and labels) and no plot is empty without a message saying why.

The store holds two runs recorded with the real recorder (metrics, calibration, spectra and
trajectories: every panel has something to draw) and the real API and dashboard serve it.
Papers shows its catalogue (nothing reproduced in this store); /grid lays the two runs out
side by side (``?runs=A,B``): its panels are canvases, so each must draw points or say why."""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser import Stack, browser_available, screenshot, start_chrome, stop_chrome, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

PAGES = ("/runs", "/explore", "/calibration", "/theory", "/trajectory", "/lab", "/papers",
         "/papers?entry=000/fig6", "/grid")


def _record(store_dir, name: str, config: dict, epochs=(0, 1, 2, 5)) -> str:
    from mixscope import Recorder
    from mixscope.recorder.epoch import trajectory_lambdas

    rec = Recorder(name=name, num_classes=4, store=store_dir, config=config,
                   probe={"clean_per_class": 8, "pairs_per_class_pair": 6})
    rng = np.random.default_rng(len(name))
    rec.probe(rng.normal(size=(120, 6)).astype(np.float32), np.arange(120) % 4)
    P, T = len(rec._probe["trajectory_a"]), len(trajectory_lambdas(rec.config))
    for e in epochs:
        rec.log_arrays(e, features=rng.normal(size=(rec.num_probe, 8)).astype(np.float32),
                       classifier_weight=rng.normal(size=(4, 8)).astype(np.float32),
                       test_probs=rng.dirichlet(np.ones(4), size=80).astype(np.float32),
                       test_labels=np.arange(80) % 4,
                       layers={"block1": rng.normal(size=(rec.num_probe, 5))},
                       trajectory={"block1": rng.normal(size=(P, T, 5)),
                                   "penultimate": rng.normal(size=(P, T, 8))})
    rec.finish()
    rec.store.close()
    return rec.run_id


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    store_dir = tmp_path_factory.mktemp("overlap") / "store"
    runs = [_record(store_dir, "recorded cutmix", {"method": "cutmix"}),
            _record(store_dir, "imported weights", {}, epochs=(3,))]
    s = Stack(store_dir, worker=False).start()
    s.run_ids = runs
    yield s
    s.stop()


OVERLAPS = """
const boxes = [];
const visible = (el) => {
  const r = el.getBoundingClientRect();
  const st = getComputedStyle(el);
  return r.width > 1 && r.height > 1 && st.visibility !== 'hidden' && st.display !== 'none'
    && parseFloat(st.opacity || '1') > 0 && el.closest('[style*="display: none"]') === null;
};
// Plotly's texts: titles, subplot titles and notes, legend entries, axis titles
document.querySelectorAll('.js-plotly-plot').forEach((gd, g) => {
  gd.querySelectorAll('.gtitle, .annotation-text, .legendtext, .xtitle, .ytitle')
    .forEach((el) => { if (visible(el) && el.textContent.trim()) {
      boxes.push([g, el.textContent.trim().slice(0, 40), el.getBoundingClientRect()]); } });
});
// the page's own headings, labels and notes (and the grid's panel titles and notes)
document.querySelectorAll('h2, h3, h4, label, .field-label, .form-note, .lede, ' +
                          '.grid-panel-title, .grid-panel-note')
  .forEach((el) => { if (visible(el) && el.textContent.trim()) {
    boxes.push(['page', el.textContent.trim().slice(0, 40), el.getBoundingClientRect()]); } });
const out = [];
for (let i = 0; i < boxes.length; i++) {
  for (let j = i + 1; j < boxes.length; j++) {
    const [ga, ta, a] = boxes[i], [gb, tb, b] = boxes[j];
    if (ga !== gb) { continue; }
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 2 && h > 2) { out.push(`${ta} ⟷ ${tb}`); }
  }
}
return out;
"""

EMPTY = """
const out = [];
document.querySelectorAll('.js-plotly-plot').forEach((gd) => {
  const host = gd.closest('[id]');
  const r = gd.getBoundingClientRect();
  if (r.width < 5 || r.height < 5 || gd.closest('[style*="display: none"]')) { return; }
  const drawn = (gd.data || []).some((t) => (t.x && t.x.length) || (t.z && t.z.length) ||
                                             (t.values && t.values.length) ||
                                             (t.cells && t.cells.values));
  const note = ((gd.layout || {}).annotations || []).some((a) => (a.text || '').trim());
  const dense = gd.parentElement && gd.parentElement.querySelector('canvas.mixscope-dense');
  if (!drawn && !note && !dense) { out.push(host ? host.id : '?'); }
});
// the grid's panels are canvases: points drawn, or a note saying why not
document.querySelectorAll('.grid-panel').forEach((p) => {
  const note = (p.querySelector('.grid-panel-note') || {}).textContent || '';
  if (!(parseInt(p.dataset.points || '0', 10) > 0) && !note.trim()) { out.push(p.id || 'grid panel'); }
});
return out;
"""

# what each page shows once it has drawn (the wait before reading the boxes)
READY = {
    "/runs": "return document.querySelectorAll('#runs-table tr').length > 2",
    "/explore": "const l = document.getElementById('ex-epoch-label');"
                "return !!(l && l.innerText.startsWith('epoch '))",
    "/calibration": "const g = document.querySelector('#cal-reliability .gtitle');"
                    "return !!(g && g.textContent.includes('ECE'))",
    "/theory": "const g = document.querySelector('.js-plotly-plot');"
               "return !!(g && g.data && g.data.length)",
    "/trajectory": "const g = document.querySelector('#tr-graph .gtitle');"
                   "return !!(g && g.textContent.startsWith('epoch'))",
    "/lab": "const g = document.querySelector('#lab-spectra .js-plotly-plot');"
            "return !!(g && g.data && g.data.length)",
    "/papers": "return document.querySelectorAll('#papers-table tr').length > 2",
    # one entry opened: what the paper printed, what mixscope computes, the run button
    "/papers?entry=000/fig6": "const b = document.getElementById('papers-entry-body');"
                              "return !!(b && b.innerText.includes('000/fig6'))",
    "/grid": "const p = document.querySelectorAll('#grid-panels .grid-panel');"
             "return p.length === 2 && Array.from(p).every((a) => a.dataset.epoch)",
}


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_overlapping_text_and_no_silent_empty_panel(stack, page):
    driver = start_chrome(width=1400, height=1000)
    try:
        query = f"?runs={','.join(stack.run_ids)}&classes=0,1,2" if page == "/grid" else ""
        driver.get(stack.dash_url + page + query)
        wait_for(driver, lambda d: d.execute_script(READY[page]), what=f"{page} drawn")
        # the last callbacks of the page settle: read when two reads a moment apart agree
        wait_for(driver, lambda d: d.execute_script(
            "return !document.querySelector('._dash-loading, [data-dash-is-loading=true]')"),
            what=f"{page} idle")
        overlaps = driver.execute_script(OVERLAPS)
        empty = driver.execute_script(EMPTY)
        screenshot(driver, "overlap" + re.sub(r"[^a-z0-9]+", "-", page))
        assert overlaps == [], f"{page}: overlapping text: {overlaps}"
        assert empty == [], f"{page}: empty plots without a message: {empty}"
        # a field the page itself filled is valid: no box shows red before the user types
        invalid = driver.execute_script(
            "return Array.from(document.querySelectorAll('input:invalid, textarea:invalid'))"
            ".map((e) => `${e.id}=${e.value}`)")
        assert invalid == [], f"{page}: fields invalid as the page filled them: {invalid}"
    finally:
        stop_chrome(driver)
