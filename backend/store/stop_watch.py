"""This process's running trainers, told at once when this process cancels or deletes their
run (``Store.request_cancel`` / ``Store.delete_run``): a request from another process (the
API's, to a worker) reaches them when their watch next polls the store
(``trainer.guard.RunGuard``), one from this one (``mixscope train``'s own store, a notebook,
a test) at the trainer's next step, without a store query in the training loop."""

from __future__ import annotations

import threading
from collections.abc import Callable

_watchers: dict[str, list[Callable[[str], None]]] = {}
_lock = threading.Lock()


def watch_stop(run_id: str, told: Callable[[str], None]) -> Callable[[], None]:
    """Call ``told("cancelled" | "deleted")`` when this process stops ``run_id``; returns the
    function that ends the watch."""
    with _lock:
        _watchers.setdefault(run_id, []).append(told)

    def unwatch() -> None:
        with _lock:
            callbacks = _watchers.get(run_id, [])
            if told in callbacks:
                callbacks.remove(told)
            if not callbacks:
                _watchers.pop(run_id, None)

    return unwatch


def notify_stop(run_id: str, what: str) -> None:
    """Tell this process's watchers of ``run_id`` that it was ``what`` (committed already)."""
    with _lock:
        callbacks = list(_watchers.get(run_id, ()))
    for told in callbacks:
        told(what)
