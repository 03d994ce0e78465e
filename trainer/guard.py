"""What stops a training run from outside its own arithmetic: its cancel (or deletion) and
its memory budget, watched by one small thread per run and read by the trainer as a flag.

:class:`RunGuard` polls the store's cancel flag (``store.cancel_requested``: a cancel, a
deletion, or with a claim a lost claim) every ``CANCEL_POLL_S`` seconds and this process's
resident memory every ``MEMORY_POLL_S`` seconds; a cancel or deletion made by this process
reaches it at once (``backend.store.stop_watch``). When either says stop it sets its
``reason``; the training loop reads it at every step and the extraction and metrics loops at
every batch (:func:`check`, an attribute read), so a cancel or DELETE reaches a training
worker within one step of the poll that saw it, not only at the next epoch's write; a DELETE
(and the memory budget) stops a recorded epoch's extraction too, within one batch, while a
cancel lets the epoch already trained finish its metrics (they are kept).

The memory budget (:func:`worker_budget`) is what a worker may use for one run, the figure
the worker publishes in the store (``trainer.worker.publish_budget``) and the API's admission
compares a run's estimate with: the setting ``MIXSCOPE_WORKER_MEMORY``
when set, else the memory available when the worker started (or, for ``mixscope train``, when
the run started) less a margin (:func:`backend.resources.default_worker_budget`). The watch
measures the run's memory as the growth of the process's resident memory since the run
started (the worker's own libraries, ~0.4 GiB of torch and friends, are not the run's). A run
that grows past the budget is stopped with :class:`MemoryBudgetExceeded` (its error names the
budget and the setting) before the kernel's OOM killer takes the whole worker; what one
allocation inside a single library call overshoots before the next check cannot be stopped
that way.

After a run the worker drops what the run held (:func:`release_memory`: a garbage
collection of what the run made, the CUDA cache, and glibc's free lists returned to the
system).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import threading

from backend.resources import default_worker_budget, format_bytes
from backend.store.errors import Fenced
from backend.store.stop_watch import watch_stop
from trainer.outcome import Cancelled

log = logging.getLogger("mixscope.trainer")

CANCEL_POLL_S = 0.1
MEMORY_POLL_S = 0.05


class MemoryBudgetExceeded(Exception):
    """The run's process grew past the worker's memory budget; the run fails with this
    error (named in its message) instead of the worker being killed by the kernel."""

    error_type = "memory_budget_exceeded"

    def __init__(self, grown: int, budget: int):
        self.grown, self.budget = grown, budget
        super().__init__(
            f"memory budget exceeded: the run grew its worker's memory by "
            f"{format_bytes(grown)}, past a worker's budget of {format_bytes(budget)} "
            f"(MIXSCOPE_WORKER_MEMORY); the run was "
            f"stopped before the system ran out of memory: make it smaller (dataset, "
            f"batch_size, probe, record.layers) or give the worker more memory")


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """This process's resident memory in bytes (None where /proc does not say)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


_budget: int | None = None
_budget_lock = threading.Lock()


def worker_budget(settings=None) -> int:
    """Bytes this worker process may use: ``settings.worker_memory`` when set, else the
    memory available at the first call (the worker calls it at start) less a margin."""
    global _budget
    if settings is not None and settings.worker_memory:
        return int(settings.worker_memory)
    with _budget_lock:
        if _budget is None:
            _budget = default_worker_budget()
        return _budget


_active: RunGuard | None = None


def check(*, cancel: bool = True) -> None:
    """Raise what stops the run being trained in this process, if anything does (a no-op
    where no run trains). The step loop calls it at every step; the metrics and the
    extraction at every batch with ``cancel=False``: they stop for a deletion, the memory
    budget or a lost claim, but finish the epoch a cancel found done (it is kept)."""
    g = _active
    if g is not None and g.reason is not None and (cancel or g.reason != "cancelled"):
        raise g.error()


class RunGuard(threading.Thread):
    """The watch of one run (see the module docstring); a context manager that makes it
    the process's active guard while the run trains."""

    def __init__(self, store, run_id: str, budget: int | None):
        super().__init__(name=f"guard-{run_id}", daemon=True)
        self.store, self.run_id, self.budget = store, run_id, budget
        self.reason: str | None = None    # "cancelled" | "deleted" | "memory" | "fenced"
        self.grown: int | None = None     # bytes past the RSS at the run's start
        self.base = rss_bytes()
        self._fenced: Fenced | None = None
        self._halt = threading.Event()

    def error(self) -> BaseException:
        if self.reason == "memory":
            return MemoryBudgetExceeded(self.grown or 0, self.budget or 0)
        if self.reason == "fenced" and self._fenced is not None:
            return self._fenced
        return Cancelled()

    def run(self) -> None:
        polls_per_cancel = max(round(CANCEL_POLL_S / MEMORY_POLL_S), 1)
        k = 0
        while self.reason is None and not self._halt.wait(MEMORY_POLL_S):
            if self.budget and self.base is not None:
                rss = rss_bytes()
                if rss is not None and rss - self.base > self.budget:
                    self.grown = rss - self.base
                    log.error("run %s: its memory (%s over the worker's %s) is past the budget "
                              "%s; stopping it", self.run_id, format_bytes(self.grown),
                              format_bytes(self.base), format_bytes(self.budget))
                    self.reason = "memory"
                    return
            k += 1
            if k % polls_per_cancel:
                continue
            try:
                if self.store.cancel_requested(self.run_id):
                    gone = self.store.get_run(self.run_id) is None
                    self.reason = "deleted" if gone else "cancelled"
            except Fenced as exc:
                self._fenced, self.reason = exc, "fenced"
            except Exception:  # the database is unreachable: the loop's own writes say so
                log.debug("run %s: cancel poll failed", self.run_id, exc_info=True)

    def _told(self, what: str) -> None:
        """This process cancelled or deleted the run (``backend.store.stop_watch``)."""
        if self.reason is None:
            self.reason = what

    def __enter__(self):
        global _active
        _active = self
        self._unwatch = watch_stop(self.run_id, self._told)
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        global _active
        self._unwatch()
        self._halt.set()
        if _active is self:
            _active = None
        self.join(timeout=5)


def release_memory() -> None:
    """Give back what a finished run held: collect its reference cycles, empty the CUDA
    cache, and return glibc's free heap to the system (``malloc_trim``).

    What survives the collection (the worker's modules, its store, ~0.5 M objects) is
    frozen (``gc.freeze``), so the next run's collection scans only what that run made:
    a full collection of a worker that has imported torch took 0.25 s, 2 % of a demo run."""
    gc.collect()
    gc.freeze()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
