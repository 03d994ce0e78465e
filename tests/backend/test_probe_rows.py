"""Probe rows have one home (issue 12): ``backend/probe_rows.py`` expands a stored probe into
per-row arrays; nothing else writes the expansion again."""

from __future__ import annotations

import ast

import numpy as np
from paths import ROOT

from backend.probe_rows import (
    KIND_CODES,
    ProbeRows,
    probe_index,
    probe_rows_info,
    row_ranges,
    triple_rows,
)

HOME = ROOT / "backend" / "probe_rows.py"
PACKAGES = ("backend", "trainer", "mixscope", "dashboard")


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def expansions(tree: ast.AST) -> list[int]:
    """Lines that expand probe rows: a concatenation/stack of clean_* with pair_* arrays,
    or a comparison of ``pair_class_a`` with ``pair_class_b`` (the row kind)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in {"concatenate", "hstack", "vstack", "stack", "append", "r_"}:
                s = _strings(node)
                if any(x.startswith("clean_") for x in s) and \
                        any(x.startswith("pair_") for x in s):
                    lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and {"pair_class_a", "pair_class_b"} <= \
                _strings(node):
            lines.append(node.lineno)
    return lines


def test_the_expansion_is_written_once():
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if path == HOME:
                continue
            hits = expansions(ast.parse(path.read_text(), str(path)))
            if hits:
                found[str(path.relative_to(ROOT))] = hits
    assert not found, f"probe rows expanded outside backend/probe_rows.py: {found}"


def test_the_detector_sees_a_second_copy():
    copy = ('ca = np.concatenate([probe["clean_class"], probe["pair_class_a"]])\n'
            'k = np.where(probe["pair_class_a"] == probe["pair_class_b"], 1, 2)\n')
    assert expansions(ast.parse(copy)) == [1, 2]


def _probe():
    # 3 classes, 2 clean each; pairs (0,0) x2, (0,1) x1, (1,2) x2
    return {"clean_index": np.array([10, 11, 20, 21, 30, 31]),
            "clean_class": np.array([0, 0, 1, 1, 2, 2]),
            "pair_a": np.array([10, 11, 10, 20, 21]), "pair_b": np.array([11, 10, 20, 30, 31]),
            "pair_class_a": np.array([0, 0, 0, 1, 1]), "pair_class_b": np.array([0, 0, 1, 2, 2]),
            "pair_lambda": np.array([0.2, 0.4, 0.5, 0.6, 0.9], np.float32)}


def test_rows_kinds_and_ranges():
    p = ProbeRows.from_arrays(_probe())
    assert len(p) == 11 and p.num_clean == 6
    assert p.kind.tolist() == [KIND_CODES["clean"]] * 6 + [1, 1, 2, 2, 2]
    assert p.lam[:6].tolist() == [1.0] * 6 and p.lam[8] == np.float32(0.5)
    assert p.index_a.tolist()[:6] == p.index_b.tolist()[:6] == [10, 11, 20, 21, 30, 31]
    assert not p.covers((0, 1, 2))            # (0,2), (1,1), (2,2) have no pairs
    rows = triple_rows(_probe(), (1, 0, 2))
    assert rows.tolist() == list(range(11))
    assert triple_rows(p, (0, 1)).tolist() == [0, 1, 2, 3, 6, 7, 8]
    assert row_ranges(triple_rows(p, (0, 1))) == [(0, 4), (6, 9)]
    assert row_ranges(np.array([], int)) == []
    info = probe_rows_info(p, np.array([1, 8]))
    assert info["class_a"].tolist() == [0, 0] and info["class_b"].tolist() == [0, 1]
    assert info["is_clean"].tolist() == [True, False]
    a, b, lam = probe_index(_probe(), np.array([0, 9]))
    assert a.tolist() == [10, 20] and b.tolist() == [10, 30] and lam.tolist() == [1.0,
                                                                                np.float32(0.6)]
