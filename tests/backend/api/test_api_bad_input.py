"""Bad input answers a small 4xx naming the field: non-finite numbers, oversized bodies
(declared or streamed, checked on a real uvicorn server), oversized lists, floods of unknown
keys. Never a 500, never a hang."""

from __future__ import annotations

import http.client
import json

import pytest
from conftest import local_client
from fastapi import Request
from live_api import api_in_thread

from backend.api.limits import MAX_ECHOED_ERRORS, BodyLimit
from backend.settings import Settings

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("body,field", [
    ('{"lr": NaN}', "lr"),
    ('{"alpha": Infinity}', "alpha"),
    ('{"etf_scale": -Infinity}', "etf_scale"),
    ('{"lr_milestones": [0.2, NaN]}', "lr_milestones.1"),
    ('{"dataset_args": {"noise": NaN}}', "dataset_args.noise"),
    ('{"probe": {"lambda_alpha": Infinity}}', "probe.lambda_alpha"),
])
def test_non_finite_run_config_numbers_answer_422_naming_the_field(client, body, field):
    r = client.post("/api/runs", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"].startswith(f"{field}: ")
    assert "finite" in r.json()["message"]
    assert client.get("/api/runs").json() == []  # nothing was created


@pytest.mark.parametrize("body,field", [
    ('{"field": "lr", "logspace": [NaN, -1, 3]}', "logspace.0"),
    ('{"field": "lr", "logspace": [-3, Infinity, 3]}', "logspace.1"),
    ('{"field": "lr", "values": [0.1, NaN]}', "values"),
    ('{"field": "alpha", "values": [Infinity]}', "values"),
    ('{"field": "lr", "values": [0.1], "base": {"lr": NaN}}', "base.lr"),
])
def test_non_finite_sweep_numbers_answer_422_naming_the_field(client, body, field):
    r = client.post("/api/sweeps", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"].startswith(f"{field}: ")
    assert client.get("/api/sweeps").json() == []


@pytest.mark.parametrize("query,field", [
    ("/api/theory/ufm?alpha=nan", "alpha"), ("/api/theory/ufm?m=inf", "m"),
    ("/api/theory/ufm?lambdas=0.5,nan", "lambdas"),
    ("/api/lab/alternating-line?alpha=-inf", "alpha"),
    ("/api/lab/two-moons?noise=nan", "noise"),
])
def test_non_finite_queries_answer_422_naming_the_field(client, query, field):
    r = client.get(query)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"].startswith(f"{field}: ")


@pytest.mark.parametrize("config,field", [
    ({"lr_milestones": [0.5] * 101}, "lr_milestones"),
    ({"record": {"epochs": list(range(1001)), "max_recorded": 1000}, "epochs": 5000},
     "record.epochs"),
    ({"record": {"layers": ["penultimate"] * 65}}, "record.layers"),
    ({"record": {"layers": ["x" * 101]}}, "record.layers.0"),
    ({"probe": {"triples": [[0, 1, 2]] * 1001}}, "probe.triples"),
    ({"manifold_layers": ["input"] * 65}, "manifold_layers"),
])
def test_every_config_list_is_bounded(client, config, field):
    r = client.post("/api/runs", json=config)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"].startswith(f"{field}: ")


def test_a_flood_of_unknown_keys_answers_a_small_error_fast(client):
    body = json.dumps({f"k{i}": i for i in range(60_000)})  # ~0.7 MB: under the body limit
    r = client.post("/api/runs", content=body, headers=JSON)
    assert r.status_code == 422
    out = r.json()
    assert len(out["detail"]) == MAX_ECHOED_ERRORS and out["error_count"] == 60_000
    assert out["detail"][0]["msg"] == "k0: Extra inputs are not permitted"
    assert f"and {60_000 - MAX_ECHOED_ERRORS} more errors" in out["message"]
    assert len(r.content) < 10_000


def test_a_huge_echoed_value_is_cut_down(client):
    r = client.post("/api/runs", json={"dataset": "x" * 500_000})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"].startswith("dataset: ")
    assert len(r.content) < 5_000


def test_declared_oversized_body_is_refused_before_reading(client):
    r = client.post("/api/runs", content=b"{" + b" " * (2 << 20) + b"}", headers=JSON)
    assert r.status_code == 413
    assert r.json()["detail"].startswith("request body: ")


def test_streamed_oversized_body_is_counted_and_refused(client):
    sent = []

    def chunks():  # no Content-Length: the middleware has to count
        for _ in range(50):
            sent.append(1)
            yield b" " * (1 << 20)

    r = client.post("/api/runs", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert r.json()["detail"].startswith("request body: ")
    assert client.get("/api/runs").json() == []


def test_prefix_limits_longest_prefix_wins():
    limit = BodyLimit(None, default=10, prefixes={"/api/ingest/": 100, "/api/ingest/big/": 1000})
    assert limit.limit_for("/api/runs") == 10
    assert limit.limit_for("/api/ingest/x") == 100
    assert limit.limit_for("/api/ingest/big/x") == 1000


def test_upload_prefix_gets_the_upload_limit(settings):
    """A route under /api/ingest/ may take bodies up to MIXSCOPE_MAX_UPLOAD_BYTES."""
    from backend.api.app import create_app

    s = settings.model_copy(update={"max_body_bytes": 2048, "max_upload_bytes": 8192})
    app = create_app(s)

    @app.post("/api/ingest/echo-size")
    async def echo_size(request: Request) -> dict:
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return {"bytes": n}

    with local_client(app) as c:
        assert c.post("/api/ingest/echo-size", content=b"x" * 6000).json() == {"bytes": 6000}
        assert c.post("/api/ingest/echo-size", content=b"x" * 9000).status_code == 413
        streamed = c.post("/api/ingest/echo-size", content=iter([b"x" * 4000] * 3))
        assert streamed.status_code == 413
        assert c.post("/api/runs", content=b" " * 3000, headers=JSON).status_code == 413


@pytest.fixture
def live_api(settings):
    """The API on a real uvicorn server on a free loopback port; yields the port."""
    with api_in_thread(settings) as url:
        yield int(url.rsplit(":", 1)[1])


def test_a_50mb_chunked_body_does_not_hang_a_real_server(live_api):
    conn = http.client.HTTPConnection("127.0.0.1", live_api, timeout=60)
    conn.putrequest("POST", "/api/runs")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b" " * (1 << 20)
    try:
        for _ in range(50):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed the connection before the whole body was sent
    r = conn.getresponse()
    assert r.status == 413
    assert json.loads(r.read())["detail"].startswith("request body: ")
    conn.close()
    # and the server still answers
    ok = http.client.HTTPConnection("127.0.0.1", live_api, timeout=30)
    ok.request("GET", "/api/health")
    assert ok.getresponse().status == 200


def test_a_50mb_declared_body_is_refused_by_a_real_server(live_api):
    conn = http.client.HTTPConnection("127.0.0.1", live_api, timeout=60)
    conn.putrequest("POST", "/api/runs")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(50 << 20))
    conn.endheaders()
    r = conn.getresponse()  # answered without sending a byte of the body
    assert r.status == 413
    conn.close()


def test_body_limit_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("MIXSCOPE_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("MIXSCOPE_MAX_UPLOAD_BYTES", "1048576")
    s = Settings(_env_file=None)
    assert (s.max_body_bytes, s.max_upload_bytes) == (4096, 1 << 20)


def test_sweep_errors_name_the_body_field_and_stay_small(client):
    r = client.post("/api/sweeps", json={"field": "dataset", "values": ["x" * 100_000]})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "values"] and err["msg"].startswith("values: dataset=")
    assert len(r.content) < 3_000
    r = client.post("/api/sweeps", json={"field": "nope", "values": [1]})
    assert r.json()["detail"][0]["loc"] == ["body", "field"]


@pytest.mark.parametrize("config,field", [
    ({"name": "a\u0000b"}, "name"),
    ({"record": {"layers": ["hidden1\n"]}}, "record.layers.0"),
    ({"probe": {"triples": [[0, 1, 10**25]]}}, "probe.triples.0.2"),
    ({"record": {"default_triple": [0, 1, 10**25]}}, "record.default_triple.2"),
    ({"record": {"epochs": [-(10**25)]}}, "record.epochs.0"),
])
def test_odd_values_are_refused_at_the_door(client, config, field):
    """NUL would break PostgreSQL's JSON; giant class indices would only fail in the worker."""
    r = client.post("/api/runs", json=config)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"].startswith(f"{field}: "), r.json()
