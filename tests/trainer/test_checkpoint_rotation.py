"""A worker killed in the middle of the rolling checkpoint's rotation loses neither checkpoint.

``save_latest`` re-keys the latest checkpoint as ``checkpoint_previous`` (its file moved to the
previous one's name and its row re-keyed, in one transaction) and then writes the new latest.
A SIGKILL between the file's move and the transaction's commit used to leave the latest row
pointing at a file that was gone and the previous row at bytes that were no longer its own:
both damaged, so the run retrained from scratch and then failed at its next checkpoint
(FileNotFoundError in the move). Found by a busy-machine run of the SIGKILL tests; here the
cut is made exactly, with the store's own file operation and no commit.
"""

from __future__ import annotations

import torch

from backend.runconfig import RunConfig
from backend.store.artifacts import artifact_relpath
from trainer import checkpoint


def _tensors(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((4, 3), value), "meta": torch.tensor([1, 2, 3], dtype=torch.uint8)}


def _cut_rotation_short(store, run_id: str) -> None:
    """What a kill leaves after move_artifact moved the file and before it committed."""
    latest = next(a for a in store.list_artifacts(run_id, checkpoint.KIND))
    store.files.move(latest.path, artifact_relpath(run_id, checkpoint.PREVIOUS, None, None))


def test_a_rotation_cut_short_is_finished_and_the_latest_is_kept(store):
    run = store.create_run(RunConfig(epochs=2))
    checkpoint.save_latest(store, run.id, _tensors(1.0))   # previous: none
    checkpoint.save_latest(store, run.id, _tensors(2.0))   # previous: 1.0, latest: 2.0
    _cut_rotation_short(store, run.id)
    # before the fix both rows were damaged here
    assert store.damaged_artifacts(run.id)

    assert store.recover_move(run.id, checkpoint.KIND, checkpoint.PREVIOUS) is True
    assert store.damaged_artifacts(run.id) == []
    got = store.get_tensors(run.id, checkpoint.PREVIOUS, epoch=None)
    assert float(got["w"][0, 0]) == 2.0                      # the newest bytes survive
    assert not store.list_artifacts(run.id, checkpoint.KIND)

    # the next rotation works (it raised FileNotFoundError before)
    checkpoint.save_latest(store, run.id, _tensors(3.0))
    assert float(store.get_tensors(run.id, checkpoint.KIND, epoch=None)["w"][0, 0]) == 3.0
    assert float(store.get_tensors(run.id, checkpoint.PREVIOUS, epoch=None)["w"][0, 0]) == 2.0


def test_nothing_to_recover_after_a_clean_rotation(store):
    run = store.create_run(RunConfig(epochs=2))
    assert store.recover_move(run.id, checkpoint.KIND, checkpoint.PREVIOUS) is False
    checkpoint.save_latest(store, run.id, _tensors(1.0))
    checkpoint.save_latest(store, run.id, _tensors(2.0))
    assert store.recover_move(run.id, checkpoint.KIND, checkpoint.PREVIOUS) is False
    assert float(store.get_tensors(run.id, checkpoint.KIND, epoch=None)["w"][0, 0]) == 2.0


def test_a_missing_latest_whose_bytes_are_not_elsewhere_is_not_rekeyed(store):
    """A latest file that is simply lost (not moved) stays damaged: recovery only finishes
    a move whose bytes are verifiably at the new name."""
    run = store.create_run(RunConfig(epochs=2))
    checkpoint.save_latest(store, run.id, _tensors(1.0))
    checkpoint.save_latest(store, run.id, _tensors(2.0))
    latest = next(a for a in store.list_artifacts(run.id, checkpoint.KIND))
    store.files.remove(latest.path)
    assert store.recover_move(run.id, checkpoint.KIND, checkpoint.PREVIOUS) is False
    assert float(store.get_tensors(run.id, checkpoint.PREVIOUS, epoch=None)["w"][0, 0]) == 1.0
