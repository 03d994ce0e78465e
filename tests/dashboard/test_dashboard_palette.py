"""One definition each: the dashboard's colours live in ``assets/palette.css`` and λ on the
lower class of a pair is computed by ``dashboard.figures.lam_on_lower`` only (the browser
renderer receives it precomputed). A second definition anywhere in ``dashboard/`` fails."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from paths import ROOT

DASHBOARD = ROOT / "dashboard"
PALETTE = DASHBOARD / "assets" / "palette.css"
HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b")
# "1 - λ" where λ is a pair's mixing weight: the flip to the lower class
FLIP = re.compile(r"1(?:\.0)?\s*-\s*\w*lam\w*\s*(?:\[|\)|,|$|;|:)", re.MULTILINE)


def _sources(*suffixes: str) -> list[Path]:
    return sorted(p for p in DASHBOARD.rglob("*") if p.suffix in suffixes
                  and "__pycache__" not in p.parts)


def _strip_comments(path: Path, text: str) -> str:
    if path.suffix == ".py":
        return re.sub(r"#(?![0-9a-fA-F]{3,6}\b)[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.DOTALL)


def test_every_colour_of_python_and_js_comes_from_the_palette():
    offenders = []
    for path in _sources(".py", ".js"):
        for m in HEX.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}: {m.group()}")
    assert offenders == [], "colours belong in dashboard/assets/palette.css: " + \
        ", ".join(offenders)


def test_no_stylesheet_redefines_a_palette_colour():
    from dashboard.palette import read_palette

    palette = read_palette(PALETTE)
    values = {v.lower() for v in palette.values() if HEX.fullmatch(v)}
    assert {"same", "clean", "ink", "lambda-scale", "series-0"} <= set(palette)
    for path in _sources(".css"):
        if path == PALETTE:
            continue
        text = _strip_comments(path, path.read_text(encoding="utf-8"))
        again = sorted({h.lower() for h in HEX.findall(text)} & values)
        assert again == [], f"{path.name} repeats palette colours {again}: use var(--…)"
        names = set(re.findall(r"--([\w-]+)\s*:", text)) & set(palette)
        assert names == set(), f"{path.name} redefines palette variables {names}"


def test_the_browser_renderer_reads_the_palette_variables():
    js = (DASHBOARD / "assets" / "simplex.js").read_text(encoding="utf-8")
    assert "getComputedStyle" in js
    for name in ("same", "clean", "lambda-scale", "ink"):
        assert f'v("{name}")' in js


def test_lambda_on_the_lower_class_is_computed_once():
    found = []
    for path in _sources(".py", ".js"):
        text = _strip_comments(path, path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(ROOT)}: {m.group().strip()}" for m in FLIP.finditer(text)]
    assert len(found) == 1 and found[0].startswith("dashboard/figures.py"), found
    defs = [p for p in _sources(".py") if "def lam_on_lower" in p.read_text(encoding="utf-8")]
    assert defs == [DASHBOARD / "figures.py"]


def test_lam_on_lower_flips_where_partner_a_is_the_higher_class():
    from dashboard.figures import encode_array, lam_on_lower, lower_lambda_array

    lam = np.array([0.2, 0.2, 0.7, 1.0])
    ca, cb = np.array([0, 3, 1, 2]), np.array([3, 0, 1, 1])
    assert np.allclose(lam_on_lower(lam, ca, cb), [0.2, 0.8, 0.7, 0.0])
    frame = {"lam": encode_array(lam), "class_a": encode_array(ca, "int16"),
             "class_b": encode_array(cb, "int16")}
    from dashboard.client import decode_array

    assert np.allclose(decode_array(lower_lambda_array(frame)), [0.2, 0.8, 0.7, 0.0])
