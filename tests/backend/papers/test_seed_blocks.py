"""A lab line with ``runs: R`` and ``seed: s`` trains the seeded runs s..s+R-1
(``trainer.lab``): recipe seeds closer than R apart share runs, and the scatter between them
(what ``claim-holds`` compares a margin with) comes out too small. Seeds 0, 1, 2 with R = 10
shared 8 of 10 runs: their scatter was about 7 times too small (002/table1, found at the
reproduction of this stop)."""

from __future__ import annotations

from itertools import pairwise

from backend.papers.catalogue import load_catalogue


def test_every_recipes_lab_seeds_are_disjoint_blocks_of_runs():
    shared = []
    for entry in load_catalogue().entries:
        for scale in entry.scales:
            recipe = entry.recipe(scale)
            runs = max([int(line.get("runs", 1) or 1) for line in recipe.lab] or [1])
            seeds = sorted(recipe.seeds or [0])
            close = [(a, b) for a, b in pairwise(seeds) if b - a < runs]
            if recipe.lab and close:
                shared.append(f"{entry.id} ({scale}): seeds {seeds} with {runs} runs each")
    assert shared == [], "recipe seeds share lab runs: " + "; ".join(shared)
