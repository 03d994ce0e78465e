"""A small thread-safe LRU cache for the API's in-process caches (frames, selections, the
per-epoch bases and scores of :mod:`backend.api.projection`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LRU:
    """A small thread-safe LRU cache (FastAPI runs sync routes in a thread pool). ``size``
    counts entries, or with ``weigh`` (value -> number) the sum of their weights (bytes)."""

    def __init__(self, size: int, weigh=None):
        self.size = size
        self._weigh = weigh or (lambda _v: 1)
        self._d: OrderedDict[Hashable, Any] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if key in self._d:
                self._total -= self._weigh(self._d[key])
            self._d[key] = value
            self._total += self._weigh(value)
            self._d.move_to_end(key)
            while self._total > self.size and len(self._d) > 1:
                _, old = self._d.popitem(last=False)
                self._total -= self._weigh(old)

    def drop(self, pred) -> None:
        """Remove every entry whose key satisfies ``pred``."""
        with self._lock:
            for k in [k for k in self._d if pred(k)]:
                self._total -= self._weigh(self._d.pop(k))
