"""How long a test may wait, on a machine whose load nobody controls: the one home of every
test timeout.

A test waits for an *event* (the row, the file, the very text it then asserts), never for a
stretch of wall-clock time. A timeout only bounds a hang, so it is stated as what the wait
may take on a quiet machine and stretched here by

- ``MIXSCOPE_TEST_TIMEOUT_SCALE`` (default 1): a machine known to be slow, or a debugging
  session that wants a short leash (``0.5``);
- the load on the machine when the wait starts: the 1-minute load average per core, when it
  is above 1 (two busy cores under ``make test-busy`` roughly double every timeout).

A wait that times out says what it waited for and what it last saw.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

SCALE_ENV = "MIXSCOPE_TEST_TIMEOUT_SCALE"


def timeout_scale() -> float:
    """The factor every timeout is multiplied by right now (≥ the environment's scale)."""
    raw = os.environ.get(SCALE_ENV) or "1"
    try:
        scale = float(raw)
    except ValueError:
        raise RuntimeError(f"{SCALE_ENV}={raw!r} is not a number") from None
    if not scale > 0:
        raise RuntimeError(f"{SCALE_ENV}={raw!r} must be > 0")
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        load = 1.0
    return scale * max(1.0, load)


def patience(seconds: float) -> float:
    """``seconds`` on a quiet machine, stretched to this machine's present load."""
    return seconds * timeout_scale()


class WaitTimedOut(AssertionError):
    """A wait ran past its (scaled) timeout; the message says what it last saw."""


def _short(value: Any, limit: int = 600) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def wait_until(read: Callable[[], Any], accept: Callable[[Any], Any] = bool, *,
               timeout: float, what: str, step: float = 0.2,
               seen: Callable[[], Any] | None = None,
               stop: Callable[[], str | None] | None = None) -> Any:
    """Poll ``read()`` until ``accept(value)`` holds and return that value.

    ``timeout`` is what the wait may take on a quiet machine (stretched by :func:`patience`);
    ``seen()`` describes the state on failure (default: the last value read, or the last
    error ``read`` raised); ``stop()`` returns a reason to give up at once (a process that
    died), else None.
    """
    limit = patience(timeout)
    deadline = time.monotonic() + limit
    last: Any = None
    last_error: BaseException | None = None
    while True:
        try:
            last = read()
            last_error = None
            if accept(last):
                return last
        except Exception as exc:  # noqa: BLE001 (a page re-rendering, a server restarting)
            last_error = exc
        reason = stop() if stop is not None else None
        if reason or time.monotonic() >= deadline:
            break
        time.sleep(step)
    if seen is not None:
        try:
            saw = _short(seen(), 3000)
        except Exception as exc:  # noqa: BLE001
            saw = f"(could not describe it: {exc!r})"
    elif last_error is not None:
        saw = f"an error: {_short(repr(last_error))}"
    else:
        saw = _short(last)
    head = (f"gave up waiting for {what}: {reason}" if reason else
            f"timed out after {limit:.0f} s ({timeout:g} s × {limit / timeout:.2f}) "
            f"waiting for {what}")
    raise WaitTimedOut(f"{head}; last saw: {saw}")
