"""The Papers catalogue: completeness, lab params shared with /api/lab, checks on really
trained tiny runs, `mixscope reproduce` and the /api/papers routes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from backend.papers import checks, runner
from backend.papers.catalogue import Catalogue, PaperEntry, load_catalogue

EXPECTED = ([f"000/fig{i}" for i in range(1, 13)] + ["000/table1", "000/table2"]
            + [f"002/fig{i}" for i in range(1, 15)] + ["002/table1", "002/table2"]
            + [f"003/fig{i}" for i in range(4, 13)] + ["003/table8", "003/table9"]
            + ["001/gradient-split"])


def test_catalogue_lists_every_figure_and_table():
    cat = load_catalogue()
    assert set(EXPECTED) <= set(cat.ids)
    out = [e.id for e in cat.entries if e.out_of_scope]
    assert set(out) <= {"003/fig8", "003/app-d"} and len(out) <= 2
    for e in cat.entries:
        assert e.check in checks.CHECKS, f"{e.id}: no check {e.check!r}"
        if not e.out_of_scope:  # a cpu recipe, or a stated reason why there is none
            assert not e.recipe("cpu").empty or e.not_comparable.get("cpu"), \
                f"{e.id} has no cpu recipe and says not why"


def test_lab_params_are_those_of_the_api(client, store):
    """The same lab setting asked through /api/lab and through a recipe is one job."""
    spec = {"experiment": "alternating-line", "points": 3, "classes": 2, "alpha": 32,
            "runs": 2, "epochs": 50, "seed": 0}
    r = client.get("/api/lab/alternating-line",
                   params={k: v for k, v in spec.items() if k != "experiment"})
    assert r.status_code == 202
    job = client.app.state.store.get_job(r.json()["job_id"])
    assert job.params == runner.lab_params(spec)
    ac = runner.lab_params({"experiment": "assumption-check", "dataset": "digits"})
    assert ac["dataset_args"] == {} and ac["alpha"] == 1024.0


def _tiny_entry(check: str, runs: list[dict], **kw) -> PaperEntry:
    base = {"dataset": "digits", "epochs": 4, "batch_size": 256, "name": "tiny",
            "model_args": {"width": 32, "depth": 1, "feature_dim": 16},
            "probe": {"clean_per_class": 10, "pairs_per_class_pair": 8,
                      "trajectory_pairs": 2, "trajectory_lambdas": 3},
            "record": {"epochs": [0, 2, 4]}}
    return PaperEntry.model_validate({
        "id": "000/tiny", "paper": "000", "kind": "figure", "title": "tiny", "claim": "c",
        "check": check, "scales": {"cpu": {"runs": [runner._deep(base, r) for r in runs]}},
        **kw})


runner._deep = lambda a, b: __import__("backend.runconfig", fromlist=["_deep_merge"]) \
    ._deep_merge(a, b)


def _train(store, settings, entry):
    from mixscope.cmd_reproduce import train_runs

    train_runs(store, settings, entry, "cpu", quiet=True)


def test_checks_on_really_trained_runs(store, settings):
    entry = _tiny_entry("channel_geometry", [{"method": "input-mixup"}, {"method": "erm"}],
                        expect={"channel_radius_mixup_gt_erm": True})
    before = runner.report(store, entry, "cpu", None)
    assert before["verdict"] == "not-run" and before["run_ids"] == []
    assert before["status"] == "not-run"
    _train(store, settings, entry)
    body = runner.report(store, entry, "cpu", None)
    assert len(body["run_ids"]) == 2 and body["status"] == "done"
    mix, erm = (store.epoch_metrics(i)[-1]["channel_radius"] for i in body["run_ids"])
    assert body["computed"]["channel_radius_mixup"] == pytest.approx(mix)
    assert body["computed"]["channel_radius_erm"] == pytest.approx(erm)
    assert body["computed"]["channel_radius_mixup_gt_erm"] == (mix > erm)
    # one seed: a claim that held is not yet established (its scatter is unknown)
    assert body["verdict"] == ("not-comparable" if mix > erm else "differs")
    assert body["parts"][0]["key"] == "channel_radius_mixup_gt_erm"
    assert body["parts"][0]["margins"] == [pytest.approx(mix - erm)]
    # the same runs again: nothing new is trained (a rerun is idempotent)
    _train(store, settings, entry)
    assert len(store.list_runs()) == 2
    # another check over the same stored runs recomputes from the artifacts
    geo = checks.stored_triple_geometry(store, body["run_ids"][0], (0, 1, 2), epoch=4)
    assert geo["channel_radius"] == pytest.approx(mix, rel=1e-4)
    # 001: mixing right before the head, MSE: the split is recorded and checked against
    # autograd of the real loss at every recorded epoch (issue 18)
    grad = _tiny_entry("gradient_split", [{"method": "manifold-mixup", "loss": "mse",
                                           "manifold_layers": ["penultimate"]}],
                       expect={"split_matches_autograd": True, "cross_ratio_positive": True})
    _train(store, settings, grad)
    g = runner.report(store, grad, "cpu", None)
    assert g["computed"]["split_matches_autograd"] is True
    assert g["computed"]["split_epochs_checked"] == 3  # epochs 0, 2, 4
    recorded = [e for e in store.epoch_metrics(g["run_ids"][0])
                if e.get("grad_split_autograd_residual") is not None]
    assert [e["epoch"] for e in recorded] == [0, 2, 4]
    assert g["computed"]["split_autograd_residual_max"] == pytest.approx(
        max(e["grad_split_autograd_residual"] for e in recorded))
    assert all(p["held"] for p in g["parts"]) and g["verdict"] == "not-comparable"  # 1 seed


def test_cli_reproduce_theory_json(tmp_path):
    from mixscope.cli import main

    res = CliRunner().invoke(main, ["reproduce", "000/fig6", "--json", "--store",
                                    str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["published"]["mean_loss"] == 0.33457
    assert body["computed"]["mean_loss"] == pytest.approx(0.33267, abs=5e-5)
    assert 3e-6 < body["computed"]["amplification_increase"] < 5e-6
    # the paper's 8e-5 is an erratum: that comparison differs and says why
    assert body["verdict"] == "differs" and body["differs"]["kind"] == "paper-error"
    assert any("amplification_increase" in r for r in body["reasons"])
    rows = {c["key"]: c for c in body["compared"]}
    assert rows["mean_loss"]["within"] and not rows["amplification_increase"]["within"]
    assert all(c["tolerance_source"] for c in body["compared"])
    assert body["status"] == "done" and body["job_ids"]  # the theory answers are kept


def test_cli_reproduce_run_entry_and_list(tmp_path, monkeypatch):
    from backend.papers import catalogue as cat_mod
    from mixscope.cli import main

    tiny = _tiny_entry("etf_convergence", [{"method": "input-mixup"}])
    real = load_catalogue()
    fake = Catalogue(papers=real.papers, entries=[*real.entries, tiny])
    monkeypatch.setattr(cat_mod, "load_catalogue", lambda: fake)
    store = str(tmp_path / "s")
    res = CliRunner().invoke(main, ["reproduce", "000/tiny", "--json", "--store", store])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output.strip().splitlines()[-1])
    assert body["verdict"] in ("not-comparable", "differs") and len(body["run_ids"]) == 1
    assert "norm_cv_final" in body["computed"]
    again = CliRunner().invoke(main, ["reproduce", "000/tiny", "--json", "--store", store])
    assert json.loads(again.output.strip().splitlines()[-1])["run_ids"] == body["run_ids"]
    listed = CliRunner().invoke(main, ["reproduce", "--list", "--json", "--store", store])
    rows = json.loads(listed.output)
    assert {r["id"] for r in rows} >= set(EXPECTED)
    tiny_row = next(r for r in rows if r["id"] == "000/tiny")
    assert tiny_row["status"] == "done" and tiny_row["verdict"] == body["verdict"]
    # paper scale without the data: says what is missing, shows the published numbers
    res = CliRunner().invoke(main, ["reproduce", "000/table1", "--scale", "paper", "--json",
                                    "--store", store])
    assert res.exit_code == 2
    body = json.loads(res.output)
    assert body["published"]["wrn_cifar10_mixup"] == 97.30
    assert any("MIXSCOPE_DATA_DIR" in m for m in body["missing"])
    assert any("GPU worker" in m for m in body["missing"])


def test_cli_reproduce_lab_entry(tmp_path):
    """002/fig4's cpu recipe is a small lab job: computed here, stored like the API's."""
    from backend.store import Store
    from mixscope.cli import main

    store_path = tmp_path / "s"
    res = CliRunner().invoke(main, ["reproduce", "002/fig4", "--json", "--store",
                                    str(store_path)])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output.strip().splitlines()[-1])
    assert body["computed"]["eps_limit_classifies_all"] is True
    assert body["seeds"] == [0, 2, 4] and len(body["job_ids"]) == 3  # seeds 2 apart: 2 runs each
    assert body["verdict"] == "claim-holds", body["reasons"]
    assert body["parts"][0]["held_by_seed"] == [True, True, True]
    s = Store.open(store_path)
    job = s.get_job(body["job_ids"][0])
    assert job.status == "done" and s.job_result(job.id)["mixup"]["prob_mean"]
    s.close()


def test_api_papers_routes(client, settings, monkeypatch):
    rows = client.get("/api/papers").json()
    assert {r["id"] for r in rows} >= set(EXPECTED)
    assert set(rows[0]) == {"id", "title", "paper", "kind", "status", "verdict", "error"}
    # a clean store: nothing is done, nothing agrees
    assert {r["status"] for r in rows} <= {"not-run", "needs-data", "needs-gpu",
                                           "out-of-scope"}
    assert {r["verdict"] for r in rows} <= {"not-run", "not-comparable", "out-of-scope"}
    only = client.get("/api/papers", params={"paper": "003", "status": "out-of-scope"}).json()
    assert {r["id"] for r in only} == {"003/fig8", "003/app-d"}
    assert client.get("/api/papers", params={"status": "reproduced"}).status_code == 422
    assert client.get("/api/papers/000/nope").status_code == 404
    one = client.get("/api/papers/000/fig6").json()
    assert one["verdict"] == "not-run" and one["status"] == "not-run"
    assert {r["key"] for r in one["not_compared"]} == set(one["published"])
    assert client.post("/api/papers/000/fig6/runs", json={}).status_code == 202
    one = client.get("/api/papers/000/fig6").json()
    assert one["verdict"] == "differs" and one["computed"]["mean_loss"] == \
        pytest.approx(0.33267, abs=5e-5)
    counts = client.get("/api/papers/summary").json()
    assert counts["differs"] == 1 and counts["matches"] == 0 and \
        sum(counts.values()) == len(rows)
    assert [r["id"] for r in client.get("/api/papers", params={"verdict": "differs"})
            .json()] == ["000/fig6"]
    # launching a lab entry creates its jobs once; a second launch reuses them
    r = client.post("/api/papers/002/fig4/runs", json={"scale": "cpu"})
    assert r.status_code == 202, r.text
    first = r.json()
    assert len(first["jobs"]) == 3 and first["created_jobs"] == first["jobs"]  # 3 seeds
    again = client.post("/api/papers/002/fig4/runs", json={"scale": "cpu"}).json()
    assert again["jobs"] == first["jobs"] and again["created_jobs"] == []
    assert client.get("/api/papers/002/fig4").json()["job_ids"] == first["jobs"]
    # a run entry creates queued runs
    r = client.post("/api/papers/000/fig5/runs", json={})
    assert r.status_code == 202 and len(r.json()["runs"]) == 3  # one per seed
    assert client.get("/api/papers/000/fig5").json()["status"] == "running"
    assert client.get(f"/api/runs/{r.json()['runs'][0]}").json()["status"] == "queued"
    # the paper scale without data or GPU: 409 naming scale, saying what to provide
    r = client.post("/api/papers/000/fig1/runs", json={"scale": "paper"})
    assert r.status_code == 409 and r.json()["detail"][0]["loc"] == ["body", "scale"]
    assert any("MIXSCOPE_DATA_DIR" in m for m in r.json()["missing"])
    r = client.post("/api/papers/000/fig1/runs", json={"scale": "huge"})
    assert r.status_code == 422 and "scale" in r.json()["message"]


def test_api_papers_launch_needs_the_token(settings):
    from conftest import local_client

    from backend.api.app import create_app

    s = settings.model_copy(update={"api_token": "sekret"})
    with local_client(create_app(s)) as c:
        assert c.post("/api/papers/002/fig4/runs", json={"scale": "cpu"}).status_code == 401
        assert c.get("/api/papers").status_code == 200
        ok = c.post("/api/papers/002/fig4/runs", json={"scale": "cpu"},
                    headers={"Authorization": "Bearer sekret"})
        assert ok.status_code == 202


def test_cli_reproduce_evaluates_deformations(tmp_path, monkeypatch):
    """A recipe line with ``evaluate: deformations`` (003 Table 9): the finished run is
    evaluated on the deformed test sets, stored as the run's ``deformations`` job, and the
    check reads the accuracies from it."""
    from backend.papers import catalogue as cat_mod
    from backend.store import Store
    from mixscope.cli import main

    rotated = {"dataset": "rotated-digit", "dataset_args": {"task": "A", "samples": 80,
                                                             "test_fraction": 0.5},
               "evaluate": "deformations"}
    tiny = _tiny_entry("deformation_table", [{**rotated, "method": "erm"},
                                             {**rotated, "method": "manifold-mixup",
                                              "alpha": 2.0}],
                       expect={"manifold_beats_none_on_rotation": True},
                       published={"rotation_20_none": 52.96})
    real = load_catalogue()
    monkeypatch.setattr(cat_mod, "load_catalogue",
                        lambda: Catalogue(papers=real.papers, entries=[*real.entries, tiny]))
    store_path = tmp_path / "s"
    res = CliRunner().invoke(main, ["reproduce", "000/tiny", "--json", "--store",
                                    str(store_path)])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output.strip().splitlines()[-1])
    assert body["verdict"] in ("not-comparable", "differs") and not body["needs_launch"]
    comp = body["computed"]
    s = Store.open(store_path)
    try:
        for run_id, label in zip(body["run_ids"], ("none", "manifold2")):
            job = s.find_job(run_id, "deformations", runner.evaluation_params(s.get_run(run_id)))
            rot20 = next(d for d in s.job_result(job.id)["deformations"]
                         if d["kind"] == "rotation" and d["param"] == 20)
            assert comp[f"rotation_20_{label}_cpu"] == pytest.approx(100 * rot20["accuracy"],
                                                                     abs=1e-3)
    finally:
        s.close()
    assert comp["manifold_beats_none_on_rotation"] == (
        comp["mean_rotation_accuracy_manifold2"] > comp["mean_rotation_accuracy_none"])
    # other data: shown beside, never compared, and it says so
    assert body["compared"] == []
    row = next(r for r in body["not_compared"] if r["key"] == "rotation_20_none")
    assert "rotation_20_none_cpu" in row["reason"]
