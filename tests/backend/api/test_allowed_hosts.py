"""The API answers only the host names it serves (issue 24, item 6): a DNS-rebinding page
reaches it under the attacker's domain, so ``Host: evil.example:PORT`` gets 400 on every
route (before: reads answered 200). ``MIXSCOPE_ALLOWED_HOSTS`` lists the names; the default
is the bound address, localhost, 127.0.0.1 and ::1 (and, bound to every address, this
machine's names and IP literals)."""

from __future__ import annotations

import socket

import pytest
from api_fixtures import synthetic_run
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.settings import Settings


def _app(tmp_path, **kw):
    s = Settings(store=tmp_path / "s", database_url=None, artifact_url=None, broker_url=None,
                 _env_file=None, **kw)
    return create_app(s)


def _get(app, host: str, path: str = "/api/runs"):
    return TestClient(app, base_url=f"http://{host}", client=("127.0.0.1", 5)).get(path)


def test_a_foreign_host_name_is_refused_on_every_route(tmp_path):
    app = _app(tmp_path)
    rid = synthetic_run(app.state.store)
    for path in ("/api/runs", f"/api/runs/{rid}", f"/api/runs/{rid}/metrics",
                 f"/api/runs/{rid}/projection", "/api/health", "/api/openapi.json"):
        r = _get(app, "evil.example:8000", path)
        assert r.status_code == 400, (path, r.status_code)
        assert "evil.example" in r.json()["detail"]
        assert "MIXSCOPE_ALLOWED_HOSTS" in r.json()["detail"]
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST."):
        assert _get(app, host).status_code == 200, host
    # a rebinding domain that resolves to loopback is still a foreign name
    assert _get(app, "127.0.0.1.evil.example:8000").status_code == 400


def test_the_bound_address_is_served(tmp_path):
    app = _app(tmp_path, api_host="10.1.2.3")
    assert _get(app, "10.1.2.3:8000").status_code == 200
    assert _get(app, "10.1.2.4:8000").status_code == 400
    assert _get(app, "myserver:8000").status_code == 400


def test_bound_to_every_address_serves_ip_literals_and_this_machines_names(tmp_path):
    app = _app(tmp_path, api_host="0.0.0.0")
    for host in ("192.168.7.7:8000", f"{socket.gethostname()}:8000", "localhost"):
        assert _get(app, host).status_code == 200, host
    assert _get(app, "evil.example:8000").status_code == 400


@pytest.mark.parametrize(("listed", "ok", "refused"), [
    ("api,localhost", ["api:8000", "localhost:8000"], ["127.0.0.1:8000", "evil.example"]),
    ("*", ["evil.example", "api"], []),
])
def test_the_listed_names_replace_the_default(tmp_path, listed, ok, refused):
    app = _app(tmp_path, allowed_hosts=listed, api_host="0.0.0.0")
    for host in ok:
        assert _get(app, host).status_code == 200, host
    for host in refused:
        assert _get(app, host).status_code == 400, host
