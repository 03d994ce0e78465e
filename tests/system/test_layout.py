"""Data flows one way through the folders: ``backend`` never loads the trainer, torch, the
dashboard or the CLI package, and the trainer's modules import without a cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from paths import ROOT
from timing import patience

_PROBE = r"""
import json, pkgutil, importlib, sys
import backend
names = []
for m in pkgutil.walk_packages(backend.__path__, "backend."):
    if ".migrations" in m.name:  # alembic scripts, run by alembic, not imported
        continue
    importlib.import_module(m.name)
    names.append(m.name)
from backend.api.app import create_app
from backend.dispatch.client import Dispatcher
loaded = sorted({k.split(".")[0] for k in sys.modules} & {"trainer", "torch", "dashboard",
                                                          "mixscope"})
print(json.dumps({"modules": names, "forbidden": loaded}))
"""


def test_backend_never_loads_trainer_torch_dashboard_or_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "MIXSCOPE_STORE": str(tmp_path / "store")}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=patience(300))
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "backend.api.app" in got["modules"] and "backend.dispatch.client" in got["modules"]
    assert got["forbidden"] == []


def test_trainer_modules_import_without_a_cycle(tmp_path):
    """``trainer.extract`` imports first (a cycle with ``trainer.loop`` would fail here), and
    no trainer module imports ``trainer.loop`` except the task runner."""
    code = "import trainer.extract, trainer.loop, trainer.worker; print('ok')"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "MIXSCOPE_STORE": str(tmp_path / "store")}  # the worker's app makes its broker dir
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=patience(300))
    assert out.stdout.strip() == "ok"
    for path in (ROOT / "trainer").glob("*.py"):
        if path.name in ("loop.py", "tasks.py"):
            continue
        text = path.read_text()
        assert "from trainer.loop import" not in text, path.name
        assert "import trainer.loop" not in text, path.name


def test_tests_mirror_the_package_layout():
    """Each test file sits in the folder of the package it tests (``tests/backend/store/`` for
    ``backend/store``), or in ``tests/system/`` for what spans packages; ``tests/`` itself
    holds only shared fixtures and helpers."""
    tests = ROOT / "tests"
    assert not sorted(p.name for p in tests.glob("test_*.py"))
    for path in tests.rglob("test_*.py"):
        folder = path.parent.relative_to(tests)
        if folder.parts[0] == "system":
            continue
        assert (ROOT / folder).is_dir(), f"{path.relative_to(ROOT)}: no package {folder}"
