"""``dcgan``: a small convolutional GAN in the style of DCGAN (Radford et al., 2016).

The generator projects ``z`` to a 4x4 feature map and doubles the resolution with transposed
convolutions until it reaches the dataset's. The discriminator mirrors it with strided
convolutions. Channel counts halve per doubling from ``base_channels * capacity``. The loss is the
non-saturating logistic loss with an R1 penalty on real images (Mescheder et al., 2018).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from noisedim.models import GANLoss, ModelFamily, num_upsamplings, scaled_channels
from noisedim.registry import MODELS


class Generator(nn.Module):
    """Map ``z`` ``[N, z_dim]`` to images ``[N, C, R, R]`` in [-1, 1]."""

    def __init__(self, z_dim: int, resolution: int, channels: int, base_channels: int):
        super().__init__()
        if z_dim < 1:
            raise ValueError(f"z_dim {z_dim} is invalid; a generator needs at least one noise "
                             "dimension")
        self.z_dim = z_dim
        self.noise_dims_consumed = z_dim
        steps = num_upsamplings(resolution)
        widths = [max(base_channels >> i, 8) for i in range(steps + 1)]
        self.project = nn.Sequential(nn.Linear(z_dim, widths[0] * 16), nn.BatchNorm1d(widths[0] * 16),
                                     nn.ReLU())
        self.first_width = widths[0]
        blocks: list[nn.Module] = []
        for i in range(steps):
            blocks += [nn.ConvTranspose2d(widths[i], widths[i + 1], 4, 2, 1, bias=False),
                       nn.BatchNorm2d(widths[i + 1]), nn.ReLU()]
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(len(z), self.first_width, 4, 4)
        return torch.tanh(self.to_image(self.blocks(x)))


class Discriminator(nn.Module):
    """Map images ``[N, C, R, R]`` in [-1, 1] to logits ``[N]``."""

    def __init__(self, resolution: int, channels: int, base_channels: int):
        super().__init__()
        steps = num_upsamplings(resolution)
        widths = [max(base_channels >> i, 8) for i in range(steps + 1)][::-1]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2)]
        for i in range(steps):
            layers += [nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(1)


class NonSaturatingR1Loss(GANLoss):
    """Non-saturating logistic GAN loss with an R1 penalty of weight ``r1_gamma / 2``."""

    def __init__(self, G: nn.Module, D: nn.Module, r1_gamma: float):
        self.G, self.D, self.r1_gamma = G, D, r1_gamma

    def accumulate_discriminator(self, real: torch.Tensor, z: torch.Tensor,
                                 step: int) -> dict[str, float]:
        with torch.no_grad():
            fake = self.G(z)
        real = real.detach().requires_grad_(self.r1_gamma > 0)
        logits_real, logits_fake = self.D(real), self.D(fake)
        loss = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        stats = {"loss_D": loss.item()}
        if self.r1_gamma > 0:
            (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True)
            penalty = grad.square().flatten(1).sum(1).mean()
            loss = loss + 0.5 * self.r1_gamma * penalty
            stats["r1"] = penalty.item()
        loss.backward()
        return stats

    def accumulate_generator(self, z: torch.Tensor, step: int) -> dict[str, float]:
        loss = F.softplus(-self.D(self.G(z))).mean()
        loss.backward()
        return {"loss_G": loss.item()}


def build_dcgan(z_dim: int, resolution: int, channels: int, capacity: float,
                options: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    width = scaled_channels(options["base_channels"], capacity, minimum=8)
    return (Generator(z_dim, resolution, channels, width),
            Discriminator(resolution, channels, width))


def make_dcgan_loss(G: nn.Module, D: nn.Module, options: dict[str, Any]) -> GANLoss:
    return NonSaturatingR1Loss(G, D, options["r1_gamma"])


MODELS.register("dcgan", ModelFamily(
    name="dcgan",
    build=build_dcgan,
    make_loss=make_dcgan_loss,
    default_options={"base_channels": 64, "r1_gamma": 0.1, "lr_g": 2e-4, "lr_d": 2e-4,
                     "betas": [0.5, 0.99]},
    resolutions=(8, 16, 32, 64, 128, 256),
))
