"""Bodies the JSON parser cannot read answer 400/422 naming where they broke (issue 24, item
7): before, invalid UTF-8, nesting 10 000 deep and a 5 000-digit number each got a bare 400
"There was an error parsing the body", and a syntax error only an offset."""

from __future__ import annotations

import pytest

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("body", "status", "kind", "where"), [
    (b'{"epochs": 3,\n "name": "\xff\xfe"}', 400, "body_encoding",
     "not UTF-8 at line 2, column 11"),
    # far past any recursion limit a test runner sets (hypothesis raises it)
    (b"[" * 200_000 + b"]" * 200_000, 400, "json_too_deep", "nesting too deep"),
    (b'{"name":' * 100_000 + b"1" + b"}" * 100_000, 400, "json_too_deep", "nesting too deep"),
    (b'{"epochs":\n  ' + b"9" * 5000 + b"}", 400, "json_number",
     "a number of 5000 digits at line 2, column 3"),
    (b'{"epochs": 3,\n "lr": }', 422, "json_invalid", "invalid JSON at line 2, column 8"),
    (b'{"epochs": 3} x', 422, "json_invalid", "invalid JSON at line 1, column 15"),
])
def test_a_body_that_does_not_parse_says_where(client, body, status, kind, where):
    for route in ("/api/runs", "/api/sweeps"):
        r = client.post(route, content=body, headers=JSON)
        assert r.status_code == status, (route, r.status_code, r.text[:300])
        out = r.json()
        assert out["detail"][0]["type"] == kind and out["detail"][0]["loc"][0] == "body"
        assert where in out["message"] and out["message"].startswith("body: "), out
    assert client.get("/api/runs").json() == []


def test_deep_nesting_names_the_line_and_column(client):
    # the object opens level 1: the 500th bracket of line 2 opens level 501
    r = client.post("/api/runs", content=b'{"name":\n' + b"[" * 200_000 + b"]" * 200_000 + b"}",
                    headers=JSON)
    assert r.status_code == 400
    assert "over 500 levels) at line 2, column 500" in r.json()["message"], r.text


def test_other_http_errors_keep_their_answer(client):
    r = client.get("/api/no-such-route")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.put("/api/runs")
    assert r.status_code == 405
