"""A warning that this process is about to lose its allocation (Slurm's time-limit or
preemption signal): the training loop checkpoints at the end of the epoch in progress and
stops with :class:`Preempted`; whoever runs the loop releases the run to the queue and has
it requeued (``trainer.slurm_job``). Executor-agnostic: anything may call :func:`request`."""

from __future__ import annotations

import threading

_requested = threading.Event()


class Preempted(BaseException):
    """The loop stopped after checkpointing ``epoch`` because :func:`request` was called.
    Not an ``Exception``: the run is neither failed nor finished, the caller releases it."""

    def __init__(self, epoch: int):
        super().__init__(f"preempted after checkpointing epoch {epoch}")
        self.epoch = epoch


def request() -> None:
    """Ask the loop to checkpoint and stop at the end of its current epoch (signal-safe)."""
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def clear() -> None:
    _requested.clear()
