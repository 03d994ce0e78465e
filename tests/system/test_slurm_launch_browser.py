"""The Runs page's launch form with Slurm (issue 22), in real headless Chromium against the
real API, dashboard and the one-node cluster of ``test_slurm``: the executor and the Slurm
resources of the API's settings are shown before launch and editable; a bad one is refused
by the API naming its field (shown beside it, no run created); the launch sends the edited
resources; the table shows the queued run's Slurm state and job id, and follows it (here to
cancelled) without a reload."""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
import test_slurm
from browser import Stack, browser_available, start_chrome, stop_chrome, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]
cluster = test_slurm.cluster

SETTINGS = {"MIXSCOPE_EXECUTOR": "slurm", "MIXSCOPE_SLURM_SHARED_STORE": "true",
            "MIXSCOPE_SLURM_PARTITION": "debug", "MIXSCOPE_SLURM_TIME": "10",
            "MIXSCOPE_SLURM_CPUS": "1", "MIXSCOPE_SLURM_EXTRA": "comment=mixscope-browser"}


@pytest.fixture
def stack(cluster, tmp_path):
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    s = Stack(tmp_path / "store", worker=False,
              env={**SETTINGS, "SLURM_CONF": cluster}).start()
    driver = start_chrome()
    try:
        yield s, driver
    finally:
        stop_chrome(driver)
        s.stop()
        folder = tmp_path / "store" / "slurm"
        for job in (p.name for p in folder.iterdir() if p.name.isdigit()) if \
                folder.is_dir() else []:
            subprocess.run(["scancel", job], check=False)


def _value(driver, id_: str) -> str:
    return driver.find_element("id", id_).get_attribute("value")


def _type(driver, id_: str, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    el = driver.find_element("id", id_)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.BACKSPACE)
    el.send_keys(text)
    wait_for(driver, lambda d: _value(d, id_) == text, what=f"#{id_} reads {text!r}")


def _text(driver, id_: str) -> str:
    return driver.find_element("id", id_).text


def test_the_launch_form_shows_and_sends_the_slurm_resources(stack):
    s, driver = stack
    driver.get(f"{s.dash_url}/runs")
    shown = {"runs-slurm-partition": "debug", "runs-slurm-time": "10", "runs-slurm-cpus": "1",
             "runs-slurm-gpus": "0", "runs-slurm-sbatch": "comment=mixscope-browser"}
    wait_for(driver, lambda d: all(_value(d, k) == v for k, v in shown.items()),
             what="the settings' Slurm resources in the form",
             seen=lambda d: {k: _value(d, k) for k in shown})
    assert driver.find_element("id", "runs-slurm-fields").is_displayed()
    assert "a Slurm job" in _text(driver, "runs-executor")
    assert "One Slurm job per run" in _text(driver, "runs-slurm-note")

    # a resource the API refuses: named beside its field, and no run is created
    _type(driver, "runs-slurm-time", "soon")
    driver.find_element("id", "runs-launch").click()
    wait_for(driver, lambda d: "not a Slurm time" in _text(d, "err-time"),
             what="the API's 422 beside the time limit")
    assert requests.get(f"{s.api_url}/api/runs", timeout=30).json() == []

    cpus = (os.cpu_count() or 1) + 1   # more than the node has: it stays pending
    _type(driver, "runs-slurm-time", "0:20:00")
    _type(driver, "runs-slurm-cpus", str(cpus))
    _type(driver, "runs-name", "slurm from the form")
    driver.find_element("id", "runs-launch").click()
    wait_for(driver, lambda d: "Queued" in _text(d, "runs-launch-msg"),
             what="the launch accepted", seen=lambda d: _text(d, "runs-launch-msg"))
    assert _text(driver, "err-time") == ""
    (run,) = requests.get(f"{s.api_url}/api/runs", timeout=30).json()
    job = run["summary"]["executor"]
    assert job["name"] == "slurm" and job["job_id"]
    res = job["resources"]
    assert (res["cpus"], res["time"], res["partition"], res["extra"]) == (
        cpus, "0:20:00", "debug", {"comment": "mixscope-browser"})

    # the table shows Slurm's state and reason with the job id, as Slurm has them
    def slurm_line(d):
        els = d.find_elements("css selector", ".run-slurm")
        return els[0].text if els else ""

    line = wait_for(driver, lambda d: "PENDING (" in slurm_line(d) and slurm_line(d),
                    what="the run's Slurm state in the table", seen=slurm_line)
    listed = requests.get(f"{s.api_url}/api/runs", timeout=30).json()[0]["summary"]["executor"]
    assert line == f"Slurm job {job['job_id']} · {listed['status']}"

    assert requests.post(f"{s.api_url}/api/runs/{run['id']}/cancel",
                         timeout=30).status_code == 200
    wait_for(driver, lambda d: d.find_elements("css selector", "tr.row-cancelled")
             and slurm_line(d) == f"Slurm job {job['job_id']}",
             what="the table following the run to cancelled", seen=slurm_line)

    # the grid launcher takes the same form, the executor part included
    _type(driver, "grid-launch-cols-values", "0.4, 1")
    driver.find_element("id", "grid-launch-go").click()
    wait_for(driver, lambda d: "Queued" in _text(d, "grid-launch-msg"),
             what="the grid launched", seen=lambda d: _text(d, "grid-launch-msg"))
    grid = [r for r in requests.get(f"{s.api_url}/api/runs", timeout=30).json()
            if r["id"] != run["id"]]
    assert len(grid) == 2
    for r in grid:
        job = r["summary"]["executor"]
        assert job["job_id"] and job["resources"]["cpus"] == cpus
        requests.post(f"{s.api_url}/api/runs/{r['id']}/cancel", timeout=30)
