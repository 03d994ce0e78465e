"""A hostile page on another loopback port, opened in real headless Chromium, tries to launch,
cancel and delete through the API and through the dashboard's own callbacks: nothing changes.

The stack is ``mixscope up``'s default: everything on loopback and no token, so the browser
is a loopback peer the API would let write; only the cross-site refusal stands in the way.
The same requests without the browser's Origin/Sec-Fetch-Site headers succeed (the control:
the payloads are valid; the refusal is the origin check, not a malformed request).
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from browser import Stack, browser_available, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    s = Stack(tmp_path_factory.mktemp("sec-store") / "store", worker=False).start()
    yield s
    s.stop()


def _queued_run(stack) -> str:
    r = requests.post(f"{stack.api_url}/api/runs", json={"epochs": 2, "name": "victim"},
                      timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _delete_callback(stack, run_id: str) -> dict:
    """The Dash request the Runs page sends when its Delete button of ``run_id`` is clicked."""
    deps = requests.get(f"{stack.dash_url}/_dash-dependencies", timeout=30).json()
    cb = next(d for d in deps if "runs-action-msg.children" in d["output"])

    def pid(kind):
        return {"index": run_id, "type": kind}

    return {
        "output": cb["output"],
        "outputs": [{"id": o.split(".")[0], "property": o.split(".", 1)[1]}
                    for o in cb["output"].strip(".").split("...")],
        # one pattern input per row button (cancel, delete, resume, check files, ...)
        "inputs": [[{"id": pid(json.loads(i["id"])["type"]), "property": "n_clicks",
                     "value": 1 if json.loads(i["id"])["type"] == "run-delete" else None}]
                   for i in cb["inputs"]],
        "changedPropIds": [json.dumps(pid("run-delete"), separators=(",", ":"),
                                      sort_keys=True) + ".n_clicks"],
        "state": [{"id": "runs-refresh", "property": "data", "value": 0}],
    }


HOSTILE = """<!doctype html><html><body><h1>cute cats</h1><script>
window.__results = [];
const api = %(api)s, dash = %(dash)s, rid = %(rid)s, cb = %(cb)s;
const tries = [
  // no preflight needed: sent, but the API must refuse them
  ["launch no-cors", api + "/api/runs", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: JSON.stringify({epochs: 2, name: "hostile"})}],
  ["cancel no-cors", api + "/api/runs/" + rid + "/cancel", {method: "POST", mode: "no-cors"}],
  ["dash delete no-cors", dash + "/_dash-update-component", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: JSON.stringify(cb)}],
  // need a preflight, which no CORS header answers
  ["delete cors", api + "/api/runs/" + rid, {method: "DELETE"}],
  ["launch cors", api + "/api/runs", {method: "POST", headers: {"Content-Type":
    "application/json"}, body: JSON.stringify({epochs: 2, name: "hostile"})}],
  ["dash delete cors", dash + "/_dash-update-component", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(cb)}],
  ["read runs", api + "/api/runs", {method: "GET"}],
];
(async () => {
  for (const [name, url, opts] of tries) {
    try { const r = await fetch(url, opts);
          window.__results.push([name, r.type, r.status]); }
    catch (e) { window.__results.push([name, "error", String(e)]); }
  }
  window.__done = true;
})();
</script></body></html>"""


def _serve_page(folder, html: str) -> ThreadingHTTPServer:
    (folder / "index.html").write_text(html)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_hostile_page_can_neither_launch_cancel_nor_delete(stack, driver, tmp_path):
    rid = _queued_run(stack)
    cb = _delete_callback(stack, rid)
    server = _serve_page(tmp_path, HOSTILE % {
        "api": json.dumps(stack.api_url), "dash": json.dumps(stack.dash_url),
        "rid": json.dumps(rid), "cb": json.dumps(cb)})
    hostile = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        driver.get(hostile + "/index.html")
        wait_for(driver, lambda d: d.execute_script("return window.__done === true"),
                 timeout=60, what="the hostile page to finish its requests")
        results = {n: (kind, status) for n, kind, status in
                   driver.execute_script("return window.__results")}
    finally:
        server.shutdown()
    # the page saw nothing (opaque answers, refused preflights, an unreadable list) ...
    assert results["read runs"][0] == "error", results
    for name in ("delete cors", "launch cors", "dash delete cors"):
        assert results[name][0] == "error", results
    for name in ("launch no-cors", "cancel no-cors", "dash delete no-cors"):
        assert results[name] == ("opaque", 0), results
    # ... and changed nothing
    runs = requests.get(f"{stack.api_url}/api/runs", timeout=30).json()
    assert [(r["id"], r["status"]) for r in runs] == [(rid, "queued")], runs

    # What the servers answered the browser's requests (same headers as Chromium sent):
    # 403 from the API and from the dashboard.
    foreign = {"Origin": hostile, "Sec-Fetch-Site": "same-site"}
    r = requests.post(f"{stack.api_url}/api/runs", data='{"epochs": 2}', timeout=30,
                      headers={**foreign, "Content-Type": "text/plain"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    r = requests.post(f"{stack.dash_url}/_dash-update-component", json=cb, headers=foreign,
                      timeout=30)
    assert r.status_code == 403, r.text
    assert requests.get(f"{stack.api_url}/api/runs/{rid}", timeout=30).status_code == 200
    # The control: the dashboard's own page (same origin) deletes with the very same payload.
    same = {"Origin": stack.dash_url, "Sec-Fetch-Site": "same-origin"}
    r = requests.post(f"{stack.dash_url}/_dash-update-component", json=cb, headers=same,
                      timeout=30)
    assert r.status_code == 200 and "Deleted" in r.text, r.text
    assert requests.get(f"{stack.api_url}/api/runs/{rid}", timeout=30).status_code == 404


def test_login_and_logout_in_the_browser(driver, tmp_path):
    """The open dashboard's login form in Chromium: the session cookie is invisible to
    scripts, the token never reaches the page, logout forgets the session."""
    from selenium.webdriver.common.by import By

    token = "tok-" + "Hb5" * 10
    s = Stack(tmp_path / "store", worker=False, env={"MIXSCOPE_API_TOKEN": token},
              dashboard_env={"MIXSCOPE_DASHBOARD_LOGIN": "1"}).start()
    try:
        def state(d):
            el = d.find_elements(By.ID, "login-state")
            return el[0].text.strip() if el else ""

        driver.get(s.dash_url + "/runs")
        wait_for(driver, lambda d: state(d) == "Log in", what="the Log in link")
        driver.find_element(By.ID, "login-state").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "login-token"), what="the form")
        driver.find_element(By.ID, "login-token").send_keys("wrong")
        driver.find_element(By.ID, "login-submit").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "login-error"), what="an error")
        assert "wrong" not in driver.page_source.replace("Wrong token", "")
        driver.find_element(By.ID, "login-token").send_keys(token)
        driver.find_element(By.ID, "login-submit").click()
        wait_for(driver, lambda d: state(d) == "Log out", what="the Log out button")
        assert token not in driver.page_source and token not in driver.current_url
        assert "mixscope_session" not in driver.execute_script("return document.cookie")
        cookie = driver.get_cookie("mixscope_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert token not in cookie["value"]
        driver.find_element(By.ID, "logout-button").click()
        wait_for(driver, lambda d: state(d) == "Log in", what="the Log in link again")
    finally:
        driver.delete_all_cookies()
        s.stop()
    assert token not in s.log("dashboard") and token not in s.log("api")
