"""The seven entries the lead's clean-store run left `differs (unexplained)` (issue 18): the
defects found in their checks and recipes, each with a test that fails on the old code, and
the reasons recorded for what still differs.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from backend.papers import checks, runner  # noqa: F401 (registers the checks)
from backend.papers.catalogue import load_catalogue
from backend.papers.produced import LabResult, Produced, RunResult
from backend.papers.verdict import evaluate


def _entry(entry_id):
    entry = load_catalogue().get(entry_id)
    assert entry is not None
    return entry


# --- 002/table1: one 10-run mean per seed, the paper's number one such draw ----------------

def test_alternating_line_seeds_are_disjoint_run_blocks():
    """Seed s trains runs s..s+runs-1: seeds closer than ``runs`` share runs, and their
    scatter (the tolerance) shrinks with the overlap (seeds 0, 1, 2 shared 8 of 10)."""
    entry = _entry("002/table1")
    for scale in ("cpu", "paper"):
        recipe = entry.recipe(scale)
        assert len(recipe.seeds) >= 3
        for line in recipe.lab:
            seeds = sorted(recipe.seeds)
            gaps = [b - a for a, b in pairwise(seeds)]
            assert min(gaps) >= line["runs"], (scale, seeds, line)


def _line_produced(entry, store, shift: dict[str, float]) -> Produced:
    """Ten seeds' labs whose 10-run means scatter (std ≈ 0.017 at the middle point, as
    measured) around the published values, shifted by ``shift`` per key; the end points
    computed as 0.9997 where the paper prints 1.000."""
    recipe = entry.recipe("cpu")
    labs = []
    for s in recipe.seeds:
        rng = np.random.default_rng(s)
        for line in recipe.lab:
            a = int(line["alpha"])
            ps = []
            for k in range(3):
                pub = float(entry.published[f"alpha{a}_p{k}"])
                if pub == 1.0:
                    p = 0.9997  # prints as 1.000; the seeds agree to 4 decimals
                else:
                    p = pub + shift.get(f"alpha{a}_p{k}", 0.0) + \
                        rng.normal(0, 0.017 if k == 1 else 0.0005)
                ps.append(p)
            result = {"points": [0, 1, 2], "mixup": {"prob_mean": [[p, 1 - p] for p in ps]},
                      "erm": {"prob_mean": [[0.99, 0.01], [0.01, 0.99], [0.99, 0.01]]}}
            params = runner.lab_params(runner.seeded(line, s))
            labs.append(LabResult(params=params, job=None, result=result))
    return Produced(entry=entry, scale="cpu", store=store, labs=labs)


def test_a_printed_one_is_within_its_last_digit(store):
    """The paper's 1.000 against 0.9997 in every seed: the old tolerance (twice the seeds'
    std, 0 where they agree) called it different; half the printed digit does not."""
    entry = _entry("002/table1")
    body = evaluate(entry, _line_produced(entry, store, {}))
    rows = {c["key"]: c for c in body["compared"]}
    assert rows["alpha32_p0"]["within"] and rows["alpha128_p0"]["within"], rows
    assert rows["alpha32_p0"]["tolerance"] >= 0.0005
    assert all(c["tolerance_source"].startswith("seeds-draw") for c in body["compared"])
    assert body["verdict"] == "matches", body["reasons"]


def test_a_published_draw_far_outside_the_seeds_scatter_differs(store):
    """The counter-example: the middle point 0.1 above the paper (≈ 5 of its scatters) at
    α = 128 is a different number, and the verdict says so."""
    entry = _entry("002/table1")
    body = evaluate(entry, _line_produced(entry, store, {"alpha128_p1": 0.1}))
    rows = {c["key"]: c for c in body["compared"]}
    assert not rows["alpha128_p1"]["within"], rows["alpha128_p1"]
    assert rows["alpha1_p1"]["within"]
    assert body["verdict"] == "differs"


# --- 003/fig12: absolute spectra, as the paper plots them ------------------------------------

def _spectra_run(store, seed, method, per_class, all_):
    from backend.runconfig import RunConfig

    run = store.create_run(RunConfig.model_validate(
        {"dataset": "digits", "seed": seed, "epochs": 2, "method": method}))
    store.claim_run(run.id, "test")
    store.record_epoch(run.id, 1, {})
    noise = float(np.random.default_rng(seed).normal(0, 0.05))
    store.put_arrays(run.id, "spectra", {"per_class": np.tile(per_class, (10, 1)) + noise,
                                         "all": np.asarray(all_, np.float64)},
                     epoch=2, layer="bottleneck")
    store.update_run_info(run.id, recorded_epochs=[2])
    store.finish_run(run.id, "succeeded")
    return RunResult(spec={"seed": seed}, run=store.get_run(run.id),
                     epochs=store.epoch_metrics(run.id), seed=seed)


def test_a_class_flattening_that_shrinks_the_first_value_too_is_seen(store):
    """Manifold mixup halves every class singular value (the first included) while the
    all-class spectrum barely moves: normalised to the first value (the old check) the class
    spectra looked unchanged and the claim failed; in absolute values it holds. The
    counter-example (only the all-class spectrum moves) still differs."""
    entry = _entry("003/fig12")

    def build(ok):
        runs = []
        for s in (0, 1, 2):
            runs.append(_spectra_run(store, s, "erm", [10.0, 6, 4, 2], [30.0, 20, 15, 10]))
            runs.append(_spectra_run(store, s, "manifold-mixup",
                                     *(([5.0, 3, 2, 1], [27.0, 20, 16, 9]) if ok else
                                       ([10.0, 6, 4, 2], [30.0, 5, 2, 1]))))
        return Produced(entry=entry, scale="cpu", store=store, runs=runs)

    good, bad = evaluate(entry, build(True)), evaluate(entry, build(False))
    assert good["verdict"] == "claim-holds", good["reasons"]
    # halving: |a - b| / (a + b) = 1/3 at every index; the all-class spectrum moves ~0.03
    assert good["computed"]["class_specific_difference"] > 0.3
    assert good["computed"]["all_class_difference"] < 0.1
    assert bad["verdict"] == "differs"
