"""Record a user's own training loop into mixscope: CutMix on the 8x8 digits.

CutMix (Yun et al. 2019) is not one of mixscope's training methods; this is the kind of loop a
researcher already has. Three things are added for mixscope: a ``Recorder``, one
``rec.probe(..., mix=cutmix_pairs)`` (so that the probe's mixed points are CutMix boxes, as
the model trains on) and one ``rec.log(...)`` per epoch (epoch 0 = before training).

    python examples/cutmix_digits.py --store ~/mixscope-store --epochs 5
    python examples/cutmix_digits.py --api http://host:8000 --token $TOKEN   # a remote mixscope
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from mixscope import Recorder


class SmallConvNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * width, width), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def cutmix(x: torch.Tensor, y: torch.Tensor, num_classes: int, gen: torch.Generator):
    """Paste a random box of a shuffled partner into each image; soft targets by box area."""
    lam = float(torch.distributions.Beta(1.0, 1.0).sample())
    perm = torch.randperm(len(x), generator=gen)
    H, W = x.shape[-2:]
    h, w = int(H * (1 - lam) ** 0.5), int(W * (1 - lam) ** 0.5)
    cy, cx = int(torch.randint(H, (1,), generator=gen)), int(torch.randint(W, (1,), generator=gen))
    y0, y1 = max(cy - h // 2, 0), min(cy + h // 2, H)
    x0, x1 = max(cx - w // 2, 0), min(cx + w // 2, W)
    x = x.clone()
    x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    keep = 1 - (y1 - y0) * (x1 - x0) / (H * W)  # the area actually kept
    t = F.one_hot(y, num_classes).float()
    return x, keep * t + (1 - keep) * t[perm]


def cutmix_pairs(xa: torch.Tensor, xb: torch.Tensor, lam: torch.Tensor):
    """The same CutMix for the probe's pairs (``Recorder.probe(mix=...)``): each pair gets a
    box of area about 1 − λ from its partner, at a random place; returns the mixed images and
    the λ each one actually keeps (the box is clipped to the image)."""
    H, W = xa.shape[-2:]
    out, kept = xa.clone(), torch.empty(len(xa))
    for i, lam_i in enumerate(lam.tolist()):
        h, w = int(H * (1 - lam_i) ** 0.5), int(W * (1 - lam_i) ** 0.5)
        cy, cx = int(torch.randint(H, (1,))), int(torch.randint(W, (1,)))
        y0, y1 = max(cy - h // 2, 0), min(cy + h // 2, H)
        x0, x1 = max(cx - w // 2, 0), min(cx + w // 2, W)
        out[i, ..., y0:y1, x0:x1] = xb[i, ..., y0:y1, x0:x1]
        kept[i] = 1 - (y1 - y0) * (x1 - x0) / (H * W)
    return out, kept


def load(seed: int = 0):
    d = load_digits()
    X = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    X, y = X[perm], y[perm]
    n_test = len(y) // 4
    return (X[n_test:], y[n_test:]), (X[:n_test], y[:n_test]), [str(c) for c in d.target_names]


def main(store=None, api=None, token=None, epochs: int = 5, seed: int = 0,
         name: str = "cutmix digits (example)"):
    """Train and record; returns (recorder, model)."""
    torch.manual_seed(seed)
    (Xtr, ytr), (Xte, yte), names = load(seed)
    model = SmallConvNet(len(names))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rec = Recorder(name=name, class_names=names, store=store, api=api, token=token,
                   epochs=epochs,
                   config={"method": "cutmix", "alpha": 1.0, "optimizer": "adam", "lr": 3e-3,
                           "model": "SmallConvNet", "dataset": "sklearn digits"},
                   probe={"clean_per_class": 10, "pairs_per_class_pair": 8})
    rec.probe(Xtr, ytr, seed=seed, mix=cutmix_pairs)  # probe points made as training makes them
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs + 1):
        if epoch > 0:
            model.train()
            for idx in torch.randperm(len(ytr), generator=gen).split(64):
                xb, tb = cutmix(Xtr[idx], ytr[idx], len(names), gen)
                loss = torch.sum(-tb * F.log_softmax(model(xb), 1), 1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        rec.log(epoch, model, features=model.forward_features, classifier=model.head,
                test=(Xte, yte))
    rec.finish()
    return rec, model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=None, help="store folder or database URL")
    ap.add_argument("--api", default=None, help="URL of a running mixscope API")
    ap.add_argument("--token", default=None, help="the API's token (MIXSCOPE_API_TOKEN)")
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    rec, _ = main(store=args.store, api=args.api, token=args.token, epochs=args.epochs)
    print(f"recorded run {rec.run_id}")
