"""docker-compose.yml validates with Debian's ``docker-compose`` (``config`` needs no
engine) and describes the deployment the README promises."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from paths import ROOT
from timing import patience

COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(COMPOSE is None, reason="docker-compose not installed")


OPERATOR_TOKEN = "operator-set-" + "Qw3" * 8


def compose(*args: str, file: Path = ROOT / "docker-compose.yml",
            token: str | None = OPERATOR_TOKEN) -> subprocess.CompletedProcess:
    """``docker-compose`` with .env.example, plus ``MIXSCOPE_API_TOKEN=token`` as an operator
    would set it (``None``: the example file as shipped, which sets none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIXSCOPE_")}
    if token is not None:
        env["MIXSCOPE_API_TOKEN"] = token  # the shell's value beats the env file's
    return subprocess.run([COMPOSE, "-f", str(file), "--project-directory", str(ROOT),
                           "--env-file", str(ROOT / ".env.example"), *args],
                          capture_output=True, text=True, timeout=patience(60), check=False, env=env)


@needs_compose
def test_compose_refuses_to_start_without_an_operator_set_token():
    r = compose("config", "-q", token=None)
    assert r.returncode != 0
    assert "set MIXSCOPE_API_TOKEN in .env" in r.stderr, r.stderr   # our refusal, not a typo
    assert "change-me-token" not in (ROOT / "docker-compose.yml").read_text()


@needs_compose
def test_compose_file_is_valid():
    r = compose("config", "-q")
    assert r.returncode == 0, r.stderr


@needs_compose
def test_compose_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    text = (ROOT / "docker-compose.yml").read_text()
    broken.write_text(text.replace("    restart: unless-stopped", "    restart: [oops]", 1))
    assert compose("config", "-q", file=broken).returncode != 0


@needs_compose
def test_compose_resolved_services():
    r = compose("config")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    services = cfg["services"]
    for name in ("postgres", "redis", "minio", "migrate", "api", "dashboard", "worker"):
        assert name in services, name
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    env = services["api"]["environment"]
    assert env["MIXSCOPE_DATABASE_URL"].startswith("postgresql+psycopg://mixscope:")
    assert env["MIXSCOPE_BROKER_URL"] == "redis://redis:6379/0"
    assert env["MIXSCOPE_ARTIFACT_URL"] == "s3://mixscope/artifacts"
    assert env["MIXSCOPE_API_TOKEN"] == OPERATOR_TOKEN
    # the dashboard reaches the API by its service name: a host name the API must answer
    assert "api" in env["MIXSCOPE_ALLOWED_HOSTS"].split(",")
    # the dashboard is open on the network: it holds no token, its users log in, gunicorn
    dash = services["dashboard"]
    assert not dash["environment"]["MIXSCOPE_API_TOKEN"]
    assert dash["command"][:2] == ["mixscope", "dashboard"]
    # migrations run once before the API and the workers start
    assert services["api"]["depends_on"]["migrate"]["condition"] == \
        "service_completed_successfully"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == \
        "service_completed_successfully"


def test_env_example_documents_every_variable_compose_uses():
    import re

    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    documented = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text()
                  .splitlines() if line and not line.startswith("#") and "=" in line}
    assert used <= documented, used - documented
