"""How much memory a run needs, estimated from its config alone (plain arithmetic, no torch),
so the API and ``mixscope train`` can refuse a run no worker can hold before it is queued:
a run that OOM-kills its worker would be claimed again by the next one, forever.

The estimate adds, in bytes (float32 everywhere):

- ``weights``, ``gradients`` and ``optimizer`` state (SGD momentum 1×, Adam 2× the
  parameters), ``checkpoint`` (the CPU copy of weights + optimizer state being written) and
  ``metrics_copy`` (the copies of the network the metrics thread evaluates,
  ``Settings.metrics_thread``: :func:`metrics_copies`);
- ``activations``: what autograd keeps for one training batch (``batch_size``, or the whole
  training set when it is 0 or larger), plus the gradients of the largest layers in flight;
- ``dataset``: the training and test sets as float tensors with one-hot targets;
- ``probe``: the recorded layers' activations of every probe point, kept for one epoch,
  and the trajectory grid;
- ``runtime``: the interpreter, torch and numpy themselves.

It is deliberately rough (a factor of about two either way; ``tests/backend/test_resources.py``
compares it with the real peak of torch training), and errs on the generous side for what
dominates: a config is refused only when even the estimate does not fit.

:func:`check_memory` raises :class:`MemoryBudgetError` naming the config fields that drive
the estimate (e.g. ``model_args.width``, ``model_args.depth``, ``batch_size``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from backend.errors import InvalidInput
from backend.runconfig import RunConfig

FLOAT = 4
#: The metrics thread keeps up to this many copies of the network (each an epoch in flight),
#: as many as fit in ``METRICS_COPIES_BYTES`` and at least one.
MAX_METRICS_COPIES, METRICS_COPIES_BYTES = 4, 64 << 20


def metrics_copies(weight_bytes: int) -> int:
    """How many copies of a network with ``weight_bytes`` of parameters and buffers the
    metrics thread keeps (``trainer.epoch_metrics.MetricsThread``): a recorded epoch's
    extraction may then overlap several training epochs instead of one, while a big network
    (a WRN-28-10's 146 MB) keeps the single copy it always had."""
    return max(1, min(MAX_METRICS_COPIES, METRICS_COPIES_BYTES // max(int(weight_bytes), 1)))
RUNTIME_BYTES = 1 << 30  # measured: ~0.95 GiB RSS for the trainer process before any tensor
EVAL_BATCH = 4096   # trainer.loop.EVAL_BATCH
EXTRACT_BATCH = 2048  # trainer.extract.EXTRACT_BATCH

#: name -> (input shape, training examples, test examples, classes) of the fixed datasets.
FIXED_DATASETS: dict[str, tuple[tuple[int, ...], int, int, int]] = {
    "digits": ((64,), 1347, 450, 10),
    "fashion-mnist": ((1, 28, 28), 60_000, 10_000, 10),
    "cifar10": ((3, 32, 32), 50_000, 10_000, 10),
    "cifar100": ((3, 32, 32), 50_000, 10_000, 100),
}

VIT_SIZES = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12)}


@dataclass
class DataShape:
    input_shape: tuple[int, ...]
    n_train: int
    n_test: int
    classes: int


@dataclass
class ModelShape:
    """Parameter count, floats autograd keeps per training example, the largest single
    activation per example, and the width of each recordable layer."""

    params: int
    saved_per_example: int
    largest_per_example: int
    layer_widths: dict[str, int]
    fields: list[str] = field(default_factory=list)


@dataclass
class MemoryEstimate:
    parts: dict[str, int]
    fields: list[str]
    params: int

    @property
    def total(self) -> int:
        return sum(self.parts.values())


class MemoryBudgetError(InvalidInput):
    """A run estimated to need more memory than a worker has; the message names the fields
    (``fields``: every config field that drives the estimate; ``field`` the first)."""

    error_type = "memory_budget"

    def __init__(self, reason: str, fields: list[str], estimate: MemoryEstimate,
                 budget: int | Budget):
        super().__init__(f"{', '.join(fields)}: {reason}", field=fields[0] if fields else None,
                         where="body")
        self.reason = reason
        self.fields = fields
        self.estimate = estimate
        self.budget = budget.bytes if isinstance(budget, Budget) else budget
        self.budget_source = budget if isinstance(budget, Budget) else Budget(budget)

    @property
    def ctx(self) -> dict:
        """What the 422 adds to each field's entry: the estimate, the budget and where the
        budget came from (``source``; ``workers``: the live workers that published it)."""
        b = self.budget_source
        return {"estimate": self.estimate.total, "budget": self.budget,
                "budget_source": b.source, "workers": list(b.workers)}


def data_shape(cfg: RunConfig) -> DataShape:
    a = cfg.dataset_args
    if cfg.dataset in FIXED_DATASETS:
        shape, n, n_test, c = FIXED_DATASETS[cfg.dataset]
    elif cfg.dataset == "two-moons":
        shape, n, c = (2,), a.samples, 2
        n_test = round(n * a.test_fraction / (1 - a.test_fraction))
    elif cfg.dataset == "gaussian-mixture":
        shape, n, c = (a.dim,), a.samples, a.classes
        n_test = round(n * a.test_fraction / (1 - a.test_fraction))
    else:  # alternating-line: every point trains, none is held out
        shape, n, n_test, c = (1,), a.points, 0, a.classes
    if a.subset is not None:
        n = min(n, a.subset)
    return DataShape(shape, n, n_test, c)


def _mlp(cfg: RunConfig, data: DataShape) -> ModelShape:
    a = cfg.model_args
    n_in = math.prod(data.input_shape)
    d = 2 if cfg.model == "mlp-bottleneck" else a.feature_dim
    per_layer = 3 if a.batchnorm else 2  # linear out (+ BN out) + ReLU out
    params = saved = 0
    widths: dict[str, int] = {}
    prev = n_in
    for k in range(a.depth):
        params += prev * a.width + 2 * a.width
        saved += per_layer * a.width
        widths[f"hidden{k + 1}"] = a.width
        prev = a.width
    params += prev * d + 2 * d + d * data.classes + data.classes
    saved += n_in + per_layer * d + 3 * data.classes
    widths["penultimate"] = d
    fields = ["model_args.width", "model_args.depth"] if a.depth else \
        ["model_args.feature_dim"]
    return ModelShape(params, saved, max(a.width if a.depth else 0, d, n_in), widths, fields)


def _conv_blocks(specs, c_in: int, side: int):
    """Parameters and saved floats per example of pre-activation basic blocks; ``specs`` is a
    list of (c_out, stride)."""
    params = saved = largest = 0
    for c_out, stride in specs:
        side_out = side // stride
        params += c_in * c_out * 9 + c_out * c_out * 9 + 2 * (c_in + c_out)
        if c_in != c_out or stride != 1:
            params += c_in * c_out
        # BN, ReLU, conv1, BN, ReLU, conv2, shortcut, sum
        saved += 2 * c_in * side * side + 6 * c_out * side_out * side_out
        largest = max(largest, c_out * side_out * side_out, c_in * side * side)
        c_in, side = c_out, side_out
    return params, saved, largest, c_in, side


def _wrn(cfg: RunConfig, data: DataShape, depth: int, widen: int) -> ModelShape:
    c, side = data.input_shape[0], data.input_shape[-1]
    n = (depth - 4) // 6
    widths = [16 * widen, 32 * widen, 64 * widen]
    specs = [(w, s if i == 0 else 1) for w, s in zip(widths, (1, 2, 2)) for i in range(n)]
    params, saved, largest, c_out, _ = _conv_blocks(specs, 16, side)
    params += c * 16 * 9 + 2 * c_out + c_out * data.classes + data.classes
    saved += c * side * side + 16 * side * side
    layers = {"block1": widths[0], "block2": widths[1], "block3": widths[2],
              "penultimate": widths[2]}
    return ModelShape(params, saved, largest, layers, ["model"])


def _resnet18(cfg: RunConfig, data: DataShape) -> ModelShape:
    c, side = data.input_shape[0], data.input_shape[-1]
    specs = [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]
    params, saved, largest, _, _ = _conv_blocks(specs, 64, side)
    params += c * 64 * 9 + 128 + 512 * data.classes + data.classes
    saved += c * side * side + 3 * 64 * side * side
    layers = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512, "penultimate": 512}
    return ModelShape(params, saved, max(largest, 64 * side * side), layers, ["model"])


def _vit(cfg: RunConfig, data: DataShape, size: str) -> ModelShape:
    dim, depth, heads = VIT_SIZES[size]
    c, h, w = data.input_shape
    tokens = (h // 4) * (w // 4) + 1
    params = depth * (12 * dim * dim + 13 * dim) + 16 * c * dim + (tokens + 1) * dim \
        + 2 * dim + dim * data.classes + data.classes
    # timm's blocks use fused attention: the (tokens × tokens) maps are not all kept
    per_block = 20 * tokens * dim + heads * tokens * tokens
    saved = depth * per_block + c * h * w
    layers = {f"cls{k + 1}": dim for k in range(depth)} | {"penultimate": dim}
    return ModelShape(params, saved, max(4 * tokens * dim, heads * tokens * tokens), layers,
                      ["model"])


def model_shape(cfg: RunConfig, data: DataShape) -> ModelShape:
    if cfg.model in ("mlp", "mlp-bottleneck"):
        return _mlp(cfg, data)
    if len(data.input_shape) != 3:  # the trainer refuses image models on vectors anyway
        return ModelShape(0, 0, 0, {"penultimate": 1})
    if m := re.fullmatch(r"wrn-(\d+)-(\d+)", cfg.model):
        return _wrn(cfg, data, int(m.group(1)), int(m.group(2)))
    if m := re.fullmatch(r"vit-(tiny|small|base)", cfg.model):
        return _vit(cfg, data, m.group(1))
    return _resnet18(cfg, data)


def probe_size(cfg: RunConfig, classes: int) -> int:
    p = cfg.probe
    if classes <= p.max_all_pairs_classes:
        pairs = classes * (classes + 1) // 2
    else:
        pairs = 6 * (len(p.triples or []) + 1)
    return p.clean_per_class * classes + p.pairs_per_class_pair * pairs


def estimate_memory(cfg: RunConfig) -> MemoryEstimate:
    """The bytes a worker needs to train ``cfg`` (see the module docstring for the parts)."""
    data = data_shape(cfg)
    model = model_shape(cfg, data)
    batch = data.n_train if cfg.batch_size == 0 or cfg.batch_size > data.n_train \
        else cfg.batch_size
    opt_copies = 2 if cfg.optimizer in ("adam", "adamw") else (1 if cfg.momentum > 0 else 0)
    weights = model.params * FLOAT
    n_in = math.prod(data.input_shape)
    recorded = set(model.layer_widths) if "all" in cfg.record.layers else \
        {"penultimate", *cfg.record.layers}
    record_width = sum(w for name, w in model.layer_widths.items() if name in recorded)
    n_probe = probe_size(cfg, data.classes)
    traj = cfg.probe.trajectory_pairs * cfg.probe.trajectory_lambdas * \
        sum(model.layer_widths.values())
    parts = {
        "runtime": RUNTIME_BYTES,
        "weights": weights,
        "gradients": weights,
        "optimizer": opt_copies * weights,
        "checkpoint": (1 + opt_copies) * weights,
        "metrics_copy": metrics_copies(weights) * weights,
        "activations": FLOAT * batch * (model.saved_per_example + 2 * model.largest_per_example
                                        + 2 * n_in),
        "dataset": FLOAT * (data.n_train + data.n_test) * (n_in + data.classes),
        "probe": FLOAT * (n_probe * (record_width + 2 * data.classes) + traj
                          + min(n_probe, EXTRACT_BATCH) * model.largest_per_example),
    }
    fields = list(model.fields)
    if parts["activations"] >= max(weights, parts["dataset"], parts["probe"]):
        fields.append("batch_size")
    elif parts["dataset"] >= max(3 * weights, parts["probe"]):
        fields = ["dataset", "dataset_args.samples" if cfg.dataset in
                  ("two-moons", "gaussian-mixture") else "dataset_args.subset"]
    elif parts["probe"] >= 3 * weights:
        fields = ["probe.clean_per_class", "probe.pairs_per_class_pair", "record.layers"]
    return MemoryEstimate(parts, fields, model.params)


#: What the default budget leaves free of the memory available: a tenth, at least 512 MiB.
MARGIN_FRACTION, MARGIN_MIN = 0.10, 512 << 20


def available_memory() -> int | None:
    """Bytes this machine (or this container: cgroup ``memory.max``) can still give, from
    ``/proc/meminfo``'s ``MemAvailable``; None where the system does not say."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        return None
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max" and avail is not None:
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return avail


def default_worker_budget() -> int:
    """A worker's memory budget when ``MIXSCOPE_WORKER_MEMORY`` is not set: the memory
    available now, less a margin (the machine's total memory counted memory that other
    processes hold: an 11.9 GB run was accepted with 19 GB free of 23.5 GiB)."""
    avail = available_memory()
    if avail is None:
        return machine_memory()
    return max(avail - max(int(avail * MARGIN_FRACTION), MARGIN_MIN), 1 << 20)


def machine_memory() -> int:
    """Physical memory of this machine in bytes (a generous 16 GiB when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def parse_bytes(text: str | int) -> int:
    """``"8GiB"``, ``"512M"``, ``"1.5 GB"`` or a plain number of bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r} is not a size (e.g. 8GiB, 512M or bytes)")
    scale = 1024 ** " kmgt".index((m.group(2) or " ").lower())
    return int(float(m.group(1)) * scale)


@dataclass(frozen=True)
class Budget:
    """The memory a run is admitted against: ``bytes`` and where the figure came from
    (``source``: ``"setting"``, ``"workers"`` or ``"api"``; ``workers``: the live workers
    that publish it, for ``"workers"``)."""

    bytes: int
    source: str = "setting"
    workers: tuple[str, ...] = ()

    def describe(self) -> str:
        """Where the figure came from, for a refusal's message."""
        if self.source == "workers":
            who = ", ".join(self.workers)
            return (f"the largest budget of the live workers, published by worker"
                    f"{'s' if len(self.workers) > 1 else ''} {who}: a worker's "
                    f"MIXSCOPE_WORKER_MEMORY, else the memory available at its start less a "
                    f"margin")
        if self.source == "api":
            return ("no live worker has published its budget: the memory available to the "
                    "API less a margin; MIXSCOPE_WORKER_MEMORY sets it")
        return "MIXSCOPE_WORKER_MEMORY"


def admission_budget(store, executor: dict | None = None) -> Budget:
    """What ``POST /api/runs``, sweeps and grid launches admit a run against: the API's
    setting ``MIXSCOPE_WORKER_MEMORY`` when set (it always wins); else the largest budget
    among the live Celery workers that published one (``store.live_workers()``: each
    worker's own setting, or what was available at its start less a margin); else, with no
    live worker known (or a Slurm launch, which no Celery worker trains), the memory
    available to the API now less a margin (:func:`default_worker_budget`)."""
    if store.settings.worker_memory:
        return Budget(int(store.settings.worker_memory), "setting")
    if not (isinstance(executor, dict) and executor.get("name") == "slurm"):
        live = [w for w in store.live_workers() if w.memory_budget]
        if live:
            top = max(w.memory_budget for w in live)
            return Budget(top, "workers",
                          tuple(w.name for w in live if w.memory_budget == top))
    return Budget(default_worker_budget(), "api")


def check_memory(cfg: RunConfig, budget: int | Budget | None = None) -> MemoryEstimate:
    """The estimate of ``cfg``; raises :class:`MemoryBudgetError` when it exceeds ``budget``
    (bytes, or a :class:`Budget` that says where it came from; default:
    :func:`default_worker_budget`, the memory available less a margin)."""
    if not isinstance(budget, Budget):
        budget = Budget(budget, "setting") if budget else \
            Budget(default_worker_budget(), "api")
    est = estimate_memory(cfg)
    if est.total > budget.bytes:
        big = sorted(est.parts.items(), key=lambda kv: -kv[1])[:3]
        parts = ", ".join(f"{k} {format_bytes(v)}" for k, v in big)
        raise MemoryBudgetError(
            f"this run needs about {format_bytes(est.total)} "
            f"({parts}), more than a worker's {format_bytes(budget.bytes)} "
            f"({budget.describe()}); make it smaller", est.fields, est, budget)
    return est
