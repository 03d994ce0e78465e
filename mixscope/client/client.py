"""``mixscope.Client``: mixscope's runs, metrics and geometry as pandas tables and numpy
arrays, read from a local store or a running API with the same methods.

    from mixscope import Client
    c = Client(store="~/.local/share/mixscope")      # a store folder or a database URL
    c = Client(api="http://host:8000", token="...")  # or a running API
    runs = c.runs(method="input-mixup")              # DataFrame, one row per run
    r = c.run(runs.id[0])
    r.metrics()                                      # DataFrame, one row per epoch
    r.frames((0, 1, 2), layer="penultimate")         # numpy arrays per epoch

Both transports answer with the API's JSON bodies (the local one builds them with the same
backend functions the routes call), and this module turns those into tables, so the numbers
are the same whichever way they were read. pandas is imported when a table is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from backend.errors import NotFound, QueryError

#: runs fetched per request behind :meth:`Client.runs` (the API's largest page)
RUNS_PAGE = 1000
#: the run-table columns and where each comes from in a run's JSON
RUN_COLUMNS = ("id", "name", "status", "dataset", "model", "method", "alpha", "sweep",
               "epochs", "current_epoch", "test_accuracy", "ece", "channel_radius",
               "created_at")
_FILTERS = ("status", "sweep_id", "dataset", "model", "method", "text")
KINDS = ("clean", "same", "different")


def decode(obj: dict[str, Any]) -> np.ndarray:
    """A b64 array of the API (``backend.api.encoding``) as numpy."""
    from backend.api.encoding import decode_array

    return decode_array(obj)


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One row of :meth:`Client.runs` from a run's JSON."""
    cfg, summary = run.get("config") or {}, run.get("summary") or {}
    return {"id": run["id"], "name": run.get("name"), "status": run["status"],
            "dataset": cfg.get("dataset"), "model": cfg.get("model"),
            "method": cfg.get("method"), "alpha": cfg.get("alpha"),
            "sweep": run.get("sweep_id"), "epochs": cfg.get("epochs"),
            "current_epoch": run.get("current_epoch"),
            "test_accuracy": summary.get("test_accuracy"), "ece": summary.get("ece"),
            "channel_radius": summary.get("channel_radius"),
            "created_at": run.get("created_at")}


def runs_frame(rows: list[dict[str, Any]]):
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601")
    return df


class Client:
    """Read mixscope runs from a local store (``store=``: a folder, a database URL or a
    ``backend.store.Store``) or a running API (``api=``, with ``token=`` when it needs
    one). Neither: the store ``mixscope up`` uses by default (``MIXSCOPE_*`` settings, else
    the per-user folder)."""

    def __init__(self, store: Any = None, *, api: str | None = None, token: str | None = None,
                 timeout: float = 60.0):
        if store is not None and api is not None:
            raise TypeError("Client(store=...) or Client(api=...): give one, not both")
        if api is not None:
            from mixscope.client.http import HTTPTransport

            self.transport = HTTPTransport(api, token, timeout)
        else:
            from mixscope.client.local import LocalTransport

            self.transport = LocalTransport(store)

    def __repr__(self) -> str:
        return f"Client({self.transport.kind}: {self.transport.where})"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs ----------------------------------------------------------------------------
    def run_records(self, **filters: Any) -> list[dict[str, Any]]:
        """Every run matching ``filters`` as the API's JSON (newest first), read page by
        page."""
        unknown = sorted(set(filters) - set(_FILTERS) - {"q", "sweep"})
        if unknown:
            raise QueryError(unknown[0], f"unknown filter {unknown[0]!r}; filters: "
                             f"{', '.join(_FILTERS)}")
        if "q" in filters:
            filters["text"] = filters.pop("q")
        if "sweep" in filters:
            filters["sweep_id"] = filters.pop("sweep")
        filters = {k: v for k, v in filters.items() if v is not None}
        out: list[dict[str, Any]] = []
        while True:
            page, total = self.transport.runs_page(filters, RUNS_PAGE, len(out))
            out += page
            if len(page) < RUNS_PAGE or (total is not None and len(out) >= total):
                return out

    def runs(self, **filters: Any):
        """A DataFrame of the runs matching every filter (``status``, ``sweep``/``sweep_id``,
        ``dataset``, ``model``, ``method``, ``q``: a substring of the name), newest first:
        id, name, status, dataset, model, method, alpha, sweep, epochs, current_epoch and the
        final test_accuracy, ece and channel_radius."""
        return runs_frame([run_row(r) for r in self.run_records(**filters)])

    def run(self, run_id: str) -> Run:
        """One run (``RunNotFound`` naming the runs that exist when it is missing)."""
        from backend.store.errors import RunNotFound

        try:
            return Run(self, self.transport.run(run_id))
        except RunNotFound as exc:
            raise _missing_run(self, run_id, exc) from None

    # sweeps and papers -------------------------------------------------------------------
    def sweeps(self):
        """A DataFrame of the sweeps: id, name, field, values, runs, best."""
        import pandas as pd

        rows = [{"id": s["id"], "name": s["name"], "field": s["field"], "values": s["values"],
                 "runs": len(s["runs"]), "best": s["best"]} for s in self.transport.sweeps()]
        return pd.DataFrame(rows, columns=["id", "name", "field", "values", "runs", "best"])

    def sweep(self, sweep_id: str) -> Sweep:
        """One sweep: ``.field``, ``.values``, ``.best``, ``.runs()`` (a DataFrame with the
        swept value beside each run)."""
        return Sweep(self, self.transport.sweep(sweep_id))

    def papers(self, paper: str | None = None, status: str | None = None,
               verdict: str | None = None):
        """The catalogue of the papers' figures and tables (filtered by paper, status and
        verdict): id, title, paper, kind, status, the verdict of the cpu scale and any
        error reading it."""
        import pandas as pd

        rows = self.transport.papers(paper, status, verdict)
        return pd.DataFrame(rows, columns=["id", "title", "paper", "kind", "status", "verdict",
                                           "error"])

    def paper(self, entry_id: str, scale: str = "cpu") -> dict[str, Any]:
        """One entry (``"000/fig1"``): the API's report, its ``comparisons`` (published
        beside computed) also as a DataFrame under ``"table"``."""
        import pandas as pd

        body = dict(self.transport.paper(entry_id, scale))
        body["table"] = pd.DataFrame(body.get("comparisons") or [])
        return body

    def theory(self, m: float = 1.0, num_classes: int = 10, lambda_h: float = 1e-6,
               **params: Any) -> dict[str, Any]:
        """The UFM optimum of mixup (``GET /api/theory/ufm``): K_same, the optimal features'
        projection, ... (``n_lambda``, ``alpha``, ``seed``, ``amplify``, ``lambdas``)."""
        return self.transport.theory({"m": m, "num_classes": num_classes,
                                      "lambda_h": lambda_h, **params})


def _missing_run(client: Client, run_id: str, exc: Exception) -> Exception:
    """``RunNotFound`` whose message names some runs that do exist."""
    from backend.store.errors import RunNotFound

    try:
        page, _ = client.transport.runs_page({}, 10, 0)
    except Exception:  # noqa: BLE001 (the listing is a courtesy: the error is the point)
        return exc
    err = RunNotFound(run_id)
    known = ", ".join(f"{r['id']} ({r.get('name') or 'unnamed'})" for r in page)
    err.args = (f"run {run_id!r} not found; runs here (newest first): {known or 'none'}",)
    return err


class Run:
    """One run: ``id``, ``name``, ``status``, ``config``, ``info`` (the API's JSON),
    ``class_names``, ``layers``, ``epochs`` (recorded), and its data as tables/arrays."""

    def __init__(self, client: Client, info: dict[str, Any]):
        self.client, self.info = client, info
        self.id: str = info["id"]
        self.name: str | None = info.get("name")
        self.status: str = info["status"]
        self.config: dict[str, Any] = info.get("config") or {}
        self.class_names: list[str] = list(info.get("class_names") or [])
        self.layers: list[str] = list(info.get("layers") or [])
        self.epochs: list[int] = list(info.get("recorded_epochs") or [])
        self.summary: dict[str, Any] = info.get("summary") or {}

    def __repr__(self) -> str:
        return (f"Run({self.id!r}, name={self.name!r}, status={self.status!r}, "
                f"method={self.config.get('method')!r}, recorded epochs={len(self.epochs)})")

    @property
    def _t(self):
        return self.client.transport

    def refresh(self) -> Run:
        return self.client.run(self.id)

    def metrics(self):
        """Every stored per-epoch metric, one row per epoch (index ``epoch``); list- and
        dict-valued records (reliability bins, per-layer series) stay as objects."""
        import pandas as pd

        recs = self._t.metrics(self.id)
        df = pd.DataFrame.from_records(recs)
        if "epoch" in df:
            df = df.set_index("epoch", drop=False).rename_axis(None)
        return df

    # geometry ------------------------------------------------------------------------
    def class_index(self, c: int | str) -> int:
        """A class given by index or by name (its index; errors name the classes)."""
        names = self.class_names
        if isinstance(c, (int, np.integer)):
            if names and not 0 <= int(c) < len(names):
                raise QueryError("classes", f"class {int(c)} out of range: run {self.id} has "
                                 f"{len(names)} classes: {_listing(names)}")
            return int(c)
        if str(c) in names:
            return names.index(str(c))
        if str(c).lstrip("-").isdigit():
            return self.class_index(int(c))
        raise QueryError("classes", f"unknown class {c!r}; run {self.id} has the classes "
                         f"{_listing(names)}")

    def _classes(self, classes: Sequence[int | str] | str | None) -> str | None:
        if classes is None:
            return None
        if isinstance(classes, str):
            classes = [t.strip() for t in classes.split(",")]
        idx = [self.class_index(c) for c in classes]
        return ",".join(str(i) for i in idx)

    def _layer(self, layer: str | None) -> str | None:
        if layer is not None and self.layers and layer not in self.layers:
            raise QueryError("layer", f"unknown layer {layer!r}; run {self.id} recorded the "
                             f"layers {', '.join(self.layers)}")
        return layer

    def frames_body(self, classes=None, layer: str | None = None,
                    epochs: Iterable[int] | None = None, *, kinds: Iterable[str] = KINDS,
                    lam_range: tuple[float, float] = (0.0, 1.0),
                    max_points: int | None = None, seed: int = 0,
                    centre: bool = True) -> dict[str, Any]:
        """The frames as the API sends them (b64 arrays): what :func:`mixscope.show`
        draws."""
        eps = None if epochs is None else sorted({int(e) for e in epochs})
        if eps is not None:
            missing = [e for e in eps if e not in self.epochs]
            if missing:
                raise QueryError("epochs", f"epochs {missing} not recorded; run {self.id} "
                                 f"recorded {_listing(self.epochs)}")
        return self._t.frames(self.id, classes=self._classes(classes),
                              layer=self._layer(layer), epochs=eps,
                              kinds=",".join(kinds), lam_min=float(lam_range[0]),
                              lam_max=float(lam_range[1]), max_points=max_points,
                              seed=seed, centre=centre)

    def frames(self, classes=None, layer: str | None = None,
               epochs: Iterable[int] | None = None, *, as_frame: bool = False,
               kinds: Iterable[str] = KINDS, lam_range: tuple[float, float] = (0.0, 1.0),
               max_points: int | None = None, seed: int = 0, centre: bool = True):
        """The triple ``classes`` (indices or names; default: the run's default triple)
        projected onto its simplex at every recorded epoch (or ``epochs``), the same points in
        each. Returns a :class:`Frames` of numpy arrays (``points`` (E, n, 2), ``lam``,
        ``class_a``, ``class_b``, ``kind``, ``index_a``, ``index_b``, ``vertices`` (E, 3, 2),
        ``arrows``, ``radius``, ``metrics``), or with ``as_frame=True`` a tidy DataFrame: one
        row per (epoch, point)."""
        body = self.frames_body(classes, layer, epochs, kinds=kinds, lam_range=lam_range,
                                max_points=max_points, seed=seed, centre=centre)
        fr = Frames.from_body(body, self.class_names)
        return fr.to_frame() if as_frame else fr

    def calibration(self, epoch: int | None = None):
        """The reliability diagram at ``epoch`` (default: the latest measured): a DataFrame
        of the bins (lower/upper edge, count, accuracy, confidence) with ``.attrs`` holding
        the epoch, ECE and MCE."""
        import pandas as pd

        body = self._t.calibration(self.id, epoch)
        b = body["bins"]
        edges = b["edges"]
        df = pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": b["counts"],
                           "accuracy": b["accuracy"], "confidence": b["confidence"]})
        df.attrs.update(run_id=self.id, epoch=body["epoch"], ece=body["ece"], mce=body["mce"])
        return df

    def trajectory(self, epoch: int | None = None, classes=None, centre: bool = True
                   ) -> dict[str, Any]:
        """Layer-wise trajectories of the traced pairs at ``epoch`` projected onto the triple:
        ``points`` (pairs, layers, λ steps, 2) and ``lambdas``, ``layers``, ``bases``,
        ``pairs``, ``epoch``, ``classes``."""
        body = dict(self._t.trajectory(self.id, epoch, self._classes(classes), centre))
        body["points"] = decode(body["points"])
        body["lambdas"] = np.asarray(body["lambdas"])
        return body

    def activations(self, epoch: int | None = None, layer: str | None = None
                    ) -> dict[str, np.ndarray]:
        """The stored activation arrays of (``epoch``, ``layer``) (default: the latest, the
        penultimate layer): ``features`` (rows in probe order: clean points, then pairs),
        ``clean_mean``, ... ; ``["epoch"]``/``["layer"]`` say which were read."""
        body = self._t.activations(self.id, epoch, self._layer(layer))
        out: dict[str, Any] = {k: decode(v) for k, v in body["arrays"].items()}
        return {**out, "epoch": body["epoch"], "layer": body["layer"]}

    def checkpoint(self, epoch: int | None = None):
        """A recorded epoch's model snapshot (default: the latest): a torch state dict when
        torch is installed, else a dict of numpy arrays."""
        body = self._t.checkpoint(self.id, epoch)
        arrays = {k: decode(v) for k, v in body["arrays"].items()}
        try:
            import torch
        except ImportError:  # numpy is as much as we can give
            return arrays
        return {k: torch.from_numpy(np.array(a)) for k, a in arrays.items()}


def _listing(items: Sequence[Any], n: int = 20) -> str:
    items = [str(i) for i in items]
    if not items:
        return "none"
    return ", ".join(items if len(items) <= n else items[:n] + [f"… ({len(items)} in all)"])


class Frames:
    """A triple's frames as numpy arrays. Per point (the same points at every epoch):
    ``lam`` (weight on ``class_a``; 1 for clean points), ``class_a``, ``class_b``,
    ``kind`` (0 clean, 1 same class, 2 different class), ``index_a``, ``index_b`` (dataset
    indices); per epoch: ``points`` (E, n, 2), ``vertices`` (E, 3, 2), ``arrows`` (E, 3, 2),
    ``radius`` (E,), ``metrics`` (dict of (E,) arrays: alignment, channel_radius)."""

    KIND_NAMES = ("clean", "same", "different")

    def __init__(self, **fields: Any):
        self.__dict__.update(fields)

    @classmethod
    def from_body(cls, body: dict[str, Any], class_names: Sequence[str] = ()) -> Frames:
        frames = body["frames"]
        epochs = np.asarray(body["epochs"], dtype=int)
        classes = tuple(body["classes"])
        if not frames:
            empty = np.zeros(0)
            return cls(epochs=epochs, classes=classes, layer=body["layer"], run_id=body["run_id"],
                       class_names=[], points=np.zeros((0, 0, 2), np.float32), lam=empty,
                       class_a=empty, class_b=empty, kind=empty, index_a=empty, index_b=empty,
                       vertices=np.zeros((0, 3, 2)), arrows=np.zeros((0, 3, 2)), radius=empty,
                       metrics={}, basis=[])
        f0 = frames[0]
        names = list(class_names)
        return cls(
            run_id=body["run_id"], layer=body["layer"], classes=classes, epochs=epochs,
            class_names=[names[c] if c < len(names) else str(c) for c in classes],
            points=np.stack([decode(f["points"]) for f in frames]),
            lam=decode(f0["lam"]), class_a=decode(f0["class_a"]), class_b=decode(f0["class_b"]),
            kind=decode(f0["kind"]), index_a=decode(f0["index_a"]),
            index_b=decode(f0["index_b"]),
            vertices=np.asarray([f["vertices"] for f in frames], np.float64),
            arrows=np.asarray([f["arrows"] for f in frames], np.float64),
            radius=np.asarray([f["radius"] for f in frames], np.float64),
            metrics={k: np.asarray([f["metrics"].get(k) for f in frames], np.float64)
                     for k in frames[0]["metrics"]},
            basis=[f.get("basis") for f in frames],
            num_selected=f0.get("num_selected"))

    def __len__(self) -> int:
        return len(self.epochs)

    def __repr__(self) -> str:
        return (f"Frames(run={self.run_id!r}, classes={list(self.classes)}, layer={self.layer!r}, "
                f"epochs={len(self.epochs)}, points={self.points.shape[1]})")

    def at(self, epoch: int) -> np.ndarray:
        """The (n, 2) points of one recorded epoch."""
        hits = np.flatnonzero(self.epochs == epoch)
        if not len(hits):
            raise QueryError("epoch", f"epoch {epoch} not in these frames; epochs "
                             f"{_listing(self.epochs.tolist())}")
        return self.points[hits[0]]

    def to_frame(self):
        """Tidy: one row per (epoch, point): epoch, point, x, y, kind (name), class_a,
        class_b, lam, index_a, index_b."""
        import pandas as pd

        E, n = self.points.shape[:2]
        kind = np.asarray(self.KIND_NAMES, dtype=object)[self.kind.astype(int)] if n else []
        return pd.DataFrame({
            "epoch": np.repeat(self.epochs, n), "point": np.tile(np.arange(n), E),
            "x": self.points[..., 0].ravel(), "y": self.points[..., 1].ravel(),
            "kind": np.tile(kind, E), "class_a": np.tile(self.class_a, E),
            "class_b": np.tile(self.class_b, E), "lam": np.tile(self.lam, E),
            "index_a": np.tile(self.index_a, E), "index_b": np.tile(self.index_b, E)})


class Sweep:
    """One sweep: ``id``, ``name``, ``field`` (the swept config field), ``values``,
    ``best`` (run id with the best final test accuracy), ``run_ids``."""

    def __init__(self, client: Client, info: dict[str, Any]):
        self.client, self.info = client, info
        self.id, self.name = info["id"], info.get("name")
        self.field, self.values, self.best = info["field"], list(info["values"]), info["best"]
        self.run_ids = [r["id"] for r in info["runs"]]

    def __repr__(self) -> str:
        return f"Sweep({self.id!r}, field={self.field!r}, runs={len(self.run_ids)})"

    def runs(self):
        """The sweep's runs as :meth:`Client.runs` rows, with the swept ``value`` first."""
        df = runs_frame([run_row(r) for r in self.info["runs"]])
        df.insert(0, "value", [_dotted(r.get("config") or {}, self.field)
                               for r in self.info["runs"]])
        return df

    def run(self, value_or_id: Any) -> Run:
        """A run of the sweep by its id or its swept value."""
        for r in self.info["runs"]:
            if r["id"] == value_or_id or _dotted(r.get("config") or {}, self.field) == value_or_id:
                return Run(self.client, r)
        raise NotFound(f"sweep {self.id} has no run {value_or_id!r}; values "
                       f"{_listing(self.values)}", field="value")


def _dotted(cfg: dict[str, Any], field: str) -> Any:
    node: Any = cfg
    for part in field.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
