"""The example notebook in a real JupyterLab, driven by headless Chromium (issue 21): run every
cell, see the inline simplex draw, move its epoch slider with the keyboard, and see the view
redraw at the new epoch. Waits on what the page shows, never on time."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import requests
from browser import (
    ROOT,
    _env,
    browser_available,
    free_port,
    screenshot,
    start_chrome,
    stop_chrome,
    wait_for,
)
from notebook_store import STORE_ENV, build_notebook_store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
pytest.importorskip("jupyterlab")
pytest.importorskip("anywidget")

NOTEBOOK = ROOT / "examples" / "explore_in_a_notebook.ipynb"
TOKEN = "mixscope-notebook-test"
#: JupyterLab builds its page and starts a kernel: generous, the lead scales waits with load
SLOW = 240.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("lab")
    build_notebook_store(tmp / "store")
    root = tmp / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    env = {**_env(tmp / "store"), STORE_ENV: str(tmp / "store"),
           "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces")}
    # no "Build Recommended" dialog for the Dash package's old-style lab extension
    (tmp / "jupyter-config" / "labconfig").mkdir(parents=True)
    (tmp / "jupyter-config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"buildCheck": False, "buildAvailable": False}))
    port = free_port()
    log = open(tmp / "jupyterlab.log", "wb")  # noqa: SIM115 (lives with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up(_):
        if proc.poll() is not None:
            raise RuntimeError(f"jupyterlab exited: {(tmp / 'jupyterlab.log').read_text()}")
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{url}/api/status", params={"token": TOKEN},
                                timeout=5).status_code == 200
        return False

    try:
        wait_for(None, up, timeout=SLOW, what="JupyterLab's /api/status")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def driver():
    d = start_chrome(1400, 2400)
    yield d
    stop_chrome(d)


def _labels(d) -> list[str]:
    return d.execute_script(
        "return Array.from(document.querySelectorAll('.mixscope-epoch-label'))"
        ".map(e => e.textContent)")


def _first_plot(d) -> dict | None:
    """The first inline simplex: its plot's title and a fingerprint of its points."""
    return d.execute_script("""
        const gd = document.querySelector('.mixscope-view .mixscope-simplex');
        if (!gd || !gd.data || !gd.layout) { return null; }
        const t = gd.layout.title;
        return {title: (t && t.text) || '', id: gd.id,
                points: JSON.stringify(gd.data.filter(tr => tr.x && tr.x.length > 1)
                    .map(tr => Array.from(tr.x).slice(0, 4)))};
    """)


def _kernel_print(d, expr: str) -> str:
    """``print(expr)`` in the notebook's kernel; its output."""
    return d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        const future = kernel.requestExecute({code: `print(${arguments[0]})`});
        let out = '';
        future.onIOPub = (msg) => {
            if (msg.header.msg_type === 'stream') { out += msg.content.text; }
        };
        future.done.then(() => done(out.trim()), (err) => done(String(err)));
    """, expr)


def test_inline_simplex_follows_its_slider_in_jupyterlab(lab, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    d = driver
    d.get(f"{lab}/lab/tree/{NOTEBOOK.name}?token={TOKEN}")
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"),
             timeout=SLOW, what="the notebook's cells in JupyterLab")
    # Run All Cells once the notebook's kernel session is ready (JupyterLab's own promise:
    # a run asked for before it can be dropped)
    wait_for(d, lambda d: d.execute_script(
        "const a = window.jupyterapp; return !!(a && a.shell.currentWidget && "
        "a.shell.currentWidget.sessionContext)"), timeout=SLOW, what="the notebook panel")
    d.set_script_timeout(SLOW)  # the promise settles once every cell has run
    ran = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const app = window.jupyterapp, panel = app.shell.currentWidget;
        panel.sessionContext.ready
            .then(() => panel.sessionContext.session.kernel.info)
            .then(() => app.commands.execute('notebook:run-all-cells'))
            .then(() => done('ok'), (err) => done(String(err)));
    """)
    assert ran == "ok", ran
    # three simplex views come up (mixup; ERM beside mixup; the UFM optimum), each drawn at its
    # last epoch by the dashboard's renderer
    try:
        labels = wait_for(d, lambda d: len(_labels(d)) == 3 and _labels(d),
                          timeout=SLOW, what="three inline simplex views")
    except TimeoutError:
        screenshot(d, "notebook-jupyterlab-no-views")
        outputs = d.execute_script("return Array.from(document.querySelectorAll("
                                   "'.jp-OutputArea-output')).map(e => e.innerText.slice(0, 300))")
        raise AssertionError(f"outputs: {outputs}; console: {d.get_log('browser')[-10:]}")
    assert labels[0] == "epoch 3" and labels[1] == "epoch 3", labels
    before = wait_for(d, lambda d: (p := _first_plot(d)) and "epoch 3" in p["title"] and p,
                      timeout=SLOW, what="the first simplex drawn at epoch 3")
    assert "input-mixup" in before["title"] and before["points"] != "[]"
    # move the first view's slider with the mouse: a click on a range input puts its thumb
    # there (4 recorded epochs: positions 0, 1/3, 2/3, 1 of its width)
    slider = d.find_element(By.CSS_SELECTOR, ".mixscope-view .mixscope-epoch-slider")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    width = slider.size["width"]

    def click_at(fraction: float) -> None:
        ActionChains(d).move_to_element_with_offset(
            slider, int((fraction - 0.5) * (width - 16)), 0).click().perform()

    click_at(0.0)
    wait_for(d, lambda d: _labels(d)[0] == "epoch 0", what="the slider's label at epoch 0")
    after = wait_for(d, lambda d: (p := _first_plot(d)) and "epoch 0" in p["title"] and p,
                     what="the first simplex redrawn at epoch 0")
    assert after["points"] != before["points"] and after["id"] == before["id"]
    assert _labels(d)[1] == "epoch 3"  # the other views keep their own slider
    click_at(1 / 3)
    wait_for(d, lambda d: (p := _first_plot(d)) and "epoch 1" in p["title"],
             what="the first simplex at epoch 1 after a click a third along the slider")
    assert _labels(d)[0] == "epoch 1"
    # and the slider's epoch reached the kernel: the Python widget's `epoch` follows it
    wait_for(d, lambda d: _kernel_print(d, "view.epoch") == "1",
             what="the Python view's epoch to be 1")
    screenshot(d, "notebook-jupyterlab-slider")
