"""What sbatch's errors mean for a launch (``backend.slurm_jobs.sbatch_refusal``) and how a
launch's extra sbatch options are read (``backend.executors.parse_extra``); no Slurm
needed. Real sbatch refusals are tested in ``tests/system/test_slurm_sweeps.py``."""

from __future__ import annotations

import pytest

from backend.errors import InvalidInput, Unavailable
from backend.executors import parse_extra
from backend.slurm_jobs import SlurmUnavailable, sbatch_refusal


@pytest.mark.parametrize(("message", "field"), [
    ("sbatch: error: invalid partition specified: nowhere", "partition"),
    (("sbatch: error: Batch job submission failed: Invalid account or account/partition "
     "combination specified"), "account"),
    ("sbatch: error: Batch job submission failed: Invalid qos specification", "qos"),
    ("sbatch: error: Invalid generic resource (gres) specification", "gpus"),
    (("sbatch: error: Batch job submission failed: Requested node configuration is not "
     "available"), "sbatch"),
])
def test_a_request_sbatch_refuses_is_a_422_naming_the_field(message, field):
    exc = sbatch_refusal(message)
    assert isinstance(exc, InvalidInput) and exc.field == field
    assert message in str(exc) and str(exc).startswith(f"{field}: sbatch refused the job")


def test_a_cluster_that_cannot_take_jobs_is_a_503_naming_slurm():
    exc = sbatch_refusal("sbatch: error: Batch job submission failed: Unable to contact "
                         "slurm controller (connect failure)")
    assert isinstance(exc, SlurmUnavailable) and isinstance(exc, Unavailable)
    assert exc.service == "slurm" and exc.status_code == 503


def test_extra_options_split_on_commas_only_before_a_name():
    assert parse_extra("constraint=a100, --exclude=node3") == {"constraint": "a100",
                                                                "exclude": "node3"}
    assert parse_extra("exclude=node1,node2,constraint=a100") == {
        "exclude": "node1,node2", "constraint": "a100"}
    assert parse_extra(["gres=gpu:1,tmp:10G", "comment=x"]) == {"gres": "gpu:1,tmp:10G",
                                                                 "comment": "x"}
    assert parse_extra("") == {}
    with pytest.raises(ValueError, match="not 'option=value'"):
        parse_extra("exclusive")
