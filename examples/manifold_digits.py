"""Record a manifold-mixup training loop: the probe's pairs mixed at the same hidden layer.

Manifold mixup (Verma et al. 2019) mixes hidden activations at a layer, not inputs. The
probe's mixed points are made the same way: ``rec.probe(..., mix=ManifoldMix("hidden", ...))``
keeps the drawn pairs and λ, and at every logged epoch a pair's features are
``rest(λ·hidden(x_a) + (1−λ)·hidden(x_b))`` with the network as it is then. Explore says
which mixing made the points.

    python examples/manifold_digits.py --store ~/mixscope-store --epochs 5
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from mixscope import Recorder
from mixscope.recorder import ManifoldMix


class MLP(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 128):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(64, width), nn.ReLU())      # the mixing layer
        self.rest = nn.Sequential(nn.Linear(width, 32), nn.ReLU())        # -> penultimate
        self.head = nn.Linear(32, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.hidden(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load(seed: int = 0):
    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    X, y = X[perm], y[perm]
    n_test = len(y) // 4
    return (X[n_test:], y[n_test:]), (X[:n_test], y[:n_test]), [str(c) for c in d.target_names]


def main(store=None, epochs: int = 5, seed: int = 0, name: str = "manifold mixup digits"):
    """Train with manifold mixup at ``hidden`` and record; returns (recorder, model)."""
    torch.manual_seed(seed)
    (Xtr, ytr), (Xte, yte), names = load(seed)
    model = MLP(len(names))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rec = Recorder(name=name, class_names=names, store=store, epochs=epochs,
                   config={"method": "manifold-mixup", "mix_layer": "hidden", "alpha": 1.0,
                           "model": "MLP 64-128-32", "dataset": "sklearn digits"},
                   probe={"clean_per_class": 10, "pairs_per_class_pair": 8})
    rec.probe(Xtr, ytr, seed=seed, mix=ManifoldMix(
        "hidden", to_layer=lambda x: model.hidden(x), from_layer=lambda h: model.rest(h)))
    gen = torch.Generator().manual_seed(seed)
    beta = torch.distributions.Beta(1.0, 1.0)
    for epoch in range(epochs + 1):
        if epoch > 0:
            model.train()
            for idx in torch.randperm(len(ytr), generator=gen).split(64):
                lam = float(beta.sample())
                perm = torch.randperm(len(idx), generator=gen)
                h = model.hidden(Xtr[idx])
                logits = model.head(model.rest(lam * h + (1 - lam) * h[perm]))
                t = F.one_hot(ytr[idx], len(names)).float()
                loss = torch.sum(-(lam * t + (1 - lam) * t[perm]) * F.log_softmax(logits, 1),
                                 1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        rec.log(epoch, model, features=model.features, classifier=model.head,
                test=(Xte, yte))
    rec.finish()
    return rec, model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=None, help="store folder or database URL")
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    rec, _ = main(store=args.store, epochs=args.epochs)
    print(f"recorded run {rec.run_id} (probe mixed by: {rec.mixing})")
