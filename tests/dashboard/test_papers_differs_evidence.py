"""The entry page says why an entry differs: the catalogue's ``differs_evidence`` beside the
kind (issue 18), and nothing when there is none."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def _entry_body():
    """The Papers page's entry body (a Dash page registers itself: the app comes first)."""
    from dashboard.app import create_app

    create_app("http://127.0.0.1:9")
    from dashboard.pages import papers

    return papers._entry_body


def _find(node, ident):
    if getattr(node, "id", None) == ident:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            hit = _find(child, ident)
            if hit is not None:
                return hit
    return None


def _body(differs):
    return {"id": "000/table2", "title": "ECE", "claim": "c", "status": "done",
            "verdict": "differs" if differs else "claim-holds", "seeds": [0, 1, 2],
            "differs": differs, "reasons": [], "compared": [], "not_compared": [],
            "parts": [], "errata": []}


def _text(node):
    if isinstance(node, str):
        return node
    children = getattr(node, "children", None)
    return "".join(_text(c) for c in (children if isinstance(children, list) else [children])
                   if c is not None)


def test_the_evidence_is_shown_with_its_kind(_entry_body):
    body = _body({"kind": "task", "why": "x", "evidence": "ECE 0.079–0.100 vs 0.007–0.054"})
    node = _find(_wrap(_entry_body(body)), "papers-differs-evidence")
    assert node is not None
    assert "task" in _text(node) and "0.079–0.100" in _text(node)


def test_no_evidence_no_paragraph(_entry_body):
    for differs in (None, {"kind": "unexplained", "why": "x", "evidence": None}):
        assert _find(_wrap(_entry_body(_body(differs))), "papers-differs-evidence") is None


def _wrap(children):
    from dash import html

    return html.Div(children)
