"""Mixup as the papers define it, with λ and the partners kept (timm's ``Mixup`` flips the
batch, smooths labels by 0.1 and never returns λ; the probe set, the gradient split and the
plots all need them).

A mixed example is ``λ x_i + (1 − λ) x_partner(i)`` with target ``λ y_i + (1 − λ) y_partner(i)``
and ``λ ~ Beta(α, α)``: one λ per batch (the papers' default) or one per sample. Every random
draw comes from one ``torch.Generator`` (on the CPU), so a run is repeatable and a checkpoint
only has to store that generator's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from scipy.special import betaincinv
from torch.nn import functional as F

from backend.vocab import METHODS  # noqa: E402,F401  (one home: backend.vocab)


def sample_lambda(n: int, alpha: float, per: Literal["batch", "sample"],
                  generator: torch.Generator, device: torch.device | str = "cpu"
                  ) -> torch.Tensor:
    """λ ~ Beta(α, α) for a batch of n: (n,) float32; ``per="batch"`` repeats one draw.

    Drawn by inverting the Beta CDF at uniforms from ``generator`` (torch's Beta sampler
    cannot take a generator), so the draws are reproducible from the generator state alone.
    """
    if alpha <= 0:
        raise ValueError(f"alpha: must be > 0, got {alpha}")
    if per not in ("batch", "sample"):
        raise ValueError(f"mix_per: must be 'batch' or 'sample', got {per!r}")
    k = 1 if per == "batch" else n
    u = torch.rand(k, generator=generator, dtype=torch.float64)
    lam = torch.from_numpy(betaincinv(alpha, alpha, u.numpy())).to(torch.float32)
    if per == "batch":
        lam = lam.expand(n)
    return lam.to(device).contiguous()


def sample_partners(n: int, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Partners of a batch of n: a uniformly random permutation (n,) int64."""
    return torch.randperm(n, generator=generator).to(device)


def _per_row(lam: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    lam = torch.as_tensor(lam, dtype=like.dtype, device=like.device)
    return lam if lam.dim() == 0 else lam.view(-1, *([1] * (like.dim() - 1)))


def mix_inputs(x: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """``λ x + (1 − λ) x[partner]`` for x (n, ...) float, partner (n,), λ (n,) or scalar."""
    lam = _per_row(lam, x)
    return lam * x + (1.0 - lam) * x[partner]


def mixed_targets(y: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor | float,
                  num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Soft targets (n, C): ``λ t(y) + (1 − λ) t(y[partner])``, rows summing to 1.

    ``t`` is the one-hot target, label-smoothed when ``smoothing`` > 0:
    ``(1 − ε) onehot + ε / C``. With λ = 1 this is plain (smoothed) ERM.
    """
    if not 0 <= smoothing < 1:
        raise ValueError(f"label_smoothing: must be in [0, 1), got {smoothing}")
    t = F.one_hot(y, num_classes).to(torch.float32)
    if smoothing:
        t = t * (1.0 - smoothing) + smoothing / num_classes
    lam = _per_row(lam, t)
    return lam * t + (1.0 - lam) * t[partner]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``−Σ_c t_c log softmax(z)_c`` (logits, target: (n, C))."""
    return -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def soft_mse(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``Σ_c (z_c − t_c)²``: squared error of the logits themselves
    against the soft target (000 Fig. 2, 001), no softmax. Summing over classes (rather than
    averaging) keeps the gradient per example independent of C."""
    return (logits.float() - target).pow(2).sum(dim=1).mean()


def softmax_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the softmax outputs against the soft target, averaged over the
    batch *and* the C outputs: ``−mean_{i,c} [t log p + (1 − t) log(1 − p)]``, p = softmax(z).

    The loss of Verma et al.'s manifold-mixup code (``nn.BCELoss()(softmax(out), target)``,
    003 Figs. 6–7); like ``nn.BCELoss`` the logs are clamped at −100. Computed from
    log-softmax, and log(1 − p_c) as the log-sum-exp of the other logits minus that of all,
    so that confident outputs neither lose precision nor give infinite gradients.
    """
    z = logits.float()
    lse = torch.logsumexp(z, dim=1, keepdim=True)
    logp = z - lse
    c = z.shape[1]
    others = z.unsqueeze(1).expand(-1, c, c).masked_fill(
        torch.eye(c, dtype=torch.bool, device=z.device), float("-inf"))
    log1mp = torch.logsumexp(others, dim=2) - lse
    return -(target * logp.clamp(min=-100) + (1.0 - target) * log1mp.clamp(min=-100)).mean()


LOSSES = {"ce": soft_cross_entropy, "mse": soft_mse, "bce": softmax_bce}


@dataclass
class MixupBatch:
    """One input-mixed batch.

    Attributes:
        x: (n, ...) the mixed inputs.
        target: (n, C) soft targets (λ on the row's own label).
        lam: (n,) float32, the weight on each row's own example.
        partner: (n,) int64, the row each example was mixed with.
        mix_at: where the mixing happens ("input" here; see ``Mixer.plan``).
    """

    x: torch.Tensor
    target: torch.Tensor
    lam: torch.Tensor
    partner: torch.Tensor
    mix_at: str = "input"


@dataclass(frozen=True)
class MixPlan:
    """How to mix one batch: unpacks as ``partner, lam, mix_at = plan``.

    ``partner`` (n,) int64, ``lam`` (n,) float32, ``mix_at`` a mixing point. For ERM the plan
    is the identity (λ = 1, every row its own partner) and ``active`` is False, so a loop may
    skip mixing altogether.
    """

    partner: torch.Tensor
    lam: torch.Tensor
    mix_at: str
    active: bool = True

    def __iter__(self):
        return iter((self.partner, self.lam, self.mix_at))


class Mixer:
    """Draws the mixing of each training batch: partners, λ and the mixing point.

    Like timm's ``Mixup`` it is configured once and called per batch, but it returns what it
    drew (λ per row and the partner of each row) instead of hiding it, never smooths labels
    unless asked, and takes all its randomness from one generator.

    Args:
        method: ``"erm"`` (no mixing: identity plans), ``"input-mixup"`` and
            ``"factor-mixup"`` (always mix at ``"input"``; factor mixup renders the mixed
            factors instead of mixing pixels, see ``trainer.rendered``) or
            ``"manifold-mixup"`` (mix at a point drawn uniformly from ``mixing_points`` for
            every batch, as in Manifold Mixup).
        num_classes: C, for the soft targets.
        alpha: λ ~ Beta(α, α); α = 1 is uniform (> 0).
        per: ``"batch"`` (one λ shared by the whole batch, the papers' setting) or
            ``"sample"`` (an independent λ per row).
        mixing_points: eligible mixing points for manifold mixup, e.g. ``["input", "block1",
            "block2"]``; a model's ``mixing_points`` by default. Ignored by the other methods.
        label_smoothing: ε of the smoothed one-hot targets (0 = none, the default).
        generator: a CPU ``torch.Generator``; its state is the Mixer's whole state. A fresh
            one seeded with ``seed`` when None.
        seed: seed of the fresh generator.
        device: where returned tensors are put.
    """

    def __init__(self, method: str, num_classes: int, alpha: float = 1.0,
                 per: Literal["batch", "sample"] = "batch",
                 mixing_points: Sequence[str] = ("input",), label_smoothing: float = 0.0,
                 generator: torch.Generator | None = None, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        if method not in METHODS:
            raise ValueError(f"method: unknown method {method!r}; choose one of "
                             f"{', '.join(METHODS)}")
        if alpha <= 0:
            raise ValueError(f"alpha: must be > 0, got {alpha}")
        if per not in ("batch", "sample"):
            raise ValueError(f"mix_per: must be 'batch' or 'sample', got {per!r}")
        if method == "manifold-mixup" and not mixing_points:
            raise ValueError("manifold_layers: manifold mixup needs at least one mixing point")
        self.method = method
        self.num_classes = num_classes
        self.alpha = float(alpha)
        self.per = per
        self.mixing_points = list(mixing_points) if method == "manifold-mixup" else ["input"]
        self.label_smoothing = float(label_smoothing)
        self.generator = generator if generator is not None else \
            torch.Generator().manual_seed(seed)
        self.device = torch.device(device)

    @classmethod
    def from_config(cls, config, model, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> Mixer:
        """The Mixer of a ``RunConfig`` for a ``MixModel``: the model gives C and the default
        mixing points, and validates ``config.manifold_layers`` (a ValueError names it)."""
        points: Sequence[str] = ("input",)
        if config.method == "manifold-mixup":
            points = config.manifold_layers or model.mixing_points
            for p in points:
                model.check_mixing_point(p, field="manifold_layers")
        return cls(config.method, model.classifier.out_features, alpha=config.alpha,
                   per=config.mix_per, mixing_points=points,
                   label_smoothing=config.label_smoothing, generator=generator,
                   seed=config.seed, device=device)

    @property
    def active(self) -> bool:
        return self.method != "erm"

    def plan(self, n: int) -> MixPlan:
        """Draw the mixing of a batch of n rows (draw order: point, λ, partners)."""
        if not self.active:
            return MixPlan(torch.arange(n, device=self.device),
                           torch.ones(n, device=self.device), "input", False)
        if len(self.mixing_points) == 1:
            mix_at = self.mixing_points[0]
        else:
            k = int(torch.randint(len(self.mixing_points), (1,), generator=self.generator))
            mix_at = self.mixing_points[k]
        lam = sample_lambda(n, self.alpha, self.per, self.generator, self.device)
        partner = sample_partners(n, self.generator, self.device)
        return MixPlan(partner, lam, mix_at, True)

    __call__ = plan

    def targets(self, y: torch.Tensor, plan: MixPlan) -> torch.Tensor:
        """Soft targets (n, C) of a batch mixed by ``plan``."""
        return mixed_targets(y, plan.partner, plan.lam, self.num_classes, self.label_smoothing)

    def mix_batch(self, x: torch.Tensor, y: torch.Tensor) -> MixupBatch:
        """Draw a plan and mix the inputs themselves (needs an ``"input"`` plan; for
        manifold mixup use ``plan`` and ``model.forward_mixed``)."""
        plan = self.plan(len(x))
        if plan.mix_at != "input":
            raise ValueError(f"mix_batch mixes inputs, but this batch mixes at {plan.mix_at!r}")
        mixed = mix_inputs(x, plan.partner, plan.lam) if plan.active else x
        return MixupBatch(mixed, self.targets(y, plan), plan.lam, plan.partner, "input")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue the same sequence of draws (for checkpoints)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
