"""An entry whose evidence is several runs (a sweep) opens them on /grid."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def papers():
    """The Papers page module (a Dash page registers itself: the app comes first)."""
    from dashboard.app import create_app

    create_app("http://127.0.0.1:9")
    from dashboard.pages import papers

    return papers


def test_an_entry_with_several_runs_links_to_their_grid(papers):
    runs = [{"id": "r1", "name": "a"}, {"id": "r2", "name": "b"},
            {"id": "r1", "name": "a again"}, {"name": "not launched yet"}]
    body = {"runs": [{**r, "status": "succeeded"} for r in runs]}
    assert papers.grid_url(body) == "/grid?runs=r1,r2"
    items = papers._progress(body)[0].children
    link = items[-1].children
    assert link.id == "papers-grid" and link.href == "/grid?runs=r1,r2"
    assert "2 runs" in link.children


def test_an_entry_with_one_run_has_no_grid(papers):
    assert papers.grid_url({"runs": [{"id": "r1", "name": "a"}]}) is None
    assert papers.grid_url({"runs": []}) is None
    many = {"runs": [{"id": f"r{i}", "name": str(i)} for i in range(40)]}
    assert papers.grid_url(many).count(",") + 1 == papers.GRID_MAX_RUNS
