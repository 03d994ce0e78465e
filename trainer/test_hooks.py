"""Test-only hooks of the training loop: tests act at a known point of a run (a pause after
an epoch, a step reached), never at a guessed time. Inert unless their environment variables
are set (``docs/contracts.md``, Trainer entry points)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from trainer import preemption

#: Test-only pause (tests kill a run at a known epoch, never at a guessed time): after epoch
#: ``MIXSCOPE_TEST_PAUSE_AFTER_EPOCH`` is recorded (and checkpointed if due), the trainer
#: creates the file ``MIXSCOPE_TEST_PAUSE_FILE`` and waits while it exists.
PAUSE_EPOCH_ENV = "MIXSCOPE_TEST_PAUSE_AFTER_EPOCH"
PAUSE_FILE_ENV = "MIXSCOPE_TEST_PAUSE_FILE"
#: Test-only marker (tests cancel at a known step, never at a guessed time): when training
#: reaches step ``MIXSCOPE_TEST_STEP_MARK`` of its first training epoch, the trainer writes
#: ``epoch step`` into ``MIXSCOPE_TEST_STEP_FILE`` (once).
STEP_MARK_ENV = "MIXSCOPE_TEST_STEP_MARK"
STEP_FILE_ENV = "MIXSCOPE_TEST_STEP_FILE"


def pause(epoch: int) -> None:
    target, path = os.environ.get(PAUSE_EPOCH_ENV), os.environ.get(PAUSE_FILE_ENV)
    if not target or not path or int(target) != epoch:
        return
    with open(path, "w") as f:
        f.write(str(epoch))
    while os.path.exists(path) and not preemption.requested():
        time.sleep(0.05)




@dataclass
class StepMark:
    """``MIXSCOPE_TEST_STEP_MARK`` / ``MIXSCOPE_TEST_STEP_FILE`` of one run."""

    step: int
    path: str

    @classmethod
    def from_env(cls) -> StepMark | None:
        mark, path = os.environ.get(STEP_MARK_ENV), os.environ.get(STEP_FILE_ENV)
        return cls(int(mark), path) if mark and path else None

    def reached(self, epoch: int, step: int) -> bool:
        """Write ``epoch step`` once step ``self.step`` of epoch 1 is reached; True then."""
        if (epoch, step) < (1, self.step):
            return False
        with open(self.path, "w") as f:
            f.write(f"{epoch} {step}")
        return True
