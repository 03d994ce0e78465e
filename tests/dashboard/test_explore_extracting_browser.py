"""Explore on a triple the probe does not cover (issue 19): the page says "Extracting…"
while the worker extracts it from the checkpoint, then draws its frames, without a reload.

A real run is trained (digits, probe covering only the triple (0, 1, 2)) into the store the
real API serves. The stack starts without a worker, so the extraction job waits and the
message is certainly on screen; then the real worker starts, runs the job, and the page's
poll draws the frames.
"""

from __future__ import annotations

import pytest
from browser import (
    Stack,
    browser_available,
    plot_data_signature,
    screenshot,
    start_chrome,
    stop_chrome,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

EPOCHS = 2


def _train(store_dir) -> str:
    import torch

    from backend.runconfig import RunConfig
    from backend.settings import settings_for_store
    from backend.store import Store
    from trainer.loop import execute_run

    torch.set_num_threads(1)
    store = Store(settings_for_store(store_dir))
    store.migrate()
    cfg = RunConfig.model_validate({
        "name": "partly probed", "dataset": "digits", "dataset_args": {"subset": 200},
        "model": "mlp", "model_args": {"width": 32, "depth": 1, "feature_dim": 16,
                                       "batchnorm": True},
        "method": "input-mixup", "epochs": EPOCHS, "batch_size": 32, "lr": 0.05, "seed": 3,
        # the probe covers the triple (0, 1, 2) only: any other is extracted on demand
        "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2, "trajectory_pairs": 0,
                  "triples": [[0, 1, 2]], "max_all_pairs_classes": 3},
        "record": {"checkpoint_every": 1, "epochs": [0, EPOCHS]}})
    run = store.create_run(cfg)
    assert store.claim_run(run.id, "test")
    assert execute_run(store, run.id) == "succeeded"
    store.close()
    return run.id


@pytest.fixture(scope="module")
def extracting(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    store_dir = tmp_path_factory.mktemp("explore-extracting") / "store"
    run_id = _train(store_dir)
    stack = Stack(store_dir, worker=False).start()
    driver = start_chrome(1400, 1000)
    yield run_id, stack, driver
    stop_chrome(driver)
    stack.stop()


def _text(driver, id_: str) -> str:
    els = driver.find_elements("id", id_)
    return els[0].text if els else ""


def test_an_uncovered_triple_says_extracting_then_draws(extracting):
    run_id, stack, driver = extracting
    driver.get(f"{stack.dash_url}/explore?run={run_id}&classes=3,4,5&epoch={EPOCHS}")
    # no worker yet: the job waits, and the page says what is happening
    def extracting_message(d):
        t = _text(d, "ex-msg")
        return t if "Extracting" in t else None

    def drawn_label(d):
        t = _text(d, "ex-epoch-label")
        return t if "points" in t and "Extracting" not in _text(d, "ex-msg") else None

    msg = wait_for(driver, extracting_message, timeout=90, what="the extracting message",
                   seen=lambda d: _text(d, "ex-msg"))
    assert "from the checkpoint (job " in msg
    # the plot itself says so too, rather than an empty panel
    wait_for(driver, lambda d: "Extracting this triple" in d.find_element("id", "simplex").text,
             what="the plot's extracting note", seen=lambda d: d.find_element(
                 "id", "simplex").text[:300])
    screenshot(driver, "explore-extracting")
    stack.start_worker()
    # the worker extracts the triple; the page's poll draws it, without a reload
    label = wait_for(driver, drawn_label, timeout=180, what="the extracted frames",
                     seen=lambda d: (_text(d, "ex-msg"), _text(d, "ex-epoch-label"),
                                     stack.log("worker")[-2000:]))
    assert plot_data_signature(driver, "simplex")
    assert f"{EPOCHS}" in label
    screenshot(driver, "explore-extracted")
