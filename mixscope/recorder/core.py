"""The recorder: a few lines in a user's own PyTorch loop make a mixscope run.

Example::

    from mixscope import Recorder

    rec = Recorder(name="my cutmix", num_classes=10, store="~/mixscope-store",
                   config={"method": "cutmix", "lr": 0.1})
    rec.probe(train_x, train_y, seed=0)          # clean + mixed pairs, λ drawn once
    for epoch in range(epochs + 1):
        ...                                      # the user's training
        rec.log(epoch, model, features=model.features, classifier=model.head,
                test=(test_x, test_y))
    rec.finish()

A recorded run is stored exactly like a trained one (the same ``Store`` calls, artifact kinds
and metric keys as ``trainer.loop``, computed by the same ``trainer.metrics`` helpers), so
Explore, Calibration and the collapse metrics read it unchanged. Its stored config has
``source: "external"`` and the user's free-form ``external_config``; the other RunConfig
fields only describe the probe/record settings (``dataset``/``model`` are not meaningful).
The run is claimed by worker ``recorder`` (status ``running``) until :meth:`Recorder.finish`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from backend.runconfig import RunConfig
from mixscope.recorder import epoch as epoch_record
from mixscope.recorder.manifold import ManifoldMix
from mixscope.recorder.sinks import LocalSink


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


class Recorder:
    """Record a training run that mixscope did not train.

    Args:
        name: the run's name in the runs list.
        class_names: names of the classes (or give ``num_classes``).
        num_classes: number of classes when there are no names.
        store: a store folder or a database URL (local mode); ``None``: the MIXSCOPE_*
            settings / per-user folder.
        api: URL of a running mixscope API (remote mode, instead of ``store``): arrays go
            to its ``/api/ingest`` routes, chunked and retried (``mixscope.recorder.remote``).
        token: the API's token (``MIXSCOPE_API_TOKEN``) in remote mode.
        remote: options of the remote sink (``retry_for`` seconds, ``chunk_bytes``,
            ``max_pending`` epochs in memory, ``timeout``).
        config: free-form JSON-able description of the user's training, stored as given.
        epochs: planned number of epochs (progress in the runs list); optional.
        probe: overrides of the probe settings (``RunConfig.probe``), e.g.
            ``{"clean_per_class": 20, "pairs_per_class_pair": 40}``.
        dtype: ``"float16"`` (default; float32 per layer where rounding would move the
            picture, ``backend.activations``) or ``"float32"`` stored activations.
        default_triple: the class triple whose alignment/channel radius is tracked per epoch.
    """

    def __init__(self, name: str, *, class_names: list[str] | None = None,
                 num_classes: int | None = None, store: Any = None, api: str | None = None,
                 token: str | None = None, config: Mapping[str, Any] | None = None,
                 epochs: int | None = None, probe: Mapping[str, Any] | None = None,
                 dtype: str = "float16", default_triple: tuple[int, int, int] = (0, 1, 2),
                 remote: Mapping[str, Any] | None = None):
        if class_names is None and num_classes is None:
            raise ValueError("class_names: give class_names or num_classes")
        if class_names is not None:
            class_names = [str(c) for c in class_names]
            if num_classes is not None and num_classes != len(class_names):
                raise ValueError(f"num_classes: {num_classes} differs from the "
                                 f"{len(class_names)} class_names")
            num_classes = len(class_names)
        if num_classes is None or int(num_classes) < 2:
            raise ValueError(f"num_classes: need at least 2 classes, got {num_classes}")
        self.num_classes = C = int(num_classes)
        self.class_names = class_names or [str(c) for c in range(C)]
        if api is not None and store is not None:
            raise ValueError("api: give store= (local) or api= (remote), not both")
        try:
            self.config = RunConfig.model_validate({
                "name": name, "source": "external",
                "external_config": dict(config or {}),
                "epochs": int(epochs) if epochs else 10_000,
                "probe": dict(probe or {}),
                "record": {"dtype": dtype, "mode": "eval",
                           "default_triple": list(default_triple) if C >= 3 else [0, 1, 2]},
            })
        except Exception as exc:  # pydantic names the field already
            raise ValueError(f"config: {exc}") from exc
        if api is None:
            self._sink: Any = LocalSink(store)
        else:
            from mixscope.recorder.remote import RemoteSink

            self._sink = RemoteSink(api, token, **dict(remote or {}))
        #: the local store (None in remote mode)
        self.store = self._sink.store
        self.run_id = self._sink.start(self.config, self.class_names)
        self._probe: dict[str, np.ndarray] | None = None
        self._inputs: torch.Tensor | None = None
        self._mixed: torch.Tensor | None = None  # the pairs mixed by the user's function
        self._manifold: ManifoldMix | None = None  # or mixed at a hidden layer, per epoch
        #: the name of the user's mixing function (None: the linear input mix)
        self.mixing: str | None = None
        self._logged: list[int] = []
        self._width: dict[str, int] = {}
        self.finished = False

    # -- probe --------------------------------------------------------------------------------
    def probe(self, train_inputs: Any, train_labels: Any, seed: int = 0,
              mix: Callable[..., Any] | None = None,
              batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Draw the probe set (clean examples + mixed pairs with λ) once and store it.

        train_inputs: (n, ...) tensor/array of training inputs (only the probe rows are ever
        fed to the model); train_labels: (n,) int classes in 0..C-1.

        mix: the user's own mixing function, so that the probe's mixed points are the kind
        the model trains on (CutMix boxes, ...): ``mix(x_a, x_b, lam)`` with batches
        ``x_a, x_b`` of shape (n, ...) and the drawn ``lam`` (n,) float tensor returns the
        mixed batch, or ``(mixed, lam_used)`` when the mix changes λ (CutMix: the box's area
        clipped to the image). It is called once per pair, here, under a torch RNG seeded
        from ``seed``; the points are kept and fed to the model at every epoch, and the
        stored λ are ``lam_used``. The run records the function's name, which the dashboard
        shows. Without it: the linear mix ``λ·x_a + (1−λ)·x_b``. A
        :class:`~mixscope.recorder.manifold.ManifoldMix` mixes at a hidden layer instead, at
        every logged epoch, with the drawn λ."""
        from trainer.probe import build_probe

        if self._probe is not None:
            raise ValueError("probe: already drawn for this run")
        y = np.asarray(train_labels.cpu() if isinstance(train_labels, torch.Tensor)
                       else train_labels).astype(np.int64).reshape(-1)
        X = _as_tensor(train_inputs)
        if len(X) != len(y):
            raise ValueError(f"train_labels: {len(y)} labels for {len(X)} train_inputs")
        if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"train_labels: classes must be in 0..{self.num_classes - 1}")
        self.config = self.config.model_copy(update={"seed": int(seed)})
        probe = build_probe(self.config, y, self.num_classes)
        mixed, name = None, None
        if isinstance(mix, ManifoldMix):  # pairs mixed at a hidden layer, at every epoch
            name = mix.name
        elif mix is not None:
            if not callable(mix):
                raise ValueError("mix: give a function mix(x_a, x_b, lam)")  # noqa: TRY004
            mixed, lam = user_mixed(mix, X, probe, seed, batch_size)
            probe = {**probe, "pair_lambda": lam}
            name = getattr(mix, "__qualname__", None) or type(mix).__name__
        self._sink.put_probe(probe, mixing=name)
        self._probe, self._inputs, self._mixed, self.mixing = probe, X, mixed, name
        self._manifold = mix if isinstance(mix, ManifoldMix) else None
        return probe

    @property
    def num_probe(self) -> int:
        p = self._need_probe()
        return len(p["clean_index"]) + len(p["pair_a"])

    def probe_inputs(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """The (mixed) model inputs of probe rows ``start:stop`` (clean rows, then pairs)."""
        from backend.probe_rows import probe_index
        from trainer.extract import mixed_batch

        p = self._need_probe()
        n_c = len(p["clean_index"])
        if self._manifold is not None and (stop is None or stop > n_c):
            raise ValueError(f"mix: the pairs are mixed at layer {self._manifold.layer} at "
                             f"every epoch, so they have no inputs (rows {n_c}.. of the "
                             f"probe): log them with rec.log")
        if self._mixed is not None:  # the user's mix, made once in probe(): clean rows, pairs
            stop = self.num_probe if stop is None else min(stop, self.num_probe)
            parts = []
            if start < n_c:
                rows = torch.as_tensor(p["clean_index"][start:min(stop, n_c)],
                                       device=self._inputs.device)
                parts.append(self._inputs[rows])
            if stop > n_c:
                parts.append(self._mixed[max(start - n_c, 0):stop - n_c])
            return torch.cat(parts) if len(parts) > 1 else parts[0]
        a, b, lam = probe_index(p)
        sl = slice(start, stop)
        return mixed_batch(self._inputs, a[sl], b[sl], lam[sl])

    def _manifold_rows(self, start: int, stop: int, features: Callable, dev) -> np.ndarray:
        """Features of probe rows ``start:stop`` under a manifold mix: clean rows through
        ``features``, pairs mixed at the layer (``ManifoldMix.features``)."""
        p, n_c = self._probe, len(self._probe["clean_index"])
        out = []
        if start < n_c:
            out.append(_rows(features(self.probe_inputs(start, min(stop, n_c)).to(dev)),
                             "features"))
        if stop > n_c:
            sl = slice(max(start - n_c, 0), stop - n_c)
            xa = self._inputs[torch.as_tensor(p["pair_a"][sl], device=self._inputs.device)]
            xb = self._inputs[torch.as_tensor(p["pair_b"][sl], device=self._inputs.device)]
            out.append(_rows(self._manifold.features(xa.to(dev), xb.to(dev),
                                                     p["pair_lambda"][sl]), "mix"))
        return np.concatenate(out) if len(out) > 1 else out[0]

    def trajectory_inputs(self) -> torch.Tensor:
        """The inputs of the layer-wise trajectories: each trajectory pair of the probe mixed
        over the λ grid, pair-major ((P * T, ...): reshape outputs to (P, T, d))."""
        from trainer.extract import mixed_batch

        p = self._need_probe()
        lam = epoch_record.trajectory_lambdas(self.config)
        P, T = len(p["trajectory_a"]), len(lam)
        return mixed_batch(self._inputs, np.repeat(p["trajectory_a"], T),
                           np.repeat(p["trajectory_b"], T), np.tile(lam, P))

    def _need_probe(self) -> dict[str, np.ndarray]:
        if self._probe is None:
            raise ValueError("probe: call rec.probe(train_inputs, train_labels) before logging")
        return self._probe

    # -- logging ------------------------------------------------------------------------------
    def log(self, epoch: int, model: torch.nn.Module, *,
            features: Callable[[torch.Tensor], torch.Tensor],
            classifier: torch.nn.Linear | tuple[Any, Any],
            test: tuple[Any, Any] | None = None,
            layers: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
            mode: str = "eval", batch_size: int = 1024,
            train_loss: float | None = None) -> dict[str, Any]:
        """Run the probe through ``model`` (batches on its device, ``torch.no_grad()``, BatchNorm
        in ``mode`` with train-mode statistics restored) and record the epoch.

        features: input batch -> (n, d) penultimate features; classifier: the linear head
        (``nn.Linear`` or ``(weight (C, d), bias (C,) or None)``); test: optional
        ``(inputs, labels)`` for test accuracy and calibration; layers: optional
        ``{name: input batch -> (n, ...) activations}``. Returns the epoch's metrics."""
        from trainer.extract import network_mode

        if mode not in ("eval", "train"):
            raise ValueError(f"mode: {mode!r} is not 'eval' or 'train'")
        self._check_epoch(epoch)
        W, b = _classifier_arrays(classifier)
        try:
            dev = next(model.parameters()).device
        except StopIteration:
            dev = torch.device("cpu")
        n = self.num_probe
        feats: list[np.ndarray] = []
        extra: dict[str, list[np.ndarray]] = {k: [] for k in (layers or {})}
        test_probs = test_labels = None
        if self._manifold is not None and layers:
            raise ValueError(f"layers: the probe's pairs are mixed at layer "
                             f"{self._manifold.layer}, so other layers have no activations "
                             f"for them; log features only")
        with torch.no_grad(), network_mode(model, mode):
            for s in range(0, n, batch_size):
                if self._manifold is not None:
                    feats.append(self._manifold_rows(s, min(s + batch_size, n), features, dev))
                    continue
                xb = self.probe_inputs(s, s + batch_size).to(dev)
                feats.append(_rows(features(xb), "features"))
                for k, fn in (layers or {}).items():
                    extra[k].append(_rows(fn(xb), f"layers[{k!r}]"))
            if test is not None:
                Xt, yt = _as_tensor(test[0]), np.asarray(
                    test[1].cpu() if isinstance(test[1], torch.Tensor) else test[1])
                if len(Xt) != len(yt):
                    raise ValueError(f"test: {len(yt)} labels for {len(Xt)} inputs")
                probs = []
                with network_mode(model, "eval"):
                    Wt = torch.as_tensor(W, device=dev)
                    bt = torch.as_tensor(b if b is not None else np.zeros(len(W), np.float32),
                                         device=dev)
                    for s in range(0, len(Xt), batch_size):
                        h = features(Xt[s:s + batch_size].to(dev)).float()
                        h = h.reshape(len(h), -1)
                        if h.shape[1] == Wt.shape[1]:
                            probs.append(torch.softmax(h @ Wt.T + bt, 1).cpu().numpy())
                test_probs = np.concatenate(probs) if probs else np.zeros((0, self.num_classes))
                test_labels = yt
            trajectory = None
            if layers and len(self._need_probe()["trajectory_a"]):
                # layer-wise trajectories (the Trajectory page) when layers are logged
                xt = self.trajectory_inputs()
                P = len(self._probe["trajectory_a"])
                fns = {**dict(layers), "penultimate": features}
                trajectory = {}
                for k, fn in fns.items():
                    arg = "features" if k == "penultimate" else f"layers[{k!r}]"
                    rows = np.concatenate([_rows(fn(xt[s:s + batch_size].to(dev)), arg)
                                           for s in range(0, len(xt), batch_size)])
                    trajectory[k] = rows.reshape(P, len(xt) // P, -1)
        H = np.concatenate(feats) if feats else np.zeros((0, W.shape[1]), np.float32)
        return self.log_arrays(epoch, features=H, classifier_weight=W, classifier_bias=b,
                               test_probs=test_probs, test_labels=test_labels,
                               layers={k: np.concatenate(v) for k, v in extra.items()},
                               train_loss=train_loss, trajectory=trajectory)

    def log_arrays(self, epoch: int, *, features: Any, classifier_weight: Any,
                   classifier_bias: Any = None, test_probs: Any = None, test_labels: Any = None,
                   layers: Mapping[str, Any] | None = None,
                   train_loss: float | None = None,
                   trajectory: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Record an epoch from arrays already computed on the probe inputs
        (:meth:`probe_inputs`, rows in probe order).

        features: (n_probe, d) penultimate features; classifier_weight (C, d) and
        classifier_bias (C,) or None; test_probs (n, C) softmax outputs and test_labels (n,);
        layers: ``{name: (n_probe, k)}`` extra layers; trajectory: optional ``{layer: (P, T,
        k)}`` outputs on :meth:`trajectory_inputs` (layers among ``"penultimate"`` and
        ``layers``), shown by the Trajectory page. Returns the epoch's metrics."""
        probe = self._need_probe()
        self._check_epoch(epoch)
        arrays = epoch_record.validate(
            probe, self.num_classes, self._width, features=features,
            classifier_weight=classifier_weight, classifier_bias=classifier_bias,
            test_probs=test_probs, test_labels=test_labels, layers=layers,
            trajectory=trajectory)
        parts = epoch_record.epoch_parts(epoch, self.config, probe, self.num_classes, arrays,
                                         train_loss)
        self._sink.put_epoch(parts)
        self._width.setdefault("penultimate", arrays["features"].shape[1])
        for k, v in arrays["layers"].items():
            self._width.setdefault(k, v.shape[1])
        self._logged.append(int(epoch))
        return parts.metrics

    def flush(self) -> None:
        """Remote mode: wait until every logged epoch is recorded by the API (``finish``
        does this too). Local mode: nothing to wait for."""
        self._sink.flush()

    def _check_epoch(self, epoch: Any) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch: {epoch!r} is not a non-negative integer")
        if int(epoch) in self._logged:
            raise ValueError(f"epoch: {int(epoch)} was already logged for this run")
        if self.finished:
            raise ValueError("epoch: the run is finished")

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        """Mark the run finished (``succeeded``, ``failed`` or ``cancelled``)."""
        if self.finished:
            return
        self.finished = True
        try:
            self._sink.finish(status, error)
        finally:
            self._sink.close()

    def __enter__(self) -> Recorder:  # noqa: PYI034 (no Self on 3.10)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.finish()
        else:
            self.finish("failed", f"{exc_type.__name__}: {exc}")


def user_mixed(mix: Callable[..., Any], X: torch.Tensor, probe: dict[str, np.ndarray],
               seed: int, batch_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """The probe's pairs mixed by the user's function (batches, a seeded torch RNG) and the
    λ it used; ValueError naming ``mix`` when it answers something else."""
    a, b = probe["pair_a"], probe["pair_b"]
    lam_drawn = np.asarray(probe["pair_lambda"], np.float32)
    out, lams = [], []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(int(seed))
        for s in range(0, len(a), batch_size):
            xa = X[torch.as_tensor(a[s:s + batch_size], device=X.device)]
            xb = X[torch.as_tensor(b[s:s + batch_size], device=X.device)]
            lam = torch.as_tensor(lam_drawn[s:s + batch_size], device=X.device)
            got = mix(xa, xb, lam)
            mixed, used = got if isinstance(got, tuple) else (got, lam)
            mixed = _as_tensor(mixed)
            if tuple(mixed.shape) != tuple(xa.shape):
                raise ValueError(f"mix: returned shape {tuple(mixed.shape)} for inputs of "
                                 f"shape {tuple(xa.shape)}")
            used = np.asarray(_as_tensor(used).detach().cpu(), np.float32).reshape(-1)
            if used.shape != (len(xa),) or not np.all((used >= 0) & (used <= 1)):
                raise ValueError(f"mix: λ must be {len(xa)} values in [0, 1] (one per pair)")
            out.append(mixed.detach())
            lams.append(used)
    if not out:
        return X[:0], lam_drawn
    return torch.cat(out), np.concatenate(lams).astype(np.float32)


def _rows(t: Any, name: str) -> np.ndarray:
    if not isinstance(t, torch.Tensor):
        raise ValueError(  # noqa: TRY004 (bad input is a ValueError naming the argument)
            f"{name}: the callable returned {type(t).__name__}, not a tensor")
    return t.detach().float().reshape(len(t), -1).cpu().numpy()


def _classifier_arrays(classifier: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(classifier, torch.nn.Linear):
        w = classifier.weight.detach().float().cpu().numpy()
        b = classifier.bias
        return w, (b.detach().float().cpu().numpy() if b is not None else None)
    if isinstance(classifier, (tuple, list)) and len(classifier) == 2:
        w, b = classifier
        conv = (lambda x: x.detach().float().cpu().numpy()
                if isinstance(x, torch.Tensor) else np.asarray(x, np.float32))
        return conv(w), (None if b is None else conv(b))
    raise ValueError("classifier: give an nn.Linear or a (weight, bias) pair")

