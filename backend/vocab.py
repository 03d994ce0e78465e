"""The vocabularies of mixscope, in one place: run and job statuses, job kinds, datasets,
methods and losses. The store, the API schemas, the run config, the CLI's choices and the
worker read them from here; the dashboard, which imports nothing of ours, reads them from
``GET /api/vocab``. Plain tuples and ``Literal`` types, no other imports."""

from __future__ import annotations

from typing import Literal

# --- runs ---------------------------------------------------------------------------------
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__
TERMINAL_STATUSES: tuple[str, ...] = ("succeeded", "failed", "cancelled")
ACTIVE_STATUSES: tuple[str, ...] = ("queued", "running")

# --- jobs (work of no training run's own loop: on-demand extraction, lab, evaluations) -----
JobStatus = Literal["pending", "done", "failed"]
JOB_STATUSES: tuple[str, ...] = JobStatus.__args__
EXTRACT_JOB = "extract_triple"   # a triple the probe does not cover (trainer.extract)
LAB_JOB = "lab"                  # a lab experiment of 002 (trainer.tasks.lab_job)
DEFORMATION_JOB = "deformations"  # 003 Table 9 evaluation (trainer.deformations)
THEORY_JOB = "theory"            # a Papers entry's UFM query, kept (backend.papers.runner)
JOB_KINDS: tuple[str, ...] = (EXTRACT_JOB, LAB_JOB, DEFORMATION_JOB, THEORY_JOB)

# --- what a run trains ------------------------------------------------------------------
DATASETS: tuple[str, ...] = ("digits", "two-moons", "alternating-line", "gaussian-mixture",
                             "fashion-mnist", "mnist", "rotated-digit", "cifar10", "cifar100")
#: datasets of images (channels, height, width): the deformation evaluation needs one
IMAGE_DATASETS: tuple[str, ...] = ("fashion-mnist", "mnist", "rotated-digit", "cifar10",
                                   "cifar100")
#: datasets rendered from known generative factors: only they support factor-mixup
FACTOR_DATASETS: tuple[str, ...] = ("rotated-digit",)
Method = Literal["erm", "input-mixup", "manifold-mixup", "factor-mixup"]
METHODS: tuple[str, ...] = Method.__args__
Loss = Literal["ce", "mse", "bce"]
LOSSES: tuple[str, ...] = Loss.__args__


def as_dict() -> dict[str, list[str]]:
    """What ``GET /api/vocab`` answers."""
    return {"run_statuses": list(RUN_STATUSES), "terminal_statuses": list(TERMINAL_STATUSES),
            "job_statuses": list(JOB_STATUSES), "job_kinds": list(JOB_KINDS),
            "datasets": list(DATASETS), "image_datasets": list(IMAGE_DATASETS),
            "factor_datasets": list(FACTOR_DATASETS),
            "methods": list(METHODS), "losses": list(LOSSES)}
