"""The Runs page with faults: a run failed by a full disk shows its reason and a Resume
button that queues it again; "Check files" names a damaged artifact. Real API (uvicorn) and
dashboard on a temporary store, headless Chromium; no worker (the resumed run stays queued)."""

from __future__ import annotations

import pytest
from api_fixtures import synthetic_run
from browser import Stack, browser_available, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    s = Stack(tmp_path_factory.mktemp("faults-store") / "store", worker=False).start()
    yield s
    s.stop()


def _click(driver, type_, rid):
    sel = f'[id*="{type_}"][id*="{rid}"]'
    btn = wait_for(driver, lambda d: next(iter(d.find_elements("css selector", sel)), None),
                   what=f"{type_} button of {rid}")
    driver.execute_script("arguments[0].click();", btn)


def test_resume_button_and_damaged_files_on_the_runs_page(stack, driver):
    from backend.store import Store

    store = Store.open(stack.store)
    try:
        failed = store.create_run({"epochs": 3, "name": "full-disk"})
        store.claim_run(failed.id, "w")
        store.finish_run(failed.id, "failed", fault="environment",
                         error="environment fault (resumable from the last good checkpoint): "
                               "OSError: [Errno 28] No space left on device")
        damaged = synthetic_run(store, num_classes=3, d=6, epochs=(0, 2), clean=3, pairs=2)
        [art] = [a for a in store.list_artifacts(damaged, "activations") if a.epoch == 2]
        with open(store.files.full(art.path), "r+b") as f:
            f.truncate(art.size // 3)
    finally:
        store.close()

    driver.set_window_size(1440, 1000)
    driver.get(stack.dash_url + "/runs")
    wait_for(driver, lambda d: "No space left on device" in d.find_element(
        "id", "runs-table").text, what="the failed run's reason")
    _click(driver, "run-resume", failed.id)
    wait_for(driver, lambda d: "Resumed" in d.find_element("id", "runs-action-msg").text,
             what="the resume message")
    store = Store.open(stack.store)
    try:
        assert store.get_run(failed.id).status == "queued"
    finally:
        store.close()
    wait_for(driver, lambda d: not d.find_elements(
        "css selector", f'[id*="run-resume"][id*="{failed.id}"]'), what="Resume gone")

    _click(driver, "run-check", damaged)
    def health(d):
        found = d.find_elements("id", "run-health")
        return found[0].text if found else None

    words = ("1 damaged file", "activations, epoch 2, layer penultimate", "truncated")
    wait_for(driver, lambda d: all(w in (health(d) or "") for w in words),
             what=f"the file check to say {words}", seen=health)
