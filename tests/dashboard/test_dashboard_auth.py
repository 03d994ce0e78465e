"""A dashboard reachable beyond loopback holds no token: its users log in with one.

Real processes: the API (uvicorn) with ``MIXSCOPE_API_TOKEN`` (and a read token in the second
test) and the dashboard under gunicorn in login mode (``MIXSCOPE_DASHBOARD_LOGIN=1``, what
``--host 0.0.0.0`` means), both with the token in their environment, which the dashboard
must not use. Requests go through ``requests`` like the dashboard's page would send them.
"""

from __future__ import annotations

import json

import pytest
import requests
from browser import Stack

TOKEN = "tok-" + "Zq9" * 10
READ = "read-" + "Kp4" * 10

pytestmark = pytest.mark.timeout(300)


def _stack(tmp_path, **env) -> Stack:
    stack = Stack(tmp_path / "store", worker=False, env={"MIXSCOPE_API_TOKEN": TOKEN, **env},
                  dashboard_env={"MIXSCOPE_DASHBOARD_LOGIN": "1"})
    stack.dash_ready_path = "/login"
    return stack.start()


def _launch_payload(stack, session=requests) -> dict:
    deps = session.get(f"{stack.dash_url}/_dash-dependencies", timeout=30).json()
    cb = next(d for d in deps if "runs-launch-msg.children" in d["output"])
    outputs = [{"id": o.split(".")[0], "property": o.split(".", 1)[1]}
               for o in cb["output"].strip(".").split("...")]
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb["state"]]
    values = {"runs-name": "from the dashboard", "runs-dataset": "digits", "runs-model": "mlp",
              "runs-method": "erm", "runs-alpha": 1.0, "runs-epochs": 2, "runs-batch": 64,
              "runs-lr": 0.1, "runs-wd": 0.0005, "runs-seed": 0, "runs-optimizer": "sgd",
              "runs-loss": "ce", "runs-fixed-etf": [], "runs-record": "auto"}
    for s in state:
        s["value"] = values.get(s["id"])
    return {"output": cb["output"], "outputs": outputs, "state": state,
            "inputs": [{"id": "runs-launch", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["runs-launch.n_clicks"]}


def _same_origin(stack) -> dict:
    return {"Origin": stack.dash_url, "Sec-Fetch-Site": "same-origin"}


def test_login_gates_every_write_and_the_token_never_reaches_a_page(tmp_path):
    stack = _stack(tmp_path)
    try:
        api, dash = stack.api_url, stack.dash_url
        payload = _launch_payload(stack)
        anon = requests.Session()
        # anonymous: reads are open, the launch is refused before reaching the API
        page = anon.get(f"{dash}/runs", timeout=30)
        assert page.status_code == 200 and TOKEN not in page.text
        r = anon.post(f"{dash}/_dash-update-component", json=payload,
                      headers=_same_origin(stack), timeout=30)
        assert r.status_code == 200 and "log in" in r.text.lower(), r.text
        assert requests.get(f"{api}/api/runs", timeout=30).json() == []
        layout = anon.get(f"{dash}/_dash-layout", timeout=30).text
        assert "Log in" in layout and TOKEN not in layout
        # a lab request that would queue a worker job is a write too
        r = anon.post(f"{dash}/_dash-update-component", timeout=30, json={}, headers={
            "Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"})
        assert r.status_code == 403

        # wrong token: refused, nothing echoed
        r = anon.post(f"{dash}/login", data={"token": "nope", "next": "/runs"},
                      headers=_same_origin(stack), timeout=30, allow_redirects=False)
        assert r.status_code == 401 and "Wrong token" in r.text and "nope" not in r.text
        # a cross-site login form (login CSRF) is refused
        r = anon.post(f"{dash}/login", data={"token": TOKEN}, allow_redirects=False,
                      headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
                      timeout=30)
        assert r.status_code == 403

        user = requests.Session()
        r = user.post(f"{dash}/login", data={"token": TOKEN, "next": "/runs"},
                      headers=_same_origin(stack), timeout=30, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"].endswith("/runs")
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        assert TOKEN not in r.headers["Location"]
        r = user.post(f"{dash}/_dash-update-component", json=payload,
                      headers=_same_origin(stack), timeout=30)
        assert r.status_code == 200 and TOKEN not in r.text
        runs = requests.get(f"{api}/api/runs", timeout=30).json()
        assert [x["name"] for x in runs] == ["from the dashboard"], r.text
        layout = user.get(f"{dash}/_dash-layout", timeout=30).text
        assert "Log out" in layout and TOKEN not in layout
        # ... even a logged-in browser cannot be driven by another site
        r = user.post(f"{dash}/_dash-update-component", json=payload, timeout=30,
                      headers={"Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"})
        assert r.status_code == 403
        # logout forgets the session: the same cookie no longer writes
        stale = dict(user.cookies)
        assert user.post(f"{dash}/logout", headers=_same_origin(stack), timeout=30,
                         allow_redirects=False).status_code == 302
        r = requests.post(f"{dash}/_dash-update-component", json=payload, cookies=stale,
                          headers=_same_origin(stack), timeout=30)
        assert "log in" in r.text.lower()
        assert len(requests.get(f"{api}/api/runs", timeout=30).json()) == 1
    finally:
        stack.stop()
    for name in ("api", "dashboard"):
        assert TOKEN not in stack.log(name), name


def test_a_read_token_closes_reading_too(tmp_path):
    stack = _stack(tmp_path, MIXSCOPE_READ_TOKEN=READ)
    try:
        api, dash = stack.api_url, stack.dash_url
        assert requests.get(f"{api}/api/runs", timeout=30).status_code == 401
        anon = requests.Session()
        r = anon.get(f"{dash}/runs", timeout=30, allow_redirects=False)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
        assert anon.get(f"{dash}/_dash-layout", timeout=30).status_code == 401
        reader = requests.Session()
        r = reader.post(f"{dash}/login", data={"token": READ}, headers=_same_origin(stack),
                        timeout=30, allow_redirects=False)
        assert r.status_code == 302
        assert reader.get(f"{dash}/runs", timeout=30).status_code == 200
        # the read token reads but does not launch
        r = reader.post(f"{dash}/_dash-update-component", json=_launch_payload(stack, reader),
                        headers=_same_origin(stack), timeout=30)
        assert "only read" in r.text, r.text
        assert requests.get(f"{api}/api/runs", timeout=30,
                            headers={"Authorization": f"Bearer {READ}"}).json() == []
        assert READ not in json.dumps(dict(r.headers)) and READ not in r.text
    finally:
        stack.stop()
