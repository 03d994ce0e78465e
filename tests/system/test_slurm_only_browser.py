"""The launch form with Slurm only (``MIXSCOPE_EXECUTOR=slurm``, no broker configured; issue
22), in real headless Chromium against the real API and dashboard: the executor dropdown
offers a Slurm job only, since a run sent to Celery there would never start (the API
refuses it, ``tests/backend/api/test_slurm_only.py``)."""

from __future__ import annotations

import pytest
import test_slurm
import test_slurm_launch_browser
from browser import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]
cluster = test_slurm.cluster
stack = test_slurm_launch_browser.stack   # its settings: executor slurm, no broker

OPTIONS = ("return [...document.querySelectorAll('.dash-dropdown-option input')]"
           ".map(e => e.value)")


def test_the_launch_form_offers_no_celery_with_slurm_only(stack):
    s, driver = stack
    driver.get(f"{s.dash_url}/runs")
    # the executor part is filled from GET /api/executor (options and value together)
    wait_for(driver, lambda d: "a Slurm job" in d.find_element("id", "runs-executor").text,
             what="the executor from the API's settings",
             seen=lambda d: d.find_element("id", "runs-executor").text)
    driver.find_element("id", "runs-executor").click()
    wait_for(driver, lambda d: d.execute_script(OPTIONS) == ["slurm"],
             what="the executor's options: a Slurm job only",
             seen=lambda d: d.execute_script(OPTIONS))
