"""The catalogue of the source documents' figures and tables (``catalogue.yaml``).

Each :class:`PaperEntry` says what a paper claims and prints for one figure or table, what is
wrong in it (errata), and what in mixscope produces it at two scales: ``cpu`` (a 2-core
machine, minutes, shipped or generated data) and ``paper`` (the paper's models, datasets and
epochs: a GPU worker and the dataset files). :func:`availability` says whether a scale can
run here. Plain data and pydantic only: the API, the CLI and the dashboard all read it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Scale = Literal["cpu", "paper"]
#: where an entry stands, derived from the store (``runner.entry_status``), never fixed
Status = Literal["not-run", "running", "done", "needs-data", "needs-gpu", "out-of-scope"]
STATUSES: tuple[str, ...] = ("not-run", "running", "done", "needs-data", "needs-gpu",
                             "out-of-scope")
#: whether a scale of an entry can run here at all (:func:`availability`)
Availability = Literal["runnable", "needs-data", "needs-gpu", "out-of-scope"]
SCALES: tuple[str, ...] = ("cpu", "paper")
PAPER_IDS: tuple[str, ...] = ("000", "001", "002", "003")

#: Files that show a torchvision dataset is present under ``MIXSCOPE_DATA_DIR`` (no torch
#: import: the API decides ``needs-data`` by looking at the folder).
DATASET_MARKERS: dict[str, tuple[str, ...]] = {
    "mnist": ("MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-images-idx3-ubyte.gz"),
    "fashion-mnist": ("FashionMNIST/raw/train-images-idx3-ubyte",
                      "FashionMNIST/raw/train-images-idx3-ubyte.gz"),
    "cifar10": ("cifar-10-batches-py/data_batch_1",),
    "cifar100": ("cifar-100-python/train",),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Erratum(_Strict):
    what: str = Field(description="what the paper (or its code) says or does")
    correct: str = Field(description="the correct statement, and what mixscope does")


class Recipe(_Strict):
    """What produces an entry at one scale."""

    runs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="training runs: `preset` (optional) plus RunConfig overrides")
    lab: list[dict[str, Any]] = Field(
        default_factory=list, description="lab experiments: `experiment` plus its parameters")
    theory: list[dict[str, Any]] = Field(
        default_factory=list, description="UFM queries (the /api/theory/ufm parameters)")
    seeds: list[int] = Field(
        default_factory=lambda: [0],
        description="every run and lab line is produced once per seed (its `seed` set); a "
                    "claim's parts are tested in each and their scatter measured (≥ 3 for "
                    "`claim-holds`)")

    @property
    def empty(self) -> bool:
        return not (self.runs or self.lab or self.theory)


class Needs(_Strict):
    data: list[str] = Field(default_factory=list, description="datasets the paper scale reads")
    gpu: bool = Field(False, description="the paper scale needs a GPU worker")


class PaperEntry(_Strict):
    id: str = Field(pattern=r"^00[0-3]/[a-z0-9-]+$")
    paper: Literal["000", "001", "002", "003"]
    kind: Literal["figure", "table"]
    title: str
    claim: str
    check: str = Field(description="the check in backend.papers.checks that fills `computed`")
    published: dict[str, Any] = Field(default_factory=dict)
    tolerance: dict[str, float] = Field(
        default_factory=dict, description="absolute tolerance per published key (or "
        "`default`); a key whose source is `seeds` gets twice the seeds' sample std")
    tolerance_source: dict[str, str] = Field(
        default_factory=dict, description="where each tolerance comes from (per key or "
        "`default`): the paper's error bars or words, `seeds`, or a stated physical bound")
    not_comparable: dict[Scale, str] = Field(
        default_factory=dict, description="per scale: why the published numbers cannot be "
        "compared there (the task, data or model differ)")
    differs_kind: Literal["scale", "task", "paper-error"] | None = Field(
        None, description="when this entry's verdict is `differs`, the known reason")
    differs_evidence: str | None = Field(
        None, description="what shows the `differs_kind` (the experiment and its measured "
        "figures), shown with the verdict")
    expect: dict[str, Any] = Field(default_factory=dict,
                                   description="qualitative expectations the check tests")
    errata: list[Erratum] = Field(default_factory=list)
    scales: dict[Scale, Recipe] = Field(default_factory=dict)
    needs: Needs = Field(default_factory=Needs)
    out_of_scope: str | None = None

    def recipe(self, scale: Scale) -> Recipe:
        return self.scales.get(scale, Recipe())

    def tolerance_for(self, key: str) -> float | None:
        tol = self.tolerance.get(key, self.tolerance.get("default"))
        return None if tol is None else float(tol)

    def tolerance_source_for(self, key: str) -> str | None:
        return self.tolerance_source.get(key, self.tolerance_source.get("default"))


class Catalogue(_Strict):
    papers: dict[str, str]
    entries: list[PaperEntry]

    def get(self, entry_id: str) -> PaperEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.entries]


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The shipped catalogue, validated (ids unique)."""
    data = yaml.safe_load((Path(__file__).with_name("catalogue.yaml")).read_text("utf-8"))
    catalogue = Catalogue.model_validate(data)
    ids = catalogue.ids
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate catalogue ids: {', '.join(dup)}")
    return catalogue


def dataset_present(name: str, data_dir: Path | None) -> bool:
    """True when ``name``'s files are under ``data_dir`` (generated sets are always there)."""
    markers = DATASET_MARKERS.get(name)
    if markers is None:
        return True  # digits, two moons, alternating line, mixtures, rendered tasks
    if data_dir is None:
        return False
    return any((Path(data_dir) / m).exists() for m in markers)


def missing_data(entry: PaperEntry, scale: Scale, data_dir: Path | None) -> list[str]:
    """Datasets a scale of ``entry`` reads that are absent under ``data_dir``."""
    wanted: list[str] = []
    for run in entry.recipe(scale).runs:
        if "dataset" in run:
            wanted.append(run["dataset"])
    for lab in entry.recipe(scale).lab:
        if "dataset" in lab:
            wanted.append(lab["dataset"])
    if scale == "paper":
        wanted += entry.needs.data
    seen: list[str] = []
    for name in wanted:
        if name not in seen and not dataset_present(name, data_dir):
            seen.append(name)
    return seen


def availability(entry: PaperEntry, scale: Scale, data_dir: Path | None, *,
                 gpu: bool = False) -> Availability:
    """Whether ``scale`` of ``entry`` can run here: ``out-of-scope``, ``needs-data`` (no
    recipe at that scale, or its dataset files are absent), ``needs-gpu``, else
    ``runnable``. What ran is the store's business (``runner.entry_status``)."""
    if entry.out_of_scope:
        return "out-of-scope"
    if entry.recipe(scale).empty:  # no analogue here: what the paper's scale needs
        if scale == "paper" or missing_data(entry, "paper", data_dir):
            return "needs-data"
        return "needs-gpu" if entry.needs.gpu and not gpu else "runnable"
    if missing_data(entry, scale, data_dir):
        return "needs-data"
    if scale == "paper" and entry.needs.gpu and not gpu:
        return "needs-gpu"
    return "runnable"


def what_is_missing(entry: PaperEntry, scale: Scale, data_dir: Path | None,
                    *, gpu: bool = False) -> list[str]:
    """Sentences that say exactly what a scale lacks here and how to provide it."""
    out = []
    for name in missing_data(entry, scale, data_dir):
        out.append(f"dataset {name!r} is not under MIXSCOPE_DATA_DIR ({data_dir}); put the "
                   f"torchvision files of {name} there (e.g. {DATASET_MARKERS[name][0]})")
    if scale == "paper" and entry.needs.gpu and not gpu:
        out.append("the paper scale needs a GPU worker: start `mixscope worker` on a machine "
                   "with a GPU, pointed at the same database, broker and artifact store")
    return out
