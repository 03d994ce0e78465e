"""The lab: small seeded full-batch experiments on the data dependency of mixup (seed 002).

The paper's setting (reference §4): a two-layer ReLU net (one hidden layer of ``hidden``
units), full-batch Adam (lr 1e-3, betas 0.9/0.999), PyTorch default initialisation, trained
with mixup and with ERM from the same initial weights, several seeded runs averaged at the
final epoch. Mixup as in the authors' code: **one λ ~ Beta(α, α) per step shared by all
pairs**, every point paired with a uniformly random partner (itself allowed), loss
``λ CE(y_0) + (1 − λ) CE(y_1)`` averaged over the points.

Speed: the R runs of one setting are trained as *one* batched model. Each weight is a stacked
tensor with a leading run axis (``W1`` (R, D, H), ...) and the forward pass is a batched
matrix product. This keeps per-run semantics exactly:
- run r is initialised by ``nn.Linear`` under ``torch.manual_seed(seed + r)`` (default init);
- its λ and partners come from its own stream ``np.random.default_rng([seed + r, 2002])``;
- the summed loss gives every run's slice exactly that run's gradient, and Adam is
  elementwise, so the update of run r does not depend on the other runs.
:func:`train_single` is the plain one-run reference the tests compare against.

Everything returned is numpy; nothing here touches the store or the web stack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Table 1 of seed 002: class-1 probabilities at points 0, 1, 2 of X_3^2 (mixup, 10 runs).
PAPER_TABLE1 = {1.0: (0.995, 0.156, 0.979), 32.0: (1.000, 0.603, 0.997),
                128.0: (1.000, 0.650, 0.997)}
#: Reference §4: the same experiment with the authors' code, seeded: range of the 10-run
#: mean of p(class 1) at the middle point.
AUTHORS_CODE_POINT1 = {1.0: (0.16, 0.19), 32.0: (0.58, 0.64), 128.0: (0.65, 0.67)}

METHODS = ("mixup", "erm")
_STREAM_TAG = 2002  # second word of every run's mixing-stream seed (keeps streams distinct)


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class LabSettings:
    """One lab setting: what to train and how (the dataset comes separately)."""

    alpha: float = 32.0
    runs: int = 10
    epochs: int = 5000
    seed: int = 0
    hidden: int = 512
    lr: float = 1e-3
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        # bad input gets an error naming the field
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if not 1 <= self.runs <= 1000:
            raise ValueError(f"runs must be in 1..1000, got {self.runs}")
        if not 1 <= self.epochs <= 1_000_000:
            raise ValueError(f"epochs must be in 1..1000000, got {self.epochs}")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"seed must be in 0..2**31-1, got {self.seed}")
        if not 1 <= self.hidden <= 65_536:
            raise ValueError(f"hidden must be in 1..65536, got {self.hidden}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {self.methods}")


# --------------------------------------------------------------------------- seeded pieces
def init_weights(seed: int, in_dim: int, hidden: int, out_dim: int) -> list[torch.Tensor]:
    """PyTorch's default init of ``Linear(in_dim, hidden)`` and ``Linear(hidden, out_dim)``
    under ``torch.manual_seed(seed)``, without touching the global RNG.

    Returns ``[W1 (in_dim, hidden), b1 (hidden,), W2 (hidden, out_dim), b2 (out_dim,)]``
    (weights transposed to the ``x @ W`` layout).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        l1, l2 = nn.Linear(in_dim, hidden), nn.Linear(hidden, out_dim)
    return [l1.weight.detach().T.contiguous(), l1.bias.detach().clone(),
            l2.weight.detach().T.contiguous(), l2.bias.detach().clone()]


def mixing_stream(seed: int, n: int, epochs: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """One run's mixup draws: λ (epochs,) float32 ~ Beta(α, α), one per step, and partner
    indices (epochs, n) int64, uniform over the n points (a point may be its own partner)."""
    rng = np.random.default_rng([seed, _STREAM_TAG])
    lam = rng.beta(alpha, alpha, size=epochs).astype(np.float32)
    partner = rng.integers(0, n, size=(epochs, n))
    return lam, partner


# --------------------------------------------------------------------------- training
@dataclass
class MethodRuns:
    """What R runs of one method produced.

    probs: (R, N, C) final class probabilities at the training points.
    error_curve: (R, E + 1) training error (fraction of points misclassified) after each
        epoch, column 0 = initialisation.
    grid_probs: (R, G, C) final probabilities on the evaluation grid, or None.
    seconds: wall time of the batched training.
    """

    probs: np.ndarray
    error_curve: np.ndarray
    grid_probs: np.ndarray | None = None
    seconds: float = 0.0
    weights: list[np.ndarray] = field(default_factory=list)


def _forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Batched two-layer ReLU net. x (R, N, D) -> logits (R, N, C)."""
    w1, b1, w2, b2 = params
    h = torch.relu(torch.baddbmm(b1.unsqueeze(1), x, w1))
    return torch.baddbmm(b2.unsqueeze(1), h, w2)


def train_batched(x: np.ndarray, y: np.ndarray, num_classes: int, *, method: str,
                  settings: LabSettings, grid: np.ndarray | None = None) -> MethodRuns:
    """Train ``settings.runs`` seeded runs of one method at once.

    x: (N, D) float inputs; y: (N,) int labels in 0..num_classes-1; grid: optional (G, D)
    points at which to evaluate the final classifiers (decision regions).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(y, dtype=np.int64)
    n, d = x.shape
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    s = settings
    r, e = s.runs, s.epochs
    seeds = [s.seed + i for i in range(r)]

    inits = [init_weights(sd, d, s.hidden, num_classes) for sd in seeds]
    params = [torch.stack([w[k] for w in inits]).requires_grad_(True) for k in range(4)]
    opt = torch.optim.Adam(params, lr=s.lr, betas=(0.9, 0.999))

    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    xb = xt.expand(r, n, d)
    yb = yt.expand(r, n)
    if method == "mixup":
        streams = [mixing_stream(sd, n, e, s.alpha) for sd in seeds]
        lam_all = torch.from_numpy(np.stack([st[0] for st in streams], axis=1))      # (E, R)
        partner_all = torch.from_numpy(np.stack([st[1] for st in streams], axis=1))  # (E, R, N)

    errors = np.empty((r, e + 1), dtype=np.float32)
    t0 = time.perf_counter()
    with torch.no_grad():
        errors[:, 0] = (_forward(params, xb).argmax(-1) != yb).float().mean(1).numpy()
    for ep in range(e):
        opt.zero_grad(set_to_none=True)
        if method == "mixup":
            lam = lam_all[ep].view(r, 1)                       # (R, 1)
            part = partner_all[ep]                             # (R, N)
            xm = lam.unsqueeze(-1) * xb + (1 - lam.unsqueeze(-1)) * xt[part]
            logp = torch.log_softmax(_forward(params, xm), -1)  # (R, N, C)
            ce0 = -logp.gather(-1, yb.unsqueeze(-1)).squeeze(-1)
            ce1 = -logp.gather(-1, yt[part].unsqueeze(-1)).squeeze(-1)
            # per run: λ mean CE(y0) + (1-λ) mean CE(y1); summing runs keeps gradients separate
            loss = (lam * ce0.mean(1, keepdim=True) + (1 - lam) * ce1.mean(1, keepdim=True)).sum()
        else:
            logits = _forward(params, xb)
            loss = F.cross_entropy(logits.reshape(r * n, -1), yb.reshape(-1),
                                   reduction="sum") / n
        loss.backward()
        opt.step()
        with torch.no_grad():
            errors[:, ep + 1] = (_forward(params, xb).argmax(-1) != yb).float().mean(1).numpy()
    seconds = time.perf_counter() - t0

    with torch.no_grad():
        probs = torch.softmax(_forward(params, xb), -1).numpy()
        grid_probs = None
        if grid is not None:
            g = torch.from_numpy(np.asarray(grid, dtype=np.float32).reshape(len(grid), d))
            grid_probs = torch.softmax(_forward(params, g.expand(r, *g.shape)), -1).numpy()
    return MethodRuns(probs=probs, error_curve=errors, grid_probs=grid_probs, seconds=seconds,
                      weights=[p.detach().numpy() for p in params])


def train_single(x: np.ndarray, y: np.ndarray, num_classes: int, *, method: str,
                 settings: LabSettings, run: int = 0) -> np.ndarray:
    """The plain reference for one run (an ``nn.Sequential`` and ``F.cross_entropy``), used
    to check that batching changes nothing. Returns final probabilities (N, C)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    n, d = x.shape
    s = settings
    sd = s.seed + run
    w1, b1, w2, b2 = init_weights(sd, d, s.hidden, num_classes)
    net = nn.Sequential(nn.Linear(d, s.hidden), nn.ReLU(), nn.Linear(s.hidden, num_classes))
    with torch.no_grad():
        net[0].weight.copy_(w1.T), net[0].bias.copy_(b1)
        net[2].weight.copy_(w2.T), net[2].bias.copy_(b2)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(np.asarray(y, dtype=np.int64))
    if method == "mixup":
        lam_all, partner_all = mixing_stream(sd, n, s.epochs, s.alpha)
    for ep in range(s.epochs):
        opt.zero_grad()
        if method == "mixup":
            lam = float(lam_all[ep])
            idx = torch.from_numpy(partner_all[ep])
            out = net(lam * xt + (1 - lam) * xt[idx])
            loss = lam * F.cross_entropy(out, yt) + (1 - lam) * F.cross_entropy(out, yt[idx])
        else:
            loss = F.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.softmax(net(xt), -1).numpy()
