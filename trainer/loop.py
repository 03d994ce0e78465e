"""The training loop: one run from its stored config to a finished store record.

``execute_run(store, run_id)`` (the caller has claimed the run) loads the data and model,
draws or loads the probe set, resumes from the rolling ``latest`` checkpoint when there is
one, trains epoch by epoch and records per epoch:

* metrics (``store.record_epochs``; keys in docs/contracts.md), computed once per epoch
  with no per-step host syncs: ``train_loss`` is the mean (mixed) training loss of the
  epoch's steps (epoch 0: the clean loss before training); ``train_accuracy`` the clean
  accuracy on the probe's clean examples (a fixed class-balanced training subset, eval
  mode); test loss/accuracy/ECE over the whole test set; NC metrics (Zhu's ``nc*`` and
  Papyan's ``papyan_*``) on the clean probe features, a cheap per-epoch estimate, and at
  recorded epochs on the whole training set (``train_set_*``); ``alignment`` and
  ``channel_radius`` of ``record.default_triple`` on its probe rows; the gradient split
  (``grad_*``) at recorded epochs only where it is the training gradient (else the run
  info's ``summary.grad_split_absent`` says why);
  ``epoch_time_s`` the epoch's cost (training + ``metrics_time_s``, the metrics and
  recording), ``metrics_wait_s`` how long training waited for them, and ``samples_per_s``
  the training steps' throughput;
* at recorded epochs (``trainer.schedule.recorded_epochs``) the probe activations,
  classifier, trajectory and spectra (``trainer.extract``) and a model snapshot;
* a rolling ``latest`` checkpoint every ``record.checkpoint_every`` epochs and at the end.

Overlap (``Settings.metrics_thread``, on by default): an epoch's end (its metrics and
recording, then its row, checkpoint, heartbeat and progress report) runs on a copy of the
network in a second thread (``trainer.epoch_metrics.MetricsThread``) while the next epochs
train, up to its ``depth`` in flight, in epoch order; the loop collects them and waits only
when every copy is in flight, or to stop. The thread writes the rows of the epochs it has
computed together (``trainer.epoch_metrics.EpochEnds``): at once at a recorded, checkpointed,
last or paused epoch, else at least every ``ROWS_EVERY_S``. A due checkpoint is packed (a
copy) at the epoch's end and written right after that epoch's row, so it never gets ahead of
the rows. The values are those computed without the thread.

Repeatability: the model is initialised under ``torch.manual_seed(seed)``, and every other
random draw comes from its own ``torch.Generator`` (``shuffle``: the epoch permutation,
``mix``: λ, partners and the manifold mixing point), all on the CPU and all saved in the
checkpoint — so a run killed and resumed ends bit-identical on the CPU to one never stopped.

Cancel is cooperative: a watch thread (``trainer.guard.RunGuard``) polls
``store.cancel_requested`` and this process's memory (a cancel or deletion made in this
process reaches it at once); the loop reads the guard's flag at every step and the metrics
and extraction at every batch, so a cancel, a DELETE or a run past the worker's memory budget
stops the run within one step of the poll that saw it (``MemoryBudgetExceeded`` names the
budget). Heartbeats go out at most every ``HEARTBEAT_S`` seconds, from inside epochs too.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from backend import maths
from backend.runconfig import RunConfig
from backend.store.claimed import ClaimedStore
from backend.store.errors import Fenced, RunNotFound
from backend.store.info import Claim
from trainer import checkpoint, guard, outcome, preemption
from trainer.build import ConfigError, autocast, build_for_config, resolve_device
from trainer.config_check import check_config, validate_config  # noqa: F401 (CLI imports)
from trainer.epoch_metrics import (  # noqa: F401 (EVAL_BATCH, metric_rows: tests import them)
    EVAL_BATCH,
    EpochEnd,
    EpochEnds,
    EpochMetrics,
    EpochReport,
    MetricsThread,
    metric_rows,
)
from trainer.extract import triple_rows
from trainer.metrics import grad_split_absent_reason, run_notes, run_summary
from trainer.models.base import mix_states
from trainer.outcome import Cancelled, environment_fault, finish_failed, run_gone
from trainer.probe import load_or_create, probe_rows_info
from trainer.schedule import lr_at, recorded_epochs
from trainer.test_hooks import PAUSE_EPOCH_ENV, PAUSE_FILE_ENV, StepMark  # noqa: F401
from trainer.test_hooks import pause as _test_pause

log = logging.getLogger("mixscope.trainer")

HEARTBEAT_S = 2.0


def execute_run(store, run_id: str, *, worker: str = "cli",
                progress: Callable[[EpochReport], None] | None = None,
                attempt: int | None = None) -> str:
    """Train ``run_id`` to the end, resuming from its latest good checkpoint if it has one.

    Finishes the run row (succeeded / failed with the error / cancelled) and returns that
    status. The caller has claimed the run (status ``running``); with the claim's
    ``attempt`` every write carries ``Claim(worker, attempt)``, and when the claim is lost
    (the run was requeued and claimed again, or deleted) training stops quietly and
    ``"fenced"`` is returned, leaving the run to its new owner. A database outage under a
    claim releases the run (``"released"``); its memory is given back before this returns."""
    try:
        return _execute(store, run_id, worker, progress, attempt)
    finally:
        guard.release_memory()


def _execute(store, run_id: str, worker: str, progress, attempt: int | None) -> str:
    if attempt is not None:
        store = ClaimedStore(store, run_id, Claim(worker, attempt))
    info = store.get_run(run_id)
    if info is None:
        raise RunNotFound(run_id)
    threads = store.settings.torch_threads
    try:
        config = RunConfig.model_validate(info.config)
        # numpy/scipy metrics between epochs: BLAS threads beyond the torch budget only
        # fight the training threads (and other workers) for the same cores
        with threadpool_limits(limits=threads), \
                guard.RunGuard(store, run_id, guard.worker_budget(store.settings)):
            status = _Session(store, run_id, config, worker, progress).run()
    except Fenced:
        log.warning("run %s: this worker lost its claim (the run was requeued, cancelled or "
                    "deleted); stopping without writing", run_id)
        return "fenced"
    except Cancelled:
        status = "cancelled"
        with contextlib.suppress(RunNotFound, Fenced):  # deleted or requeued meanwhile
            store.finish_run(run_id, status)
        return status
    except Exception as exc:  # any failure must end in a 'failed' row
        if isinstance(exc, RunNotFound) and run_gone(store, run_id):
            log.info("run %s was deleted while training", run_id)
            return "cancelled"
        if attempt is not None and outcome.database_outage(exc):  # not the run's failure
            return outcome.release_after_outage(store.store, run_id, Claim(worker, attempt), exc)
        log.exception("run %s failed", run_id)
        fault = "environment" if environment_fault(exc) else None
        msg = f"{exc}" if isinstance(exc, (ConfigError, guard.MemoryBudgetExceeded)) else \
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        if fault:
            msg = f"environment fault (resumable from the last good checkpoint): {msg}"
        return "fenced" if not finish_failed(store, run_id, msg, fault) else "failed"
    try:
        store.finish_run(run_id, status)
    except Fenced:
        return "fenced"
    return status


def _generator(seed: int, purpose: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + purpose) % (2**63 - 1))
    return g


@dataclass
class _Session(EpochMetrics, EpochEnds):
    store: Any
    run_id: str
    config: RunConfig
    worker: str
    progress: Callable[[EpochReport], None] | None
    _last_beat: float = 0.0
    _step_mark: StepMark | None = None
    _epoch_times: list[float] = field(default_factory=list)
    _unwritten: list = field(default_factory=list)

    # -- set-up ---------------------------------------------------------------------------
    def _setup(self) -> None:
        from trainer.data import load_dataset
        from trainer.mixup import LOSSES, Mixer

        cfg = self.config
        self._step_mark = StepMark.from_env()
        self.device = resolve_device(cfg.device)
        settings = self.store.settings
        if self.device.type == "cpu":
            torch.set_num_threads(settings.torch_threads)
        try:
            bundle = load_dataset(cfg, settings.resolved_data_dir, settings.allow_download)
        except (ValueError, FileNotFoundError) as exc:  # names the field / the missing files
            raise ConfigError(str(exc)) from exc
        self.bundle = bundle
        self.num_classes = C = len(bundle.class_names)
        self.model = build_for_config(cfg, bundle, C)
        self.layers = check_config(cfg, self.model, C)
        self.model.to(self.device)
        dev = self.device
        self.X = bundle.prepare(bundle.train_x, dev)
        self.Y = torch.as_tensor(np.asarray(bundle.train_y), dtype=torch.long, device=dev)
        self.T = F.one_hot(self.Y, C).float()
        if cfg.label_smoothing:
            self.T = self.T * (1.0 - cfg.label_smoothing) + cfg.label_smoothing / C
        self.Xt = bundle.prepare(bundle.test_x, dev)
        self.Yt = torch.as_tensor(np.asarray(bundle.test_y), dtype=torch.long, device=dev)
        self.channels_last = dev.type == "cuda" and self.X.dim() == 4
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.X = self.X.contiguous(memory_format=torch.channels_last)
            self.Xt = self.Xt.contiguous(memory_format=torch.channels_last)
        self.n = len(self.Y)
        self.probe = load_or_create(self.store, self.run_id, cfg, np.asarray(bundle.train_y), C)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self._optimizer()
        self.gens = {"shuffle": _generator(cfg.seed, 1), "mix": _generator(cfg.seed, 2)}
        self.mixer = Mixer.from_config(cfg, self.model, generator=self.gens["mix"], device=dev)
        self.loss_fn = LOSSES[cfg.loss]
        self.recorded = recorded_epochs(cfg)
        trip = cfg.record.default_triple
        self.triple = tuple(trip) if C >= 3 else None
        self.n_clean = len(self.probe["clean_index"])
        self.triple_rows = None
        if self.triple:
            rows = metric_rows(self.probe, triple_rows(self.probe, self.triple),
                               cfg.probe.pairs_per_class_pair)
            # only the rows a metric reads (e.g. not the pairs far from λ = ½ that the
            # channel radius skips): the same values for fewer rows through the network
            info = probe_rows_info(self.probe, rows)
            kind = np.where(info["is_clean"], maths.KIND_CLEAN,
                            np.where(info["class_a"] == info["class_b"], maths.KIND_SAME,
                                     maths.KIND_DIFFERENT))
            self.triple_rows = rows[maths.rows_the_metrics_read(kind, info["lam"])]
        self.triple_info = probe_rows_info(self.probe, self.triple_rows) if self.triple else None
        self.grad_split_absent = grad_split_absent_reason(cfg, self.model.mixing_points)

    def _optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(self.params, lr=cfg.lr, momentum=cfg.momentum,
                                   nesterov=cfg.nesterov and cfg.momentum > 0,
                                   weight_decay=cfg.weight_decay)
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        return cls(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> str:
        cfg = self.config
        self._setup()
        start = 0
        resumed_from = None
        meta = checkpoint.restore_latest(self.store, self.run_id, self.model, self.optimizer,
                                         self.gens)
        if meta is not None:
            start = int(meta["epoch"]) + 1
            resumed_from = int(meta["epoch"])
            log.info("run %s resumes after epoch %d", self.run_id, resumed_from)
        # recorded_epochs lists only epochs whose artifacts exist (the API validates and
        # defaults projection epochs with it), so it grows as the run records them
        self.store.update_run_info(self.run_id, class_names=list(self.bundle.class_names),
                                   layers=self.layers,
                                   recorded_epochs=[e for e in self.recorded if e < start],
                                   num_probe=self.n_clean + len(self.probe["pair_a"]),
                                   summary=run_notes(cfg, self.grad_split_absent))
        t_run = time.monotonic()
        self._beat(max(start - 1, 0), force=True)
        metrics_thread = MetricsThread(self.model, self.store.settings.metrics_thread)
        pending: deque[EpochEnd] = deque()   # epochs whose metrics are in flight, in order
        metrics: dict[str, Any] = {}

        def land(n: int | None = None) -> dict[str, Any]:
            """Collect the first ``n`` pending epochs (all), raising what failed there."""
            last = metrics
            for _ in range(len(pending) if n is None else n):
                try:
                    last = self._land(pending.popleft(), metrics_thread)
                except BaseException:
                    pending.clear()
                    raise
            return last

        try:
            for epoch in range(start, cfg.epochs + 1):
                t0 = time.monotonic()
                if epoch == 0:
                    train_loss, train_time = None, 0.0
                else:
                    train_loss, train_time = self._train_epoch(epoch)
                # collect the epochs the metrics thread has written, in order; wait only while
                # every copy of the network is in flight (a recorded epoch costs a small
                # network several training epochs: it overlaps them instead of stopping us)
                while pending and (len(pending) >= metrics_thread.depth
                                   or pending[0].future.done()):
                    metrics = land(1)
                lr = self._last_lr if epoch else lr_at(cfg, 0.0)
                # warned (Slurm): this epoch is checkpointed and the run stops after it
                warned = preemption.requested() and epoch < cfg.epochs
                paused = bool(os.environ.get(PAUSE_EPOCH_ENV))
                # the checkpoint is taken now (a copy) and written by the metrics thread right
                # after the epoch's row: it never gets ahead of the rows
                due = (epoch % cfg.record.checkpoint_every == 0 or epoch == cfg.epochs
                       or warned)
                tensors = checkpoint.pack(self.model, self.optimizer, self.gens,
                                          {"epoch": epoch}) if due else None
                end = EpochEnd(epoch, train_loss, train_time, lr,
                               time.monotonic() - t0, tensors, t_run, resumed_from,
                               flush=due or paused or epoch in self.recorded)
                end.future = metrics_thread.submit(lambda net, end=end: self._end_epoch(net, end),
                                                   self.model)
                pending.append(end)
                if warned:
                    land()
                    raise preemption.Preempted(epoch)
                if epoch == cfg.epochs or paused:
                    metrics = land()
                    if paused:
                        self._beat(epoch, force=True, eta=self._eta(epoch))
                        _test_pause(epoch)
        finally:  # training stopped (cancel, failure): keep the epochs done before it
            with contextlib.suppress(Exception):   # (as written without the thread)
                land()
            with contextlib.suppress(Exception):
                metrics_thread.call(self._flush_rows).result()
            metrics_thread.close()
        if start <= cfg.epochs:
            self.store.update_run_info(self.run_id, summary=run_summary(cfg.epochs, metrics))
        return "succeeded"

    def _eta(self, epoch: int) -> float | None:
        recent = self._epoch_times[-20:]
        if not recent:
            return None
        return float(np.mean(recent)) * (self.config.epochs - epoch)

    def _beat(self, epoch: int, *, force: bool = False, eta: float | None = None) -> None:
        now = time.monotonic()
        if force or now - self._last_beat >= HEARTBEAT_S:
            self.store.heartbeat(self.run_id, epoch, min(epoch / self.config.epochs, 1.0),
                                 eta if eta is not None else self._eta(epoch))
            self._last_beat = now

    def _check_cancel(self, epoch: int, step: int, steps: int) -> None:
        """Stop here if the run must stop: the guard's flag, read at every step (its watch
        thread polls the store and the memory; a cancel made in this process sets it at
        once), so the loop itself queries nothing."""
        try:
            guard.check()
        except (Cancelled, guard.MemoryBudgetExceeded) as exc:
            log.info("run %s stopped (%s) at epoch %d, step %d of %d", self.run_id,
                     type(exc).__name__, epoch + 1, step, steps)
            raise
        self._beat(epoch)
        if self._step_mark is not None and self._step_mark.reached(epoch + 1, step):
            self._step_mark = None

    # -- training -----------------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over the training set; returns (mean training loss, seconds)."""
        cfg, model, opt = self.config, self.model, self.optimizer
        n = self.n
        bs = cfg.batch_size if 0 < cfg.batch_size < n else n
        steps = math.ceil(n / bs)
        if steps > 1 and n - (steps - 1) * bs < 2:
            steps -= 1  # a batch of one breaks BatchNorm; its example comes back next epoch
        perm = torch.randperm(n, generator=self.gens["shuffle"]).to(self.device)
        model.train()
        losses: list[torch.Tensor] = []
        sizes: list[int] = []
        t0 = time.monotonic()
        for s in range(steps):
            self._check_cancel(epoch - 1, s, steps)
            lr = lr_at(cfg, epoch - 1 + s / steps)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = perm[s * bs:(s + 1) * bs]
            xb = self.X[idx]
            if self.channels_last:  # indexing returns a contiguous (NCHW) batch
                xb = xb.contiguous(memory_format=torch.channels_last)
            tb = self.T[idx]  # (smoothed) one-hot targets, precomputed for the whole set
            plan = self.mixer.plan(len(idx))
            with autocast(self.device):
                if plan.active and cfg.method == "factor-mixup":
                    # render the rows from their mixed generative factors (003 App. A)
                    logits = model(self.bundle.factors.render_mixed(idx, plan.partner,
                                                                    plan.lam, self.device))
                    tb = mix_states(tb, plan.partner, plan.lam)
                elif plan.active:
                    logits = model.forward_mixed(xb, plan.partner, plan.lam, plan.mix_at,
                                                 block_gradient=cfg.block_gradient)
                    tb = mix_states(tb, plan.partner, plan.lam)
                else:
                    logits = model(xb)
                loss = self.loss_fn(logits, tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            sizes.append(len(idx))
        self._last_lr = lr
        # one host sync per epoch: the size-weighted mean of the step losses
        w = torch.tensor(sizes, dtype=torch.float32, device=self.device)
        mean_loss = float(torch.stack(losses).float() @ w / w.sum())
        train_time = time.monotonic() - t0
        return mean_loss, train_time

