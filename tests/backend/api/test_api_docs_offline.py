"""``/api/docs`` works with no network (issue 19): Swagger UI's files are served by the API
from the installed package, the page names no other host, and in Chromium it renders the
API's operations having fetched nothing from anywhere else."""

from __future__ import annotations

import re

import pytest

from backend.api.docs import FILES, STATIC_URL


def test_docs_page_loads_only_local_files(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert f"{STATIC_URL}/swagger-ui-bundle.js" in urls and "/api/openapi.json" in urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    for name in FILES:
        r = client.get(f"{STATIC_URL}/{name}")
        assert r.status_code == 200 and len(r.content) > 100, name
    assert b"SwaggerUIBundle" in client.get(f"{STATIC_URL}/swagger-ui-bundle.js").content


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_docs_render_in_a_browser_without_network(tmp_path):
    from browser import Stack, browser_available, start_chrome, stop_chrome, wait_for

    reason = browser_available()
    if reason:
        pytest.skip(reason)
    stack = Stack(tmp_path / "store", worker=False).start()
    driver = None
    try:
        driver = start_chrome()
        driver.get(f"{stack.api_url}/api/docs")
        title = wait_for(driver, lambda d: d.execute_script(
            "const t = document.querySelector('.swagger-ui .info .title');"
            "return t ? t.textContent : null;"), what="Swagger UI's title")
        assert "mixscope API" in title
        wait_for(driver, lambda d: d.execute_script(
            "return document.querySelectorAll('.opblock').length") > 10,
            what="the API's operations listed")
        # every file the page fetched came from this API: nothing from another host
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);")
        assert loaded and all(u.startswith(stack.api_url) for u in loaded), loaded
    finally:
        if driver is not None:
            stop_chrome(driver)
        stack.stop()
