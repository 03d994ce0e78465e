"""Importing ``backend.maths`` loads no scipy (issue 22: every Slurm job imports it at
start-up, a fixed cost per run): scipy.spatial, scipy.optimize and scipy.special are
imported inside the functions that use them."""

from __future__ import annotations

import subprocess
import sys

from paths import ROOT


def test_importing_the_maths_loads_no_scipy():
    code = ("import sys, backend.maths, backend.store; "
            "print(sorted({m.split('.')[1] for m in sys.modules "
            "if m.startswith('scipy.')} | ({'(scipy)'} if 'scipy' in sys.modules else set())))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

