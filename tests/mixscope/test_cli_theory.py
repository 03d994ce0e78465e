"""``mixscope theory ufm``: the exact JSON contract, the table, and flag-naming errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from timing import patience

from backend.maths import solve_ufm, ufm_summary
from mixscope.cli import main

FIELDS = {"K_same", "same_class", "lambdas", "different_class", "mean_loss_triple"}


def _run(*args: str):
    return CliRunner().invoke(main, ["theory", "ufm", *args])


def test_json_for_given_lambdas():
    res = _run("--m", "3", "--num-classes", "10", "--lambda-h", "1e-6",
               "--lambdas", "0.1,0.5,0.9", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == FIELDS
    assert set(out["same_class"]) == {"coef", "loss"}
    assert set(out["different_class"]) == {"K", "logit_i", "coef_i", "coef_j", "loss"}
    assert out["lambdas"] == [0.1, 0.5, 0.9]
    assert out == json.loads(json.dumps(ufm_summary(3, 10, 1e-6, [0.1, 0.5, 0.9])))
    dc = out["different_class"]
    assert dc["K"][0] == pytest.approx(dc["K"][2])  # K_λ = K_{1-λ}
    assert dc["coef_i"][1] == pytest.approx(dc["coef_j"][1])
    assert out["K_same"] < 0 and out["same_class"]["coef"] > 0
    # h = coef·w_i with coef = (1-C)K/m²
    assert out["same_class"]["coef"] == pytest.approx((1 - 10) * out["K_same"] / 3**2)


def test_json_for_sampled_lambdas_figure_6():
    res = _run("--m", "3", "--num-classes", "10", "--lambda-h", "1e-6",
               "--n-lambda", "5000", "--alpha", "1", "--seed", "0", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    lam = np.random.default_rng(0).beta(1.0, 1.0, 5000)
    np.testing.assert_allclose(out["lambdas"], lam)
    assert len(out["different_class"]["loss"]) == 5000
    assert abs(out["mean_loss_triple"] - 0.33457) < 6e-3
    amp = json.loads(_run("--n-lambda", "5000", "--seed", "0", "--amplify", "--json").output)
    increase = amp["mean_loss_triple"] - out["mean_loss_triple"]
    assert 2e-6 < increase < 6e-6  # ≈ 3.5e-6, not the paper's 8e-5
    assert amp["mean_loss_triple"] == pytest.approx(
        solve_ufm(3, 10, 1e-6, lam, amplify=True).mean_loss_triple, rel=1e-12)


def test_readable_table():
    res = _run("--lambdas", "0.25,0.75")
    assert res.exit_code == 0, res.output
    assert "same class" in res.output and "K_λ" in res.output
    assert "0.250000" in res.output and "0.750000" in res.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.output)


@pytest.mark.parametrize("args, flag", [
    (["--m", "0"], "--m"),
    (["--m", "-2"], "--m"),
    (["--num-classes", "2"], "--num-classes"),
    (["--lambda-h", "0"], "--lambda-h"),
    (["--lambda-h", "-1e-6"], "--lambda-h"),
    (["--lambdas", "0.2,1.5"], "--lambdas"),
    (["--lambdas", "-0.1"], "--lambdas"),
    (["--lambdas", "a,b"], "--lambdas"),
    (["--n-lambda", "0"], "--n-lambda"),
    (["--alpha", "0"], "--alpha"),
])
def test_invalid_arguments_name_the_flag(args, flag):
    res = _run(*args, "--json")
    assert res.exit_code != 0
    assert flag in res.output


def test_console_script_runs_without_torch():
    """The installed entry point works and the theory command never imports torch."""
    code = ("import sys; from mixscope.cli import main; "
            "sys.argv=['mixscope','theory','ufm','--lambdas','0.5','--json']; "
            "import contextlib, io; buf=io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try: main()\n"
            "    except SystemExit: pass\n"
            "print('torch' in sys.modules); print(buf.getvalue())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=patience(120))
    assert proc.returncode == 0, proc.stderr
    first, rest = proc.stdout.split("\n", 1)
    assert first == "False"
    assert set(json.loads(rest)) == FIELDS
