"""The lab: small seeded full-batch experiments on the data dependency of mixup (seed 002).

- :mod:`trainer.lab.training`: the seeded two-layer nets, trained R runs at once;
- :mod:`trainer.lab.experiments`: the alternating line X_m^k and two moons, with Lemma 2.3's
  mixup-optimal classifier;
- :mod:`trainer.lab.assumption`: the Assumption 2.9 check of Table 2;
- :mod:`trainer.lab.records`: results recorded in the store as run-like records.

Everything returned is numpy / JSON-ready; nothing here touches the web stack.
"""

from trainer.lab.assumption import PAPER_TABLE2, PROCEDURES, assumption_check
from trainer.lab.experiments import (MOONS_EPOCHS_AUTHORS, MOONS_EPOCHS_PAPER, TUNED_EPS,
                                     alternating_line, curve_summary, decision_grid,
                                     default_moons_settings, eps_label, lab_dataset,
                                     linear_agreement, method_summary, moons_draws,
                                     optimal_line, run_methods, settings_dict, two_moons)
from trainer.lab.records import LAB_KIND, save_to_store
from trainer.lab.training import (AUTHORS_CODE_POINT1, METHODS, PAPER_TABLE1, LabSettings,
                                  MethodRuns, _gradients, curve_epochs, init_weights,
                                  mixing_stream, train_batched, train_reference, train_single,
                                  tune_allocator)

__all__ = ["PAPER_TABLE2", "PROCEDURES", "MOONS_EPOCHS_AUTHORS", "MOONS_EPOCHS_PAPER", "TUNED_EPS", "default_moons_settings",
           "eps_label", "moons_draws", "AUTHORS_CODE_POINT1", "LAB_KIND", "METHODS", "PAPER_TABLE1", "LabSettings",
           "MethodRuns", "_gradients", "alternating_line", "assumption_check", "curve_epochs",
           "curve_summary", "decision_grid", "init_weights", "lab_dataset", "linear_agreement",
           "method_summary", "mixing_stream", "optimal_line", "run_methods", "save_to_store",
           "settings_dict", "train_batched", "train_reference", "train_single", "tune_allocator", "two_moons"]
