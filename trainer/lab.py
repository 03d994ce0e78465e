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


def train_batched(x: np.ndarray, y: np.ndarray, num_classes: int, *, method: str,
                  settings: LabSettings, grid: np.ndarray | None = None,
                  max_curve_points: int = 501) -> MethodRuns:
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
    tune_allocator()

    params = _stacked_init(seeds, d, s.hidden, num_classes)
    opt = torch.optim.Adam(params, lr=s.lr, betas=(0.9, 0.999), fused=True)

    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    xb = xt.expand(r, n, d).contiguous()
    onehot = F.one_hot(yt, num_classes).float()                  # (N, C)
    target_erm = onehot.T.expand(r, num_classes, n).contiguous()  # (R, C, N)
    if method == "mixup":
        streams = [mixing_stream(sd, n, e, s.alpha) for sd in seeds]
        lam_all = torch.from_numpy(np.stack([st[0] for st in streams], axis=1))      # (E, R)
        partner_all = torch.from_numpy(np.stack([st[1] for st in streams], axis=1))  # (E, R, N)

    # the training error costs a forward pass: measure it only at the epochs reported
    when = curve_epochs(e, max_curve_points)
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
                xin = lam * xb + (1 - lam) * xt[part]
                # λ CE(y0) + (1-λ) CE(y1) is CE against the soft target λ e_y0 + (1-λ) e_y1
                target = (lam * onehot + (1 - lam) * onehot[part]).transpose(1, 2)
            else:
                xin, target = xb, target_erm
            for p, gr in zip(params, _gradients(params, xin, target)):
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
    opt = torch.optim.Adam(net.parameters(), lr=s.lr, fused=True)
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


# --------------------------------------------------------------------------- summaries
def curve_summary(epochs: np.ndarray, curves: np.ndarray) -> dict:
    """Mean and population std over runs of (R, T) curves measured at ``epochs`` (T,)."""
    c = np.asarray(curves, dtype=np.float64)
    return {"epoch": np.asarray(epochs).tolist(), "mean": c.mean(0).round(6).tolist(),
            "std": c.std(0).round(6).tolist()}


def method_summary(res: MethodRuns, y: np.ndarray) -> dict:
    """The fields the CLI and the API report for one method.

    prob_mean / prob_std: (N, C) mean and population std over runs of the final class
    probabilities; train_error: mean over runs of the final fraction of misclassified points.
    """
    pred = res.probs.argmax(-1)                                    # (R, N)
    probs = res.probs.astype(np.float64)
    return {
        "prob_mean": probs.mean(0).round(6).tolist(),
        "prob_std": probs.std(0).round(6).tolist(),
        "train_error": float((pred != np.asarray(y)[None]).mean()),
        "train_error_runs": (pred != np.asarray(y)[None]).mean(1).round(6).tolist(),
        "error_curve": curve_summary(res.curve_epochs, res.error_curve),
        "seconds": round(res.seconds, 3),
    }


def settings_dict(s: LabSettings) -> dict:
    return {"alpha": s.alpha, "runs": s.runs, "epochs": s.epochs, "seed": s.seed,
            "hidden": s.hidden, "lr": s.lr, "optimizer": "adam", "batch": "full",
            "mix": "one λ per step shared by all pairs; uniform random partner (self allowed)"}


# --------------------------------------------------------------------------- datasets
def lab_dataset(name: str, seed: int = 0, **dataset_args) -> tuple[np.ndarray, np.ndarray,
                                                                   list[str]]:
    """Training points of a registry dataset as (x (N, D) float32, y (N,) int64 0-based,
    class names), through ``trainer.data`` (the lab has no datasets of its own).

    The two lab datasets start from the paper presets (``alternating-line-paper``,
    ``two-moons-paper``: no held-out split); ``dataset_args`` override their fields.
    """
    from backend.runconfig import PRESETS, RunConfig
    from trainer.data import load_dataset

    preset = f"{name}-paper"
    if preset in PRESETS:
        config = RunConfig.from_preset(preset, seed=seed, dataset_args=dataset_args)
    else:
        config = RunConfig(dataset=name, seed=seed, dataset_args=dataset_args)
    bundle = load_dataset(config)
    x = bundle.train_x.reshape(len(bundle.train_x), -1).numpy().astype(np.float32)
    return x, bundle.train_y.numpy(), bundle.class_names


# --------------------------------------------------------------------------- experiments
def run_methods(x: np.ndarray, y: np.ndarray, num_classes: int, settings: LabSettings,
                grid: np.ndarray | None = None) -> dict[str, MethodRuns]:
    """Every method of ``settings.methods`` on the same data, seeds and initial weights."""
    torch.set_num_threads(1)  # many tiny kernels: one thread is fastest and shares the CPU
    return {m: train_batched(x, y, num_classes, method=m, settings=settings, grid=grid)
            for m in settings.methods}


def _nan_to_none(a: np.ndarray, digits: int = 5) -> list:
    """Nested lists for JSON, with NaN (no mix reaches the ball: x ∉ X_mix) as None."""
    a = np.asarray(a, dtype=np.float64).round(digits)
    return np.where(np.isnan(a), None, a).tolist()


def optimal_line(x: np.ndarray, y: np.ndarray, num_classes: int, alpha: float, eps: float,
                 grid_points: int = 201) -> dict:
    """Lemma 2.3's mixup-optimal h_ε for 1-D data (exact λ-integrals, backend.maths).

    Returns ``{"eps", "x": (G,) grid over [min − ½, max + ½], "prob": (G, k) h_ε (None
    outside X_mix), "at_points": (N, k) h_ε at the training points}``.
    """
    from backend.maths.mixup_optimal import mixup_optimal

    xs = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    grid = np.linspace(xs.min() - 0.5, xs.max() + 0.5, grid_points)
    h = mixup_optimal(xs, y, grid, alpha=alpha, eps=eps, method="exact",
                      num_classes=num_classes).h
    at = mixup_optimal(xs, y, xs, alpha=alpha, eps=eps, method="exact",
                       num_classes=num_classes).h
    return {"eps": eps, "x": grid.round(6).tolist(), "prob": _nan_to_none(h),
            "at_points": _nan_to_none(at)}


def alternating_line(points: int = 3, classes: int = 2,
                     settings: LabSettings | None = None, eps: float = 0.1) -> dict:
    """X_m^k (points 0..m−1, point v in class (v mod k) + 1) trained with mixup and ERM.

    Returns ``{"points": [0, 1, ...], "labels": [1, 2, ...] (1-based as in the paper),
    "mixup": {...}, "erm": {...}, "settings": {...}, "paper": {...} (Table 1 when the
    setting is the paper's), "mixup_optimal": {...} (:func:`optimal_line`)}``; each method
    has prob_mean / prob_std (N, k), train_error, error_curve, seconds (see
    :func:`method_summary`). Probabilities are listed for classes 1..k in that order.

    ``eps`` is the ball radius of Lemma 2.3 in units of the point spacing. The lemma's
    limit ε → 0 fits every point (Proposition 2.8); a continuous net behaves like a positive
    ε, and ε = 0.1 tracks the trained nets across α (h_ε(1) = 0.14, 0.54, 0.64 at α = 1, 32,
    128 against 0.15, 0.60, 0.67 trained).
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    s = settings or LabSettings()
    if not 2 <= classes <= points:
        raise ValueError(f"classes must be in 2..points ({points}), got {classes}")
    x, y, _ = lab_dataset("alternating-line", seed=s.seed, points=points, classes=classes)
    res = run_methods(x, y, classes, s)
    out = {"points": x[:, 0].tolist(), "labels": (y + 1).tolist()}
    out.update({m: method_summary(r, y) for m, r in res.items()})
    out["settings"] = settings_dict(s) | {"points": points, "classes": classes}
    out["mixup_optimal"] = optimal_line(x, y, classes, s.alpha, eps)
    if (points, classes) == (3, 2) and float(s.alpha) in PAPER_TABLE1:
        out["paper"] = {"class1_prob": list(PAPER_TABLE1[float(s.alpha)]),
                        "authors_code_point1_range": list(AUTHORS_CODE_POINT1[float(s.alpha)])}
    return out


def decision_grid(x: np.ndarray, size: int, margin: float = 0.5) -> tuple[np.ndarray,
                                                                          np.ndarray,
                                                                          np.ndarray]:
    """A size×size grid over the bounding box of 2-D points plus ``margin``.

    Returns (gx (size,), gy (size,), points (size*size, 2)) with points in row-major
    order: point [i*size + j] = (gx[j], gy[i]) (so a (size, size) reshape is a heatmap z).
    """
    lo, hi = x.min(0) - margin, x.max(0) + margin
    gx, gy = np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size)
    xx, yy = np.meshgrid(gx, gy)
    return gx, gy, np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


def linear_agreement(points: np.ndarray, labels: np.ndarray) -> float:
    """How well the best linear separator reproduces a labelling of grid points: 1.0 means
    the decision boundary is a straight line (ERM on separated moons comes close), lower
    means curved. Accuracy of an almost unregularised logistic regression."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(labels)) < 2:
        return 1.0
    clf = LogisticRegression(C=1e4, max_iter=2000).fit(points, labels)
    return float(clf.score(points, labels))


def two_moons(samples: int = 300, noise: float = 0.1, separation: float = 0.5,
              settings: LabSettings | None = None, grid_size: int = 60,
              eps: float = 0.1, optimal_samples: int = 200_000) -> dict:
    """Two moons (Pezeshki et al.'s separated version) trained with mixup and ERM.

    Returns the points (N, 2), labels 1..2, per method the alternating-line fields plus
    ``decision``: ``{"prob_mean": (grid_size, grid_size) mean over runs of p(class 1) on the
    grid, "prob_std", "class1_fraction", "linear_agreement", "optimal_agreement"}``,
    ``grid``: ``{"x", "y"}`` axes, and ``mixup_optimal``: Lemma 2.3's h_ε on the same grid
    (``{"eps", "prob1": (grid_size, grid_size) with None outside X_mix}``, Monte Carlo over
    ``optimal_samples`` mixes, seeded). ``optimal_agreement`` is the fraction of the grid cells
    inside X_mix on which the averaged trained classifier and h_ε pick the same class.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    s = settings or LabSettings(hidden=500, epochs=1000, alpha=1.0)
    if not 5 <= grid_size <= 400:
        raise ValueError(f"grid_size must be in 5..400, got {grid_size}")
    x, y, _ = lab_dataset("two-moons", seed=s.seed, samples=samples, noise=noise,
                          separation=separation)
    gx, gy, g = decision_grid(x, grid_size)
    res = run_methods(x, y, 2, s, grid=g)
    from backend.maths.mixup_optimal import mixup_optimal

    opt1 = mixup_optimal(x, y, g, alpha=s.alpha, eps=eps, method="sample",
                         n_samples=optimal_samples, seed=s.seed, num_classes=2).h[:, 0]
    defined = ~np.isnan(opt1)
    out = {"points": x.astype(np.float64).round(6).tolist(), "labels": (y + 1).tolist(),
           "grid": {"x": gx.round(6).tolist(), "y": gy.round(6).tolist()}}
    for m, r in res.items():
        summary = method_summary(r, y)
        p1 = r.grid_probs[:, :, 0].astype(np.float64).mean(0)    # (G,) mean p(class 1)
        summary["decision"] = {
            "prob_mean": p1.reshape(grid_size, grid_size).round(5).tolist(),
            "prob_std": r.grid_probs[:, :, 0].astype(np.float64).std(0).reshape(grid_size, grid_size)
            .round(5).tolist(),
            "class1_fraction": float((p1 > 0.5).mean()),
            "linear_agreement": linear_agreement(g, (p1 > 0.5).astype(int)),
            "optimal_agreement": float(((p1 > 0.5) == (opt1 > 0.5))[defined].mean())
            if defined.any() else None,
        }
        out[m] = summary
    out["mixup_optimal"] = {"eps": eps, "alpha": s.alpha,
                            "prob1": _nan_to_none(opt1.reshape(grid_size, grid_size))}
    out["settings"] = settings_dict(s) | {"samples": samples, "noise": noise,
                                          "separation": separation, "grid_size": grid_size,
                                          "eps": eps}
    return out


# --------------------------------------------------------------------------- Assumption 2.9
def assumption_check(dataset: str, *, alpha: float = 1024.0, subsample: float | None = 0.2,
                     seed: int = 0, data_dir=None, allow_download: bool = False,
                     dataset_args: dict | None = None) -> dict:
    """Table 2's procedure for any registry dataset: one epoch of mixup points (every point of
    a seeded ``subsample`` of the training set mixed with a random partner, λ ~ Beta(α, α)),
    and the distance from each to the nearest training (and, when there is one, test) point
    of a class other than the two mixed. The minimum is the estimate of ε in Assumption 2.9.

    Distances are in the units of the model's inputs (images scaled to [0, 1] and
    standardised per channel, tabular sets as loaded), flattened.
    Returns ``{"dataset", "alpha", "subsample", "seed", "num_mix", "dim", "train": {"min",
    "mean"}, "test": {"min", "mean"} or None}``. A same-class mix of class i is compared
    with every other class; a mix of classes i ≠ j with the classes other than i and j
    (none with two classes). min/mean are None when no mix has anything to compare with.
    """
    from backend.maths.mixup_optimal import other_class_distances
    from backend.runconfig import RunConfig
    from trainer.data import load_dataset

    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if subsample is not None and not 0 < subsample <= 1:
        raise ValueError(f"subsample must be in (0, 1], got {subsample}")
    config = RunConfig(dataset=dataset, seed=seed, dataset_args=dataset_args or {})
    bundle = load_dataset(config, data_dir, allow_download)

    def flat(x: torch.Tensor) -> np.ndarray:
        return bundle.prepare(x, "cpu").reshape(len(x), -1).numpy().astype(np.float64)

    xtr, ytr = flat(bundle.train_x), bundle.train_y.numpy()
    res = other_class_distances(xtr, ytr, alpha=alpha, seed=seed, subsample=subsample)

    def summary(r: dict) -> dict:
        finite = np.isfinite(r["min"])
        return {"min": float(r["min"]) if finite else None,
                "mean": float(r["mean"]) if finite else None}

    out = {"dataset": dataset, "alpha": alpha, "subsample": subsample, "seed": seed,
           "num_mix": len(res["lam"]), "dim": int(xtr.shape[1]),
           "num_classes": bundle.num_classes, "train": summary(res), "test": None}
    if len(bundle.test_y):
        test = other_class_distances(xtr, ytr, X_ref=flat(bundle.test_x),
                                     y_ref=bundle.test_y.numpy(), pair_a=res["pair_a"],
                                     pair_b=res["pair_b"], lam=res["lam"])
        out["test"] = summary(test)
    return out


# --------------------------------------------------------------------------- the store
LAB_KIND = "lab"  # artifact kind holding a lab record's arrays


def save_to_store(store, experiment: str, result: dict, settings: LabSettings,
                  dataset_args: dict) -> list[str]:
    """Record a lab result as run-like records: one succeeded run per method whose config is
    the paper preset (``alternating-line-paper`` / ``two-moons-paper``) with this setting,
    per-epoch metrics ``train_error`` (mean over the lab's runs), ``train_error_std`` and
    ``train_accuracy``, and one artifact of kind ``"lab"`` with the arrays
    ``prob_mean``/``prob_std`` (N, C), ``error_epochs`` (T,), ``error_mean``/``error_std``
    (T,), ``points`` (N, D), ``labels`` (N,) 1-based, plus for two moons ``decision_prob``
    (g, g) and ``optimal_prob`` (g, g) (NaN outside X_mix). Returns the new run ids.
    """
    from backend.runconfig import RunConfig

    run_ids = []
    for method in settings.methods:
        m = result[method]
        config = RunConfig.from_preset(
            f"{experiment}-paper", method="input-mixup" if method == "mixup" else "erm",
            alpha=settings.alpha, epochs=settings.epochs, seed=settings.seed, lr=settings.lr,
            dataset_args=dataset_args,
            model_args={"width": settings.hidden, "feature_dim": settings.hidden},
            name=f"lab {experiment} {method} α={settings.alpha:g} ({settings.runs} runs)")
        info = store.create_run(config)
        store.claim_run(info.id, "lab")
        curve = m["error_curve"]
        for ep, mean, std in zip(curve["epoch"], curve["mean"], curve["std"]):
            store.record_epoch(info.id, ep, {"train_error": mean, "train_error_std": std,
                                             "train_accuracy": 1.0 - mean})
        arrays = {
            "prob_mean": np.asarray(m["prob_mean"], dtype=np.float32),
            "prob_std": np.asarray(m["prob_std"], dtype=np.float32),
            "error_epochs": np.asarray(curve["epoch"], dtype=np.int64),
            "error_mean": np.asarray(curve["mean"], dtype=np.float32),
            "error_std": np.asarray(curve["std"], dtype=np.float32),
            "points": np.asarray(result["points"], dtype=np.float32).reshape(
                len(result["points"]), -1),
            "labels": np.asarray(result["labels"], dtype=np.int64),
        }
        if "decision" in m:
            arrays["decision_prob"] = np.asarray(m["decision"]["prob_mean"], dtype=np.float32)
            arrays["optimal_prob"] = np.asarray(result["mixup_optimal"]["prob1"],
                                                dtype=np.float64).astype(np.float32)
        store.put_arrays(info.id, LAB_KIND, arrays,
                         meta={"experiment": experiment, "method": method,
                               "runs": str(settings.runs)})
        k = len(m["prob_mean"][0])
        store.update_run_info(info.id, class_names=[str(c + 1) for c in range(k)],
                              summary={"lab": experiment, "lab_runs": settings.runs,
                                       "train_error": m["train_error"]})
        store.heartbeat(info.id, settings.epochs, 1.0, None)
        store.finish_run(info.id, "succeeded")
        run_ids.append(info.id)
    return run_ids
