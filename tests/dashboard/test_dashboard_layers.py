"""Browser check: Explore and Trajectory on a really trained tiny MLP that recorded every
layer. The hidden layer (wider than the classifier's input) is drawn in its class means'
simplex and the page says so; the trajectory crosses both layers."""

from __future__ import annotations

import pytest
from browser import (
    Stack,
    browser_available,
    dash_idle,
    plot_data_signature,
    start_chrome,
    stop_chrome,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    import torch

    from backend.runconfig import RunConfig
    from backend.settings import settings_for_store
    from backend.store import Store
    from trainer.loop import execute_run

    torch.set_num_threads(1)
    store_dir = tmp_path_factory.mktemp("layers") / "store"
    store = Store(settings_for_store(store_dir))
    store.migrate()
    cfg = RunConfig.model_validate({
        "dataset": "digits", "dataset_args": {"subset": 200}, "model": "mlp",
        "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": 3,
        "batch_size": 32, "probe": {"clean_per_class": 5, "pairs_per_class_pair": 4,
                                    "trajectory_pairs": 2, "trajectory_lambdas": 5},
        "record": {"epochs": [0, 3], "layers": ["all"]}, "name": "layers"})
    run = store.create_run(cfg)
    assert store.claim_run(run.id, "test")
    assert execute_run(store, run.id, worker="test") == "succeeded"
    store.close()
    s = Stack(store_dir, worker=False).start()
    s.run_id = run.id
    yield s
    s.stop()


@pytest.fixture(scope="module")
def driver(stack):
    d = start_chrome()
    yield d
    stop_chrome(d)


def _text(driver, id_):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", id_)


def test_explore_draws_a_hidden_layer_and_names_its_basis(stack, driver):
    driver.get(f"{stack.dash_url}/explore?run={stack.run_id}&classes=0,1,2&layer=hidden1")
    wait_for(driver, lambda d: plot_data_signature(d, "simplex") and
             "class means" in (_text(d, "ex-basis") or ""), timeout=60,
             what="the hidden layer's simplex and its basis note",
             seen=lambda d: _text(d, "ex-basis"))
    assert "hidden1" in _text(driver, "ex-basis")
    # no error message, once every callback has answered
    wait_for(driver, dash_idle, what="the page's callbacks to finish")
    assert not (_text(driver, "ex-msg") or "").strip()
    driver.get(f"{stack.dash_url}/explore?run={stack.run_id}&classes=0,1,2&layer=penultimate")
    # the classifier's own layer has no basis note: the plot drawn and nothing in flight
    wait_for(driver, lambda d: plot_data_signature(d, "simplex") and dash_idle(d) and
             not (_text(d, "ex-basis") or "").strip(), timeout=60,
             what="the penultimate simplex without a basis note",
             seen=lambda d: _text(d, "ex-basis"))


def test_trajectory_crosses_the_hidden_layer(stack, driver):
    driver.get(f"{stack.dash_url}/trajectory?run={stack.run_id}")
    wait_for(driver, lambda d: plot_data_signature(d, "tr-graph") and
             "hidden1" in (_text(d, "tr-msg") or ""), timeout=60,
             what="the trajectory and its basis note")
    def title(d):
        return d.execute_script(
            "const gd = document.querySelector('#tr-graph .js-plotly-plot');"
            "return gd && gd.layout && gd.layout.title ? gd.layout.title.text : null;")

    wait_for(driver, lambda d: "2 layers: hidden1 → penultimate" in (title(d) or ""),
             what="the trajectory's title", seen=title)
