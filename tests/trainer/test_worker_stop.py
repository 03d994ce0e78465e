"""``mixscope worker``'s SIGTERM/SIGINT handler (``trainer.worker.stop_now``): it raises
``WorkerStopping`` to interrupt a training run at once, and sets Celery's terminate flag so the
worker stops at its loop's next turn even where Python drops that exception: a handler that
runs inside a weakref callback (as during a run's final garbage collection) has its exception
printed and ignored. Found by a fresh-clone test run: the worker stayed up after SIGTERM and
kept its memory-budget row."""

from __future__ import annotations

import signal
import weakref

import pytest
from celery.exceptions import WorkerTerminate
from celery.worker import state

from trainer.worker import WorkerStopping, stop_now


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_signal_raised_inside_a_weakref_callback_still_stops_the_worker(monkeypatch):
    monkeypatch.setattr(state, "should_terminate", None)

    class Thing:
        pass

    thing = Thing()
    ref = weakref.ref(thing, lambda _ref: stop_now(signal.SIGTERM, None))
    del thing   # the callback's WorkerStopping is printed and ignored by Python
    assert ref() is None
    assert state.should_terminate == 0
    with pytest.raises(WorkerTerminate):
        state.maybe_shutdown()   # what Celery's loop calls at its next turn


def test_a_stop_signal_in_ordinary_code_interrupts_at_once(monkeypatch):
    monkeypatch.setattr(state, "should_terminate", None)
    with pytest.raises(WorkerStopping):
        stop_now(signal.SIGINT, None)
    assert state.should_terminate == 0
