"""Schedules: which epochs are recorded, and the learning rate at each step.

Both are pure functions of the config (and of the step), so a resumed run needs no scheduler
state to continue exactly where it stopped.
"""

from __future__ import annotations

import itertools
import math

from backend.runconfig import RunConfig


def recorded_epochs(config: RunConfig) -> list[int]:
    """The epochs whose activations are stored, sorted, always with 0 and the last.

    ``record.epochs == "auto"``: dense early, sparse later, at most ``record.max_recorded``
    epochs — a geometric grid (``round(E ** (i / (n-1)))``) merged with evenly spaced epochs
    so late training is covered too. An explicit list is used as given (plus 0 and last).
    """
    total = config.epochs
    spec = config.record.epochs
    if spec != "auto":
        return sorted({0, total, *spec})
    budget = max(2, config.record.max_recorded)
    if total + 1 <= budget:
        return list(range(total + 1))
    chosen = {0, total}
    # Half of the budget on a geometric grid (dense early) ...
    n_geo = max(2, budget // 2)
    chosen |= {round(total ** (i / (n_geo - 1))) for i in range(n_geo)}
    # ... then evenly spaced epochs, skipping those close to one already chosen ...
    n_lin = budget - len(chosen)
    step = total / (n_lin + 1) if n_lin > 0 else total
    for i in range(1, n_lin + 1):
        e = round(i * step)
        if len(chosen) < budget and min(abs(e - c) for c in chosen) >= step / 2:
            chosen.add(e)
    # ... and the midpoints of the largest gaps until the budget is used (deterministic).
    while len(chosen) < budget:
        s = sorted(chosen)
        gaps = [(b - a, a, b) for a, b in itertools.pairwise(s) if b - a > 1]
        if not gaps:
            break
        _, a, b = max(gaps)
        chosen.add((a + b) // 2)
    return sorted(chosen)


def lr_at(config: RunConfig, progress_epochs: float) -> float:
    """Learning rate after ``progress_epochs`` epochs of training (fractional: per step).

    Warm-up: linear from ``lr / (warmup_epochs*steps)`` to ``lr`` over ``warmup_epochs``.
    Then ``cosine`` (to 0 at the end), ``step`` (× ``lr_gamma`` at each milestone fraction
    of training) or ``constant``.
    """
    base = config.lr
    total = float(config.epochs)
    warm = float(config.warmup_epochs)
    t = progress_epochs
    if warm > 0 and t < warm:
        return base * max(t, 1e-3) / warm
    if config.schedule == "constant":
        return base
    if config.schedule == "step":
        drops = sum(1 for f in config.lr_milestones if t >= f * total)
        return base * config.lr_gamma ** drops
    # cosine over the post-warm-up part of training
    span = max(total - warm, 1e-9)
    frac = min(max((t - warm) / span, 0.0), 1.0)
    return base * 0.5 * (1.0 + math.cos(math.pi * frac))
