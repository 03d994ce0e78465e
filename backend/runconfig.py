"""The run configuration: the one contract between the API, the CLI and the trainer.

A :class:`RunConfig` is validated once (unknown keys rejected, every number bounded) and
stored with the run as JSON, so a stored run always says exactly what produced it.
Presets (``RunConfig.from_preset``) reproduce the recipes of the papers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

DATASETS = ("digits", "two-moons", "alternating-line", "gaussian-mixture",
            "fashion-mnist", "cifar10", "cifar100")
METHODS = ("erm", "input-mixup", "manifold-mixup")
MODEL_PATTERN = re.compile(
    r"^(mlp|mlp-bottleneck|resnet18|wrn-(\d+)-(\d+)|vit-(tiny|small|base))$")


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


class _Strict(BaseModel):
    # NaN and ±inf are refused by name ("Input should be a finite number"), never compared.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


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
    test_fraction: float = Field(0.25, ge=0, lt=1,
                                 description="generated datasets: held-out fraction")
    subset: int | None = Field(None, ge=10, le=10_000_000,
                               description="use only this many training examples")


class ModelArgs(_Strict):
    width: int = Field(512, ge=2, le=8192, description="mlp: hidden width")
    depth: int = Field(2, ge=0, le=16,
                       description="mlp: hidden layers of `width` before the feature layer")
    feature_dim: int = Field(64, ge=2, le=8192, description="mlp: penultimate dimension d")
    batchnorm: bool = Field(True, description="mlp: BatchNorm after every linear layer")


class ProbeArgs(_Strict):
    """The fixed probe set, drawn once when the run is created."""

    clean_per_class: int = Field(50, ge=1, le=5000)
    pairs_per_class_pair: int = Field(100, ge=1, le=5000,
                                      description="mixed pairs for every class pair")
    lambda_distribution: Literal["uniform", "beta"] = "uniform"
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
    dtype: Literal["float16", "float32"] = "float32"
    checkpoint_every: int = Field(10, ge=1, le=10_000,
                                  description="epochs between rolling checkpoints")
    default_triple: tuple[ClassIndex, ClassIndex, ClassIndex] = (0, 1, 2)


class RunConfig(_Strict):
    """Everything that defines a training run. Stored with the run."""

    dataset: str = Field("digits", max_length=100, description=f"one of {', '.join(DATASETS)}")
    dataset_args: DatasetArgs = Field(default_factory=DatasetArgs)
    model: str = Field("mlp", max_length=100,
                       description="mlp, mlp-bottleneck, wrn-<depth>-<widen>, "
                       "vit-tiny|small|base, resnet18")
    model_args: ModelArgs = Field(default_factory=ModelArgs)

    method: Literal["erm", "input-mixup", "manifold-mixup"] = "input-mixup"
    alpha: float = Field(1.0, gt=0, le=1e4, description="λ ~ Beta(α, α)")
    mix_per: Literal["batch", "sample"] = Field("batch", description="one λ per batch or sample")
    manifold_layers: list[Text] | None = Field(
        None, max_length=64,
        description="manifold mixup: eligible mixing points (default: the model's own)")
    loss: Literal["ce", "mse"] = "ce"
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
            raise ValueError(f"unknown model {v!r}; use mlp, mlp-bottleneck, wrn-<depth>-<widen>, "
                             "vit-tiny, vit-small, vit-base or resnet18")
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
        return self

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> RunConfig:
        """A named recipe (see ``PRESETS``) with overrides applied on top."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        data = _deep_merge(PRESETS[preset], overrides)
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
                        epochs=300, batch_size=128,
                        # the hidden layers too: the Trajectory page traces a mixed pair
                        # across layers (000 Fig. 3), each in its class-means simplex
                        record=dict(layers=["all"])),
    # 000 App. B.1: WRN-40-10, SGD, lr divided by 10 at 30/50/90 % of training.
    "wrn-paper": dict(model="wrn-40-10", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=False,
                      weight_decay=1e-4, schedule="step", lr_milestones=[0.3, 0.5, 0.9],
                      epochs=500, batch_size=128, dataset="cifar10"),
    # 000 App. B.1: ViT-B/4 with Adam, 10 warm-up epochs then cosine.
    "vit-paper": dict(model="vit-base", optimizer="adam", lr=1e-3, weight_decay=0.0,
                      schedule="cosine", warmup_epochs=10, epochs=1000, batch_size=128,
                      dataset="cifar10"),
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
