"""Checks: what the produced runs, lab jobs and theory queries of a catalogue entry computed,
and whether that agrees with what the paper printed and claimed.

One function per ``check`` name of ``catalogue.yaml``. Each takes a :class:`Produced` (the
entry's runs with their stored metrics, its lab job results and theory answers, in recipe
order) and returns ``computed``: numbers and booleans read or derived from the store, never
typed in. Keys named like a ``published`` key are compared with it within the entry's
tolerance; keys named like an ``expect`` key are compared with the expectation (a boolean
must match, ``*_min``/``*_max`` bound a number). :func:`evaluate` does the comparing and says
``agrees``, ``differs`` (with the reasons) or ``not yet run``.

numpy only (no torch): the API uses this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.papers import checks_000, checks_002, checks_003  # noqa: F401 (register checks)
from backend.papers.produced import (  # noqa: F401 (re-exported)
    CHECKS,
    LabResult,
    Produced,
    RunResult,
    TheoryResult,
    _f,
    stored_triple_geometry,
)

VERDICTS = ("agrees", "differs", "not yet run")


# --- the verdict --------------------------------------------------------------------------

def _compare_expect(key: str, want: Any, got: Any) -> tuple[bool, str]:
    if isinstance(want, bool):
        return got is want or got == want, f"{key}: expected {want}, computed {got}"
    if isinstance(want, (int, float)) and key.endswith("_min"):
        return got is not None and got >= want, f"{key}: expected ≥ {want}, computed {got}"
    if isinstance(want, (int, float)) and key.endswith("_max"):
        return got is not None and got <= want, f"{key}: expected ≤ {want}, computed {got}"
    return got == want, f"{key}: expected {want!r}, computed {got!r}"


def evaluate(entry, produced: Produced) -> dict[str, Any]:
    """``{"computed", "verdict", "reasons", "comparisons"}`` for ``produced``.

    ``not yet run`` while a run or lab job is missing or unfinished; otherwise ``agrees``
    when every published number that was computed lies within tolerance and every
    expectation holds, ``differs`` with one reason per miss."""
    if entry.out_of_scope:
        return {"computed": {}, "verdict": "not yet run", "reasons": [entry.out_of_scope],
                "comparisons": []}
    recipe = entry.recipe(produced.scale)
    if recipe.empty:
        return {"computed": {}, "verdict": "not yet run",
                "reasons": [f"no {produced.scale} recipe"], "comparisons": []}
    if not produced.complete:
        return {"computed": {}, "verdict": "not yet run", "reasons": produced.pending(),
                "comparisons": []}
    fn = CHECKS[entry.check]
    try:
        computed = fn(produced)
    # stored data this check cannot read: say so, never crash a page
    except Exception as exc:  # noqa: BLE001
        return {"computed": {}, "verdict": "differs",
                "reasons": [f"check {entry.check} failed: {type(exc).__name__}: {exc}"],
                "comparisons": []}
    computed = {k: (_f(v) if isinstance(v, (float, np.floating)) else
                    bool(v) if isinstance(v, np.bool_) else v) for k, v in computed.items()}
    comparisons, reasons = [], []
    for key, pub in entry.published.items():
        if key not in computed or computed[key] is None:
            continue
        got = computed[key]
        if isinstance(pub, bool):
            ok = got == pub
            tol = None
        else:
            tol = entry.tolerance_for(key)
            ok = abs(float(got) - float(pub)) <= tol + 1e-12
        comparisons.append({"key": key, "published": pub, "computed": got, "tolerance": tol,
                            "ok": bool(ok)})
        if not ok:
            reasons.append(f"{key}: computed {got:.6g} vs published {pub} (tolerance {tol})"
                           if tol is not None else f"{key}: computed {got}, published {pub}")
    notes = []
    for key, want in entry.expect.items():
        if key not in computed:
            notes.append(f"{key}: not computed at {produced.scale} scale")
            continue
        ok, msg = _compare_expect(key, want, computed[key])
        comparisons.append({"key": key, "expected": want, "computed": computed[key],
                            "ok": bool(ok)})
        if not ok:
            reasons.append(msg)
    if not comparisons:
        reasons.append(f"nothing comparable with the paper was computed at {produced.scale} "
                       "scale")
    verdict = "agrees" if not reasons else "differs"
    if verdict == "differs" and entry.errata:
        reasons.append("see the errata: " + "; ".join(e.what for e in entry.errata))
    if not any(k in computed for k in entry.published) and entry.published:
        notes.append(f"the published numbers are for the paper scale; {produced.scale} scale "
                     "checks the claim's direction")
    return {"computed": computed, "verdict": verdict, "reasons": reasons + notes,
            "comparisons": comparisons}
