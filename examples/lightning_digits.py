"""Record a PyTorch Lightning fit into mixscope with ``MixscopeCallback`` (input mixup on the
8x8 digits; an ``nn.Sequential`` whose last ``nn.Linear`` is found as the classifier).

    python examples/lightning_digits.py --store ~/mixscope-store --epochs 4
"""

from __future__ import annotations

import argparse

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mixscope.integrations.lightning import MixscopeCallback


class MixupDigits(pl.LightningModule):
    def __init__(self, num_classes: int = 10, alpha: float = 1.0, lr: float = 3e-3):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(),
                                 nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, num_classes))
        self.num_classes, self.alpha, self.lr = num_classes, alpha, lr

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _idx):
        x, y = batch
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        perm = torch.randperm(len(x))
        t = F.one_hot(y, self.num_classes).float()
        logits = self.net(lam * x + (1 - lam) * x[perm])
        return torch.sum(-(lam * t + (1 - lam) * t[perm]) * F.log_softmax(logits, 1), 1).mean()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def load(seed: int = 0):
    d = load_digits()
    X = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    X, y = X[perm], y[perm]
    n_test = len(y) // 4
    return (X[n_test:], y[n_test:]), (X[:n_test], y[:n_test]), [str(c) for c in d.target_names]


def main(store=None, epochs: int = 3, seed: int = 0, name: str = "lightning mixup digits"):
    """Fit and record; returns the callback (its ``recorder.run_id`` is the run)."""
    pl.seed_everything(seed, verbose=False)
    (Xtr, ytr), test, names = load(seed)
    cb = MixscopeCallback(name=name, class_names=names, store=store,
                          config={"method": "input-mixup (lightning)", "alpha": 1.0},
                          probe={"clean_per_class": 10, "pairs_per_class_pair": 8},
                          probe_data=(Xtr, ytr), test_data=test, seed=seed)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=[cb],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=64, shuffle=True)
    trainer.fit(MixupDigits(len(names)), loader)
    return cb


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=None, help="store folder or database URL")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    print(f"recorded run {main(store=args.store, epochs=args.epochs).recorder.run_id}")
