"""The launch form offers the executors ``GET /api/executor`` says a launch may choose
(issue 22): with Slurm only (no Celery broker configured) no Celery, where a run sent to
one would never start."""

from __future__ import annotations

from dashboard.runs.executor_form import executor_options


def test_slurm_only_offers_no_celery():
    opts = executor_options({"executor": "slurm", "executors": ["slurm"]})
    assert [o["value"] for o in opts] == ["slurm"]
    assert opts[0]["label"] == "a Slurm job"


def test_both_offered_where_a_broker_is_configured_or_the_api_cannot_say():
    both = {"executor": "celery", "executors": ["celery", "slurm"]}
    assert [o["value"] for o in executor_options(both)] == ["celery", "slurm"]
    assert [o["value"] for o in executor_options(None)] == ["celery", "slurm"]
