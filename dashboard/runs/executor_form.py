"""The launch form's executor part (issue 22): where the run trains (a Celery worker or one
Slurm job) and, for Slurm, the job's resources, filled from the API's settings
(``GET /api/executor``) and shown before launch, editable; the launch sends them as the
query parameters of ``POST /api/runs`` (``executor``, ``partition``, ``gpus``, ``cpus``,
``mem``, ``time``, ``account``, ``qos``, ``sbatch``), whose 422 names the field shown here."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard.common import field

#: the Slurm resources of the form: (query parameter, label, input type, help)
RESOURCES = [
    ("partition", "Partition", "text", "the settings' default when empty"),
    ("gpus", "GPUs", "number", "per job (--gpus-per-node)"),
    ("cpus", "CPUs", "number", "per job (--cpus-per-task)"),
    ("mem", "Memory", "text", "e.g. 16G (--mem)"),
    ("time", "Time limit", "text", "minutes, HH:MM:SS or D-HH:MM:SS"),
    ("account", "Account", "text", ""),
    ("qos", "QOS", "text", ""),
    ("sbatch", "More sbatch options", "text",
     "comma-separated name=value, e.g. constraint=a100,exclude=node3"),
]
#: error slots of the form's executor part (err-<slot>): the API's 422 keys
EXECUTOR_SLOTS = ["executor", *(r[0] for r in RESOURCES)]
#: the executor part's inputs, in :func:`launch_params`' order (the grid launcher reads them)
EXECUTOR_IDS = ["runs-executor", *(f"runs-slurm-{r[0]}" for r in RESOURCES)]
HIDDEN = {"display": "none"}


def executor_fields() -> html.Div:
    """The executor dropdown and the Slurm resources (shown when the executor is Slurm)."""
    inputs = [field(label, dcc.Input(id=f"runs-slurm-{name}", type=kind, className="input",
                                     **({"min": 0, "step": 1} if kind == "number" else {})),
                    help=help_ or None, error_id=f"err-{name}")
              for name, label, kind, help_ in RESOURCES]
    return html.Div([
        dcc.Store(id="runs-executor-info"),
        html.Div([
            field("Runs on", dcc.Dropdown(
                executor_options(None), None, id="runs-executor",
                clearable=False, className="dropdown"), error_id="err-executor"),
        ], className="form-grid"),
        html.Div(id="runs-slurm-note", className="field-help"),
        html.Div(inputs, id="runs-slurm-fields", className="form-grid", style=HIDDEN),
    ], id="runs-executor-section")


#: the launch form's label of each executor
EXECUTOR_LABELS = {"celery": "a Celery worker", "slurm": "a Slurm job"}


def executor_options(info: dict | None) -> list[dict[str, str]]:
    """The executors the form offers: those ``GET /api/executor`` says a launch may choose
    (``executors``; no Celery where no broker is configured), both when it cannot say."""
    offered = (info or {}).get("executors") or list(EXECUTOR_LABELS)
    return [{"label": EXECUTOR_LABELS.get(name, name), "value": name} for name in offered]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def form_values(info: dict | None) -> tuple:
    """The form's executor and resource values from ``GET /api/executor``'s answer."""
    if not info:
        return ("celery", *([""] * len(RESOURCES)))
    res = info.get("slurm", {}).get("resources", {})
    extra = ",".join(f"{k}={v}" for k, v in (res.get("extra") or {}).items())
    return (info.get("executor", "celery"), *(
        extra if name == "sbatch" else res.get(name) if kind == "number"
        else _text(res.get(name)) for name, _label, kind, _help in RESOURCES))


def slurm_note(executor: str | None, info: dict | None) -> tuple[dict, str]:
    """The resources' style (shown for Slurm) and a line saying what a Slurm launch needs."""
    if executor != "slurm":
        return HIDDEN, ""
    slurm = (info or {}).get("slurm", {})
    if slurm.get("why_not"):
        return {}, f"A Slurm launch will be refused: {slurm['why_not']}"
    if slurm and not slurm.get("sbatch"):
        return {}, "A Slurm launch will be refused: sbatch is not on the API host's PATH."
    return {}, ("One Slurm job per run, asking for these resources (the API's settings, "
                "editable here).")


def launch_params(executor: str | None, *values: Any) -> dict[str, Any]:
    """The query parameters of the launch for the form's executor part: Celery sends only
    ``executor``; Slurm sends every resource given (empty ones fall back to the settings)."""
    if executor != "slurm":
        return {"executor": executor} if executor else {}
    out: dict[str, Any] = {"executor": "slurm"}
    for (name, _label, _kind, _help), value in zip(RESOURCES, values):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[name] = value.strip() if isinstance(value, str) else value
    return out
