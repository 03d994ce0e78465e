# ruff: noqa: C408  (dict(...) reads better than literals for RunConfig fields)
"""The Runs page's launch form, and the RunConfig JSON its values make (the API validates it
and its 422 names the field, which the form shows beside that field).

Datasets, methods and losses are the API's vocabularies (``GET /api/vocab``); this module only
labels them."""

from __future__ import annotations

import json
from typing import Any

from dash import dcc, html

from dashboard.common import card, field, vocab
from dashboard.runs.executor_form import executor_fields

MODELS = ["mlp", "mlp-bottleneck", "mlp-mid-bottleneck", "resnet18", "preact-resnet18",
          "preact-resnet34", "preact-resnet50", "wrn-16-4", "wrn-28-10", "wrn-40-10",
          "vit-tiny", "vit-small", "vit-base"]
# How the form names the API's methods and losses (in this order; others by their own name).
METHOD_LABELS = {"input-mixup": "Input mixup", "manifold-mixup": "Manifold mixup",
                 "factor-mixup": "Factor mixup (rotated-digit)", "erm": "ERM (no mixup)"}
LOSS_LABELS = {"ce": "Cross-entropy", "mse": "MSE", "bce": "BCE on softmax (Verma et al.)"}
# Optimiser presets: the recipes of the papers, as RunConfig fields.
OPT_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd-cosine": ("SGD · momentum 0.9 · Nesterov · cosine",
                   dict(optimizer="sgd", momentum=0.9, nesterov=True, schedule="cosine")),
    "sgd-step": ("SGD · momentum 0.9 · ÷10 at 30/50/90 % (WRN paper)",
                 dict(optimizer="sgd", momentum=0.9, nesterov=False, schedule="step",
                      lr_milestones=[0.3, 0.5, 0.9])),
    "adam-cosine": ("Adam · cosine (ViT paper)", dict(optimizer="adam", schedule="cosine")),
    "adamw-cosine": ("AdamW · cosine", dict(optimizer="adamw", schedule="cosine")),
    "adam-constant": ("Adam · constant lr (data-dependency paper)",
                      dict(optimizer="adam", schedule="constant")),
}
# Form field -> RunConfig field(s) whose 422 messages it shows.
ERROR_SLOTS = ["name", "dataset", "model", "method", "alpha", "loss", "fixed_etf", "optimizer",
               "lr", "weight_decay", "epochs", "batch_size", "record", "seed",
               "manifold_layers", "block_gradient", "dataset_args", "extra"]


def labelled(values: list[str], labels: dict[str, str]) -> list[dict]:
    """Dropdown options for a vocabulary: the labelled values first, in ``labels``' order."""
    order = {v: i for i, v in enumerate(labels)}
    return [{"label": labels.get(v, v), "value": v}
            for v in sorted(values, key=lambda v: order.get(v, len(order)))]


def _num(id_: str, value: float, **kw: Any) -> dcc.Input:
    return dcc.Input(id=id_, type="number", value=value, className="input", debounce=False, **kw)


def launch_form() -> html.Div:
    dd = dict(clearable=False, className="dropdown")
    return card([
        html.Div([
            field("Name (optional)", dcc.Input(id="runs-name", type="text", className="input",
                                               placeholder="e.g. digits mixup α=1"),
                  error_id="err-name"),
            field("Dataset", dcc.Dropdown(vocab("datasets"), "digits", id="runs-dataset", **dd),
                  error_id="err-dataset"),
            field("Model", dcc.Dropdown(MODELS, "mlp", id="runs-model", **dd),
                  help_id="runs-model-help", error_id="err-model"),
            field("Method", dcc.Dropdown(labelled(vocab("methods"), METHOD_LABELS),
                                         "input-mixup", id="runs-method", **dd),
                  error_id="err-method"),
            field("α  (λ ~ Beta(α, α))", _num("runs-alpha", 1.0, step="any"),
                  error_id="err-alpha"),
            field("Loss", dcc.Dropdown(labelled(vocab("losses"), LOSS_LABELS), "ce",
                                       id="runs-loss", **dd), error_id="err-loss"),
            field("Classifier", dcc.Checklist(
                [{"label": " fixed simplex ETF", "value": "etf"}], [], id="runs-fixed-etf",
                className="checklist"), error_id="err-fixed_etf"),
            field("Optimiser preset", dcc.Dropdown(
                [{"label": v[0], "value": k} for k, v in OPT_PRESETS.items()], "sgd-cosine",
                id="runs-optimizer", **dd), error_id="err-optimizer"),
            field("Learning rate", _num("runs-lr", 0.05, step="any"), error_id="err-lr"),
            field("Weight decay", _num("runs-wd", 0.01, step="any"),
                  error_id="err-weight_decay"),
            field("Epochs", _num("runs-epochs", 30, step=1, min=1), error_id="err-epochs"),
            field("Batch size", _num("runs-batch", 128, step=1, min=0), help="0 = full batch",
                  error_id="err-batch_size"),
            field("Recorded epochs", dcc.Input(id="runs-record", type="text", value="auto",
                                               className="input"),
                  help="'auto' (dense early, sparse later) or a list such as 0,1,5,10,30",
                  error_id="err-record"),
            field("Seed", _num("runs-seed", 0, step=1, min=0), error_id="err-seed"),
            # shown only where they apply (form_fields_shown): manifold mixup, rotated digits
            field("Mixing layers", dcc.Input(id="runs-manifold-layers", type="text",
                                             className="input", placeholder="model default"),
                  help="manifold mixup: comma-separated, e.g. input,block1,block2",
                  error_id="err-manifold_layers", id="runs-field-manifold"),
            field("Gradient", dcc.Checklist(
                [{"label": " block before the mixing layer", "value": "block"}], [],
                id="runs-block-gradient", className="checklist"),
                error_id="err-block_gradient", id="runs-field-block"),
            field("Task", dcc.Dropdown(["A", "B", "C"], "A", id="runs-task", **dd),
                  help="rotated digits: which factor decides the class",
                  error_id="err-dataset_args", id="runs-field-task"),
            field("More fields (JSON)", dcc.Textarea(
                id="runs-extra", className="input",
                placeholder='{"model_args": {"bottleneck_dim": 12, "activation": "leaky-relu"}}'),
                help="any RunConfig fields, merged last", error_id="err-extra"),
        ], className="form-grid"),
        executor_fields(),  # where it trains, and a Slurm job's resources (issue 22)
        html.Div([
            html.Button("Launch run", id="runs-launch", className="btn btn-primary",
                        n_clicks=0),
            html.Div(id="runs-launch-msg", className="form-message"),
        ], className="form-actions"),
    ], title="Launch a run", className="launch-card")


HIDDEN = {"display": "none"}


def form_fields_shown(dataset: str | None, model: str | None, method: str | None
                      ) -> tuple[dict, dict, dict, str]:
    """Styles of the fields that apply to some runs only (mixing layers, gradient blocking,
    the rotated-digit task) and the model's help line, for the form's choices: a digits MLP
    with input mixup shows none of them (issue 19)."""
    manifold = {} if method == "manifold-mixup" else HIDDEN
    task = {} if dataset == "rotated-digit" else HIDDEN
    m = model or ""
    help_ = ("wrn-<depth>-<widen>, depth = 6n+4" if m.startswith("wrn") else
             "a ViT: the CLS token per block is recorded" if m.startswith("vit") else "")
    return manifold, manifold, task, help_


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_config(name, dataset, model, method, alpha, loss, fixed_etf, opt_preset, lr, wd,
                 epochs, batch, record, seed, manifold_layers=None, block_gradient=None,
                 task=None, extra=None) -> dict:
    """The RunConfig JSON for the form's values (validation is the API's job).

    ``extra`` is a JSON object of any further RunConfig fields, merged last; text that is not
    a JSON object raises ValueError (the form shows it beside the field)."""
    cfg: dict[str, Any] = dict(dataset=dataset, model=model, method=method, alpha=alpha,
                               loss=loss, fixed_etf=bool(fixed_etf), lr=lr, weight_decay=wd,
                               epochs=epochs, batch_size=batch, seed=seed)
    layers = [t.strip() for t in (manifold_layers or "").split(",") if t.strip()]
    if layers:
        cfg["manifold_layers"] = layers
    if block_gradient:
        cfg["block_gradient"] = True
    if dataset == "rotated-digit" and task:
        cfg["dataset_args"] = {"task": task}
    cfg.update(OPT_PRESETS.get(opt_preset, ("", {}))[1])
    if name:
        cfg["name"] = name
    rec = (record or "auto").strip()
    if rec.lower() == "auto":
        cfg["record"] = {"epochs": "auto"}
    else:
        try:
            cfg["record"] = {"epochs": [int(x) for x in rec.replace(" ", ",").split(",") if x]}
        except ValueError:
            cfg["record"] = {"epochs": rec}  # let the API name the field
    if extra and extra.strip():
        try:
            more = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from exc
        if not isinstance(more, dict):
            raise ValueError("give a JSON object of RunConfig fields")
        cfg = _merge(cfg, more)
    return cfg


def error_slot(key: str) -> str:
    """The form field that shows the API's 422 message for RunConfig field ``key``."""
    head = key.split(".")[0]
    if head in ("momentum", "nesterov", "schedule", "lr_milestones"):
        return "optimizer"
    return head if head in ERROR_SLOTS else ""
