"""A store for the notebook client's tests (issue 21), built with real, tiny training: an ERM
run, and a sweep of input mixup over α (two runs), digits, a small MLP, three epochs, every
epoch recorded (activations, classifier, checkpoints, trajectories, reliability)."""

from __future__ import annotations

from pathlib import Path

#: the env variable the example notebook reads its store from
STORE_ENV = "MIXSCOPE_NOTEBOOK_STORE"

TINY = {"dataset": "digits", "dataset_args": {"subset": 200}, "model": "mlp",
        "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "batch_size": 32,
        "epochs": 3, "record": {"epochs": [0, 1, 2, 3]},
        "probe": {"clean_per_class": 6, "pairs_per_class_pair": 6}}


def build_notebook_store(folder: Path) -> dict:
    """Train the three runs into ``folder``; returns ``{"erm", "mixup", "sweep",
    "sweep_runs"}`` (ids)."""
    import torch

    from backend.runconfig import RunConfig
    from backend.store import Store
    from trainer.loop import execute_run

    torch.set_num_threads(1)
    store = Store.open(folder)
    try:
        def train(cfg: dict, sweep_id: str | None = None) -> str:
            run = store.create_run(RunConfig.model_validate(cfg), sweep_id=sweep_id)
            attempt = store.claim_run(run.id, "test")
            assert attempt is not None
            status = execute_run(store, run.id, worker="test", attempt=attempt)
            assert status == "succeeded", store.get_run(run.id).error
            return run.id

        erm = train({**TINY, "method": "erm", "name": "digits erm"})
        sweep = store.create_sweep("alpha sweep", "alpha", [0.2, 1.0])
        runs = [train({**TINY, "method": "input-mixup", "alpha": a,
                       "name": f"alpha sweep: alpha={a}"}, sweep) for a in (0.2, 1.0)]
        return {"erm": erm, "mixup": runs[1], "sweep": sweep, "sweep_runs": runs}
    finally:
        store.close()
