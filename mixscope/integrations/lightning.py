"""A PyTorch Lightning callback that records a ``LightningModule``'s training into mixscope.

    from mixscope.integrations.lightning import MixscopeCallback

    cb = MixscopeCallback(name="resnet cutmix", class_names=names, store="~/mixscope-store",
                          probe_data=(train_x, train_y), test_data=(test_x, test_y))
    pl.Trainer(max_epochs=30, callbacks=[cb]).fit(module, loader)

Records epoch 0 at fit start (before training) and then, after a training epoch ``e``
(1-based), whenever ``e`` is in the ``record.epochs`` schedule of ``trainer.schedule`` for
``max_epochs`` (``every="auto"`` or an explicit list). The features and classifier are found
by :func:`mixscope.integrations.heads.find_head` unless given. Needs the ``lightning`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl

from mixscope.integrations.heads import find_head
from mixscope.recorder import Recorder


class MixscopeCallback(pl.Callback):
    """Record a Lightning fit with a :class:`~mixscope.Recorder`.

    Args:
        recorder: an existing recorder (its probe drawn or ``probe_data`` given), or None to
            create one from ``recorder_kwargs`` (``name=``, ``class_names=``, ``store=``...).
        every: ``"auto"`` or a list of epochs (the ``record.epochs`` schedule).
        features: input batch -> (n, d) features; default: found on the module.
        classifier: the linear head (``nn.Linear`` or ``(W, b)``); default: found.
        probe_data: ``(train_inputs, train_labels)`` to draw the probe from.
        test_data: optional ``(test_inputs, test_labels)`` for accuracy and calibration.
        model: the network inside the LightningModule (default: the module itself).
    """

    def __init__(self, recorder: Recorder | None = None, *, every: str | Sequence[int] = "auto",
                 features: Callable | None = None, classifier: Any = None,
                 probe_data: tuple[Any, Any] | None = None,
                 test_data: tuple[Any, Any] | None = None,
                 model: Any = None, seed: int = 0, mode: str = "eval", **recorder_kwargs: Any):
        super().__init__()
        if recorder is None and not recorder_kwargs:
            raise ValueError("recorder: give a Recorder or its keyword arguments (name=, ...)")
        if every != "auto" and (isinstance(every, str) or
                                any(int(e) < 0 for e in every)):
            raise ValueError(f"every: 'auto' or a list of epochs >= 0, not {every!r}")
        self.recorder = recorder
        self.recorder_kwargs = recorder_kwargs
        self.every, self.features, self.classifier = every, features, classifier
        self.probe_data, self.test_data, self.model = probe_data, test_data, model
        self.seed, self.mode = seed, mode
        self.schedule: list[int] = []

    def _log(self, epoch: int, module: pl.LightningModule) -> None:
        net = self.model if self.model is not None else module
        features, classifier = self.features, self.classifier
        if features is None or classifier is None:
            found_f, found_c = find_head(net)
            features = features or found_f
            classifier = classifier if classifier is not None else found_c
        self.recorder.log(epoch, net, features=features, classifier=classifier,
                          test=self.test_data, mode=self.mode)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from backend.runconfig import RunConfig
        from trainer.schedule import recorded_epochs

        total = max(int(trainer.max_epochs or 1), 1)
        if self.recorder is None:
            self.recorder = Recorder(**{"epochs": total, **self.recorder_kwargs})
        if self.recorder._probe is None:
            if self.probe_data is None:
                raise ValueError("probe_data: give (train_inputs, train_labels) or a recorder "
                                 "whose probe is drawn")
            self.recorder.probe(*self.probe_data, seed=self.seed)
        spec = "auto" if self.every == "auto" else [min(int(e), total) for e in self.every]
        self.schedule = recorded_epochs(RunConfig(epochs=total, record={"epochs": spec}))
        if 0 in self.schedule and 0 not in self.recorder._logged:
            self._log(0, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1  # epochs done; 0 = before training
        if epoch in self.schedule and epoch not in self.recorder._logged:
            self._log(epoch, pl_module)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.recorder.finish()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.recorder is not None and not self.recorder.finished:
            self.recorder.finish("failed", f"{type(exception).__name__}: {exception}")
