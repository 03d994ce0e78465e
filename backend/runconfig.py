"""The run configuration: the one contract between the API, the CLI and the trainer.

A :class:`RunConfig` is validated once (unknown keys rejected, every number bounded) and
stored with the run as JSON, so a stored run always says exactly what produced it.
Presets (``RunConfig.from_preset``) reproduce the recipes of the papers.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# The vocabularies live in backend.vocab (re-exported here for the config's readers).
# factor-mixup mixes the true generative factors and renders the mixed example (003 App. A);
# only datasets rendered from known factors (FACTOR_DATASETS) support it.
from backend.vocab import (  # noqa: E402  (after the pydantic import block)
    DATASETS,
    FACTOR_DATASETS,
    IMAGE_DATASETS,
    LOSSES,
    METHODS,
    Loss,
    Method,
)

__all__ = ["DATASETS", "FACTOR_DATASETS", "IMAGE_DATASETS", "LOSSES", "METHODS", "RunConfig",
           "PRESETS"]
MODEL_PATTERN = re.compile(
    r"^(mlp|mlp-bottleneck|mlp-mid-bottleneck|resnet18|preact-resnet(18|34|50)"
    r"|wrn-(\d+)-(\d+)|vit-(tiny|small|base))$")


#: Longest list any config field accepts (epochs to record, milestones, layers, triples).
MAX_LIST = 1000


def _printable(v: str) -> str:
    # NUL and other control characters break PostgreSQL's text/JSON and every log line.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in v):
        raise ValueError("control characters (e.g. NUL, newline) are not allowed")
    return v


#: A short user-given name: a layer, a run or sweep name (no control characters).
Text = Annotated[str, Field(max_length=100), AfterValidator(_printable)]
#: A class index (no dataset has more than 1000 classes).
ClassIndex = Annotated[int, Field(ge=0, le=999)]


def _only(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` metadata."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _loose_number(annotation: Any, value: Any, path: str) -> str | None:
    """The dotted path of a string or boolean given where ``annotation`` wants a number
    (``"epochs": "10"``, ``"epochs": true``: pydantic's lax mode would take both), or None.
    Looks into lists and tuples (``record.epochs``, ``probe.triples``)."""
    ann = _only(annotation)
    origin = get_origin(ann)
    if origin in (Union, UnionType):
        arms = [_only(a) for a in get_args(ann) if a is not type(None)]
        if isinstance(value, (list, tuple)):
            seqs = [a for a in arms if get_origin(a) in (list, tuple)]
            return _loose_number(seqs[0], value, path) if len(seqs) == 1 else None
        if arms and all(a in (int, float) for a in arms):
            return _loose_number(arms[0], value, path)
        return None
    if ann in (int, float):
        return path if isinstance(value, (bool, str)) else None
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        args = get_args(ann)
        for i, item in enumerate(value):
            if origin is list or (len(args) == 2 and args[1] is Ellipsis):
                arg = args[0] if args else None
            else:
                arg = args[i] if i < len(args) else None
            bad = None if arg is None else _loose_number(arg, item, f"{path}.{i}")
            if bad:
                return bad
    return None


class _Strict(BaseModel):
    # NaN and ±inf are refused by name ("Input should be a finite number"), never compared.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """Strict numbers: a string or a boolean is never read as a number ("10" -> 10,
        true -> 1 trained one epoch), whatever else is lax."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None:
            bad = _loose_number(field.annotation, value, info.field_name)
            if bad:
                item = bad.removeprefix(f"{info.field_name}.")
                where = f" (item {item})" if item != bad else ""
                given = f"{type(value).__name__} {value!r}" if item == bad else \
                    "a string or a boolean"
                raise ValueError(f"a number is needed{where}, not {given}"[:200])
        return value


class DatasetArgs(_Strict):
    """Options of the generated datasets (ignored by the others)."""

    points: int = Field(3, ge=2, le=10_000, description="alternating-line: number of points m")
    classes: int = Field(2, ge=2, le=100,
                         description="alternating-line / gaussian-mixture: number of classes")
    dim: int = Field(16, ge=1, le=4096, description="gaussian-mixture: input dimension D")
    samples: int = Field(300, ge=10, le=200_000,
                         description="two-moons / gaussian-mixture: training samples")
    noise: float = Field(0.1, ge=0, le=10, description="two-moons noise / mixture spread")
    separation: float = Field(0.5, ge=-5, le=5, description="two-moons class separation delta")
    task: Literal["A", "B", "C", "S"] = Field(
        "A", description="rotated-digit: 003 App. A task (train/test angle ranges, labels); "
        "S: Task A with an in-distribution test set (mixscope's, for 003 Table 9 at cpu scale)")
    test_fraction: float = Field(0.25, ge=0, lt=1,
                                 description="generated datasets: held-out fraction")
    subset: int | None = Field(None, ge=10, le=10_000_000,
                               description="use only this many training examples")
    keep_classes: list[int] | None = Field(
        None, min_length=2, max_length=1000, description="train and test on these classes only "
        "(renumbered 0..k-1 in this order; 003 Fig. 5 top: MNIST digits 0-4)")

    @field_validator("keep_classes")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(set(v)) != len(v) or min(v) < 0):
            raise ValueError("keep_classes: distinct non-negative class indices")
        return v


class ModelArgs(_Strict):
    width: int = Field(512, ge=2, le=8192, description="mlp: hidden width")
    depth: int = Field(2, ge=0, le=16,
                       description="mlp: hidden layers of `width` before the feature layer")
    feature_dim: int = Field(64, ge=2, le=8192, description="mlp: penultimate dimension d")
    batchnorm: bool = Field(True, description="mlp: BatchNorm after every linear layer")
    activation: Literal["relu", "leaky-relu"] = Field(
        "relu", description="mlp / mlp-mid-bottleneck: hidden activation")
    bottleneck_dim: int = Field(
        2, ge=1, le=4096, description="mlp-mid-bottleneck: units of the linear bottleneck")
    depth_after: int = Field(
        2, ge=1, le=16, description="mlp-mid-bottleneck: hidden layers of `width` after the "
        "bottleneck (the last one is the penultimate layer)")


class ProbeArgs(_Strict):
    """The fixed probe set, drawn once when the run is created."""

    clean_per_class: int = Field(50, ge=1, le=5000)
    pairs_per_class_pair: int = Field(100, ge=1, le=5000,
                                      description="mixed pairs for every class pair")
    triple_pairs_per_class_pair: int | None = Field(
        None, ge=1, le=50_000,
        description="dense pictures: mixed pairs for each class pair inside `triples` and "
        "record.default_triple (16 667 gives a triple's view 100 000 points); None: "
        "pairs_per_class_pair. Per-epoch metrics keep using pairs_per_class_pair of them")
    lambda_distribution: Literal["uniform", "beta", "training"] = Field(
        "uniform", description="probe λ: uniform, Beta(lambda_alpha, lambda_alpha), or "
        "'training': the run's own Beta(alpha, alpha) (same as training)")
    lambda_alpha: float = Field(1.0, gt=0, le=1e4)
    triples: list[tuple[ClassIndex, ClassIndex, ClassIndex]] | None = Field(
        None, max_length=MAX_LIST,
        description="for many classes: only these triples' pairs are probed")
    max_all_pairs_classes: int = Field(
        20, ge=3, le=1000, description="above this many classes, probe only `triples`")
    trajectory_pairs: int = Field(4, ge=0, le=64,
                                  description="image pairs traced across layers over a λ grid")
    trajectory_lambdas: int = Field(11, ge=2, le=201)


class RecordArgs(_Strict):
    epochs: list[Annotated[int, Field(ge=0, le=10_000)]] | Literal["auto"] = Field(
        "auto", max_length=MAX_LIST,
        description="epochs whose activations are stored ('auto': dense early, "
        "sparse later, always the last; epoch 0 = before training)")
    max_recorded: int = Field(24, ge=2, le=1000, description="'auto' records at most this many")
    layers: list[Text] = Field(
        default_factory=lambda: ["penultimate"], max_length=64,
        description="layers to extract ('penultimate' always included; 'all': every layer "
        "of the model)")
    mode: Literal["eval", "train"] = Field(
        "eval", description="BatchNorm mode while extracting (train-mode statistics restored)")
    dtype: Literal["float16", "float32"] = Field(
        "float16", description="stored activations: float16 (per layer and epoch, float32 "
        "when rounding would move a projected point by more than 1e-3 of the triangle's "
        "size) or float32 always")
    checkpoint_every: int = Field(10, ge=1, le=10_000,
                                  description="epochs between rolling checkpoints")
    default_triple: tuple[ClassIndex, ClassIndex, ClassIndex] = (0, 1, 2)


class RunConfig(_Strict):
    """Everything that defines a training run. Stored with the run."""

    dataset: str = Field("digits", max_length=100, description=f"one of {', '.join(DATASETS)}")
    dataset_args: DatasetArgs = Field(default_factory=DatasetArgs)
    model: str = Field("mlp", max_length=100, description="mlp, mlp-bottleneck, mlp-mid-bottleneck, "
                       "wrn-<depth>-<widen>, vit-tiny|small|base, resnet18, "
                       "preact-resnet18|34|50")
    model_args: ModelArgs = Field(default_factory=ModelArgs)

    method: Method = "input-mixup"
    alpha: float = Field(1.0, gt=0, le=1e4, description="λ ~ Beta(α, α)")
    mix_per: Literal["batch", "sample"] = Field("batch", description="one λ per batch or sample")
    manifold_layers: list[Text] | None = Field(
        None, max_length=64, description="manifold mixup: eligible mixing points (default: the model's own)")
    block_gradient: bool = Field(
        False, description="manifold mixup: no gradient flows into the layers before the "
        "mixing point (003 Fig. 6's 'gradient blocked before the mixing layer')")
    loss: Loss = Field(
        "ce", description="ce: soft cross-entropy; mse: squared error of the logits; bce: "
        "binary cross-entropy of the softmax outputs against the soft target, averaged over "
        "the C outputs (Verma et al.'s manifold-mixup code)")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    fixed_etf: bool = Field(False, description="freeze the classifier at a simplex ETF")
    etf_scale: float = Field(1.0, gt=0, le=100, description="ETF multiplier m")

    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(1e-2, ge=0, le=1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    lr_milestones: list[float] = Field(default_factory=lambda: [0.3, 0.5, 0.9],
                                       max_length=100,
                                       description="step schedule: fractions of training")
    lr_gamma: float = Field(0.1, gt=0, le=1)
    warmup_epochs: int = Field(0, ge=0, le=10_000)
    epochs: int = Field(300, ge=1, le=10_000)
    batch_size: int = Field(128, ge=0, le=65_536, description="0 = full batch")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    probe: ProbeArgs = Field(default_factory=ProbeArgs)
    record: RecordArgs = Field(default_factory=RecordArgs)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    name: Annotated[str, AfterValidator(_printable)] | None = Field(None, max_length=200)
    # A run recorded from someone else's training loop (mixscope.Recorder): the fields above
    # then describe only its probe/record settings, and the user's own config sits beside.
    source: Literal["mixscope", "external"] = Field(
        "mixscope", description="who trained the run: mixscope's trainer, or an external loop "
        "recorded by mixscope.Recorder (never trained or resumed by a worker)")
    external_config: dict[str, Any] | None = Field(
        None, description="external runs: the recorder's free-form config, stored as given")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown dataset {v!r}; choose one of {', '.join(DATASETS)}")
        return v

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if not MODEL_PATTERN.match(v):
            raise ValueError(f"unknown model {v!r}; use mlp, mlp-bottleneck, mlp-mid-bottleneck, "
                             "wrn-<depth>-<widen>, vit-tiny, vit-small, vit-base, resnet18 or "
                             "preact-resnet18|34|50")
        m = re.match(r"^wrn-(\d+)-(\d+)$", v)
        if m and ((int(m.group(1)) - 4) % 6 != 0 or int(m.group(1)) < 10):
            raise ValueError("wrn depth must be 6n+4 and at least 10 (e.g. wrn-16-4, wrn-40-10)")
        return v

    @field_validator("lr_milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in v):
            raise ValueError("milestones are fractions of training in (0, 1)")
        return sorted(v)

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if isinstance(self.record.epochs, list):
            bad = [e for e in self.record.epochs if e < 0 or e > self.epochs]
            if bad:
                raise ValueError(f"record.epochs {bad} outside 0..{self.epochs}")
        if len(set(self.record.default_triple)) != 3:
            raise ValueError("record.default_triple needs three distinct classes")
        if self.method == "factor-mixup" and self.dataset not in FACTOR_DATASETS:
            raise ValueError(f"method: factor-mixup needs a dataset rendered from known factors "
                             f"({', '.join(FACTOR_DATASETS)}), not {self.dataset!r}")
        return self

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> RunConfig:
        """A named recipe (see ``PRESETS``) with overrides applied on top."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        data = _deep_merge(PRESETS[preset], overrides)
        if preset == "wrn-paper" and data.get("dataset") == "cifar100" \
                and "mode" not in (overrides.get("record") or {}):
            # 000 plots WRN-40-10 on CIFAR-100 in eval mode (every other figure: train mode)
            data = _deep_merge(data, {"record": {"mode": "eval"}})
        return cls.model_validate(data)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else v
    return out


PRESETS: dict[str, dict[str, Any]] = {
    # Reference §6: the CPU demo that shows the configuration in seconds.
    "digits-demo": dict(dataset="digits", model="mlp",
                        model_args=dict(width=512, depth=2, feature_dim=64, batchnorm=True),
                        method="input-mixup", alpha=1.0, optimizer="sgd", lr=0.05,
                        momentum=0.9, nesterov=True, weight_decay=1e-2, schedule="cosine",
                        epochs=300, batch_size=128),
    # Every run traces its trajectory pairs through every layer of the model (000 Fig. 3's
    # idea, small), so the demo's Trajectory page shows hidden layers without storing every
    # probe point's 512-wide hidden activations: record.layers=["all"] does that (≈9× disk).
    # 000 App. B.1: WRN-40-10, SGD, lr divided by 10 at 30/50/90 % of training. 000's
    # plots extract in train mode (BatchNorm batch statistics), except WRN on CIFAR-100
    # (eval mode: ``from_preset`` switches it for dataset=cifar100).
    "wrn-paper": dict(model="wrn-40-10", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=False,
                      weight_decay=1e-4, schedule="step", lr_milestones=[0.3, 0.5, 0.9],
                      epochs=500, batch_size=128, dataset="cifar10",
                      record=dict(mode="train")),
    # 000 App. B.1: ViT-B/4 with Adam, 10 warm-up epochs then cosine; train-mode extraction.
    "vit-paper": dict(model="vit-base", optimizer="adam", lr=1e-3, weight_decay=0.0,
                      schedule="cosine", warmup_epochs=10, epochs=1000, batch_size=128,
                      dataset="cifar10", record=dict(mode="train")),
    # 002 Table 1: alternating line X_3^2, 512 hidden units, full-batch Adam, 5000 epochs.
    "alternating-line-paper": dict(
        dataset="alternating-line", dataset_args=dict(points=3, classes=2, test_fraction=0.0),
        model="mlp", model_args=dict(width=512, depth=0, feature_dim=512, batchnorm=False),
        optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant", epochs=5000,
        batch_size=0, alpha=32.0),
    # 002 §3: two moons, 500 hidden units, full-batch Adam.
    "two-moons-paper": dict(
        dataset="two-moons", dataset_args=dict(samples=300, noise=0.1, separation=0.5,
                                               test_fraction=0.0),
        model="mlp", model_args=dict(width=500, depth=0, feature_dim=500, batchnorm=False),
        optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant", epochs=1000,
        batch_size=0, alpha=1.0),
}


def _mm_bottleneck(depth: int, k: int, after: int, width: int, **extra: Any) -> dict[str, Any]:
    """003's MNIST bottleneck nets (App. B Fig. 5, App. G Figs. 9–12): LeakyReLU, no
    BatchNorm, manifold mixup only at the bottleneck, whose spectra are recorded. The paper
    does not give the optimiser: Adam 1e-3 is mixscope's choice."""
    return _deep_merge(dict(
        dataset="mnist", model="mlp-mid-bottleneck",
        model_args=dict(width=width, depth=depth, bottleneck_dim=k, depth_after=after,
                        batchnorm=False, activation="leaky-relu"),
        method="manifold-mixup", manifold_layers=["bottleneck"], alpha=2.0,
        optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant", batch_size=100,
        record=dict(layers=["bottleneck"], mode="eval")), extra)


def _mm_preact(model: str, dataset: str, epochs: int, **extra: Any) -> dict[str, Any]:
    """003 App. C: PreActResNet, SGD lr 0.1 (momentum 0.9, weight decay 1e-4) divided by 10
    at 1/3 and 2/3 of training (epochs 400 and 800 of 1200), mixing set {input, block1,
    block2}, α = 2, the BCE-on-softmax loss of the authors' code (Figs. 6–7)."""
    return _deep_merge(dict(
        dataset=dataset, model=model, method="manifold-mixup", alpha=2.0, loss="bce",
        optimizer="sgd", lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4,
        schedule="step", lr_milestones=[1 / 3, 2 / 3], lr_gamma=0.1, epochs=epochs,
        batch_size=100), extra)


_CPU = dict(dataset_args=dict(subset=1000), epochs=10)

PRESETS.update({
    # 003 App. B Fig. 5: 1024-1024 LeakyReLU, 2-D bottleneck, 1024-1024 (epochs: our choice)
    "mm-bottleneck2d-paper": _mm_bottleneck(2, 2, 2, 1024, epochs=100),
    "mm-bottleneck2d-cpu": _mm_bottleneck(2, 2, 2, 256, **_CPU),
    # 003 Fig. 5 top row: the same net trained on the digits 0-4 only
    "mm-bottleneck2d-0to4-paper": _mm_bottleneck(2, 2, 2, 1024, epochs=100, dataset_args=dict(
        keep_classes=[0, 1, 2, 3, 4])),
    "mm-bottleneck2d-0to4-cpu": _mm_bottleneck(2, 2, 2, 256, epochs=10, dataset_args=dict(
        keep_classes=[0, 1, 2, 3, 4], subset=1000)),
    # 003 App. G Fig. 9 / Fig. 12: 3 × 1024, a 12-unit bottleneck, 4 × 1024, α = 2
    "mm-svd12-paper": _mm_bottleneck(3, 12, 4, 1024, epochs=100),
    "mm-svd12-cpu": _mm_bottleneck(3, 12, 4, 256, **_CPU),
    # 003 App. G Fig. 10: the same with 30 units
    "mm-svd30-paper": _mm_bottleneck(3, 30, 4, 1024, epochs=100),
    "mm-svd30-cpu": _mm_bottleneck(3, 30, 4, 256, **_CPU),
    # 003 App. G Fig. 11: the 30-unit bottleneck right after the first hidden layer
    "mm-svd30-early-paper": _mm_bottleneck(1, 30, 4, 1024, epochs=100),
    "mm-svd30-early-cpu": _mm_bottleneck(1, 30, 4, 256, **_CPU),
    # 003 App. A Table 8 / Fig. 4: rotated digits, α = 1; choose --method erm | input-mixup
    # | factor-mixup (sizes and net are not given in the paper: mixscope's choice, a small
    # conv net with global pooling, which sees the strokes' orientations: trainer.rendered)
    **{f"mm-rotated-digit-{t.lower()}-{scale}": dict(
        dataset="rotated-digit", dataset_args=dict(task=t, samples=n, test_fraction=0.5),
        model="wrn-10-1", method="factor-mixup", alpha=1.0, optimizer="adam", lr=1e-3,
        weight_decay=0.0, schedule="constant", epochs=e, batch_size=64)
       for t in "ABC" for scale, n, e in (("cpu", 500, 30), ("paper", 10_000, 100))},
    # 003 Table 9 at cpu scale: the same net on Task S (test drawn like training), whose
    # clean test set the deformations job deforms
    "mm-rotated-digit-s-cpu": dict(
        dataset="rotated-digit", dataset_args=dict(task="S", samples=500, test_fraction=0.5),
        model="wrn-10-1", method="manifold-mixup", alpha=2.0, optimizer="adam", lr=1e-3,
        weight_decay=0.0, schedule="constant", epochs=30, batch_size=64),
    # 003 Figs. 6 (CIFAR-10, PreActResNet-18) and 7 (CIFAR-100, PreActResNet-50) and the
    # Table 9 models: sweep manifold_layers over [input], [block1], [block2], ... and
    # block_gradient to draw the training-loss curves per mixing set
    "mm-preact18-cifar10-paper": _mm_preact("preact-resnet18", "cifar10", 1200),
    "mm-preact18-cifar10-cpu": _mm_preact("preact-resnet18", "cifar10", 5,
                                          dataset_args=dict(subset=500)),
    "mm-preact50-cifar100-paper": _mm_preact("preact-resnet50", "cifar100", 1200),
    "mm-preact18-cifar100-paper": _mm_preact("preact-resnet18", "cifar100", 1200),
    "mm-preact18-cifar100-cpu": _mm_preact("preact-resnet18", "cifar100", 5,
                                           dataset_args=dict(subset=1000)),
    # 003 App. C: WRN-28-10, 400 epochs, lr ÷10 at 200 and 300, mixing set {input, block1}
    "mm-wrn28-10-cifar10-paper": _mm_preact("wrn-28-10", "cifar10", 400,
                                            lr_milestones=[0.5, 0.75]),
})
