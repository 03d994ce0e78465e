"""Lab results recorded in the store as run-like records."""

from __future__ import annotations

import numpy as np

from trainer.lab.training import LabSettings

LAB_KIND = "lab"  # artifact kind holding a lab record's arrays


def save_to_store(store, experiment: str, result: dict, settings: LabSettings,
                  dataset_args: dict) -> list[str]:
    """Record a lab result as run-like records: one succeeded run per method whose config is
    the paper preset (``alternating-line-paper`` / ``two-moons-paper``) with this setting,
    per-epoch metrics ``train_error`` (mean over the lab's runs), ``train_error_std`` and
    ``train_accuracy``, and one artifact of kind ``"lab"`` with the arrays
    ``prob_mean``/``prob_std`` (N, C), ``error_epochs`` (T,), ``error_mean``/``error_std``
    (T,), ``points`` (N, D), ``labels`` (N,) 1-based, plus for two moons ``decision_prob``
    (g, g) (mean p(class 1)), ``decision_hard`` (g, g) (fraction of runs predicting class 1,
    the paper's figure) and ``optimal_prob`` (g, g) (NaN outside X_mix). Returns the new run ids.
    """
    from backend.runconfig import RunConfig

    run_ids = []
    for method in settings.methods:
        m = result[method]
        config = RunConfig.from_preset(
            f"{experiment}-paper", method="input-mixup" if method == "mixup" else "erm",
            alpha=settings.alpha, epochs=settings.epochs, seed=settings.seed, lr=settings.lr,
            dataset_args=dataset_args,
            model_args={"width": settings.hidden, "feature_dim": settings.hidden},
            name=f"lab {experiment} {method} α={settings.alpha:g} ({settings.runs} runs)")
        info = store.create_run(config)
        store.claim_run(info.id, "lab")
        curve = m["error_curve"]
        for ep, mean, std in zip(curve["epoch"], curve["mean"], curve["std"]):
            store.record_epoch(info.id, ep, {"train_error": mean, "train_error_std": std,
                                             "train_accuracy": 1.0 - mean})
        arrays = {
            "prob_mean": np.asarray(m["prob_mean"], dtype=np.float32),
            "prob_std": np.asarray(m["prob_std"], dtype=np.float32),
            "error_epochs": np.asarray(curve["epoch"], dtype=np.int64),
            "error_mean": np.asarray(curve["mean"], dtype=np.float32),
            "error_std": np.asarray(curve["std"], dtype=np.float32),
            "points": np.asarray(result["points"], dtype=np.float32).reshape(
                len(result["points"]), -1),
            "labels": np.asarray(result["labels"], dtype=np.int64),
        }
        if "decision" in m:
            arrays["decision_prob"] = np.asarray(m["decision"]["prob_mean"], dtype=np.float32)
            arrays["decision_hard"] = np.asarray(m["decision"]["hard_mean"], dtype=np.float32)
            arrays["optimal_prob"] = np.asarray(result["mixup_optimal"]["prob1"],
                                                dtype=np.float64).astype(np.float32)
        store.put_arrays(info.id, LAB_KIND, arrays,
                         meta={"experiment": experiment, "method": method,
                               "runs": str(settings.runs), "loop": settings.loop,
                               "optimizer_state": settings.optimizer_state})
        k = len(m["prob_mean"][0])
        store.update_run_info(info.id, class_names=[str(c + 1) for c in range(k)],
                              summary={"lab": experiment, "lab_runs": settings.runs,
                                       "train_error": m["train_error"],
                                       "lab_loop": settings.loop,
                                       "lab_optimizer_state": settings.optimizer_state})
        store.heartbeat(info.id, settings.epochs, 1.0, None)
        store.finish_run(info.id, "succeeded")
        run_ids.append(info.id)
    return run_ids
