"""The dashboard's colours, read from their one definition, ``assets/palette.css``.

The browser-side figures read the same CSS variables with ``getComputedStyle``
(``assets/simplex.js``); the server-side Plotly figures use the constants below. Changing a
colour means changing that stylesheet only.
"""

from __future__ import annotations

import re
from pathlib import Path

PALETTE_CSS = Path(__file__).resolve().parent / "assets" / "palette.css"

_VARIABLE = re.compile(r"--([\w-]+)\s*:\s*([^;]+);")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def read_palette(path: Path = PALETTE_CSS) -> dict[str, str]:
    """``{variable name without the dashes: value}`` of the ``:root`` block of ``path``."""
    text = _COMMENT.sub("", path.read_text(encoding="utf-8"))
    return {name: value.strip() for name, value in _VARIABLE.findall(text)}


PALETTE = read_palette()

INK = PALETTE["ink"]
MUTED = PALETTE["muted"]
ACCENT = PALETTE["accent"]
OK = PALETTE["ok"]
DANGER = PALETTE["danger"]
FAINT = PALETTE["faint"]
ZERO_LINE = PALETTE["zero-line"]
SAME_CLASS = PALETTE["same"]
CLEAN = PALETTE["clean"]
LAMBDA_SCALE = PALETTE["lambda-scale"]
FONT = PALETTE["font"]
SERIES = [PALETTE[f"series-{i}"] for i in range(13)]
#: the metric curves of one run, one colour per series
SERIES_COLOURS = SERIES[:10]
#: runs drawn side by side on one plot
RUN_COLOURS = [SERIES[i] for i in (0, 1, 2, 3, 5, 4, 10, 11)]
STATUS_COLOURS = {"queued": PALETTE["neutral"], "running": ACCENT, "succeeded": OK,
                  "failed": DANGER, "cancelled": PALETTE["warn"]}
