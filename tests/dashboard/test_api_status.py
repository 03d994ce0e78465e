"""The header's API status: a dashboard that finds the API not answering (``mixscope up``
starts them side by side) checks again within seconds, not at the next 15-s check."""

from __future__ import annotations

from browser import Stack, free_port

from backend.version import __version__
from dashboard.app import HEALTH_CHECK_MS, api_status
from dashboard.client import ApiClient


def test_offline_api_is_checked_again_soon_and_a_live_one_rarely(tmp_path):
    text, dot, next_ms = api_status(ApiClient(f"http://127.0.0.1:{free_port()}", timeout=5))
    assert (text, dot) == ("API offline", "dot dot-bad")
    assert next_ms == HEALTH_CHECK_MS["offline"] < HEALTH_CHECK_MS["ok"]
    stack = Stack(tmp_path / "store", worker=False)
    try:
        stack.start()
        text, dot, next_ms = api_status(ApiClient(stack.api_url, timeout=30))
        assert (text, dot, next_ms) == (f"API {__version__}", "dot dot-ok", HEALTH_CHECK_MS["ok"])
    finally:
        stack.stop()
