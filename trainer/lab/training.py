"""The lab's training: small seeded full-batch nets on the data dependency of mixup (002).

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

Two switches reproduce the authors' code where it differs from the paper's text (reference
§7); the defaults follow the text:

- ``optimizer_state``: ``"per-run"`` (default: every seeded run is an independent training,
  a fresh Adam) or ``"shared"`` (the authors' code: one Adam kept across the seeded runs,
  only the weights reset). Shared runs depend on each other, so they train one after the
  other (R = 1 each) instead of batched.
- ``loop``: ``"correct"`` (default: gradients zeroed every step) or ``"authors"`` (the
  authors' mixup loop, which never zeroes the gradients: every step applies the *sum* of all
  gradients so far; ERM's loop is correct in their code too). With ``optimizer_state =
  "shared"`` the accumulated gradient also carries over from one run to the next, as it does
  on the one set of parameters their code resets in place.

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
LOOPS = ("correct", "authors")
OPTIMIZER_STATES = ("per-run", "shared")
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
    #: "correct" (zero_grad every step) or "authors" (their mixup loop never zeroes gradients)
    loop: str = "correct"
    #: "per-run" (a fresh Adam per seeded run) or "shared" (the authors' one Adam)
    optimizer_state: str = "per-run"

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
        if self.loop not in LOOPS:
            raise ValueError(f"loop must be one of {LOOPS}, got {self.loop!r}")
        if self.optimizer_state not in OPTIMIZER_STATES:
            raise ValueError(f"optimizer_state must be one of {OPTIMIZER_STATES}, "
                             f"got {self.optimizer_state!r}")
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
    curve_epochs: (T,) the epochs at which the training error was measured (0 =
        initialisation, always the last; at most ``max_curve_points`` of them).
    error_curve: (R, T) training error (fraction of points misclassified) at those epochs.
    grid_probs: (R, G, C) final probabilities on the evaluation grid, or None.
    seconds: wall time of the batched training.
    """

    probs: np.ndarray
    curve_epochs: np.ndarray
    error_curve: np.ndarray
    grid_probs: np.ndarray | None = None
    seconds: float = 0.0
    weights: list[np.ndarray] = field(default_factory=list)


def _forward(params: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched two-layer ReLU net. x (R, N, D) -> (hidden h (R, N, H), logits (R, C, N)).

    Logits come out class-major: with C = 2 a (C, H) @ (H, N) product is several times
    faster on CPU than (N, H) @ (H, C).
    """
    w1, b1, w2t, b2 = params
    h = torch.baddbmm(b1.unsqueeze(1), x, w1).relu_()
    return h, torch.baddbmm(b2.unsqueeze(2), w2t, h.transpose(1, 2))


def _gradients(params: list[torch.Tensor], x: torch.Tensor, target: torch.Tensor
               ) -> list[torch.Tensor]:
    """Gradients of Σ_runs mean_points CE(softmax(logits), target) by hand (no autograd: the
    graph bookkeeping costs more than the arithmetic for a net this small).

    x (R, N, D); target (R, C, N) soft targets whose columns sum to 1. Returns gradients
    shaped like ``params``: W1 (R, D, H), b1 (R, H), W2ᵀ (R, C, H), b2 (R, C).
    """
    n = x.shape[1]
    h, logits = _forward(params, x)
    g = (torch.softmax(logits, 1) - target).div_(n)               # dLoss/dlogits (R, C, N)
    gh = torch.bmm(g.transpose(1, 2), params[2])                  # (R, N, H)
    gz = torch.ops.aten.threshold_backward(gh, h, 0)             # ReLU' (h > 0)
    return [torch.bmm(x.transpose(1, 2), gz), gz.sum(1), torch.bmm(g, h), g.sum(2)]


def _stacked_init(seeds: list[int], d: int, hidden: int, c: int) -> list[torch.Tensor]:
    """Per-run default init, stacked: W1 (R, D, H), b1 (R, H), W2ᵀ (R, C, H), b2 (R, C)."""
    inits = [init_weights(sd, d, hidden, c) for sd in seeds]
    w1, b1, w2, b2 = (torch.stack([w[k] for w in inits]) for k in range(4))
    return [w1, b1, w2.transpose(1, 2).contiguous(), b2]


def curve_epochs(epochs: int, max_points: int = 501) -> np.ndarray:
    """Evenly spread epochs in 0..epochs (both ends included), at most ``max_points``."""
    return np.unique(np.linspace(0, epochs, min(epochs + 1, max_points)).round().astype(int))


def _as_runs(x: np.ndarray, y: np.ndarray, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (R, N, D) float32 and labels (R, N) int64 from one shared set ((N, D) or (N,))
    or one set per run ((R, N, D), (R, N))."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if y.ndim == 1:
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(f"labels must have shape ({len(x)},), got {y.shape}")
        return np.broadcast_to(x, (runs, *x.shape)), np.broadcast_to(y, (runs, len(y)))
    if y.shape[0] != runs or x.shape[:2] != y.shape or x.ndim != 3:
        raise ValueError(f"per-run data must be (runs={runs}, N, D) and (runs, N), got "
                         f"{x.shape} and {y.shape}")
    return x, y


def train_batched(x: np.ndarray, y: np.ndarray, num_classes: int, *, method: str,
                  settings: LabSettings, grid: np.ndarray | None = None,
                  max_curve_points: int = 501) -> MethodRuns:
    """Train ``settings.runs`` seeded runs of one method.

    x: (N, D) float inputs and y: (N,) int labels in 0..num_classes-1 shared by every run, or
    (R, N, D) and (R, N): run r's own training set (e.g. a fresh draw per seed); grid:
    optional (G, D) points at which to evaluate the final classifiers (decision regions).
    Batched (all runs at once) unless ``settings.optimizer_state == "shared"``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    s = settings
    xs, ys = _as_runs(x, y, s.runs)
    if ys.min() < 0 or ys.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    tune_allocator()
    seeds = [s.seed + i for i in range(s.runs)]
    when = curve_epochs(s.epochs, max_curve_points)
    if s.optimizer_state == "per-run":
        return _train_group(xs, ys, num_classes, method, s, seeds, grid, when, None)
    # the authors' code: one set of parameters and one Adam, the weights reset per run
    carry: dict = {}
    parts = [_train_group(xs[r:r + 1], ys[r:r + 1], num_classes, method, s, [sd], grid, when,
                          carry) for r, sd in enumerate(seeds)]
    return MethodRuns(
        probs=np.concatenate([p.probs for p in parts]), curve_epochs=when,
        error_curve=np.concatenate([p.error_curve for p in parts]),
        grid_probs=None if grid is None else np.concatenate([p.grid_probs for p in parts]),
        seconds=sum(p.seconds for p in parts),
        weights=[np.concatenate([p.weights[k] for p in parts]) for k in range(4)])


def _train_group(xs: np.ndarray, ys: np.ndarray, num_classes: int, method: str,
                 s: LabSettings, seeds: list[int], grid: np.ndarray | None, when: np.ndarray,
                 carry: dict | None) -> MethodRuns:
    """Train the runs ``seeds`` as one batched model. ``carry`` (shared optimiser state):
    None for a fresh Adam, else a dict holding the one parameter set, its Adam and its
    accumulated gradient across calls (the weights are reset in place)."""
    r, n, d = xs.shape
    e = s.epochs
    init = _stacked_init(seeds, d, s.hidden, num_classes)
    if carry is None or "params" not in carry:
        params = init
        opt = torch.optim.Adam(params, lr=s.lr, betas=(0.9, 0.999), fused=True)
        if carry is not None:
            carry.update(params=params, opt=opt)
    else:
        params, opt = carry["params"], carry["opt"]
        for p, p0 in zip(params, init):
            p.copy_(p0)
    accumulate = s.loop == "authors" and method == "mixup"

    xb = torch.tensor(xs, dtype=torch.float32)                    # (R, N, D), a copy
    yt = torch.tensor(ys, dtype=torch.int64)                      # (R, N)
    onehot = F.one_hot(yt, num_classes).float()                   # (R, N, C)
    target_erm = onehot.transpose(1, 2).contiguous()              # (R, C, N)
    runs_ix = torch.arange(r).view(r, 1)
    if method == "mixup":
        streams = [mixing_stream(sd, n, e, s.alpha) for sd in seeds]
        lam_all = torch.from_numpy(np.stack([st[0] for st in streams], axis=1))      # (E, R)
        partner_all = torch.from_numpy(np.stack([st[1] for st in streams], axis=1))  # (E, R, N)

    # the training error costs a forward pass: measure it only at the epochs reported
    measure = np.zeros(e + 1, dtype=bool)
    measure[when] = True
    errors = np.empty((r, len(when)), dtype=np.float32)
    col = 0

    def record() -> None:
        nonlocal col
        wrong = _forward(params, xb)[1].argmax(1) != yt               # (R, N)
        errors[:, col] = wrong.float().mean(1).numpy()
        col += 1

    t0 = time.perf_counter()
    with torch.no_grad():
        record()
        for ep in range(e):
            if method == "mixup":
                lam = lam_all[ep].view(r, 1, 1)                        # one λ per run and step
                part = partner_all[ep]                                 # (R, N)
                xin = lam * xb + (1 - lam) * xb[runs_ix, part]
                # λ CE(y0) + (1-λ) CE(y1) is CE against the soft target λ e_y0 + (1-λ) e_y1
                target = (lam * onehot + (1 - lam) * onehot[runs_ix, part]).transpose(1, 2)
            else:
                xin, target = xb, target_erm
            for p, gr in zip(params, _gradients(params, xin, target)):
                if accumulate and p.grad is not None:
                    p.grad.add_(gr)  # the authors' loop: .backward() adds, nothing zeroes
                else:
                    p.grad = gr
            opt.step()
            if measure[ep + 1]:
                record()
        seconds = time.perf_counter() - t0

        probs = torch.softmax(_forward(params, xb)[1], 1).transpose(1, 2).numpy()
        grid_probs = None
        if grid is not None:
            g = torch.from_numpy(np.asarray(grid, dtype=np.float32).reshape(len(grid), d))
            grid_probs = torch.softmax(_forward(params, g.expand(r, *g.shape).contiguous())[1],
                                       1).transpose(1, 2).numpy()
    if carry is not None and not accumulate:
        for p in params:
            p.grad = None  # a correct loop starts every run from zero gradients
    return MethodRuns(probs=np.ascontiguousarray(probs), curve_epochs=when, error_curve=errors,
                      grid_probs=None if grid_probs is None else np.ascontiguousarray(grid_probs),
                      seconds=seconds, weights=[p.numpy().copy() for p in params])


_ALLOCATOR_TUNED = False


def tune_allocator() -> None:
    """Keep glibc from mmap-ing (and page-faulting) every multi-MB temporary: the two-moons
    step allocates ~6 MB tensors, and fresh mmaps made it 3-10× slower. Raises the mmap and
    trim thresholds (64 / 256 MB) once per process; a no-op off glibc."""
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def train_single(x: np.ndarray, y: np.ndarray, num_classes: int, *, method: str,
                 settings: LabSettings, run: int = 0) -> np.ndarray:
    """The plain reference for one run (an ``nn.Sequential`` and ``F.cross_entropy``), used
    to check that batching changes nothing. Returns final probabilities (N, C)."""
    one = LabSettings(**{**settings.__dict__, "seed": settings.seed + run, "runs": 1,
                         "optimizer_state": "per-run"})
    return train_reference([x], [y], num_classes, method=method, settings=one)[0]


def train_reference(xs: list[np.ndarray], ys: list[np.ndarray], num_classes: int, *,
                    method: str, settings: LabSettings) -> list[np.ndarray]:
    """The plain reference for ``len(xs)`` runs written like the authors' script: one
    ``nn.Sequential``; run r's weights set to its seeded init in place; a fresh Adam per run
    or one kept (``optimizer_state``); ``zero_grad`` every step or never in the mixup loop
    (``loop``). Run r trains on (xs[r], ys[r]). Returns final probabilities per run."""
    s = settings
    x0 = np.asarray(xs[0], dtype=np.float32).reshape(len(ys[0]), -1)
    d = x0.shape[1]
    net = nn.Sequential(nn.Linear(d, s.hidden), nn.ReLU(), nn.Linear(s.hidden, num_classes))
    opt = None
    out = []
    for run, (x, y) in enumerate(zip(xs, ys)):
        sd = s.seed + run
        x = np.asarray(x, dtype=np.float32).reshape(len(y), -1)
        n = len(x)
        w1, b1, w2, b2 = init_weights(sd, d, s.hidden, num_classes)
        with torch.no_grad():
            net[0].weight.copy_(w1.T), net[0].bias.copy_(b1)
            net[2].weight.copy_(w2.T), net[2].bias.copy_(b2)
        if opt is None or s.optimizer_state == "per-run":
            opt = torch.optim.Adam(net.parameters(), lr=s.lr, fused=True)
            opt.zero_grad()
        xt, yt = torch.from_numpy(x), torch.from_numpy(np.asarray(y, dtype=np.int64))
        if method == "mixup":
            lam_all, partner_all = mixing_stream(sd, n, s.epochs, s.alpha)
        for ep in range(s.epochs):
            if method == "mixup":
                if s.loop == "correct":
                    opt.zero_grad()
                lam = float(lam_all[ep])
                idx = torch.from_numpy(partner_all[ep])
                o = net(lam * xt + (1 - lam) * xt[idx])
                loss = lam * F.cross_entropy(o, yt) + (1 - lam) * F.cross_entropy(o, yt[idx])
            else:
                opt.zero_grad()
                loss = F.cross_entropy(net(xt), yt)
            loss.backward()
            opt.step()
        with torch.no_grad():
            out.append(torch.softmax(net(xt), -1).numpy())
        if s.loop == "correct" or method != "mixup":
            opt.zero_grad()
    return out
