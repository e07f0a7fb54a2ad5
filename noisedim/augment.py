"""Adaptive discriminator augmentation (ADA) of Karras et al. (2020), "Training Generative
Adversarial Networks with Limited Data" (NeurIPS), the augmentation of StyleGAN2-ADA.

Every image that D sees, real or generated, goes through ``AugmentPipe``. Each enabled transform
is applied to each image independently with probability ``p``:

* geometric: ``xflip`` (mirror or not, with equal odds), ``rotate90`` (a random multiple of 90
  degrees, 0 included), ``xint`` (integer translation by up to 1/8 of the size), ``scale``
  (isotropic, log2-normal with standard deviation 0.2);
* colour: ``brightness`` (add N(0, 0.2^2)), ``contrast`` (multiply by a log2-normal factor with
  standard deviation 0.5), ``saturation`` (scale the chroma, the part orthogonal to the grey
  axis, by a log2-normal factor with standard deviation 1).

The geometric transforms of an image are composed into one affine matrix and applied with one
bilinear ``grid_sample`` with reflection padding. Flips, quarter turns and integer translations
land on pixel centres, so they move pixels without blurring them. The colour transforms are
composed into one 4x4 matrix per image. Both steps are differentiable in the images, as the R1
penalty and G's gradient need. The official pipeline (NVlabs/stylegan2-ada-pytorch, "bgc") also
has fractional translation, arbitrary rotation, anisotropic scaling, luma flip and hue rotation,
and it resamples with a wavelet-filtered up-sampling instead of plain bilinear sampling.

``AdaController`` adjusts ``p`` from the overfitting heuristic ``r_t = E[sign(D(real))]``. After
every ``interval`` observed batches, ``p`` moves by ``sign(r_t - target) * images / (kimg * 1000)``
and is clipped to [0, 1], so ``p`` can cross the whole range in ``kimg`` thousand images.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

XINT_MAX = 0.125         # largest integer translation, as a fraction of the image size
SCALE_STD = 0.2          # log2 standard deviation of the isotropic scale factor
BRIGHTNESS_STD = 0.2     # standard deviation of the added brightness, images in [-1, 1]
CONTRAST_STD = 0.5       # log2 standard deviation of the contrast factor
SATURATION_STD = 1.0     # log2 standard deviation of the saturation factor


# Geometric transforms -------------------------------------------------------------------------
# Each returns, per image, the 3x3 matrix that maps output coordinates to input coordinates
# ("inverse" matrices, as grid_sample needs) in grid_sample's normalised coordinates [-1, 1].
# Identity where mask is False.

def _identity(n: int, size: int, device: torch.device) -> torch.Tensor:
    return torch.eye(size, device=device).repeat(n, 1, 1)


def _xflip(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    flip = torch.rand(len(mask), device=mask.device) < 0.5
    matrix = _identity(len(mask), 3, mask.device)
    matrix[:, 0, 0] = torch.where(mask & flip, -1.0, 1.0)
    return matrix


def _rotate90(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    quarter_turns = torch.randint(0, 4, (len(mask),), device=mask.device)
    angle = torch.where(mask, quarter_turns, 0).float() * (math.pi / 2)
    cos, sin = torch.cos(angle).round(), torch.sin(angle).round()  # exact 0, 1, -1
    matrix = _identity(len(mask), 3, mask.device)
    matrix[:, 0, 0], matrix[:, 0, 1] = cos, -sin
    matrix[:, 1, 0], matrix[:, 1, 1] = sin, cos
    return matrix


def _xint(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    fraction = (torch.rand(len(mask), 2, device=mask.device) * 2 - 1) * XINT_MAX
    shift_x = torch.where(mask, (fraction[:, 0] * width).round(), 0.0)
    shift_y = torch.where(mask, (fraction[:, 1] * height).round(), 0.0)
    matrix = _identity(len(mask), 3, mask.device)
    # Output pixel x shows input pixel x - shift; one pixel is 2 / width in normalised units.
    matrix[:, 0, 2] = -shift_x * 2 / width
    matrix[:, 1, 2] = -shift_y * 2 / height
    return matrix


def _scale(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    factor = torch.exp2(torch.randn(len(mask), device=mask.device) * SCALE_STD)
    factor = torch.where(mask, factor, 1.0)
    matrix = _identity(len(mask), 3, mask.device)
    matrix[:, 0, 0] = matrix[:, 1, 1] = 1.0 / factor
    return matrix


# Colour transforms ----------------------------------------------------------------------------
# Each returns a 4x4 matrix per image acting on homogeneous RGB vectors [r, g, b, 1].

_GREY_AXIS = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


def _brightness(mask: torch.Tensor) -> torch.Tensor:
    offset = torch.where(mask, torch.randn(len(mask), device=mask.device) * BRIGHTNESS_STD, 0.0)
    matrix = _identity(len(mask), 4, mask.device)
    matrix[:, :3, 3] = offset[:, None]
    return matrix


def _contrast(mask: torch.Tensor) -> torch.Tensor:
    factor = torch.exp2(torch.randn(len(mask), device=mask.device) * CONTRAST_STD)
    factor = torch.where(mask, factor, 1.0)
    matrix = _identity(len(mask), 4, mask.device)
    matrix[:, 0, 0] = matrix[:, 1, 1] = matrix[:, 2, 2] = factor
    return matrix


def _saturation(mask: torch.Tensor) -> torch.Tensor:
    factor = torch.exp2(torch.randn(len(mask), device=mask.device) * SATURATION_STD)
    factor = torch.where(mask, factor, 1.0)
    axis = _GREY_AXIS.to(mask.device)
    grey = torch.outer(axis, axis)                        # projection onto the grey axis
    eye = torch.eye(4, device=mask.device)
    matrix = grey + (eye - grey) * factor[:, None, None]
    matrix[:, 3, 3] = 1.0                                 # keep the homogeneous coordinate
    return matrix


GEOMETRIC_TRANSFORMS: dict[str, Callable[[torch.Tensor, int, int], torch.Tensor]] = {
    "xflip": _xflip,
    "rotate90": _rotate90,
    "xint": _xint,
    "scale": _scale,
}
COLOR_TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "brightness": _brightness,
    "contrast": _contrast,
    "saturation": _saturation,
}
TRANSFORMS = (*GEOMETRIC_TRANSFORMS, *COLOR_TRANSFORMS)


def apply_geometric(images: torch.Tensor, inverse_matrices: torch.Tensor) -> torch.Tensor:
    """Resample ``images`` ``[N, C, H, W]`` through ``inverse_matrices`` ``[N, 3, 3]``.

    The matrices map output to input coordinates in grid_sample's normalised units (pixel
    centres at ``(2 i + 1) / size - 1``). Sampling is bilinear with reflection padding and
    differentiable in the images.
    """
    grid = F.affine_grid(inverse_matrices[:, :2, :].to(images.dtype), list(images.shape),
                         align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)


def apply_color(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Apply 4x4 colour matrices ``[N, 4, 4]`` to images ``[N, C, H, W]``, C = 1 or 3.

    Grey-scale images use the mean of the RGB rows, as the official pipeline does.
    """
    n, channels, height, width = images.shape
    matrices = matrices.to(images.dtype)
    pixels = images.reshape(n, channels, height * width)
    if channels == 3:
        pixels = matrices[:, :3, :3] @ pixels + matrices[:, :3, 3:]
    else:
        rows = matrices[:, :3, :].mean(dim=1, keepdim=True)            # [N, 1, 4]
        pixels = pixels * rows[:, :, :3].sum(dim=2, keepdim=True) + rows[:, :, 3:]
    return pixels.reshape(n, channels, height, width)


class AugmentPipe:
    """Apply each of ``transforms`` to each image with probability ``p`` (see the module doc).

    Maps images ``[N, C, H, W]`` (C = 1 or 3, values around [-1, 1]) to images of the same shape.
    Random draws come from torch's global generator. With ``p == 0`` the images are returned
    unchanged and nothing is drawn.
    """

    def __init__(self, transforms: list[str] | tuple[str, ...], p: float = 0.0):
        unknown = [name for name in transforms if name not in TRANSFORMS]
        if unknown:
            raise ValueError(f"unknown augmentation transform(s) {unknown}; known transforms: "
                             f"{list(TRANSFORMS)}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augmentation probability p={p} is invalid; use a value in [0, 1]")
        self.geometric = [name for name in GEOMETRIC_TRANSFORMS if name in transforms]
        self.color = [name for name in COLOR_TRANSFORMS if name in transforms]
        self.p = float(p)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not (self.geometric or self.color):
            return images
        n, channels, height, width = images.shape
        if self.color and channels not in (1, 3):
            raise ValueError(f"colour augmentation needs 1 or 3 channels, got {channels}; "
                             "remove brightness, contrast and saturation from the transforms")

        if self.geometric:
            matrix = _identity(n, 3, images.device)
            for name in self.geometric:
                mask = torch.rand(n, device=images.device) < self.p
                matrix = matrix @ GEOMETRIC_TRANSFORMS[name](mask, height, width)
            images = apply_geometric(images, matrix)

        if self.color:
            matrix = _identity(n, 4, images.device)
            for name in self.color:
                mask = torch.rand(n, device=images.device) < self.p
                matrix = COLOR_TRANSFORMS[name](mask) @ matrix
            images = apply_color(images, matrix)
        return images


class AdaController:
    """Adjust ``pipe.p`` towards the target of the overfitting heuristic ``r_t``.

    Call ``observe`` with D's logits on every real batch. ``state_dict`` contains ``p`` and the
    partial sums of the current interval, so a resumed run continues exactly.
    """

    def __init__(self, pipe: AugmentPipe, target: float = 0.6, interval: int = 4,
                 kimg: float = 500.0):
        if not 0.0 < target < 1.0:
            raise ValueError(f"ADA target {target} is invalid; use a value in (0, 1) (0.6 in "
                             "StyleGAN2-ADA)")
        if interval < 1:
            raise ValueError(f"ADA interval {interval} is invalid; use at least 1 batch")
        if kimg <= 0:
            raise ValueError(f"ADA speed ada_kimg={kimg} is invalid; use a positive number of "
                             "kimg")
        self.pipe, self.target, self.interval, self.kimg = pipe, target, interval, kimg
        self.sign_sum = 0.0        # sum of sign(D(real)) over the current interval
        self.num_logits = 0        # real images observed in the current interval
        self.num_batches = 0       # batches observed in the current interval
        self.last_rt = float("nan")  # r_t of the last completed interval (nan before the first)

    def observe(self, logits_real: torch.Tensor) -> None:
        """Record D's logits ``[N]`` on real images, and adjust ``p`` when an interval ends."""
        self.sign_sum += logits_real.detach().float().sign().sum().item()
        self.num_logits += logits_real.numel()
        self.num_batches += 1
        if self.num_batches < self.interval:
            return
        self.last_rt = self.sign_sum / self.num_logits
        direction = (self.last_rt > self.target) - (self.last_rt < self.target)
        adjustment = direction * self.num_logits / (self.kimg * 1000)
        self.pipe.p = min(1.0, max(0.0, self.pipe.p + adjustment))
        self.sign_sum, self.num_logits, self.num_batches = 0.0, 0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"augment_p": self.pipe.p, "sign_sum": self.sign_sum,
                "num_logits": self.num_logits, "num_batches": self.num_batches,
                "last_rt": self.last_rt}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pipe.p = float(state["augment_p"])
        self.sign_sum = float(state["sign_sum"])
        self.num_logits = int(state["num_logits"])
        self.num_batches = int(state["num_batches"])
        self.last_rt = float(state["last_rt"])
