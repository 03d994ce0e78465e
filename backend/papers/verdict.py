"""The verdict of a catalogue entry: what was compared with the paper, what could not be,
which parts of the claim held, and the one word that sums it up.

- ``matches``: every published number of this scale was compared, each within a tolerance
  whose source is stated (the paper's error bars or words, the seeds' scatter, a stated
  physical bound), and every part of the claim held.
- ``claim-holds``: no published number is comparable at this scale, and every part of the
  claim (a test that could fail) held in every one of ≥ 3 seeds, with its smallest margin
  larger than the seeds' scatter of that margin (sample std over the seeds); a part with no
  numeric margin (an exact computation, e.g. Lemma 2.3's limit) must hold in every seed.
- ``differs``: a compared number lies outside its tolerance or a part failed; ``differs``
  names the reason's kind (``scale``, ``task``, ``paper-error`` from the catalogue, else
  ``unexplained``).
- ``not-comparable``: nothing failed, but nothing could be established either (no
  comparable number and fewer than 3 seeds, a part without a margin beyond the scatter, no
  recipe at this scale, or a check that raised: then ``error`` says what).
- ``not-run``: a run or lab job of the recipe is missing or unfinished.
- ``out-of-scope``.

Every published key lands in exactly one of ``compared`` (``{key, published, computed,
tolerance, tolerance_source, within}``) or ``not_compared`` (``{key, reason}``). A part is
an ``expect`` key (``{key, expected, computed, held_by_seed, held, margins, scatter}``); a
check reports a part's margin as ``<key>_margin`` (positive when it holds).

numpy only (no torch): the API uses this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.papers.produced import CHECKS, Produced, _f

VERDICTS: tuple[str, ...] = ("matches", "claim-holds", "differs", "not-comparable",
                             "not-run", "out-of-scope")
#: claim-holds needs the claim in at least this many seeds (the scatter needs several)
MIN_SEEDS = 3


def _clean(computed: dict[str, Any]) -> dict[str, Any]:
    return {k: (_f(v) if isinstance(v, (float, np.floating)) else
                bool(v) if isinstance(v, np.bool_) else
                int(v) if isinstance(v, np.integer) else v) for k, v in computed.items()}


def _expect_ok(key: str, want: Any, got: Any) -> tuple[bool | None, float | None]:
    """(held, margin) of one expectation on one seed; held None when not computed."""
    if got is None:
        return None, None
    if isinstance(want, bool):
        return bool(got) is want, None
    if isinstance(want, (int, float)) and key.endswith("_min"):
        return float(got) >= want, float(got) - want
    if isinstance(want, (int, float)) and key.endswith("_max"):
        return float(got) <= want, want - float(got)
    return got == want, None


def _scatter(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def _draw_tolerance(values: list[float], printed: float) -> tuple[float | None, str]:
    """``seeds-draw``: the published number is one draw of what one seed computes (e.g. one
    10-run mean), compared with the mean of ``n`` seeds: their difference has std
    s·sqrt(1 + 1/n) (s the seeds' sample std), so the tolerance is twice that, plus
    ``printed`` (half the last digit the paper prints: 1.000 only says ≥ 0.9995)."""
    sc, n = _scatter(values), len(values)
    src = (f"seeds-draw: twice the sample std over {n} seeds × sqrt(1 + 1/{n}) (the paper's "
           "number is one draw, ours a mean of the seeds)"
           + (f" + {printed:g} (half the paper's last printed digit)" if printed else ""))
    return (None if sc is None else 2 * sc * float(np.sqrt(1 + 1 / n)) + printed), src


def _why_not(entry, key: str, scale: str, computed: dict[str, Any]) -> str:
    why = entry.not_comparable.get(scale)
    stand_in = next((k for k in (f"{key}_cpu", f"cpu_{key}") if k in computed), None)
    if why is None:
        why = (f"the published number is for the paper's setting; the {scale} scale does "
               "not compute it")
    return why + (f" (the {scale} stand-in {stand_in} is shown beside, not compared)"
                  if stand_in else "")


def base_body(entry, verdict: str, why: str, *, scale: str) -> dict[str, Any]:
    """An entry's verdict fields when nothing was computed (every published key not
    compared, for ``why``)."""
    return {"verdict": verdict, "computed": {}, "computed_by_seed": {}, "compared": [],
            "not_compared": [{"key": k, "reason": why} for k in entry.published],
            "parts": [], "seeds": [], "reasons": [why], "differs": None, "error": None,
            "scale_note": entry.not_comparable.get(scale)}


def evaluate(entry, produced: Produced) -> dict[str, Any]:
    """The verdict fields of ``entry`` from what the store holds (``produced``)."""
    scale = produced.scale
    if entry.out_of_scope:
        return base_body(entry, "out-of-scope", entry.out_of_scope, scale=scale)
    if entry.recipe(scale).empty:
        return base_body(entry, "not-comparable", f"no {scale} recipe: "
                         + (entry.not_comparable.get(scale) or "nothing runs at this scale"),
                         scale=scale)
    if not produced.complete:
        body = base_body(entry, "not-run", "not run yet", scale=scale)
        body["reasons"] = produced.pending() or ["not run yet"]
        return body
    fn = CHECKS[entry.check]
    seeds = produced.seeds
    by_seed: dict[int, dict[str, Any]] = {}
    for s in seeds:
        try:
            by_seed[s] = _clean(fn(produced.for_seed(s)))
        # stored data this check cannot read: an error, shown as such
        except Exception as exc:  # noqa: BLE001
            err = f"check {entry.check} raised on seed {s}: {type(exc).__name__}: {exc}"
            body = base_body(entry, "not-comparable", err, scale=scale)
            body.update(error=err, seeds=seeds)
            return body
    first = by_seed[seeds[0]]
    reasons: list[str] = []
    compared, not_compared = [], []
    for key, pub in entry.published.items():
        values = [by_seed[s].get(key) for s in seeds]
        if any(v is None for v in values):
            not_compared.append({"key": key, "reason": _why_not(entry, key, scale, first)})
            continue
        if isinstance(pub, bool):
            within = all(bool(v) is pub for v in values)
            compared.append({"key": key, "published": pub, "computed": values[0],
                             "tolerance": None, "tolerance_source": "exact (a yes/no)",
                             "within": within})
        else:
            got = float(np.mean([float(v) for v in values]))
            tol, src = entry.tolerance_for(key), entry.tolerance_source_for(key)
            if src == "seeds":
                sc = _scatter([float(v) for v in values])
                tol = None if sc is None else 2 * sc
                src = f"seeds: twice the sample std over {len(values)} seeds"
            elif src == "seeds-draw":
                tol, src = _draw_tolerance([float(v) for v in values],
                                           entry.tolerance_for(key) or 0.0)
            if tol is None or not src:
                why = ("its tolerance is the seeds' scatter, which needs ≥ 2 seeds (this "
                       f"scale ran {len(values)})" if entry.tolerance_source_for(key) in
                       ("seeds", "seeds-draw")
                       else "no tolerance with a stated source for this key")
                not_compared.append({"key": key, "reason": why})
                continue
            within = abs(got - float(pub)) <= tol + 1e-12
            compared.append({"key": key, "published": pub, "computed": got,
                             "tolerance": tol, "tolerance_source": src, "within": within})
        if not compared[-1]["within"]:
            c = compared[-1]
            reasons.append(f"{key}: computed {c['computed']} vs published {pub}"
                           + (f" (tolerance {c['tolerance']:.3g}, {c['tolerance_source']})"
                              if c["tolerance"] is not None else ""))
    parts = []
    for key, want in entry.expect.items():
        held, margins, got = [], [], []
        for s in seeds:
            ok, m = _expect_ok(key, want, by_seed[s].get(key))
            held.append(ok)
            got.append(by_seed[s].get(key))
            m = by_seed[s].get(f"{key}_margin", m)
            if m is not None:
                margins.append(float(m))
        scatter = _scatter(margins) if len(margins) == len(seeds) else None
        part = {"key": key, "expected": want, "computed": got[0], "computed_by_seed": got,
                "held_by_seed": held, "held": all(h is True for h in held),
                "margins": margins or None, "scatter": scatter,
                "margin_beyond_scatter": (None if scatter is None or not margins
                                          else bool(min(margins) > scatter))}
        parts.append(part)
        if any(h is None for h in held):
            reasons.append(f"{key}: not computed at {scale} scale (a part of the claim that "
                           "was not tested fails)")
        elif not part["held"]:
            bad = [s for s, h in zip(seeds, held) if not h]
            reasons.append(f"{key}: expected {want}, computed {got} (fails on seed(s) {bad})")
    failed = [c for c in compared if not c["within"]] + [p for p in parts if not p["held"]]
    if failed:
        verdict = "differs"
    elif compared and not not_compared:
        verdict = "matches"
    elif parts and len(seeds) >= MIN_SEEDS and \
            all(p["margin_beyond_scatter"] is not False for p in parts):
        verdict = "claim-holds"
    else:
        verdict = "not-comparable"
        if not parts and not compared:
            reasons.append(f"nothing comparable with the paper at {scale} scale: "
                           + (entry.not_comparable.get(scale) or "no part of the claim is "
                              "tested and no published number computed"))
        elif len(seeds) < MIN_SEEDS:
            reasons.append(f"the claim's parts held in {len(seeds)} seed(s); "
                           f"claim-holds needs ≥ {MIN_SEEDS} to measure their scatter")
        else:
            small = [p["key"] for p in parts if p["margin_beyond_scatter"] is False]
            reasons.append(f"held in every seed, but the margin of {', '.join(small)} is "
                           "within the seeds' scatter")
    differs = None
    if verdict == "differs":
        differs = {"kind": entry.differs_kind or "unexplained",
                   "why": "; ".join(reasons), "evidence": entry.differs_evidence}
        if entry.errata:
            reasons.append("see the errata: " + "; ".join(e.what for e in entry.errata))
    return {"verdict": verdict, "computed": first,
            "computed_by_seed": {str(s): by_seed[s] for s in seeds} if len(seeds) > 1 else {},
            "compared": compared, "not_compared": not_compared, "parts": parts,
            "seeds": seeds, "reasons": reasons, "differs": differs, "error": None,
            "scale_note": entry.not_comparable.get(scale)}
