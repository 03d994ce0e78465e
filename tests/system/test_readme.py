"""The README's worked examples are run, so they cannot silently rot."""

import json
import re

from click.testing import CliRunner
from paths import ROOT

from mixscope.cli import main

README = ROOT / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert blocks, "README lost its Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_cli_example_matches_its_printed_numbers():
    result = CliRunner().invoke(main, ["theory", "ufm", "--m", "3", "--num-classes", "10",
                                       "--lambda-h", "1e-6", "--lambdas", "0.1,0.5,0.9",
                                       "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert f"{out['mean_loss_triple']:.10f}" in README.read_text()
    assert f"{out['K_same']:.9f}" in README.read_text()
