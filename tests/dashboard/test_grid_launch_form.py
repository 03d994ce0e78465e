"""The Runs page's grid launcher (dashboard/runs/grid_launch.py) against the real API: the
form's values become the body of ``POST /api/grid/launch``, whose estimate and launch it
shows."""

from __future__ import annotations

import pytest

from dashboard.runs.grid_launch import describe, parse_values, request_body

FORM = ["ignored name", "digits", "mlp", "input-mixup", 1.0, "ce", [], "sgd", 0.05, 0.01,
        4, 32, "0, 2, 4", 0, "", [], None, ""]


def test_values_read_as_json_else_text():
    assert parse_values("0.4, 1, erm, true, ") == [0.4, 1, "erm", True]
    assert parse_values(None) == []


def test_the_form_becomes_a_grid_request_the_api_takes(client):
    body = request_body(FORM, "alpha", "0.4, 2", "method", "erm, input-mixup", "0, 1", True)
    assert body["columns"] == {"field": "alpha", "values": [0.4, 2]}
    assert body["rows"] == {"field": "method", "values": ["erm", "input-mixup"]}
    assert body["seeds"] == [0, 1] and "name" not in body["base"]
    r = client.post("/api/grid/launch", json=body)
    assert r.status_code == 200, r.text
    text = describe(r.json()["estimate"])
    assert text.startswith("8 runs, 32 epochs (24 recorded), store ?")
    assert "no finished run" in text
    one = request_body(FORM, "lr", "0.01, 0.1", "", "", "", False)
    assert "rows" not in one and one["seeds"] == [0]
    r = client.post("/api/grid/launch", json=one)
    assert r.status_code == 201 and len(r.json()["runs"]) == 2


def test_a_form_error_is_a_value_error():
    with pytest.raises(ValueError):
        request_body(FORM[:-1] + ["{not json"], "alpha", "1", "", "", "0", True)
