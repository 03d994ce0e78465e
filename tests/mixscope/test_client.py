"""``mixscope.Client`` (issue 21) over both transports on one store built with real, tiny
training: the local store and the real API (uvicorn) over the same folder give the same
tables and arrays, and errors name what exists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from live_api import LiveAPI
from notebook_store import build_notebook_store

from backend.errors import InvalidInput, NotFound
from backend.store.errors import RunNotFound
from mixscope import Client


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client") / "store"
    ids = build_notebook_store(folder)
    api = LiveAPI(folder).start()
    try:
        yield folder, ids, api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def clients(built):
    folder, ids, api = built
    local, remote = Client(store=folder), Client(api=api.url)
    yield local, remote, ids
    local.close()
    remote.close()


def test_runs_table_same_from_both(clients):
    local, remote, ids = clients
    a, b = local.runs(), remote.runs()
    assert list(a.columns[:9]) == ["id", "name", "status", "dataset", "model", "method",
                                   "alpha", "sweep", "epochs"]
    assert {"test_accuracy", "ece", "channel_radius"} <= set(a.columns)
    assert set(a.id) == {ids["erm"], *ids["sweep_runs"]}
    assert (a.status == "succeeded").all() and (a.epochs == 3).all()
    assert a.channel_radius.notna().all() and a.test_accuracy.between(0, 1).all()
    pd.testing.assert_frame_equal(a, b)
    erm = local.runs(method="erm")
    assert list(erm.id) == [ids["erm"]]
    pd.testing.assert_frame_equal(erm, remote.runs(method="erm"))
    swept = remote.runs(sweep=ids["sweep"])
    assert set(swept.id) == set(ids["sweep_runs"]) and (swept.sweep == ids["sweep"]).all()
    assert list(local.runs(q="ERM").id) == [ids["erm"]]


def test_runs_are_paged_behind_the_scenes(clients, monkeypatch):
    import mixscope.client.client as cc

    local, remote, _ = clients
    monkeypatch.setattr(cc, "RUNS_PAGE", 2)  # 3 runs: two pages each way
    calls = []
    for client in (local, remote):
        orig = client.transport.runs_page

        def spy(filters, limit, offset, _orig=orig):
            calls.append((limit, offset))
            return _orig(filters, limit, offset)

        monkeypatch.setattr(client.transport, "runs_page", spy)
    pd.testing.assert_frame_equal(local.runs(), remote.runs())
    assert calls == [(2, 0), (2, 2), (2, 0), (2, 2)]


def test_metrics_one_row_per_epoch_every_metric(clients):
    local, remote, ids = clients
    a, b = local.run(ids["mixup"]).metrics(), remote.run(ids["mixup"]).metrics()
    assert list(a.epoch) == [0, 1, 2, 3]
    for key in ("nc1", "test_accuracy", "ece", "channel_radius", "train_loss", "reliability"):
        assert key in a.columns, key
    assert a.nc1.notna().all()
    pd.testing.assert_frame_equal(a, b)


def test_frames_numpy_and_tidy_same_from_both(clients):
    local, remote, ids = clients
    run_l, run_r = local.run(ids["mixup"]), remote.run(ids["mixup"])
    assert run_l.config == run_r.config and run_l.config["method"] == "input-mixup"
    fa, fb = run_l.frames((0, 1, 2)), run_r.frames([0, 1, 2], layer="penultimate")
    assert list(fa.epochs) == [0, 1, 2, 3]
    E, n, two = fa.points.shape
    assert (E, two) == (4, 2) and n > 0
    assert set(np.unique(fa.kind)) == {0, 1, 2}
    assert fa.vertices.shape == (4, 3, 2) and fa.class_names == ["0", "1", "2"]
    for name in ("points", "lam", "class_a", "class_b", "kind", "index_a", "index_b",
                 "vertices", "arrows", "radius"):
        np.testing.assert_array_equal(getattr(fa, name), getattr(fb, name), err_msg=name)
    np.testing.assert_array_equal(fa.metrics["channel_radius"], fb.metrics["channel_radius"])
    # a subset of epochs, classes by name, and the tidy table
    some = run_l.frames(("2", "0", "1"), epochs=[1, 3])
    assert list(some.epochs) == [1, 3] and some.classes == (2, 0, 1)
    tidy_a = run_l.frames((0, 1, 2), epochs=[3], as_frame=True)
    tidy_b = run_r.frames((0, 1, 2), epochs=[3], as_frame=True)
    pd.testing.assert_frame_equal(tidy_a, tidy_b)
    assert list(tidy_a.columns) == ["epoch", "point", "x", "y", "kind", "class_a", "class_b",
                                    "lam", "index_a", "index_b"]
    assert len(tidy_a) == n and set(tidy_a.kind) == {"clean", "same", "different"}
    np.testing.assert_array_equal(tidy_a[["x", "y"]].to_numpy(), fa.at(3))


def test_calibration_trajectory_activations_checkpoint(clients):
    local, remote, ids = clients
    run_l, run_r = local.run(ids["erm"]), remote.run(ids["erm"])
    ca, cb = run_l.calibration(2), run_r.calibration(2)
    pd.testing.assert_frame_equal(ca, cb)
    assert ca.attrs == cb.attrs and ca.attrs["epoch"] == 2 and ca["count"].sum() > 0
    ta, tb = run_l.trajectory(classes=(0, 1, 2)), run_r.trajectory(classes=(0, 1, 2))
    np.testing.assert_array_equal(ta["points"], tb["points"])
    assert ta["points"].shape[1:] == (len(ta["layers"]), len(ta["lambdas"]), 2)
    assert ta["layers"] == tb["layers"] and "penultimate" in ta["layers"]
    aa, ab = run_l.activations(1), run_r.activations(1, "penultimate")
    assert aa["epoch"] == ab["epoch"] == 1 and aa["layer"] == "penultimate"
    np.testing.assert_array_equal(aa["features"], ab["features"])
    assert aa["features"].shape[0] == local.run(ids["erm"]).info["num_probe"]
    torch = pytest.importorskip("torch")
    ka, kb = run_l.checkpoint(3), run_r.checkpoint()
    assert set(ka) == set(kb) and any(k.endswith("classifier.weight") for k in ka)
    for k in ka:
        assert isinstance(ka[k], torch.Tensor) and torch.equal(ka[k], kb[k]), k


def test_sweep_and_papers(clients):
    local, remote, ids = clients
    sa, sb = local.sweep(ids["sweep"]), remote.sweep(ids["sweep"])
    assert sa.field == "alpha" and sa.values == [0.2, 1.0] and sa.best in ids["sweep_runs"]
    ra, rb = sa.runs(), sb.runs()
    pd.testing.assert_frame_equal(ra, rb)
    assert list(ra["value"]) == [0.2, 1.0] and ra.channel_radius.notna().all()
    assert sa.run(1.0).id == ids["mixup"]
    pa, pb = local.papers(paper="000"), remote.papers(paper="000")
    pd.testing.assert_frame_equal(pa, pb)
    assert len(pa) and (pa.paper == "000").all()
    entry_id = pa.id.iloc[0]
    ea, eb = local.paper(entry_id), remote.paper(entry_id)
    assert ea["id"] == eb["id"] == entry_id and ea["verdict"] == eb["verdict"]


@pytest.mark.parametrize("side", ["local", "remote"])
def test_errors_name_what_exists(clients, side):
    local, remote, ids = clients
    c = local if side == "local" else remote
    with pytest.raises(RunNotFound) as info:
        c.run("no-such-run")
    assert "no-such-run" in str(info.value) and ids["erm"] in str(info.value)
    run = c.run(ids["mixup"])
    with pytest.raises(InvalidInput) as info:
        run.frames((0, 1, 11))
    assert info.value.field == "classes" and "0, 1, 2" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        run.frames(("0", "1", "cat"))
    assert "'cat'" in str(info.value) and "9" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        run.frames((0, 1, 2), layer="block9")
    assert info.value.field == "layer" and "penultimate" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        run.frames((0, 1, 2), epochs=[7])
    assert info.value.field == "epochs" and "0, 1, 2, 3" in str(info.value)
    with pytest.raises(InvalidInput) as info:  # refused by the server side's own check
        run.calibration(99)
    assert info.value.field == "epoch" and "0..3" in str(info.value)
    with pytest.raises(NotFound) as info:
        c.sweep("no-such-sweep")
    assert ids["sweep"] in str(info.value)
    with pytest.raises(NotFound) as info:
        c.paper("000/no-such-figure")
    assert "000/fig1" in str(info.value)


def test_import_mixscope_stays_light():
    import subprocess
    import sys

    code = ("import sys, mixscope; mixscope.Client; "
            "print(sorted(m for m in ('pandas', 'torch', 'anywidget', 'sqlalchemy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


@pytest.mark.parametrize("side", ["local", "remote"])
def test_stored_arrays_name_the_stored_epochs(clients, side):
    local, remote, ids = clients
    run = (local if side == "local" else remote).run(ids["erm"])
    with pytest.raises(InvalidInput) as info:
        run.activations(epoch=99)
    assert info.value.field == "epoch" and "[0, 1, 2, 3]" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        run.checkpoint(epoch=99)
    assert info.value.field == "epoch" and "[0, 1, 2, 3]" in str(info.value)


def test_inline_views_get_the_same_data_from_both(clients):
    pytest.importorskip("anywidget")
    import mixscope

    local, remote, ids = clients
    a = mixscope.show(local.run(ids["mixup"]), classes=(0, 1, 2))
    b = mixscope.show(remote.run(ids["mixup"]), classes=(0, 1, 2))
    assert a.epochs == b.epochs == [0, 1, 2, 3] and a.epoch == 3
    assert a.stores == b.stores and len(a.stores[0]["frames"]) == 4
    # the per-point arrays travel once, on the first frame (simplex.js reads them there)
    assert "lam" in a.stores[0]["frames"][0] and "lam" not in a.stores[0]["frames"][1]
    grid = mixscope.show([local.run(i) for i in (ids["erm"], ids["mixup"])], classes=(0, 1, 2))
    assert [s["run"] for s in grid.stores] == [ids["erm"], ids["mixup"]]
    # the renderer itself is the dashboard's file, sent as it is
    from mixscope.views.widget import _dashboard_assets

    assert a._simplex_js == (_dashboard_assets() / "simplex.js").read_text("utf-8")
    ta, tb = mixscope.show_theory(m=1.0, C=10, λ_H=1e-3), \
        mixscope.show_theory(m=1.0, C=10, lambda_h=1e-3, client=remote)
    assert ta.summary["K_same"] == tb.summary["K_same"]
    assert ta.stores == tb.stores
    fig = mixscope.show_calibration(remote.run(ids["erm"]), epoch=2)
    assert "epoch 2" in fig.layout.title.text and "ECE" in fig.layout.title.text


def test_without_arguments_the_environments_store(built, monkeypatch):
    folder, ids, _ = built
    monkeypatch.setenv("MIXSCOPE_STORE", str(folder))
    for k in ("MIXSCOPE_DATABASE_URL", "MIXSCOPE_ARTIFACT_URL"):
        monkeypatch.delenv(k, raising=False)
    with Client() as c:
        assert ids["erm"] in set(c.runs().id)
    with pytest.raises(TypeError):
        Client(store=folder, api="http://127.0.0.1:1")
