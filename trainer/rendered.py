"""Datasets rendered from known generative factors: the synthetic task of 003 App. A.

``rotated-digit``: every example is a printed-style digit rotated by an angle θ. The factors
of an example are its glyph (an upright digit drawn from stroke factors, below) and θ. The
three tasks of 003 App. A (Table 8, Fig. 4):

* Task A: train θ ~ U(−70°, −50°) (label 0) or U(50°, 80°) (label 1), each with probability
  ½; test θ ~ U(−30°, −10°) (label 0) or U(10°, 30°) (label 1). The digit is always a 7.
* Task B: the training set of Task A; test θ ~ U(−30°, −20°) (label 0) or U(−10°, 30°)
  (label 1).
* Task C: the label is the digit, "1" (0) or "7" (1); train θ from Task A's training mixture,
  test θ ~ U(−30°, 30°).
* Task S (mixscope's, not the paper's): Task A with the test set drawn like the training
  set (fresh glyphs, the training angles): an in-distribution test set, the clean one that
  003 Table 9's cpu stand-in deforms (Task A's test angles are held out by design).

Glyphs (the paper: "each image is deterministically rendered from a set of independent
factors"; it shows the images but gives neither glyph nor net): every upright glyph is drawn
from its own stroke factors, anti-aliased line segments on a 24×24 canvas (coordinates in
[−1, 1], y up). A 7 is a horizontal bar (half-length 0.45–0.6 at height 0.55–0.65) and a
stem from the bar's right end down to y = −0.7, 0.15–0.35 left of it (a printed 7's steep
stem, 74°–84° from the bar); a 1 is a stem with a flag to its upper left. Stroke width
0.12–0.2 (1.4–2.3 px). Training and test glyphs are separate seeded draws (``GLYPHS``
each). Thin strokes at near right angles are what makes the held-out angles hard: a
translation-invariant net (a small conv net, ``mm-rotated-digit-*`` presets) sees the
strokes' orientations, and at θ = ±20° they lie closer to the *other* label's training
angles (bar and stem nearly perpendicular repeat every ~90°), so a baseline that
interpolates in pixel space fails as the paper's does (1.6 % on Task A). Until 2026-12 the
glyphs were scikit-learn's blurred 8×8 digits, on which an MLP baseline generalised
(98.8 % on Task A), unlike the paper's.

*Factor mixup* (003's "ground truth factor mixup", Table 8) mixes the factors instead of the
pixels: θ = λ θ_i + (1 − λ) θ_j, and the glyph factor is the λ-blend of the two upright
glyphs (for Tasks A/B both are 7s; for Task C this interpolates the digit identity), rendered
by the same rotation. Input mixup instead blends the two rotated images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

SIZE = 24
# (label-0 range, label-1 range) in degrees; Task C's test range ignores the label
TRAIN_RANGES = ((-70.0, -50.0), (50.0, 80.0))
TEST_RANGES = {"A": ((-30.0, -10.0), (10.0, 30.0)),
               "B": ((-30.0, -20.0), (-10.0, 30.0)),
               "C": ((-30.0, 30.0), (-30.0, 30.0)),
               "S": TRAIN_RANGES}


#: glyphs drawn per digit for the training bank and for the test bank
GLYPHS = {"train": 60, "test": 20}


def _segments(segs: list[tuple[float, float, float, float]], width: float) -> torch.Tensor:
    """Anti-aliased strokes (x0, y0, x1, y1) of ``width`` on the SIZE × SIZE canvas, (1, S, S)
    in [0, 1] (coordinates in [−1, 1], y up; the edge ramps over one pixel)."""
    c = torch.linspace(-1.0, 1.0, SIZE, dtype=torch.float64)
    yy, xx = torch.meshgrid(-c, c, indexing="ij")
    pix = 2.0 / (SIZE - 1)
    img = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    for x0, y0, x1, y1 in segs:
        dx, dy = x1 - x0, y1 - y0
        t = (((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
        dist = torch.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
        img = torch.maximum(img, (1 - (dist - width / 2) / pix).clamp(0, 1))
    return img.to(torch.float32).unsqueeze(0)


def _glyph(rng: np.random.Generator, digit: int) -> torch.Tensor:
    """One upright ``digit`` (1 or 7) drawn from its stroke factors (module docstring)."""
    width = 0.12 + 0.08 * rng.random()
    if digit == 7:
        half, top = 0.45 + 0.15 * rng.random(), 0.55 + 0.1 * rng.random()
        foot = half - 0.15 - 0.2 * rng.random()
        return _segments([(-half, top, half, top), (half, top, foot, -0.7)], width)
    if digit == 1:
        x, top, flag = 0.05 * rng.standard_normal(), 0.6 + 0.1 * rng.random(), \
            0.2 + 0.15 * rng.random()
        return _segments([(x, top, x, -0.7), (x, top, x - flag, top - flag)], width)
    raise ValueError(f"dataset_args.task: no glyph for the digit {digit}")


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
    """Render Task ``task`` (A, B, C or S): returns (train_x, train_y, test_x, test_y,
    class_names, factors) with images (n, 1, 24, 24) float32 in [0, 1]."""
    if task not in TEST_RANGES:
        raise ValueError(f"dataset_args.task: unknown task {task!r}; choose A, B, C or S")
    digits = (1, 7) if task == "C" else (7,)
    rng = np.random.default_rng(seed)
    banks = {part: [(k, _glyph(rng, digit)) for k, digit in enumerate(digits)
                    for _ in range(n)] for part, n in GLYPHS.items()}
    train_digit_of = np.array([k for k, _ in banks["train"]])
    test_digit_of = np.array([k for k, _ in banks["test"]])

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
    glyphs_tr = torch.stack([g for _, g in banks["train"]])
    glyphs_te = torch.stack([g for _, g in banks["test"]])
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
