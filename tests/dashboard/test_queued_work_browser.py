"""Issue 24, item 1, in real headless Chromium: a hostile page on another loopback port fires
GETs that would queue worker jobs (an uncovered triple's /projection and /frames, a lab
experiment) at an API with a token. Before, each answered 202 and queued a job (199 jobs in
1.7 s); now none is queued. The control: the same requests with the token queue a job."""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from api_fixtures import synthetic_run
from browser import Stack, browser_available, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TOKEN = "tok-" + "Qw8" * 10
TRIPLES = [f"{a},{b},{c}" for a, b, c in [(3, 4, 5), (3, 4, 6), (3, 5, 7), (4, 6, 8),
                                          (5, 7, 9), (6, 8, 9)]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    from backend.settings import settings_for_store
    from backend.store import Store

    folder = tmp_path_factory.mktemp("queue-store") / "store"
    store = Store(settings_for_store(folder))
    store.migrate()
    # the probe covers triple 0,1,2 only: any other triple needs a worker's extraction
    stack_run = synthetic_run(store, class_pairs=[(i, j) for i in range(3) for j in range(i, 3)])
    store.close()
    s = Stack(folder, worker=False, env={"MIXSCOPE_API_TOKEN": TOKEN}).start()
    s.run_id = stack_run
    yield s
    s.stop()


HOSTILE = """<!doctype html><html><body><h1>cute dogs</h1><script>
window.__results = [];
const api = %(api)s, rid = %(rid)s, triples = %(triples)s;
const urls = [];
for (const t of triples) {
  urls.push(api + "/api/runs/" + rid + "/projection?classes=" + t);
  urls.push(api + "/api/runs/" + rid + "/frames?classes=" + t);
}
urls.push(api + "/api/lab/alternating-line?runs=1&epochs=7");
(async () => {
  for (const url of urls) {
    for (const mode of ["no-cors", "cors"]) {
      try { const r = await fetch(url, {mode: mode});
            window.__results.push([url, mode, r.type, r.status]); }
      catch (e) { window.__results.push([url, mode, "error", String(e)]); }
    }
  }
  window.__done = true;
})();
</script></body></html>"""


def test_a_hostile_page_cannot_queue_worker_jobs(stack, driver, tmp_path):
    from backend.settings import settings_for_store
    from backend.store import Store

    rid = stack.run_id
    (tmp_path / "index.html").write_text(HOSTILE % {
        "api": json.dumps(stack.api_url), "rid": json.dumps(rid),
        "triples": json.dumps(TRIPLES)})
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        wait_for(driver, lambda d: d.execute_script("return window.__done === true"),
                 timeout=120, what="the hostile page to finish its requests")
        results = driver.execute_script("return window.__results")
    finally:
        server.shutdown()
    assert len(results) == 2 * (2 * len(TRIPLES) + 1), results
    # the page read nothing (no CORS header answers it) ...
    assert all(kind in ("opaque", "error") for _url, _mode, kind, _status in results), results

    # ... and nothing was queued: the API's store holds no job at all
    store = Store(settings_for_store(stack.store))
    try:
        assert store.list_jobs(rid) == [] and store.list_jobs() == []
    finally:
        store.close()

    # what the API answered those requests: 403 with the browser's headers, 401 without
    url = f"{stack.api_url}/api/runs/{rid}/projection"
    foreign = {"Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"}
    r = requests.get(url, params={"classes": "3,4,5"}, headers=foreign, timeout=30)
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"], r.text
    r = requests.get(url, params={"classes": "3,4,5"}, timeout=30)
    assert r.status_code == 401, r.text
    # reads of what exists stay open, to anyone
    assert requests.get(url, params={"classes": "0,1,2"}, timeout=30).status_code == 200
    # the control: with the token, the same request queues the extraction
    r = requests.get(url, params={"classes": "3,4,5"}, timeout=30,
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202 and r.json()["job_id"], r.text
