"""The end of one epoch of a run, as a part of the training session (``trainer.loop``): its
metrics (keys in docs/contracts.md: the test pass, the probe estimates, and at recorded
epochs the extraction of ``trainer.extract`` whose features serve the metrics without a
second pass), then its writes: the metrics row, the run's ``recorded_epochs``, the rolling
checkpoint when one is due, the heartbeat and the progress report, in that order.

:class:`EpochMetrics` is mixed into the loop's session; it reads the session's model, data
(``X``/``Y``/``T``, ``Xt``/``Yt``), probe, config and recorded epochs. :class:`MetricsThread`
runs an epoch's end on a copy of the network while the next epochs train, so neither the
metrics nor the store's writes (a few ms an epoch, more in a busy process) hold training up.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from backend.resources import metrics_copies
from trainer import checkpoint, guard
from trainer.build import autocast
from trainer.extract import features_of, probe_index, record_epoch_artifacts, train_set_features
from trainer.metrics import (
    classifier_metrics,
    test_metrics,
    train_set_metrics,
    training_grad_split,
    triple_metrics,
)

EVAL_BATCH = 4096
#: a wait for an epoch's end shorter than this is written as the thread wrote it (0)
WAIT_WORTH_WRITING_S = 1e-3
#: the metrics thread writes the epochs it has computed at least this often (seconds)
ROWS_EVERY_S = 1.0


@dataclass
class EpochReport:
    """What the progress callback receives after every epoch (from the metrics thread, in
    epoch order, once the epoch's row, written with those computed before it, and its
    checkpoint are written)."""

    run_id: str
    epoch: int
    total_epochs: int
    metrics: dict[str, Any]
    elapsed_s: float
    eta_s: float | None
    resumed_from: int | None = None
    recorded: bool = False


@dataclass
class EpochEnd:
    """An epoch handed to the metrics thread: its training (``loop_s`` the loop's own time
    on it), the rolling checkpoint taken at its end when one is due, whether its row must be
    written at once (``flush``), and ``future`` -> its metrics as computed."""

    epoch: int
    train_loss: float | None
    train_time: float
    lr: float
    loop_s: float
    checkpoint: dict[str, torch.Tensor] | None
    t_run: float
    resumed_from: int | None
    flush: bool = False   # write it (and the epochs before it) as soon as it is computed
    future: Future | None = None


def metric_rows(probe: dict[str, np.ndarray], rows: np.ndarray, per_pair: int) -> np.ndarray:
    """The probe rows among ``rows`` (sorted) that the per-epoch metrics use: every clean row
    and the first ``per_pair`` pairs of each class pair, in probe order. A dense probe
    (``probe.triple_pairs_per_class_pair``) thus keeps the per-epoch cost of the plain one;
    its extra pairs serve the pictures."""
    n_c = len(probe["clean_index"])
    pair = rows[rows >= n_c] - n_c
    if len(pair) == 0:
        return rows
    key = probe["pair_class_a"][pair].astype(np.int64) * (1 << 20) + probe["pair_class_b"][pair]
    order = np.argsort(key, kind="stable")
    first = np.searchsorted(key[order], key[order], side="left")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - first
    return np.concatenate([rows[rows < n_c], n_c + pair[rank < per_pair]])


class EpochMetrics:
    """The per-epoch metrics of a training session (see the module docstring)."""

    @torch.no_grad()
    def _logits(self, model, X: torch.Tensor, idx: np.ndarray | None = None) -> torch.Tensor:
        if model.training:
            model.eval()
        out = []
        n = len(X) if idx is None else len(idx)
        with autocast(self.device):
            for s in range(0, n, EVAL_BATCH):
                guard.check(cancel=False)
                xb = X[s:s + EVAL_BATCH] if idx is None else \
                    X[torch.as_tensor(idx[s:s + EVAL_BATCH], device=self.device)]
                out.append(model(xb).float())
        return torch.cat(out) if out else torch.zeros(0, self.num_classes, device=self.device)

    def _train_set_features(self, model, probe_pen: np.ndarray) -> np.ndarray:
        """Penultimate features (n, d) of every training example, eval mode. The probe's
        clean rows are training examples: an eval-mode extraction has just computed them
        (same network, same inputs), so only the other examples go through the network."""
        if self.config.record.mode != "eval":
            return train_set_features(model, self.X)
        if getattr(self, "_unprobed", None) is None:
            self._unprobed = np.setdiff1d(np.arange(self.n), self.probe["clean_index"])
        rest = self._unprobed
        out = np.empty((self.n, probe_pen.shape[1]), np.float32)
        out[self.probe["clean_index"]] = probe_pen[:self.n_clean]
        for s in range(0, len(rest), EVAL_BATCH):  # index by chunks: no copy of the whole X
            idx = torch.as_tensor(rest[s:s + EVAL_BATCH], device=self.device)
            out[rest[s:s + EVAL_BATCH]] = train_set_features(model, self.X[idx])
        return out

    def _eval_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss (``config.loss``) of clean examples against one-hot targets."""
        if self.config.loss in ("mse", "bce"):
            from trainer.mixup import LOSSES

            return LOSSES[self.config.loss](logits, F.one_hot(y, self.num_classes).float())
        return F.cross_entropy(logits, y)

    def _epoch_metrics(self, model, epoch: int, train_loss: float | None) -> dict[str, Any]:
        """The epoch's metrics of ``model`` (the network as the epoch left it, or a copy of
        it: :class:`MetricsThread`): test loss/accuracy/calibration over the test set; clean
        train accuracy, classifier/NC metrics and the default triple's alignment and channel
        radius on the probe set (its clean points are a fixed class-balanced training subset,
        so one small pass serves all of them; at recorded epochs the extraction pass itself,
        its artifacts and the model snapshot)."""
        cfg = self.config
        out: dict[str, Any] = {}
        if len(self.Yt):
            logits = self._logits(model, self.Xt)
            out["test_loss"] = float(self._eval_loss(logits, self.Yt))
            # mean negative log-likelihood of the softmax, whatever the loss (003 Table 8)
            out["test_nll"] = float(F.cross_entropy(logits, self.Yt))
            out["test_accuracy"] = float((logits.argmax(1) == self.Yt).float().mean())
            probs = torch.softmax(logits, 1).cpu().numpy()
            out.update(test_metrics(probs, self.Yt.cpu().numpy()))
        else:
            out.update(test_loss=None, test_nll=None, test_accuracy=None, ece=None, mce=None,
                       reliability=None)
        W = model.classifier.weight.detach().float().cpu().numpy()
        if epoch in self.recorded:
            pen, logits = record_epoch_artifacts(self.store, self.run_id, epoch, cfg, model,
                                                 self.X, self.probe, self.layers,
                                                 self.num_classes)
            # float32 snapshots: float16 ones (checkpoint.half_where_it_fits) moved an
            # extracted WRN-16-4 projection by 3e-3 of its extent (bench_scale), over 1e-3
            checkpoint.save_epoch(self.store, self.run_id, epoch, model)
            clean, clean_logits = pen[:self.n_clean], logits[:self.n_clean]
            trip = pen[self.triple_rows] if self.triple else None
            out.update(train_set_metrics(W, self._train_set_features(model, pen),
                                         self.Y.cpu().numpy()))
            if self.grad_split_absent is None:
                out.update(training_grad_split(model, self.X, self.T, cfg, epoch))
        else:
            rows = np.arange(self.n_clean)
            if self.triple:
                rows = np.union1d(rows, self.triple_rows)
            a, b, lam = probe_index(self.probe, rows)
            feats, logits = features_of(model, self.X, a, b, lam, ["penultimate"],
                                        mode=cfg.record.mode)
            pen_rows = feats["penultimate"]
            clean, clean_logits = pen_rows[:self.n_clean], logits[:self.n_clean]
            trip = pen_rows[np.searchsorted(rows, self.triple_rows)] if self.triple else None
        if cfg.record.mode != "eval":  # accuracy is always that of the deployed (eval) network
            clean_logits = self._logits(model, self.X, self.probe["clean_index"]).cpu().numpy()
        yc = self.probe["clean_class"]
        out["train_accuracy"] = float((clean_logits.argmax(1) == yc).mean()) if len(yc) else None
        out["train_loss"] = train_loss if train_loss is not None else float(self._eval_loss(
            torch.as_tensor(clean_logits), torch.as_tensor(yc)))
        out.update(classifier_metrics(W, clean, yc))
        if self.triple:
            out.update(triple_metrics(W, trip, self.triple_info, self.triple,
                                      clean.mean(axis=0)))
        else:
            out.update(alignment=None, channel_radius=None)
        return out



class EpochEnds:
    """The end of an epoch as the metrics thread runs it, and the loop's collection of it
    (mixed into the session with :class:`EpochMetrics`).

    The thread writes the epochs it has computed together (``store.record_epochs``: one
    transaction instead of one an epoch, because the statements' Python holds the
    interpreter's lock that the training thread needs, 2 ms an epoch of a small network's
    33 ms when written one by one): at once for an epoch
    marked ``flush`` (recorded, checkpointed, the last, one the loop stops at), else once
    :data:`ROWS_EVERY_S` has passed since its last write, and what is left when the run
    stops (:meth:`_flush_rows`)."""

    _writes_stopped: bool = False
    _flushed_at: float = float("-inf")
    _unwritten: list[tuple[EpochEnd, dict[str, Any]]]   # computed, not yet written, in order

    def _end_epoch(self, model, end: EpochEnd) -> dict[str, Any] | None:
        """The end of epoch ``end.epoch`` for the network ``model`` as the epoch left it (run
        by the metrics thread, epochs in order): its metrics, then its writes when due. After
        an epoch's end failed none of the later ones runs (None), and the epochs before it
        are written: the rows stay a prefix."""
        if self._writes_stopped:
            return None
        try:
            t0 = time.monotonic()
            metrics = self._epoch_metrics(model, end.epoch, end.train_loss)
            metrics["lr"] = end.lr  # the epoch's last step's learning rate (epoch 0: initial)
            metrics["samples_per_s"] = (self.n / end.train_time) if end.train_time > 0 else None
            spent = time.monotonic() - t0
            metrics.update(metrics_time_s=spent, metrics_wait_s=0.0,
                           epoch_time_s=end.loop_s + spent)
        except BaseException:
            self._writes_stopped = True
            with contextlib.suppress(Exception):
                self._write_rows()
            raise
        self._unwritten.append((end, metrics))
        if end.flush or time.monotonic() - self._flushed_at >= ROWS_EVERY_S:
            self._flush_rows()
        return metrics

    def _flush_rows(self) -> None:
        """Write the epochs computed so far (in the metrics thread; the loop calls it through
        the thread when the run stops). A failed write stops every later one."""
        try:
            self._write_rows()
        except BaseException:
            self._writes_stopped = True
            raise

    def _write_rows(self) -> None:
        batch = list(self._unwritten)
        self._unwritten.clear()
        if not batch:
            return
        self._flushed_at = time.monotonic()
        self.store.record_epochs(self.run_id, [(end.epoch, m) for end, m in batch])
        done = [end.epoch for end, _ in batch if end.epoch in self.recorded]
        if done:
            self.store.update_run_info(
                self.run_id, recorded_epochs=[e for e in self.recorded if e <= done[-1]])
        for end, _ in batch:
            if end.checkpoint is not None:  # after its row: a resume never skips a row
                checkpoint.save_latest(self.store, self.run_id, end.checkpoint)
            self._epoch_times.append(end.loop_s)
        last = batch[-1][0].epoch
        eta = self._eta(last)
        self._beat(last, eta=eta)
        if self.progress is not None:
            for end, metrics in batch:
                self.progress(EpochReport(self.run_id, end.epoch, self.config.epochs, metrics,
                                          time.monotonic() - end.t_run, eta,
                                          end.resumed_from, end.epoch in self.recorded))

    def _note_wait(self, epoch: int, metrics: dict[str, Any]) -> None:
        """``metrics`` (the epoch's, with the loop's wait) replace what the thread computed:
        in its unwritten rows, or written again (run by the metrics thread, in order)."""
        for i, (end, _) in enumerate(self._unwritten):
            if end.epoch == epoch:
                self._unwritten[i] = (end, metrics)
                return
        if not self._writes_stopped:
            self.store.record_epoch(self.run_id, epoch, metrics)

    def _land(self, end: EpochEnd, thread: MetricsThread) -> dict[str, Any]:
        """The loop's side of :meth:`_end_epoch`: wait for it (raising what it raised) and,
        where the loop did wait, have that wait written into the row (``metrics_wait_s``;
        ``epoch_time_s`` is the epoch's training plus its metrics, overlapped or not)."""
        t0 = time.monotonic()
        metrics = end.future.result()
        waited = time.monotonic() - t0
        if waited >= WAIT_WORTH_WRITING_S and metrics is not None:
            metrics = {**metrics, "metrics_wait_s": waited}
            thread.call(self._note_wait, end.epoch, metrics).result()
        return metrics


def _tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    """Every parameter and buffer of ``model`` (a deep copy lists them in the same order)."""
    return [*model.parameters(), *model.buffers()]


class MetricsThread:
    """Computes epochs' metrics (and at recorded epochs the extraction and snapshot) on
    copies of the network in one background thread, while the next epochs train.

    The training loop hands over the network as the epoch left it (:meth:`submit` copies its
    state into a free copy: parameters and buffers, so BatchNorm statistics too) and goes on.
    Up to :attr:`depth` epochs may be in flight, each on its own copy
    (``backend.resources.metrics_copies``: up to four of a small network, one of a big one),
    so a recorded epoch's extraction, which costs a small network 2-3 training epochs of
    CPU, overlaps several training epochs instead of making the loop wait after one. The one
    thread runs the submissions in order, so the rows are written in epoch order (each due
    checkpoint after its row); the loop collects them (:meth:`Future.result`). The values are
    those of the synchronous computation (same state, same inputs; the test compares them),
    the CPU time is the same; what changes is that training does not wait for it: with one
    torch thread each, the two use two cores (``torch_threads`` = 1, the default), and on a
    GPU the host-side metrics overlap the next epochs' kernels.

    ``enabled=False`` (``Settings.metrics_thread``) computes in the caller's thread on the
    network itself, as before (depth 1)."""

    def __init__(self, model: torch.nn.Module, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            self.depth, self.copies, self._pool = 1, [], None
            return
        self.depth = metrics_copies(sum(t.numel() * t.element_size() for t in _tensors(model)))
        self.copies = [copy.deepcopy(model) for _ in range(self.depth)]
        self._next = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mixscope-metrics")

    def submit(self, fn: Callable[[torch.nn.Module], Any], model: torch.nn.Module
               ) -> Future:
        """``fn(network)`` for the network's current state, in the background. The caller
        must have collected every submission but the last ``depth - 1`` (copies are
        reused in turn)."""
        if not self.enabled:
            return self.call(fn, model)
        net = self.copies[self._next % self.depth]
        self._next += 1
        with torch.no_grad():  # tensor by tensor: load_state_dict cost 10x more per epoch
            for mine, theirs in zip(_tensors(net), _tensors(model), strict=True):
                mine.copy_(theirs)
        return self._pool.submit(fn, net)

    def call(self, fn: Callable[..., Any], *args: Any) -> Future:
        """``fn(*args)`` in the thread, after everything submitted before (in the caller's
        thread, done, when the thread is off)."""
        if not self.enabled:
            done: Future = Future()
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                done.set_exception(exc)
            return done
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
