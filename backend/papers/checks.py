"""Checks: what the produced runs, lab jobs and theory queries of a catalogue entry computed.

One function per ``check`` name of ``catalogue.yaml``. Each takes a :class:`Produced` of ONE
seed (the entry's runs with their stored metrics, its lab job results and theory answers, in
recipe order) and returns ``computed``: numbers and booleans read or derived from the store,
never typed in. A key named like a ``published`` key is compared with it (only where the
check computed it in the paper's setting); a key named like an ``expect`` key is a part of
the claim, and ``<key>_margin`` its margin (positive when it holds). The verdict is
:func:`backend.papers.verdict.evaluate`'s.

numpy only (no torch): the API uses this module.
"""

from __future__ import annotations

from backend.papers import checks_000, checks_002, checks_003  # noqa: F401 (register checks)
from backend.papers.produced import (  # noqa: F401 (re-exported)
    CHECKS,
    LabResult,
    Produced,
    RunResult,
    TheoryResult,
    _f,
    stored_triple_geometry,
)
from backend.papers.verdict import VERDICTS, evaluate  # noqa: F401 (re-exported)
