"""``mixscope reproduce --all --scale cpu --json`` gives the lead what the note needs (issue
18): per entry its verdict, compared numbers, parts, seeds, the wall time this command spent
on it and what training its runs cost, the runs the numbers came from; and the counts.

Shrunken: 001/gradient-split's cpu recipe cut to 2 epochs of a small digits MLP (the real
trainer, 3 seeds) beside 000/fig6 (theory, compared numbers) and an out-of-scope entry.
"""

from __future__ import annotations

import json

from backend.papers.catalogue import Catalogue, Recipe, load_catalogue


def test_all_json_lists_verdicts_numbers_seeds_times_and_counts(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from backend.papers import catalogue as cat_mod
    from mixscope.cli import main

    real = load_catalogue()
    split = real.get("001/gradient-split")
    small_recipe = Recipe(seeds=[0, 1, 2], runs=[{
        "preset": "digits-demo", "method": "manifold-mixup", "loss": "mse",
        "manifold_layers": ["penultimate"], "epochs": 2,
        "model_args": {"width": 32, "depth": 1, "feature_dim": 16, "batchnorm": True},
        "name": "001 split (shrunken)"}])
    split = split.model_copy(update={"scales": {**split.scales, "cpu": small_recipe}})
    small = Catalogue(papers=real.papers, entries=[real.get("000/fig6"), split,
                                                   real.get("003/fig8")])
    monkeypatch.setattr(cat_mod, "load_catalogue", lambda: small)
    store = str(tmp_path / "s")

    res = CliRunner().invoke(main, ["reproduce", "--all", "--scale", "cpu", "--json",
                                    "--store", store])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    rows = {r["id"]: r for r in out["entries"]}
    assert set(rows) == {"000/fig6", "001/gradient-split", "003/fig8"}
    for r in rows.values():
        assert {"verdict", "compared", "not_compared", "parts", "seeds", "seconds",
                "train_seconds", "runs", "title"} <= set(r), r.keys()

    # compared numbers: each with its published value, tolerance and its source
    fig6 = rows["000/fig6"]
    assert fig6["compared"] and all({"key", "published", "computed", "tolerance",
                                     "tolerance_source", "within"} <= set(c)
                                    for c in fig6["compared"])
    assert fig6["seconds"] >= 0 and fig6["train_seconds"] is None  # theory: no training

    # a trained entry: its three seeds' runs, each with what its training cost
    sp = rows["001/gradient-split"]
    assert sp["seeds"] == [0, 1, 2]
    assert [r["seed"] for r in sp["runs"]] == [0, 1, 2]
    assert all(r["train_seconds"] > 0 and r["id"] for r in sp["runs"])
    assert sp["train_seconds"] == round(sum(r["train_seconds"] for r in sp["runs"]), 1)
    # it trained them in this command, one after the other (each wall time rounded to 0.1)
    assert sp["seconds"] + 0.5 >= sp["train_seconds"]
    assert {p["key"] for p in sp["parts"]} == {"split_matches_autograd",
                                               "cross_ratio_positive"}
    assert sp["verdict"] in ("claim-holds", "differs", "not-comparable")

    assert rows["003/fig8"]["verdict"] == "out-of-scope"
    assert out["summary"] == {v: sum(1 for r in rows.values() if r["verdict"] == v)
                              for v in out["summary"]}
    assert sum(out["summary"].values()) == 3
    assert out["seconds"] >= sp["seconds"]

    # again: nothing trains, so the command's time drops while the training cost stays
    again = CliRunner().invoke(main, ["reproduce", "--all", "--scale", "cpu", "--json",
                                      "--store", store])
    assert again.exit_code == 0, again.output
    sp2 = {r["id"]: r for r in json.loads(again.output.strip().splitlines()[-1])
           ["entries"]}["001/gradient-split"]
    assert [r["id"] for r in sp2["runs"]] == [r["id"] for r in sp["runs"]]
    assert sp2["train_seconds"] == sp["train_seconds"]
