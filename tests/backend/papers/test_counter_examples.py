"""Counter-examples for the checks test_verdicts.py leaves out (issue 18): 001's gradient split
(a wrong split recorded by the trainer's own function), 000/fig11's triples (one triple whose
mixed points run straight) and 003/fig5's 2-D bottleneck (shuffled labels, input mixup the
tighter). Each wrong world makes the real catalogue entry's check say ``differs``; the
paper's world says ``claim-holds``, in three seeds, through a real store.
"""

from __future__ import annotations

import numpy as np
import pytest

from backend import maths
from backend.maths.gradient_split import GradientSplit
from backend.papers import checks  # noqa: F401 (registers the checks)
from backend.papers.catalogue import load_catalogue
from backend.papers.produced import Produced, RunResult
from backend.papers.verdict import evaluate
from backend.runconfig import RunConfig

SEEDS = (0, 1, 2)
EPOCH = 2


def _entry(entry_id):
    entry = load_catalogue().get(entry_id)
    assert entry is not None
    return entry


def _run(store, seed: int, epochs=(), arrays=(), layers=None, **cfg) -> RunResult:
    """A finished run whose epochs recorded ``epochs`` and whose recorded epoch ``EPOCH``
    stored ``arrays``: ``(kind, epoch, layer, {name: array})``."""
    config = RunConfig.model_validate({"dataset": "digits", "seed": seed, "epochs": 2, **cfg})
    run = store.create_run(config)
    store.claim_run(run.id, "test")
    for m in epochs:
        store.record_epoch(run.id, m["epoch"], {k: v for k, v in m.items() if k != "epoch"})
    for kind, epoch, layer, arr in arrays:
        store.put_arrays(run.id, kind, arr, epoch=epoch, layer=layer)
    store.update_run_info(run.id, recorded_epochs=[EPOCH] if arrays else [],
                          layers=layers or ["penultimate"])
    store.finish_run(run.id, "succeeded")
    return RunResult(spec={"seed": seed}, run=store.get_run(run.id),
                     epochs=store.epoch_metrics(run.id), seed=seed)


def _produced(store, entry, runs) -> Produced:
    return Produced(entry=entry, scale="cpu", store=store, runs=list(runs))


def _assert_pair(entry, build, failing: str):
    good, bad = evaluate(entry, build(True)), evaluate(entry, build(False))
    assert good["seeds"] == list(SEEDS)
    assert good["verdict"] == "claim-holds", good["reasons"]
    assert bad["verdict"] == "differs", bad["reasons"]
    parts = {p["key"]: p for p in bad["parts"]}
    assert parts[failing]["held_by_seed"] == [False] * len(SEEDS), parts[failing]
    return good, bad


# --- 001: the gradient split against autograd ---------------------------------------------

def _swap_partner_errors(real):
    """A wrong split: each partner's cross term driven by its own error, not its partner's."""
    def wrong(*args, **kw) -> GradientSplit:
        s = real(*args, **kw)
        return GradientSplit(s.usual_a, s.cross_b, s.usual_b, s.cross_a, s.usual_norm,
                             s.cross_norm, s.cross_ratio)
    return wrong


def _flip_cross_sign(real):
    def wrong(*args, **kw) -> GradientSplit:
        s = real(*args, **kw)
        return GradientSplit(s.usual_a, -s.cross_a, s.usual_b, -s.cross_b, s.usual_norm,
                             s.cross_norm, s.cross_ratio)
    return wrong


@pytest.mark.parametrize("wrong", [_swap_partner_errors, _flip_cross_sign])
def test_gradient_split_differs_when_the_split_is_wrong(store, monkeypatch, wrong):
    """What the trainer records (``training_grad_split`` on a digits MLP mixed right before
    its head, 3 epochs' batches) with the real split, and with a wrong one in its place:
    autograd of the real loss disagrees with the wrong one far beyond float32's bound."""
    torch = pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    from trainer.metrics import training_grad_split
    from trainer.models.mlp import MLP

    entry = _entry("001/gradient-split")
    digits = load_digits()
    X = torch.as_tensor(digits.data[:400] / 16.0, dtype=torch.float32)
    T = torch.nn.functional.one_hot(torch.as_tensor(digits.target[:400]), 10).float()
    real = maths.gradient_split

    def build(ok):
        monkeypatch.setattr(maths, "gradient_split", real if ok else wrong(real))
        runs = []
        for s in SEEDS:
            cfg = RunConfig.from_preset("digits-demo", seed=s, method="manifold-mixup",
                                        loss="mse", manifold_layers=["penultimate"],
                                        batch_size=64)
            torch.manual_seed(s)
            model = MLP((64,), 10, width=32, depth=1, feature_dim=16, batchnorm=True)
            recs = [{"epoch": e, **training_grad_split(model, X, T, cfg, e)} for e in (0, 1, 2)]
            runs.append(_run(store, s, recs, method="manifold-mixup", loss="mse",
                             manifold_layers=["penultimate"]))
        return _produced(store, entry, runs)

    good, bad = _assert_pair(entry, build, "split_matches_autograd")
    assert good["computed"]["split_epochs_checked"] == 3
    assert good["computed"]["split_autograd_residual_max"] <= \
        good["computed"]["split_float32_bound_min"]
    assert bad["computed"]["split_autograd_residual_max"] > 0.05  # orders above the bound


def test_gradient_split_without_the_recorded_check_is_not_agreement(store):
    """A run that recorded the ratio but never the autograd residual (as every run before
    issue 18): the part is not computed, so the verdict cannot be claim-holds."""
    entry = _entry("001/gradient-split")
    runs = [_run(store, s, [{"epoch": e, "grad_cross_ratio": 0.4 + 0.01 * s}
                            for e in (0, 1, 2)]) for s in SEEDS]
    body = evaluate(entry, _produced(store, entry, runs))
    assert body["verdict"] == "differs"
    assert any("split_matches_autograd: not computed" in r for r in body["reasons"])


def _split_records(seed: int, ratios) -> list[dict]:
    """What a run mixed right before its head records per epoch: the cross/usual ratio of
    that epoch's batch and the split's residual against autograd within its float32 bound."""
    return [{"epoch": e, "grad_cross_ratio": r, "grad_split_autograd_residual": 2e-7,
             "grad_split_float32_bound": 1e-6} for e, r in enumerate(ratios)]


def test_cross_ratio_differs_when_the_cross_terms_vanish(store):
    """001's second part: a run whose cross terms are zero (λ ∈ {0, 1}: no mixing, so
    nothing drives x by its partner's error) says differs; the split itself still agrees."""
    entry = _entry("001/gradient-split")

    def build(ok):
        return _produced(store, entry, [
            _run(store, s, _split_records(s, [(0.35 + 0.02 * s + 0.01 * e) if ok else 0.0
                                              for e in range(5)])) for s in SEEDS])

    _good, bad = _assert_pair(entry, build, "cross_ratio_positive")
    assert {p["key"]: p["held"] for p in bad["parts"]}["split_matches_autograd"] is True


def test_cross_ratio_is_the_runs_mean_not_one_unlucky_batch(store):
    """Each epoch's ratio is one batch with one λ; a batch with λ = 0.999 gives a ratio near
    0. The margin is each seed's mean over its epochs, so one such batch leaves the claim
    standing (the minimum, 0.001 here, would sit inside the seeds' scatter); a run whose
    mean is within the seeds' scatter is still not claim-holds."""
    entry = _entry("001/gradient-split")
    ratios = {0: [0.38, 0.41, 0.40, 0.39, 0.42], 1: [0.40, 0.43, 0.41, 0.40, 0.44],
              2: [0.39, 0.001, 0.42, 0.40, 0.41]}
    body = evaluate(entry, _produced(store, entry, [
        _run(store, s, _split_records(s, ratios[s])) for s in SEEDS]))
    assert body["verdict"] == "claim-holds", body["reasons"]
    part = {p["key"]: p for p in body["parts"]}["cross_ratio_positive"]
    assert part["margins"] == pytest.approx([np.mean(ratios[s]) for s in SEEDS])
    assert body["computed_by_seed"]["2"]["grad_cross_ratio_min"] == pytest.approx(0.001)
    # means that scatter more than they stand above zero: not established
    wide = {0: [0.001] * 5, 1: [0.5] * 5, 2: [0.9] * 5}
    body = evaluate(entry, _produced(store, entry, [
        _run(store, s, _split_records(s, wide[s])) for s in SEEDS]))
    assert body["verdict"] == "not-comparable", body["reasons"]
    assert any("cross_ratio_positive" in r and "scatter" in r for r in body["reasons"])


def test_fig1_alignment_differs_when_same_class_points_lean_towards_a_channel(store):
    """000/fig1's first part: same-class points whose median direction is 35° off their
    arrow (cos 0.82: nearer the edge midpoint at 60° than halfway) are not "onto their
    classifier", whatever the channels do; on the arrow (0.998, as measured) they are."""
    entry = _entry("000/fig1")

    def build(ok):
        runs = []
        for s in SEEDS:
            runs.append(_run(store, s, [{"epoch": 1, "channel_radius": 0.71 + 0.005 * s,
                                         "alignment": 0.998 if ok else 0.82,
                                         "test_accuracy": 0.98}]))
            runs.append(_run(store, s, [{"epoch": 1, "channel_radius": 0.41 + 0.01 * s}],
                             method="erm"))
        return _produced(store, entry, runs)

    _assert_pair(entry, build, "same_class_alignment_min")


def test_table8_parts_hold_in_every_task_not_the_last_one_read(store):
    """003/table8 at paper scale runs Tasks A, B and C: "in all cases" means each task's
    input mixup NLL below its baseline's; Task B's failing is not hidden by Task C's
    holding (the tasks once overwrote each other)."""
    entry = _entry("003/table8")
    nll = {"A": (8.8, 6.0, 0.5), "B": (4.0, 4.3, 0.45), "C": (4.3, 1.4, 0.13)}  # B fails
    runs = []
    for s in SEEDS:
        for task, (none, inp, fac) in nll.items():
            for method, v in (("erm", none), ("input-mixup", inp), ("factor-mixup", fac)):
                runs.append(_run(store, s, [{"epoch": 1, "test_accuracy": 0.5,
                                             "test_nll": v + 0.01 * s}],
                                 method=method, dataset="rotated-digit",
                                 dataset_args={"task": task}))
    body = evaluate(entry, Produced(entry=entry, scale="paper", store=store, runs=runs))
    parts = {p["key"]: p for p in body["parts"]}
    assert parts["input_nll_below_none"]["held_by_seed"] == [False] * 3
    assert parts["factor_nll_lowest"]["held_by_seed"] == [True] * 3
    seed0 = body["computed_by_seed"]["0"]
    assert seed0["task_b_input_nll_below_none_margin"] == pytest.approx(-0.3)
    assert seed0["task_c_input_nll_below_none_margin"] == pytest.approx(2.9)
    assert body["verdict"] == "differs"


# --- 000/fig11: every class triple -------------------------------------------------------

def _triples_world(store, seed: int, bow, method: str, like: str | None = None) -> RunResult:
    """Stored probe, penultimate features and classifier of a 10-class run whose clean
    points sit at the vertices 3·e_c and whose mixed points of classes (i, j) lie on the
    straight edge scaled by ``bow(i, j)`` about the clean mean (> 1: bowed outward, as mixup
    puts them; < 1: pulled in, as ERM leaves them). ``like="erm"``: the ERM run's very
    points (its noise too), stored under ``method``."""
    rng = np.random.default_rng(seed + (100 if (like or method) == "erm" else 0))
    C, per, pairs = 10, 4, 30
    V = 3.0 * np.eye(C)
    cc = np.repeat(np.arange(C), per)
    clean = V[cc] + rng.normal(0, 0.02, (len(cc), C))
    centre = clean.mean(0)
    pa, pb, lam, ia, ib, feats = [], [], [], [], [], []
    for i in range(C):
        for j in range(i, C):
            for _ in range(pairs):
                w = rng.uniform(0, 1)
                k = bow(i, j) if i != j else 1.0
                feats.append(centre + k * (w * V[i] + (1 - w) * V[j] - centre)
                             + rng.normal(0, 0.02, C))
                pa.append(i)
                pb.append(j)
                lam.append(w)
                ia.append(per * i)
                ib.append(per * j)
    probe = {"clean_class": cc, "clean_index": np.arange(len(cc)),
             "pair_class_a": np.asarray(pa), "pair_class_b": np.asarray(pb),
             "pair_lambda": np.asarray(lam, np.float32), "pair_a": np.asarray(ia),
             "pair_b": np.asarray(ib)}
    H = np.vstack([clean, np.asarray(feats)]).astype(np.float32)
    arrays = [("probe", None, None, probe),
              ("activations", EPOCH, "penultimate", {"features": H}),
              ("classifier", EPOCH, None, {"weight": np.eye(C, dtype=np.float32),
                                           "bias": np.zeros(C, np.float32)})]
    return _run(store, seed, [{"epoch": EPOCH}], arrays, method=method)


def test_triples_geometry_differs_when_one_triple_runs_straight(store):
    """000/fig11 "for every subset of three classes": mixup bows every class pair outward
    but those with class 9, which it pulls in like ERM: the triple (1, 5, 9) fails."""
    entry = _entry("000/fig11")

    def build(ok):
        runs = []
        for s in SEEDS:
            out = 1.6 + 0.02 * s

            def mix(i, j, out=out):
                return 0.8 if not ok and 9 in (i, j) else out

            runs.append(_triples_world(store, s, mix, "input-mixup"))
            runs.append(_triples_world(store, s, lambda i, j: 0.9, "erm"))
        return _produced(store, entry, runs)

    good, bad = _assert_pair(entry, build, "every_triple_radius_gt_erm")
    assert good["computed"]["triples_checked"] == 5
    c = bad["computed"]
    assert c["channel_radius_mixup_0-1-2"] > c["channel_radius_erm_0-1-2"]  # the others hold
    assert c["channel_radius_mixup_1-5-9"] < c["channel_radius_erm_1-5-9"]


def test_triples_geometry_differs_with_the_erm_run_as_mixup(store):
    """The ERM run's points in place of the mixup run's: no triple's radius is larger."""
    entry = _entry("000/fig11")

    def build(ok):
        runs = []
        for s in SEEDS:
            runs.append(_triples_world(store, s, lambda i, j: 1.6 if ok else 0.9,
                                       "input-mixup", like=None if ok else "erm"))
            runs.append(_triples_world(store, s, lambda i, j: 0.9, "erm"))
        return _produced(store, entry, runs)

    _assert_pair(entry, build, "every_triple_radius_gt_erm")


# --- 003/fig5: the 2-D bottleneck -------------------------------------------------------

def _bottleneck_world(store, seed: int, spread: float, method: str, shuffle=False):
    """A run whose stored 2-D bottleneck puts class c's clean points around the mean
    4·(cos, sin)(2πc/10) with spread ``spread``; ``shuffle`` draws the probe's labels at
    random (the representation no longer separates the classes it is labelled with)."""
    rng = np.random.default_rng(seed * 7 + len(method))
    C, per = 10, 12
    y = np.repeat(np.arange(C), per)
    ang = 2 * np.pi * y / C
    H = 4.0 * np.stack([np.cos(ang), np.sin(ang)], 1) + rng.normal(0, spread, (len(y), 2))
    labels = rng.permutation(y) if shuffle else y
    probe = {"clean_class": labels, "clean_index": np.arange(len(y)),
             "pair_class_a": np.zeros(0, np.int64), "pair_class_b": np.zeros(0, np.int64),
             "pair_lambda": np.zeros(0, np.float32), "pair_a": np.zeros(0, np.int64),
             "pair_b": np.zeros(0, np.int64)}
    arrays = [("probe", None, None, probe),
              ("activations", EPOCH, "bottleneck", {"features": H.astype(np.float32)})]
    return _run(store, seed, [{"epoch": EPOCH}], arrays,
                layers=["bottleneck", "penultimate"], method=method)


@pytest.mark.parametrize("counter", ["shuffled labels", "input mixup the tighter"])
def test_bottleneck_2d_differs_on_a_counter_example(store, counter):
    """003/fig5: manifold mixup tighter than the baseline AND input mixup (both parts of the
    caption). Shuffled labels on the manifold-mixup run break the first; an input-mixup run
    tighter than manifold mixup breaks the second."""
    entry = _entry("003/fig5")
    failing = {"shuffled labels": "manifold_tighter_than_baseline",
               "input mixup the tighter": "manifold_tighter_than_input_mixup"}[counter]

    def build(ok):
        runs = []
        for s in SEEDS:
            inp = 0.1 if not ok and counter == "input mixup the tighter" else 0.45
            runs.append(_bottleneck_world(store, s, 0.6, "erm"))
            runs.append(_bottleneck_world(store, s, inp, "input-mixup"))
            runs.append(_bottleneck_world(store, s, 0.25, "manifold-mixup",
                                          shuffle=not ok and counter == "shuffled labels"))
        return _produced(store, entry, runs)

    good, _bad = _assert_pair(entry, build, failing)
    c = good["computed"]
    assert c["spread_manifold_mixup"] < c["spread_input_mixup"] < c["spread_baseline"]


# --- 002/table2: the test row -------------------------------------------------------------

def test_table2_test_rows_are_compared_at_paper_scale(store):
    """The authors' procedure now measures the test points too (trainer.lab.assumption), so
    002/table2's *_test numbers are compared at paper scale, within the seeds' scatter; a
    test row far from the paper's makes the entry differ."""
    from backend.papers import runner
    from backend.papers.produced import LabResult

    entry = _entry("002/table2")
    pub = entry.published
    specs = entry.recipe("paper").lab

    def build(ok):
        labs = []
        for s in SEEDS:
            for spec in specs:
                ds = spec["dataset"]
                noise = float(np.random.default_rng(s).normal(0, 0.05))
                test = pub[f"{ds}_test"] if ok or ds != "cifar10" else 12.0
                labs.append(LabResult(
                    params=runner.lab_params(runner.seeded(spec, s)), job=None,
                    result={"train": {"min": 5.0, "mean": pub[f"{ds}_train"] + noise},
                            "test": {"min": 5.5, "mean": test + noise}}))
        return Produced(entry=entry, scale="paper", store=store, labs=labs)

    good, bad = evaluate(entry, build(True)), evaluate(entry, build(False))
    assert {c["key"] for c in good["compared"]} == set(pub) and not good["not_compared"]
    assert good["verdict"] == "matches", good["reasons"]
    assert bad["verdict"] == "differs"
    assert [c["key"] for c in bad["compared"] if not c["within"]] == ["cifar10_test"]
