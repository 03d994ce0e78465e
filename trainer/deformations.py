"""Test sets with novel deformations (003 Table 9), as an evaluation of any finished run.

Each deformation is applied to every test image, in pixel space before normalisation (so
what comes in from outside the image is black, as the table's caption says), with a random
parameter per image drawn from a seeded generator:

* ``rotation`` U(−a°, a°), a ∈ {20, 40, 60, 80};
* ``shearing`` U(−s°, s°), s ∈ {28.6, 57.3, 114.6, 143.2, 171.9} (0.5 to 3 radians: Keras'
  ``shear_range`` in radians, which the authors' numbers are); the shear matrix is Keras'
  ``[[1, −sin φ], [0, cos φ]]``, so angles past 90° also flip the image;
* ``zoom-in`` k ∈ {20, 40, 60, 80} %: the central box of k % of the height and width,
  enlarged to the full image;
* ``zoom-out`` k ∈ {120, 140, 160, 180} %: a box of k % of the height and width around the
  image (black outside), shrunk to the image size.

The accuracy of the run's network (eval mode, at a recorded epoch: the last by default) on
each deformed test set is reported next to the clean test accuracy and 003's numbers for
CIFAR-100 (Table 9: no mixup, input mixup α = 1, input mixup α = 2, manifold mixup α = 2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

#: (kind, parameter) in 003 Table 9's order, with the table's accuracies (%): no mixup,
#: input mixup α=1, input mixup α=2, manifold mixup α=2 (PreActResNet on CIFAR-100).
TABLE9: list[tuple[str, float, tuple[float, float, float, float]]] = [
    ("rotation", 20, (52.96, 55.55, 56.48, 60.08)),
    ("rotation", 40, (33.82, 37.73, 36.78, 42.13)),
    ("rotation", 60, (26.77, 28.47, 27.53, 33.78)),
    ("rotation", 80, (24.19, 26.72, 25.34, 29.95)),
    ("shearing", 28.6, (55.92, 58.16, 60.01, 62.85)),
    ("shearing", 57.3, (35.66, 39.34, 39.7, 44.27)),
    ("shearing", 114.6, (19.57, 22.94, 22.8, 24.69)),
    ("shearing", 143.2, (17.55, 21.66, 21.22, 23.56)),
    ("shearing", 171.9, (22.38, 25.53, 25.27, 28.02)),
    ("zoom-in", 20, (2.43, 1.9, 2.45, 2.03)),
    ("zoom-in", 40, (4.97, 4.47, 5.23, 4.17)),
    ("zoom-in", 60, (12.68, 13.75, 13.12, 11.49)),
    ("zoom-in", 80, (47.95, 52.18, 50.47, 52.7)),
    ("zoom-out", 120, (43.18, 60.02, 61.62, 63.59)),
    ("zoom-out", 140, (19.34, 41.81, 42.02, 45.29)),
    ("zoom-out", 160, (11.12, 25.48, 25.85, 27.02)),
    ("zoom-out", 180, (7.98, 18.11, 18.02, 15.68)),
]
PAPER_COLUMNS = ("no mixup", "input mixup α=1", "input mixup α=2", "manifold mixup α=2")
from backend.vocab import DEFORMATION_JOB  # noqa: E402  (the worker's task runs execute_deformations_job)
EVAL_BATCH = 1024


def label(kind: str, param: float) -> str:
    if kind in ("rotation", "shearing"):
        return f"{kind.capitalize()} U(−{param:g}°, {param:g}°)"
    return f"{'Zoom In' if kind == 'zoom-in' else 'Zoom Out'} ({param:g}% rescale)"


def affine(kind: str, param: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) matrices for ``F.affine_grid``: output coordinates -> input coordinates
    (normalised to [−1, 1]), i.e. the inverse of the deformation seen in the image."""
    eye = torch.eye(2, dtype=torch.float64).expand(n, 2, 2).clone()
    if kind in ("rotation", "shearing"):
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        phi = torch.deg2rad((2 * u - 1) * param)
        if kind == "rotation":
            c, s = torch.cos(phi), torch.sin(phi)
            fwd = torch.stack([torch.stack([c, -s], 1), torch.stack([s, c], 1)], 1)
        else:
            fwd = torch.stack([torch.stack([torch.ones_like(phi), -torch.sin(phi)], 1),
                               torch.stack([torch.zeros_like(phi), torch.cos(phi)], 1)], 1)
        # a shear of ±90° is singular: nudge the determinant off zero rather than divide by 0
        det = torch.linalg.det(fwd)
        fwd[:, 1, 1] = torch.where(det.abs() < 1e-6, torch.full_like(det, 1e-6), fwd[:, 1, 1])
        inv = torch.linalg.inv(fwd)
    elif kind in ("zoom-in", "zoom-out"):
        inv = eye * (param / 100.0)   # sample a box k % of the image: k < 100 zooms in
    else:
        raise ValueError(f"deformation: unknown kind {kind!r}")
    return torch.cat([inv, torch.zeros(n, 2, 1, dtype=torch.float64)], 2).float()


def deform(images: torch.Tensor, kind: str, param: float,
           generator: torch.Generator) -> torch.Tensor:
    """Deform (n, c, h, w) float images (black = 0); bilinear, zeros outside."""
    theta = affine(kind, param, len(images), generator).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _pixels(bundle) -> torch.Tensor:
    """The test images as floats with black = 0 (uint8 sets scaled to [0, 1])."""
    x = bundle.test_x
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


def _normalise(bundle, x: torch.Tensor) -> torch.Tensor:
    if bundle.test_x.dtype != torch.uint8:
        return x
    shape = (1, -1, 1, 1)
    return (x - bundle.mean.to(x.device).view(shape)) / bundle.std.to(x.device).view(shape)


@torch.no_grad()
def _accuracy(model, bundle, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = 0
    for s in range(0, len(x), EVAL_BATCH):
        logits = model(_normalise(bundle, x[s:s + EVAL_BATCH]))
        correct += int((logits.argmax(1) == y[s:s + EVAL_BATCH]).sum())
    return correct / max(len(x), 1)


def evaluate_deformations(store, run_id: str, epoch: int | None = None, seed: int = 0,
                          settings=None) -> dict[str, Any]:
    """Accuracy of run ``run_id``'s network (at recorded ``epoch``, default the last) on its
    test set under every deformation of 003 Table 9.

    Returns ``{"run_id", "epoch", "seed", "dataset", "n_test", "clean_accuracy",
    "paper_columns", "deformations": [{"kind", "param", "label", "accuracy", "paper"}]}``
    (accuracies as fractions, the paper's in %).
    Raises ValueError naming the field (``epoch``, ``dataset``) when it cannot be done.
    """
    from backend.runconfig import RunConfig
    from backend.store.errors import RunNotFound
    from trainer import checkpoint
    from trainer.build import build_for_config, resolve_device
    from trainer.data import load_dataset

    info = store.get_run(run_id)
    if info is None:
        raise RunNotFound(run_id)
    config = RunConfig.model_validate(info.config)
    recorded = [e for e in (info.recorded_epochs or [])
                if checkpoint.has_checkpoint(store, run_id, e)]
    if epoch is None:
        if not recorded:
            raise ValueError("epoch: the run has no recorded epoch with a model snapshot")
        epoch = max(recorded)
    elif epoch not in recorded:
        raise ValueError(f"epoch: {epoch} has no model snapshot; recorded: {recorded}")
    if settings is None:
        settings = store.settings
    bundle = load_dataset(config, settings.resolved_data_dir, settings.allow_download)
    if len(bundle.input_shape) != 3:
        raise ValueError(f"dataset: deformations need an image dataset, not {config.dataset!r}")
    if len(bundle.test_y) == 0:
        raise ValueError(f"dataset: {config.dataset!r} has no test split here")
    device = resolve_device(config.device)
    model = build_for_config(config, bundle, len(bundle.class_names)).to(device).eval()
    checkpoint.load_model_tensors(model, checkpoint.load_epoch(store, run_id, epoch))
    x = _pixels(bundle).to(device)
    y = bundle.test_y.to(device)
    out = []
    for k, (kind, param, paper) in enumerate(TABLE9):
        gen = torch.Generator().manual_seed(seed * 1000 + k)   # each test set on its own
        xd = torch.cat([deform(x[s:s + EVAL_BATCH], kind, param, gen)
                        for s in range(0, len(x), EVAL_BATCH)])
        out.append({"kind": kind, "param": param, "label": label(kind, param),
                    "accuracy": _accuracy(model, bundle, xd, y),
                    "paper": dict(zip(PAPER_COLUMNS, paper))})
    return {"run_id": run_id, "epoch": int(epoch), "seed": int(seed),
            "dataset": config.dataset, "n_test": int(len(y)),
            "clean_accuracy": _accuracy(model, bundle, x, y),
            "paper_columns": list(PAPER_COLUMNS), "deformations": out}


def execute_deformations_job(store, job_id: str, settings=None) -> str:
    """Run job ``job_id`` (kind ``deformations``, params ``{"epoch": E | None, "seed": s}``)
    of its run and keep the result with the job (or the error). Returns the job's status."""
    job = store.get_job(job_id)
    if job is None:
        return "unknown"
    if job.status == "done" and store.job_result(job_id) is not None:
        return "done"   # a duplicated message
    p = job.params or {}
    try:
        result = evaluate_deformations(store, job.run_id, p.get("epoch"), int(p.get("seed", 0)),
                                       settings)
    except Exception as exc:   # a missing dataset or snapshot: the job says why
        try:
            store.finish_job(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        except LookupError:    # deleted with its run meanwhile
            pass
        return "failed"
    try:
        store.finish_job(job_id, "done", result=result)
    except LookupError:
        return "unknown"
    return "done"
