"""Datasets rendered from known generative factors: the synthetic task of 003 App. A.

``rotated-digit``: every example is a handwritten digit (one of scikit-learn's 8×8 digits,
no download) rotated by an angle θ. The factors of an example are its glyph (which upright
digit image) and θ. The three tasks of 003 App. A (Table 8, Fig. 4):

* Task A: train θ ~ U(−70°, −50°) (label 0) or U(50°, 80°) (label 1), each with probability
  ½; test θ ~ U(−30°, −10°) (label 0) or U(10°, 30°) (label 1). The digit is always a 7.
* Task B: the training set of Task A; test θ ~ U(−30°, −20°) (label 0) or U(−10°, 30°)
  (label 1).
* Task C: the label is the digit, "1" (0) or "7" (1); train θ from Task A's training mixture,
  test θ ~ U(−30°, 30°).

Training and test glyphs are disjoint (a seeded split of scikit-learn's images of the digit).
Images are 1×24×24 in [0, 1]: the 8×8 glyph padded to 12×12 (so corners survive the
rotation), upsampled bilinearly to 24×24, then rotated about the centre (black outside).

*Factor mixup* (003's "ground truth factor mixup", Table 8) mixes the factors instead of the
pixels: θ = λ θ_i + (1 − λ) θ_j, and the glyph factor is the λ-blend of the two upright
glyphs (for Tasks A/B both are 7s; for Task C this interpolates the digit identity), rendered
by the same rotation. Input mixup instead blends the two rotated images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

SIZE = 24
# (label-0 range, label-1 range) in degrees; Task C's test range ignores the label
TRAIN_RANGES = ((-70.0, -50.0), (50.0, 80.0))
TEST_RANGES = {"A": ((-30.0, -10.0), (10.0, 30.0)),
               "B": ((-30.0, -20.0), (-10.0, 30.0)),
               "C": ((-30.0, 30.0), (-30.0, 30.0))}


def _upright(images: np.ndarray) -> torch.Tensor:
    """(n, 8, 8) scikit-learn digits (0..16) -> (n, 1, 24, 24) float32 in [0, 1]."""
    x = torch.as_tensor(images, dtype=torch.float32).div(16.0).unsqueeze(1)
    x = F.pad(x, (2, 2, 2, 2))
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate (n, c, h, w) images about their centres by ``degrees`` (n,), counter-clockwise,
    bilinear, zero (black) outside the original image."""
    t = degrees.to(images.dtype).deg2rad()
    cos, sin = torch.cos(t), torch.sin(t)
    zero = torch.zeros_like(t)
    # affine_grid maps output coordinates to input ones: the inverse rotation
    theta = torch.stack([torch.stack([cos, sin, zero], 1),
                         torch.stack([-sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _angles(rng: np.random.Generator, labels: np.ndarray, ranges) -> np.ndarray:
    lo = np.array([ranges[int(y)][0] for y in labels])
    hi = np.array([ranges[int(y)][1] for y in labels])
    return lo + (hi - lo) * rng.random(len(labels))


class RotatedDigitFactors:
    """The factors of the training rows and how to render them (mixed).

    Attributes:
        glyphs: (G, 1, 24, 24) upright glyphs of the training split.
        glyph: (n,) int64 glyph of each training row.
        angle: (n,) float32 rotation of each training row, degrees.
    """

    def __init__(self, glyphs: torch.Tensor, glyph: torch.Tensor, angle: torch.Tensor):
        self.glyphs, self.glyph, self.angle = glyphs, glyph, angle
        self._device_glyphs: dict[str, torch.Tensor] = {}

    def render(self, idx: torch.Tensor) -> torch.Tensor:
        """The training rows ``idx`` rendered from their own factors (n, 1, 24, 24)."""
        idx = idx.cpu()
        return rotate(self.glyphs[self.glyph[idx]], self.angle[idx])

    def render_mixed(self, idx: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor,
                     device: torch.device | str = "cpu") -> torch.Tensor:
        """Training rows ``idx`` with their factors mixed with their partners':
        angle ``λ θ + (1 − λ) θ[partner]``, glyph ``λ g + (1 − λ) g[partner]``.

        Args:
            idx: (n,) rows of the training set in this batch.
            partner: (n,) the partner of each batch row (an index into the batch).
            lam: (n,) weight on each row's own factors.
        """
        key = str(device)
        if key not in self._device_glyphs:
            self._device_glyphs[key] = self.glyphs.to(device)
        glyphs = self._device_glyphs[key]
        idx = idx.to(device)
        partner = partner.to(device)
        lam = torch.as_tensor(lam, dtype=torch.float32, device=device).expand(len(idx))
        g = glyphs[self.glyph.to(device)[idx]]
        a = self.angle.to(device)[idx]
        lam4 = lam.view(-1, 1, 1, 1)
        g_mix = lam4 * g + (1.0 - lam4) * g[partner]
        a_mix = lam * a + (1.0 - lam) * a[partner]
        return rotate(g_mix, a_mix)


def rotated_digit(task: str, n_train: int, n_test: int, seed: int):
    """Render Task ``task`` (A, B or C): returns (train_x, train_y, test_x, test_y,
    class_names, factors) with images (n, 1, 24, 24) float32 in [0, 1]."""
    from sklearn.datasets import load_digits

    if task not in TEST_RANGES:
        raise ValueError(f"dataset_args.task: unknown task {task!r}; choose A, B or C")
    d = load_digits()
    digits = (1, 7) if task == "C" else (7,)
    rng = np.random.default_rng(seed)
    train_g, test_g, train_digit_of, test_digit_of = [], [], [], []
    for k, digit in enumerate(digits):
        members = rng.permutation(np.flatnonzero(d.target == digit))
        cut = max(1, math.ceil(0.75 * len(members)))
        train_g.append(members[:cut])
        test_g.append(members[cut:])
        train_digit_of += [k] * cut
        test_digit_of += [k] * (len(members) - cut)
    train_bank, test_bank = np.concatenate(train_g), np.concatenate(test_g)
    train_digit_of, test_digit_of = np.array(train_digit_of), np.array(test_digit_of)

    def draw(n: int, bank_digit: np.ndarray, ranges):
        y = rng.permutation(np.arange(n) % 2).astype(np.int64)
        if task == "C":   # the label is the digit; the angle mixture is label-free
            glyph = np.array([rng.choice(np.flatnonzero(bank_digit == c)) for c in y])
            angle = _angles(rng, rng.integers(0, 2, n), ranges)
        else:
            glyph = rng.integers(0, len(bank_digit), n)
            angle = _angles(rng, y, ranges)
        return glyph, angle, y

    g_tr, a_tr, y_tr = draw(n_train, train_digit_of, TRAIN_RANGES)
    g_te, a_te, y_te = draw(n_test, test_digit_of, TEST_RANGES[task])
    glyphs_tr = _upright(d.images[train_bank])
    glyphs_te = _upright(d.images[test_bank])
    factors = RotatedDigitFactors(glyphs_tr, torch.as_tensor(g_tr, dtype=torch.int64),
                                  torch.as_tensor(a_tr, dtype=torch.float32))
    train_x = factors.render(torch.arange(n_train))
    test_x = rotate(glyphs_te[torch.as_tensor(g_te, dtype=torch.int64)],
                    torch.as_tensor(a_te, dtype=torch.float32)) if n_test else \
        torch.zeros(0, 1, SIZE, SIZE)
    names = ["1", "7"] if task == "C" else ["label 0", "label 1"]
    return train_x, y_tr, test_x, y_te, names, factors


def load_rotated_digit(config, data_dir: Path, allow_download: bool = False):
    """003 App. A's rotated-digit task ``dataset_args.task``: ``samples`` training images
    and ``samples·f/(1−f)`` test images (f = ``test_fraction``), drawn with the run seed."""
    from trainer.data import _bundle, _n_test_for

    a = config.dataset_args
    n_test = _n_test_for(a.samples, a.test_fraction)
    xtr, ytr, xte, yte, names, factors = rotated_digit(a.task, a.samples, n_test, config.seed)
    return _bundle("rotated-digit", xtr, ytr, xte, yte, names, (1, SIZE, SIZE),
                   factors=factors)
