"""Earned verdicts: every published key is compared or says why not; every check can fail.

Each counter-example feeds the real catalogue entry's check what a wrong world would have
stored (the ERM run in place of the mixup one, a swapped ordering, the premise broken) in
three seeds, through a real store, and sees ``differs``; the same entry fed the paper's
world says ``claim-holds``. The numbers are what such runs would record, written as the
trainer writes them (``record_epoch``, ``put_arrays``), not trained: the checks are
arithmetic over the store, and training 3 seeds of every entry is the CLI's work
(``mixscope reproduce --all``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.papers import checks, runner
from backend.papers.catalogue import load_catalogue
from backend.papers.produced import LabResult, Produced, RunResult, TheoryResult
from backend.papers.verdict import VERDICTS, evaluate
from backend.runconfig import RunConfig

SEEDS = (0, 1, 2)


def lab_seeds(entry):
    """A lab entry's recipe seeds: blocks of its seeded runs, spaced so none shares a run."""
    return tuple(entry.recipe("cpu").seeds)


def _entry(entry_id):
    entry = load_catalogue().get(entry_id)
    assert entry is not None
    return entry


def _run(store, seed: int, epochs: list[dict], evals=None, arrays=(), **cfg) -> RunResult:
    """A finished run in ``store`` whose epochs recorded ``epochs`` (and ``arrays``:
    ``(kind, epoch, layer, {name: array}, meta)``)."""
    config = RunConfig.model_validate({"dataset": "digits", "seed": seed, "epochs": 2, **cfg})
    run = store.create_run(config)
    store.claim_run(run.id, "test")
    for i, m in enumerate(epochs):
        store.record_epoch(run.id, m.get("epoch", i + 1), {k: v for k, v in m.items()
                                                          if k != "epoch"})
    for kind, epoch, layer, arr, meta in arrays:
        store.put_arrays(run.id, kind, arr, epoch=epoch, layer=layer, meta=meta)
    if arrays:
        store.update_run_info(run.id, recorded_epochs=[a[1] for a in arrays])
    store.finish_run(run.id, "succeeded")
    return RunResult(spec={"seed": seed}, run=store.get_run(run.id),
                     epochs=store.epoch_metrics(run.id), evals=evals or {}, seed=seed)


def _produced(store, entry, runs=(), labs=(), theory=()) -> Produced:
    return Produced(entry=entry, scale="cpu", store=store, runs=list(runs), labs=list(labs),
                    theory=list(theory))


def _noise(seed: int, scale: float = 0.01) -> float:
    return float(np.random.default_rng(seed).normal(0, scale))


# --- the vocabulary ------------------------------------------------------------------------

def test_every_published_key_is_in_exactly_one_list(store, monkeypatch):
    """For every entry: from a clean store, and with a check that computes some published
    keys (and not others), each published key is compared or not compared, never both,
    never neither."""
    for entry in load_catalogue().entries:
        body = runner.report(store, entry, "cpu", None)
        assert body["verdict"] in VERDICTS
        assert body["verdict"] in ("not-run", "not-comparable", "out-of-scope"), entry.id
        assert body["status"] not in ("done", "running"), entry.id
        keys = [c["key"] for c in body["compared"]] + [c["key"] for c in body["not_compared"]]
        assert sorted(keys) == sorted(entry.published), entry.id
        if entry.out_of_scope or entry.recipe("cpu").empty:
            continue
        half = dict(list(entry.published.items())[::2])
        monkeypatch.setitem(checks.CHECKS, entry.check, lambda p, half=half: dict(half))
        body = evaluate(entry, _produced(store, entry))
        keys = [c["key"] for c in body["compared"]] + [c["key"] for c in body["not_compared"]]
        assert sorted(keys) == sorted(entry.published), entry.id
        for c in body["compared"]:
            assert c["tolerance_source"], (entry.id, c)
        for c in body["not_compared"]:
            assert c["reason"], (entry.id, c)


def test_a_check_that_raises_is_an_error_not_not_run(store, monkeypatch):
    entry = _entry("000/fig5")

    def broken(p):
        raise KeyError("norm_cv")

    monkeypatch.setitem(checks.CHECKS, entry.check, broken)
    body = evaluate(entry, _produced(store, entry))
    assert body["verdict"] == "not-comparable" and "KeyError" in body["error"]


def test_no_tolerance_accepts_anything():
    """Every tolerance has a source; none is a round number larger than the quantity."""
    for e in load_catalogue().entries:
        for key in e.published:
            if e.tolerance_for(key) is not None or e.tolerance_source_for(key):
                assert e.tolerance_source_for(key), (e.id, key)
            tol = e.tolerance_for(key)
            pub = e.published[key]
            if tol is not None and isinstance(pub, (int, float)) and pub:
                assert tol < abs(pub), (e.id, key, tol)


# --- counter-examples, check by check ------------------------------------------------------

def _verdicts(store, entry, build):
    """(verdict of the paper's world, verdict of the counter-example) for ``build(ok)``."""
    good = evaluate(entry, build(True))
    bad = evaluate(entry, build(False))
    return good, bad


def _assert_pair(good, bad, seeds=SEEDS):
    assert good["seeds"] == list(seeds)
    assert good["verdict"] == "claim-holds", good["reasons"]
    assert bad["verdict"] == "differs", bad["reasons"]
    assert any(not p["held"] for p in bad["parts"])


def test_channel_geometry_differs_with_the_erm_run_as_mixup(store):
    entry = _entry("000/fig1")

    def build(ok):
        runs = []
        for s in SEEDS:
            mix = 0.78 if ok else 0.46  # the ERM run's radius in place of the mixup one
            runs.append(_run(store, s, [{"channel_radius": mix + _noise(s),
                                         "alignment": 0.95, "test_accuracy": 0.98}]))
            runs.append(_run(store, s, [{"channel_radius": 0.46 + _noise(s + 10)}],
                             method="erm"))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_loss_comparison_differs_when_ce_and_mse_swap(store):
    entry = _entry("000/fig2")

    def build(ok):
        runs = []
        for s in SEEDS:
            ce, mse = (0.8, 0.55) if ok else (0.55, 0.8)
            runs.append(_run(store, s, [{"channel_radius": ce + _noise(s)}], loss="ce"))
            runs.append(_run(store, s, [{"channel_radius": mse + _noise(s + 5)}],
                             loss="mse"))
            runs.append(_run(store, s, [{"channel_radius": 0.46}], method="erm"))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def _reliability(conf: float) -> dict:
    return {"counts": [10, 90], "confidence": [conf - 0.1, conf], "accuracy": [0.5, 0.9]}


def test_calibration_differs_when_mixup_is_the_more_confident(store):
    entry = _entry("000/fig4")

    def build(ok):
        runs = []
        for s in SEEDS:
            mix, erm = (0.85, 0.97) if ok else (0.97, 0.85)
            runs.append(_run(store, s, [{"reliability": _reliability(mix + _noise(s)),
                                         "ece": 0.1}]))
            runs.append(_run(store, s, [{"reliability": _reliability(erm), "ece": 0.03}],
                             method="erm"))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_etf_convergence_differs_when_the_rows_drift_away(store):
    entry = _entry("000/fig5")

    def build(ok):
        runs = []
        for s in SEEDS:
            v = np.array([0.1, 0.3, 0.25, 0.15, 0.08, 0.05]) if ok else \
                np.linspace(0.1, 0.5, 6)  # rows that drift away from the ETF
            v = v + _noise(s, 0.003)
            runs.append(_run(store, s, [{"epoch": i, "norm_cv": float(x),
                                         "cosine_std": float(x) / 2}
                                        for i, x in enumerate(v)]))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_accuracy_table_differs_when_mixup_loses_more_than_the_papers_drop(store):
    entry = _entry("000/table1")

    def build(ok):
        runs = []
        for s in SEEDS:
            runs.append(_run(store, s, [{"test_accuracy": (0.986 if ok else 0.95)
                                         + _noise(s, 0.001)}], model="mlp"))
            runs.append(_run(store, s, [{"test_accuracy": 0.985}], method="erm",
                             model="mlp"))
        return _produced(store, entry, runs)

    good, bad = _verdicts(store, entry, build)
    _assert_pair(good, bad)
    # the WRN/ViT numbers are the paper's: never compared with the digits MLP
    assert good["compared"] == [] and len(good["not_compared"]) == 12


def test_ece_table_differs_on_a_swapped_ordering(store):
    entry = _entry("000/table2")

    def build(ok):
        runs = []
        for s in SEEDS:
            base, a1, a04 = (0.05, 0.11, 0.03) if ok else (0.11, 0.03, 0.05)
            c_base, c_a1 = (0.97, 0.85) if ok else (0.85, 0.97)
            runs.append(_run(store, s, [{"ece": base + _noise(s, 0.002),
                                         "reliability": _reliability(c_base)}],
                             method="erm"))
            runs.append(_run(store, s, [{"ece": a1 + _noise(s + 3, 0.002),
                                         "reliability": _reliability(c_a1)}]))
            runs.append(_run(store, s, [{"ece": a04 + _noise(s + 6, 0.002),
                                         "reliability": _reliability(0.9)}], alpha=0.4))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_train_accuracy_parity_differs_beyond_the_captions_one_percent(store):
    entry = _entry("002/fig2")

    def build(ok):
        runs = []
        for s in SEEDS:
            runs.append(_run(store, s, [{"train_accuracy": (0.998 if ok else 0.95)
                                         + _noise(s, 0.0005)}], alpha=1024))
            runs.append(_run(store, s, [{"train_accuracy": 1.0}], method="erm"))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_claim_within_the_seeds_scatter_is_not_claim_holds(store):
    """A part that holds on every seed by less than the seeds' scatter is not established."""
    entry = _entry("002/fig2")
    runs = []
    for s, acc in zip(SEEDS, (0.9999, 0.991, 0.9975)):
        runs.append(_run(store, s, [{"train_accuracy": acc}], alpha=1024))
        runs.append(_run(store, s, [{"train_accuracy": 1.0}], method="erm"))
    body = evaluate(entry, _produced(store, entry, runs))
    assert body["parts"][0]["held"] and not body["parts"][0]["margin_beyond_scatter"]
    assert body["verdict"] == "not-comparable"


def test_loss_ordering_differs_when_the_mixing_sets_swap(store):
    entry = _entry("003/fig6")

    def build(ok):
        runs = []
        for s in SEEDS:
            losses = {"input": 0.30, "hidden1": 0.25, "hidden2": 0.2, "blocked": 0.4}
            if not ok:
                losses["input"], losses["hidden2"] = losses["hidden2"], losses["input"]
            for layer in ("input", "hidden1", "hidden2"):
                runs.append(_run(store, s, [{"train_loss": losses[layer] + _noise(s, 0.002)}],
                                 method="manifold-mixup", manifold_layers=[layer], alpha=2.0))
            runs.append(_run(store, s, [{"train_loss": losses["blocked"]}],
                             method="manifold-mixup", manifold_layers=["hidden1"], alpha=2.0,
                             block_gradient=True))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_factor_table_differs_when_the_baseline_generalises(store):
    """003/table8: mixscope's rendered task lets the baseline generalise (the premise of
    the paper's table is broken): differs, and the catalogue says the reason is the task."""
    entry = _entry("003/table8")

    def build(ok):
        runs = []
        for s in SEEDS:
            runs.append(_run(store, s, [{"test_accuracy": (0.016 if ok else 0.988),
                                         "test_nll": 8.8 + _noise(s, 0.1)}], method="erm",
                             dataset="rotated-digit"))
            runs.append(_run(store, s, [{"test_accuracy": 0.2, "test_nll": 6.0}],
                             method="input-mixup", dataset="rotated-digit"))
            runs.append(_run(store, s, [{"test_accuracy": 0.95, "test_nll": 0.5}],
                             method="factor-mixup", dataset="rotated-digit"))
        return _produced(store, entry, runs)

    good, bad = _verdicts(store, entry, build)
    _assert_pair(good, bad)
    assert bad["differs"]["kind"] == "task"


def test_deformation_table_differs_when_manifold_is_less_robust(store):
    entry = _entry("003/table9")

    def result(acc):
        return {"deformations": [{"kind": "rotation", "param": p, "accuracy": acc - p / 400}
                                 for p in (20, 40, 60, 80)]}

    def build(ok):
        runs = []
        for s in SEEDS:
            none, man = (0.6, 0.7) if ok else (0.7, 0.6)
            runs.append(_run(store, s, [{"test_accuracy": 0.98}], method="erm",
                             evals={"deformations": (None, result(none + _noise(s)))}))
            runs.append(_run(store, s, [{"test_accuracy": 0.98}], method="manifold-mixup",
                             alpha=2.0, evals={"deformations": (None, result(man))}))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_spectra_differ_when_the_baseline_is_the_flatter(store):
    """003/fig9: the absolute per-class spectra, index by index."""
    entry = _entry("003/fig9")
    flat, steep = np.array([40.0, 5.0, 3.0, 1.0]), np.array([50.0, 20.0, 12.0, 8.0])

    def spectra(spec, s):
        pc = np.tile(spec + _noise(s, 0.2), (10, 1))
        return [("spectra", 2, "bottleneck", {"per_class": pc, "all": spec * 3}, None)]

    def build(ok):
        runs = []
        for s in SEEDS:
            base, man = (steep, flat) if ok else (flat, steep)
            runs.append(_run(store, s, [{}], method="erm", arrays=spectra(base, s)))
            runs.append(_run(store, s, [{}], method="input-mixup", arrays=spectra(steep, s)))
            runs.append(_run(store, s, [{}], method="manifold-mixup", arrays=spectra(man, s)))
        return _produced(store, entry, runs)

    good, bad = _verdicts(store, entry, build)
    _assert_pair(good, bad)
    assert {c["key"] for c in good["not_compared"]} == set(entry.published)


def test_all_class_spectra_differ_when_only_the_all_class_spectrum_moves(store):
    entry = _entry("003/fig12")

    def arr(per_class, all_, s):
        return [("spectra", 2, "bottleneck",
                 {"per_class": np.tile(per_class, (10, 1)) + _noise(s, 0.05),
                  "all": np.asarray(all_)}, None)]

    def build(ok):
        runs = []
        for s in SEEDS:
            base = arr([10.0, 6, 4, 2], [30.0, 20, 15, 10], s)
            # paper: class spectra differ, the all-class one barely; counter: the reverse
            man = arr([10.0, 2, 1, 0.5], [30.0, 20, 15, 10], s) if ok else \
                arr([10.0, 6, 4, 2], [30.0, 5, 2, 1], s)
            runs.append(_run(store, s, [{}], method="erm", arrays=base))
            runs.append(_run(store, s, [{}], method="manifold-mixup", arrays=man))
        return _produced(store, entry, runs)

    _assert_pair(*_verdicts(store, entry, build))


def test_trajectory_differs_when_deeper_layers_hide_the_minority_image(store):
    """000/fig3: the minority image's share of a mix (at the λ grid's smallest weight) grows
    layer by layer in the paper's world; the counter-example's deeper layers hide it."""
    entry = _entry("000/fig3")
    lams = np.linspace(0, 1, 11)

    def bend(share):  # a path whose point at weight 0.1 sits at `share` of the segment
        f = lams.copy()
        f[1], f[-2] = share, 1 - share
        return f

    def traj(shares, s):
        out = {"lambdas": lams.astype(np.float32)}
        for name, sep, sh in zip(("hidden1", "hidden2", "penultimate"), (1.0, 1.6, 2.2),
                                 shares):
            a = np.zeros((4, 11, 2))
            a[:, :, 0] = (sep + _noise(s, 0.01)) * bend(sh + _noise(s + 7, 0.002))
            a[:, :, 1] = np.linspace(-1, 1, 4)[:, None]
            out[f"layer:{name}"] = a
        return [("trajectory", 2, None, out, {"layers": "hidden1,hidden2,penultimate"})]

    def build(ok):
        shares = (0.11, 0.14, 0.17) if ok else (0.17, 0.14, 0.11)
        return _produced(store, entry, [_run(store, s, [{}], arrays=traj(shares, s))
                                        for s in SEEDS])

    good, bad = _verdicts(store, entry, build)
    _assert_pair(good, bad)
    assert good["computed"]["minority_share_penultimate"] > \
        good["computed"]["minority_share_hidden1"]
    failed = {p["key"] for p in bad["parts"] if not p["held"]}
    assert failed == {"minority_share_grows_with_depth"}, bad["reasons"]


# --- lab checks (the lab's stored result, as the worker keeps it) --------------------------

def _lab(entry, seed, i, result) -> LabResult:
    params = runner.lab_params(runner.seeded(entry.recipe("cpu").lab[i], seed))
    return LabResult(params=params, job=None, result=result)


def test_training_error_curves_differ_when_one_setting_fits(store):
    """002/fig8: both X_10^2 and X_10^10 (keyed by setting: one never hides the other)."""
    entry = _entry("002/fig8")

    def res(me):
        return {"mixup": {"train_error": me}, "erm": {"train_error": 0.0}}

    def build(ok):
        labs = []
        for s in lab_seeds(entry):
            labs.append(_lab(entry, s, 0, res(0.3 + _noise(s))))
            labs.append(_lab(entry, s, 1, res(0.4 + _noise(s + 1) if ok else 0.0)))
        return _produced(store, entry, labs=labs)

    good, bad = _verdicts(store, entry, build)
    _assert_pair(good, bad, lab_seeds(entry))
    assert "mixup_final_error_gt_erm_x10_10_alpha_1" in good["computed"]
    assert "mixup_final_error_gt_erm_x10_2_alpha_1" in good["computed"]


def test_alternating_line_table_differs_when_alpha_1_misclassifies(store):
    entry = _entry("002/table1")

    pub = entry.published

    def res(ps):
        return {"points": [0, 1, 2], "mixup": {"prob_mean": [[p, 1 - p] for p in ps]},
                "erm": {"prob_mean": [[0.99, 0.01], [0.01, 0.99], [0.99, 0.01]]}}

    def build(ok):
        labs = []
        for s in entry.recipe("cpu").seeds:  # disjoint 10-run blocks (0, 10, ...)
            for i, a in enumerate((1, 32, 128)):
                ps = [pub[f"alpha{a}_p{k}"] + _noise(s, 0.005) for k in range(3)]
                if not ok and a == 1:
                    ps[1] = 0.6  # the middle point misclassified at α = 1 as well
                labs.append(_lab(entry, s, i, res(ps)))
        return _produced(store, entry, labs=labs)

    good, bad = _verdicts(store, entry, build)
    # at the paper's own setting every number is compared, within the seeds' scatter
    assert good["verdict"] == "matches", good["reasons"]
    assert bad["verdict"] == "differs" and not bad["parts"][0]["held"]
    assert {c["key"] for c in good["compared"]} == set(entry.published)
    assert all(c["tolerance_source"].startswith("seeds") for c in good["compared"])


def test_two_moons_differs_when_one_alpha_is_straight(store):
    """002/fig3 tests every α of the figure, not the largest only."""
    entry = _entry("002/fig3")

    def res(mix):
        return {"mixup": {"decision": {"linear_agreement": mix}},
                "erm": {"decision": {"linear_agreement": 0.99}}}

    def build(ok):
        labs = []
        for s in lab_seeds(entry):
            labs.append(_lab(entry, s, 0, res((0.85 if ok else 0.995) + _noise(s, 0.003))))
            labs.append(_lab(entry, s, 1, res(0.8 + _noise(s + 1, 0.003))))
        return _produced(store, entry, labs=labs)

    _assert_pair(*_verdicts(store, entry, build), lab_seeds(entry))


# --- theory --------------------------------------------------------------------------------

def test_ufm_loss_differs_on_another_settings_answer(store):
    """000/fig6: the paper's numbers, compared within the λ draw's scatter."""
    entry = _entry("000/fig6")
    plain, amp = entry.recipe("cpu").theory

    def build(loss):
        return _produced(store, entry, theory=[
            TheoryResult(params=plain, result={"mean_loss_triple": loss}),
            TheoryResult(params=amp, result={"mean_loss_triple": loss + 4e-6})])

    ok = evaluate(entry, build(0.3327))
    rows = {c["key"]: c for c in ok["compared"]}
    assert rows["mean_loss"]["within"] and rows["amplified_loss"]["within"]
    assert not rows["amplification_increase"]["within"]  # the paper's erratum
    bad = evaluate(entry, build(0.45))  # e.g. m = 1 instead of 3
    assert bad["verdict"] == "differs"
    assert not {c["key"]: c for c in bad["compared"]}["mean_loss"]["within"]


@pytest.mark.parametrize("entry_id", ["002/fig6", "002/table2", "003/fig4", "003/fig7"])
def test_entries_that_cannot_fail_here_say_why(entry_id):
    """No check that cannot fail decides a verdict: these entries state why nothing is
    compared at cpu scale."""
    entry = _entry(entry_id) if entry_id != "000/fig6" else None
    assert entry.not_comparable.get("cpu")
    assert not entry.expect or entry.recipe("cpu").empty
    assert evaluate(entry, Produced(entry=entry, scale="cpu", store=None))["verdict"] == \
        "not-comparable"


# --- reproduce --all -----------------------------------------------------------------------

def test_reproduce_all_runs_every_entry_and_counts(tmp_path, monkeypatch):
    """``--all`` over a small catalogue (a theory entry, a lab entry in three seeds, an
    out-of-scope one): each is produced once, its verdict and time listed, the counts
    printed; a second ``--all`` trains nothing new."""
    from click.testing import CliRunner

    from backend.papers import catalogue as cat_mod
    from backend.papers.catalogue import Catalogue
    from mixscope.cli import main

    real = load_catalogue()
    small = Catalogue(papers=real.papers, entries=[real.get(i) for i in
                                                   ("000/fig6", "002/fig4", "003/fig8")])
    monkeypatch.setattr(cat_mod, "load_catalogue", lambda: small)
    store = str(tmp_path / "s")
    listed = CliRunner().invoke(main, ["reproduce", "--list", "--json", "--store", store])
    assert {r["status"] for r in json.loads(listed.output)} == {"not-run", "out-of-scope"}
    res = CliRunner().invoke(main, ["reproduce", "--all", "--json", "--store", store])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    rows = {r["id"]: r for r in out["entries"]}
    assert rows["000/fig6"]["verdict"] == "differs" and rows["000/fig6"]["seconds"] >= 0
    assert rows["002/fig4"]["verdict"] == "claim-holds" and len(rows["002/fig4"]["job_ids"]) == 3
    assert rows["003/fig8"]["verdict"] == "out-of-scope"
    assert out["summary"] == {"matches": 0, "claim-holds": 1, "differs": 1,
                              "not-comparable": 0, "not-run": 0, "out-of-scope": 1}
    text = CliRunner().invoke(main, ["reproduce", "--all", "--store", store])
    assert text.exit_code == 0, text.output
    assert "0 matches · 1 claim-holds · 1 differs · 0 not-comparable · 0 not-run" in text.output
    assert "reproducing 2 entries" in text.output  # the progress bar (stderr, mixed in)


def test_shared_evidence_is_said(store):
    """000 figs 1, 4 and Table 1 score the same digits runs: each entry's runs say so."""
    body = runner.report(store, load_catalogue().get("000/fig1"), "cpu", None)
    shared = set(body["runs"][0]["shared_with"])
    assert {"000/fig4", "000/table1"} <= shared and "000/fig1" not in shared
