"""The grid page's server side (dashboard/pages/grid/data.py) without a browser: the URL's
view, the API's grid reshaped into the simplex renderer's stores, the slider position of
an epoch."""

from __future__ import annotations

import numpy as np
from api_fixtures import decode, synthetic_run

from dashboard.pages.grid.data import browser_data, epoch_index, parse_query


def test_the_url_names_the_view():
    q = parse_query("?sweep=ab12&classes=0,1,7&layer=block2&epoch=5&points=900")
    assert q == {"sweep": "ab12", "runs": None, "classes": [0, 1, 7], "layer": "block2",
                 "epoch": 5, "points": 900}
    q = parse_query("?runs=a,b,c&classes=0,1&epoch=x")
    assert q["runs"] == "a,b,c" and q["classes"] is None and q["epoch"] is None
    assert parse_query("")["sweep"] is None


def test_slider_position_is_the_last_epoch_not_after():
    assert epoch_index([0, 2, 4, 8], 5) == 2
    assert epoch_index([0, 2, 4, 8], 8) == 3
    assert epoch_index([0, 2, 4, 8], None) == 3
    assert epoch_index([2, 4], 1) == 0
    assert epoch_index([], 3) == 0


def test_panels_become_renderer_stores(client, store):
    sweep_id = store.create_sweep("s", "alpha", [0.5, 4.0])
    ids = [synthetic_run(store, num_classes=4, clean=6, pairs=4, seed=i, epochs=epochs,
                         config={"alpha": a}, sweep_id=sweep_id)
           for i, (a, epochs) in enumerate([(0.5, (0, 3)), (4.0, (0, 1, 3))])]
    body = client.get("/api/grid", params={"sweep": sweep_id}).json()
    data = browser_data(body)
    assert data["epochs"] == [0, 1, 3]  # the union: the slider's stops
    assert [p["run_id"] for p in data["panels"]] == ids
    assert [p["values"] for p in data["panels"]] == [{"alpha": 0.5}, {"alpha": 4.0}]
    s = data["panels"][1]["store"]
    assert s["epochs"] == [0, 1, 3] and s["classes"] == [0, 1, 2]
    assert s["all_names"] == ["c0", "c1", "c2", "c3"]
    first = s["frames"][0]
    for k in ("lam", "class_a", "class_b", "kind", "index_a", "index_b"):
        assert k in first and k not in s["frames"][1]
    lam, ca, cb = decode(first["lam"]), decode(first["class_a"]), decode(first["class_b"])
    # λ on the lower class: the weight of class_a where it is the lower one, else 1 - λ
    want = np.where(ca <= cb, lam, 1 - lam)
    assert np.allclose(decode(s["lam_low"]), want)
