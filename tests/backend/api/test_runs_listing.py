"""``GET /api/runs`` at scale: server-side filters and pages, the unpaginated answer kept."""

from __future__ import annotations

import pytest


@pytest.fixture
def many_runs(store):
    """Twelve runs over two datasets, two models, two methods and two statuses."""
    ids = []
    for i in range(12):
        run = store.create_run({
            "dataset": "digits",
            "model": "mlp" if i % 3 else "mlp-bottleneck",
            "method": "erm" if i % 4 == 0 else "input-mixup",
            "epochs": 2, "name": f"{'Alpha' if i < 5 else 'beta'} run_{i}"})
        if i % 2:
            store.finish_run(run.id, "succeeded")
        ids.append(run.id)
    return ids


def test_unpaginated_list_is_unchanged(client, many_runs):
    r = client.get("/api/runs")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list) and len(body) == 12
    assert r.headers["X-Total-Count"] == "12"


def test_pages_cover_every_run_once_in_order(client, many_runs):
    seen = []
    for offset in range(0, 12, 5):
        r = client.get("/api/runs", params={"limit": 5, "offset": offset})
        assert r.headers["X-Total-Count"] == "12"
        seen += [x["id"] for x in r.json()]
    full = [x["id"] for x in client.get("/api/runs").json()]
    assert seen == full and sorted(seen) == sorted(many_runs)


def test_filters_run_server_side(client, store, many_runs):
    def ids(**params):
        r = client.get("/api/runs", params=params)
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()}, int(r.headers["X-Total-Count"])

    got, total = ids(status="succeeded")
    assert total == len(got) == 6
    got, total = ids(model="mlp-bottleneck", limit=2)
    assert total == 4 and len(got) == 2
    got, _ = ids(method="erm")
    assert got == {many_runs[i] for i in (0, 4, 8)}
    got, _ = ids(q="alpha")  # any case
    assert got == set(many_runs[:5])
    got, _ = ids(q="n_1")  # '_' is literal, not a LIKE wildcard
    assert got == {many_runs[i] for i in (1, 10, 11)}
    got, total = ids(q="%")
    assert got == set() and total == 0
    got, total = ids(status="succeeded", method="erm", model="mlp")
    assert got == set() and total == 0
    assert store.count_runs(dataset="digits") == 12


@pytest.mark.parametrize("params,field", [({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
                                          ({"status": "nope"}, "status"),
                                          ({"limit": 5000}, "limit")])
def test_bad_paging_names_the_field(client, params, field):
    r = client.get("/api/runs", params=params)
    assert r.status_code == 422
    assert field in r.text


@pytest.fixture
def live_api(settings):
    """The API on a real uvicorn server on a free loopback port (the dashboard's client)."""
    from live_api import api_in_thread

    with api_in_thread(settings) as url:
        yield url


def test_runs_page_pages_filters_and_groups_a_sweep(store, live_api, monkeypatch):
    import importlib

    from dashboard import common
    from dashboard.app import create_app
    from dashboard.client import ApiClient

    create_app(live_api)  # registers the pages; their callbacks run here outside a request
    page = importlib.import_module("dashboard.pages.runs")

    monkeypatch.setitem(common._FALLBACK, "default", ApiClient(live_api))
    sweep = store.create_sweep("alpha sweep", "alpha", [0.2, 1.0, 2.0])
    for alpha, acc in ((2.0, 0.7), (0.2, 0.9), (1.0, 0.8)):
        r = store.create_run({"epochs": 2, "alpha": alpha, "name": f"sw a={alpha}"},
                             sweep_id=sweep)
        store.record_epoch(r.id, 1, {"test_accuracy": acc, "ece": 0.1 * alpha,
                                     "channel_radius": 1.0 + alpha})
    for i in range(page.PAGE_SIZE + 3):
        store.create_run({"epochs": 2, "method": "erm", "name": f"plain {i}"})

    items, total = common.api().page_runs(limit=page.PAGE_SIZE, offset=page.PAGE_SIZE)
    assert total == page.PAGE_SIZE + 6 and len(items) == 6

    table, _sig, info = page.refresh_table(0, 0, 0, None, None, None, None, None, None)
    assert info == f"runs 1–{page.PAGE_SIZE} of {page.PAGE_SIZE + 6}"
    assert len(table.children[1].children) == page.PAGE_SIZE  # one page in the DOM

    # the sweep's three runs on the last page sit under one group row with its summary plot
    table, _sig, info = page.refresh_table(0, 0, 1, None, None, None, None, None, None)
    rows = table.children[1].children
    groups = [r for r in rows if r.className == "sweep-group"]
    assert len(groups) == 1 and len(rows) == 6 + 1
    fig = groups[0].children.children[1].figure
    assert list(fig.data[0].x) == [0.2, 1.0, 2.0]
    assert list(fig.data[0].y) == [0.9, 0.8, 0.7]

    _table, _sig, info = page.refresh_table(0, 0, 0, None, None, None, "input-mixup", "SW",
                                            None)
    assert info == "runs 1–3 of 3"
