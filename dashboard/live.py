"""Following a running run: the one definition every page uses of "still training" and of
how often a page re-reads a run that is (issue 19: new epochs appear within one refresh
interval, at most 5 s; the refreshing stops when the run ends)."""

from __future__ import annotations

# run statuses after which nothing new is recorded are everything but these
ACTIVE_STATUSES = ("queued", "running")
# how often a page showing a running run re-reads it (ms); under the 5 s the issue allows
LIVE_MS = 2000
# the value of a "follow latest" checklist when it is on
FOLLOW = "follow"


def is_active(run: dict | None) -> bool:
    """True while a run may still record epochs."""
    return (run or {}).get("status") in ACTIVE_STATUSES


def epoch_marks(epochs: list[int]) -> dict[int, str]:
    """Slider marks over the indices of recorded epochs: about a dozen labelled stops, the
    last always labelled."""
    every = max(1, -(-len(epochs) // 12))
    return {i: (str(e) if (i % every == 0 or i == len(epochs) - 1) else "")
            for i, e in enumerate(epochs)}


def kept_index(old_epochs: list[int], new_epochs: list[int], index: int | None,
               follow: bool) -> int | None:
    """The slider index after the recorded epochs changed: the last when following, else the
    index of the epoch the user was on (None: leave the slider where it is)."""
    if not new_epochs:
        return None
    if follow:
        return len(new_epochs) - 1
    if index is None or not old_epochs:
        return None
    epoch = old_epochs[max(0, min(int(index), len(old_epochs) - 1))]
    if epoch in new_epochs:
        return new_epochs.index(epoch)
    return None


def live_note(run: dict, epochs: list[int]) -> str:
    """The line a page shows above a running run's plots ("" once it has ended)."""
    if not is_active(run):
        return ""
    last = f"epoch {epochs[-1]} recorded" if epochs else "no epoch recorded yet"
    return f"● {run.get('status')} · {last} · new epochs appear as they are recorded"
