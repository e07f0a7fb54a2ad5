"""``biggan``: the unconditional BigGAN of Brock et al. (2019), "Large Scale GAN Training for High
Fidelity Natural Image Synthesis" (ICLR), in its CIFAR-style residual form.

Generator: a spectrally normalised linear layer maps the first latent chunk to a 4x4 feature
map. Residual up-sampling blocks (BN, ReLU, nearest 2x, 3x3 conv, BN, ReLU, 3x3 conv, plus a 1x1
shortcut) double it up to the output resolution, and BN, ReLU, a 3x3 conv and tanh make the
image. Each block's two batch norms are conditioned on that block's latent chunk z_i through
learned gains and biases, ``gain = 1 + W_g z_i`` and ``bias = W_b z_i``.

Discriminator: residual down-sampling blocks (pre-activation except the first), ReLU, a sum over
space and a linear layer. Every convolution and linear layer is spectrally normalised and
initialised by the method that the ``init`` option names. Optional self-attention (Zhang et al., 2019, SAGAN) follows the G or D
block whose output has a listed resolution. The loss is the hinge loss, with optional
orthogonal regularisation of G's weights.

Hierarchical latent: z is split into one chunk for the linear layer and one per G block. The
reference code (ajbrock/BigGAN-PyTorch) cuts z into equal chunks of ``z_dim // (blocks + 1)``
and drops the remainder. Here no dimension is dropped. The chunks are contiguous, and their sizes
differ by at most one, the larger ones first (z_dim=10 with 4 chunks gives 3, 3, 2, 2). When
z_dim is smaller than the number of chunks, or ``hierarchical_z`` is false, the whole z goes to
the linear layer and to every block. ``build`` logs the chunk sizes at INFO.

The defaults follow the reference code's CIFAR recipe: base width 64, N(0, 0.02) weight
initialisation, no attention, no orthogonal regularisation, learning rates 2e-4 with betas
(0, 0.999). Known differences from that recipe: there is no class conditioning, and G_ema's batch
norms use the running statistics copied from G instead of BigGAN's "standing statistics".
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from noisedim.models import GANLoss, ModelFamily, scaled_channels
from noisedim.models.layers import scaled_backward, sn_conv2d, sn_linear
from noisedim.registry import MODELS

log = logging.getLogger(__name__)

BOTTOM_RESOLUTION = 4

# Weight initialisations by option value: BigGAN's "ortho" and "N02", and Xavier (Glorot).
WEIGHT_INITS = {
    "ortho": nn.init.orthogonal_,
    "N02": lambda weight: nn.init.normal_(weight, 0.0, 0.02),
    "xavier": nn.init.xavier_uniform_,
}

# Channel multipliers of the base width for G's feature maps from 4x4 upwards, one entry more
# than there are blocks. They follow BigGAN's architecture tables for 32 (CIFAR), 64, 128 and
# 256, and 8 and 16 reuse the CIFAR widths.
G_WIDTH_MULTIPLIERS: dict[int, tuple[int, ...]] = {
    8: (4, 4),
    16: (4, 4, 4),
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
}

# D's output channel multiplier and whether it halves the resolution, per block.
D_BLOCKS: dict[int, tuple[tuple[int, bool], ...]] = {
    8: ((4, True), (4, False), (4, False)),
    16: ((4, True), (4, False), (4, False)),
    32: ((4, True), (4, True), (4, False), (4, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
    256: ((1, True), (2, True), (4, True), (8, True), (8, True), (16, True), (16, False)),
}


def latent_slices(z_dim: int, num_chunks: int, hierarchical: bool = True) -> list[tuple[int, int]]:
    """Return the ``(start, stop)`` columns of z that each of ``num_chunks`` consumers reads.

    With the hierarchy on and ``z_dim >= num_chunks``, the chunks are contiguous, cover all of z,
    and their sizes differ by at most one (the first ``z_dim % num_chunks`` are one larger).
    Otherwise every consumer reads the whole z, ``(0, z_dim)``.
    """
    if z_dim < 1 or num_chunks < 1:
        raise ValueError(f"z_dim {z_dim} and num_chunks {num_chunks} must both be at least 1")
    if not hierarchical or z_dim < num_chunks:
        return [(0, z_dim)] * num_chunks
    base, extra = divmod(z_dim, num_chunks)
    slices, start = [], 0
    for i in range(num_chunks):
        stop = start + base + (1 if i < extra else 0)
        slices.append((start, stop))
        start = stop
    return slices


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are linear in a condition vector ``y`` ``[N, cond_dim]``."""

    def __init__(self, num_features: int, cond_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.gain = sn_linear(cond_dim, num_features, bias=False)
        self.bias = sn_linear(cond_dim, num_features, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = 1.0 + self.gain(y)[:, :, None, None]
        return self.norm(x) * gain + self.bias(y)[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN self-attention over a feature map ``[N, C, H, W]`` (H and W even), output same shape.

    Keys and values are max-pooled 2x2 as in BigGAN. The output gain starts at 0, so the block
    starts as the identity.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.theta = sn_conv2d(channels, max(1, channels // 8), 1, bias=False)
        self.phi = sn_conv2d(channels, max(1, channels // 8), 1, bias=False)
        self.g = sn_conv2d(channels, max(1, channels // 2), 1, bias=False)
        self.o = sn_conv2d(max(1, channels // 2), channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2)                    # [N, C/8, HW]
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)       # [N, C/8, HW/4]
        g = F.max_pool2d(self.g(x), 2).flatten(2)           # [N, C/2, HW/4]
        attention = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # [N, HW, HW/4]
        out = (g @ attention.transpose(1, 2)).view(n, -1, h, w)          # [N, C/2, H, W]
        return x + self.gamma * self.o(out)


class GeneratorBlock(nn.Module):
    """Residual up-sampling block: ``[N, in, H, W]`` and ``y [N, cond_dim]`` to ``[N, out, 2H, 2W]``."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int):
        super().__init__()
        self.bn0 = ConditionalBatchNorm2d(in_channels, cond_dim)
        self.conv0 = sn_conv2d(in_channels, out_channels, 3)
        self.bn1 = ConditionalBatchNorm2d(out_channels, cond_dim)
        self.conv1 = sn_conv2d(out_channels, out_channels, 3)
        self.shortcut = sn_conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn0(x, y)), scale_factor=2, mode="nearest")
        h = self.conv1(F.relu(self.bn1(self.conv0(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DiscriminatorBlock(nn.Module):
    """Residual block ``[N, in, H, W] -> [N, out, H', W']``, H' = H/2 when ``downsample``."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool,
                 preactivation: bool):
        super().__init__()
        self.conv0 = sn_conv2d(in_channels, out_channels, 3)
        self.conv1 = sn_conv2d(out_channels, out_channels, 3)
        learnable_shortcut = in_channels != out_channels or downsample
        self.shortcut = sn_conv2d(in_channels, out_channels, 1) if learnable_shortcut else None
        self.downsample, self.preactivation = downsample, preactivation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv1(F.relu(self.conv0(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self._shortcut(x)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return x
        # The pre-activation blocks convolve first, the input block pools first (as in BigGAN).
        if self.preactivation:
            x = self.shortcut(x)
            return F.avg_pool2d(x, 2) if self.downsample else x
        x = F.avg_pool2d(x, 2) if self.downsample else x
        return self.shortcut(x)


class Generator(nn.Module):
    """Map ``z`` ``[N, z_dim]`` (float32) to images ``[N, C, R, R]`` in [-1, 1]."""

    def __init__(self, z_dim: int, resolution: int, channels: int, base_channels: int,
                 attention_resolutions: tuple[int, ...] = (), hierarchical_z: bool = True):
        super().__init__()
        if z_dim < 1:
            raise ValueError(f"z_dim {z_dim} is invalid; a generator needs at least one noise "
                             "dimension")
        self.z_dim = z_dim
        self.noise_dims_consumed = z_dim
        widths = [base_channels * m for m in G_WIDTH_MULTIPLIERS[resolution]]
        num_blocks = len(widths) - 1
        self.hierarchical = hierarchical_z and z_dim >= num_blocks + 1
        self.slices = latent_slices(z_dim, num_blocks + 1, hierarchical_z)
        cond_dims = [stop - start for start, stop in self.slices]
        self.bottom_channels = widths[0]

        self.linear = sn_linear(cond_dims[0], widths[0] * BOTTOM_RESOLUTION ** 2)
        self.blocks = nn.ModuleList(GeneratorBlock(widths[i], widths[i + 1], cond_dims[i + 1])
                                    for i in range(num_blocks))
        block_resolutions = [BOTTOM_RESOLUTION * 2 ** (i + 1) for i in range(num_blocks)]
        self.attention = nn.ModuleDict({str(i): SelfAttention(widths[i + 1])
                                        for i, r in enumerate(block_resolutions)
                                        if r in attention_resolutions})
        self.output = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(),
                                    sn_conv2d(widths[-1], channels, 3), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z of shape {tuple(z.shape)} is invalid; expected [N, {self.z_dim}]")
        chunks = [z[:, start:stop] for start, stop in self.slices]
        x = self.linear(chunks[0]).view(len(z), self.bottom_channels, BOTTOM_RESOLUTION,
                                        BOTTOM_RESOLUTION)
        for i, block in enumerate(self.blocks):
            x = block(x, chunks[i + 1])
            if str(i) in self.attention:
                x = self.attention[str(i)](x)
        return self.output(x)


class Discriminator(nn.Module):
    """Map images ``[N, C, R, R]`` in [-1, 1] to logits ``[N]``."""

    def __init__(self, resolution: int, channels: int, base_channels: int,
                 attention_resolutions: tuple[int, ...] = ()):
        super().__init__()
        blocks, attention = [], {}
        in_channels, current = channels, resolution
        for i, (multiplier, downsample) in enumerate(D_BLOCKS[resolution]):
            out_channels = base_channels * multiplier
            blocks.append(DiscriminatorBlock(in_channels, out_channels, downsample,
                                             preactivation=i > 0))
            current //= 2 if downsample else 1
            # Attention follows the first block whose output has a listed resolution.
            if current in attention_resolutions and current not in attention.values():
                attention[str(i)] = current
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.attention = nn.ModuleDict({i: SelfAttention(blocks[int(i)].conv1.out_channels)
                                        for i in attention})
        self.linear = sn_linear(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.attention:
                x = self.attention[str(i)](x)
        return self.linear(F.relu(x).sum(dim=(2, 3))).squeeze(1)


def generator_attention_resolutions(resolution: int) -> list[int]:
    """Return the output resolutions of G's blocks, where G's attention may be placed."""
    return [BOTTOM_RESOLUTION * 2 ** (i + 1) for i in range(len(G_WIDTH_MULTIPLIERS[resolution]) - 1)]


def discriminator_attention_resolutions(resolution: int) -> list[int]:
    """Return the distinct output resolutions of D's blocks, where D's attention may be placed."""
    found, current = [], resolution
    for _, downsample in D_BLOCKS[resolution]:
        current //= 2 if downsample else 1
        if current not in found:
            found.append(current)
    return found


@torch.no_grad()
def initialize_weights(module: nn.Module, init: str) -> None:
    """Re-initialise the weights of every convolution and linear layer in ``module``."""
    for layer in module.modules():
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            continue
        if parametrize.is_parametrized(layer, "weight"):
            WEIGHT_INITS[init](layer.parametrizations.weight.original)
        else:
            WEIGHT_INITS[init](layer.weight)


def orthogonal_penalty(module: nn.Module) -> torch.Tensor:
    """Return BigGAN's sum over weight matrices W of ``||W W^T * (1 - I)||_F^2``.

    Every parameter with at least two dimensions counts, reshaped to ``[out, in * k * k]``. For
    spectrally normalised layers that parameter is the unnormalised weight.
    """
    total = torch.zeros((), device=next(module.parameters()).device)
    for param in module.parameters():
        if param.ndim < 2:
            continue
        w = param.flatten(1)
        gram = w @ w.t()
        total = total + (gram * (1.0 - torch.eye(len(w), device=w.device))).square().sum()
    return total


class HingeLoss(GANLoss):
    """Hinge loss, with optional orthogonal regularisation ``ortho_reg * R(G)`` in G's phase."""

    def __init__(self, G: nn.Module, D: nn.Module, ortho_reg: float):
        self.G, self.D, self.ortho_reg = G, D, ortho_reg
        self.grad_scaler: torch.amp.GradScaler | None = None  # set by the trainer for fp16

    def accumulate_discriminator(self, real: torch.Tensor, z: torch.Tensor,
                                 step: int) -> dict[str, float]:
        with torch.no_grad():
            fake = self.G(z)
        logits_real, logits_fake = self.D(real).float(), self.D(fake).float()
        loss = F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()
        scaled_backward(loss, self.grad_scaler)
        return {"loss_D": loss.item(), "D_real": logits_real.mean().item(),
                "D_fake": logits_fake.mean().item()}

    def accumulate_generator(self, z: torch.Tensor, step: int) -> dict[str, float]:
        loss = -self.D(self.G(z)).float().mean()
        stats = {"loss_G": loss.item()}
        if self.ortho_reg > 0:
            penalty = orthogonal_penalty(self.G)
            loss = loss + self.ortho_reg * penalty
            stats["ortho"] = penalty.item()
        scaled_backward(loss, self.grad_scaler)
        return stats


def _check_options(resolution: int, options: dict[str, Any]) -> None:
    if not isinstance(options["hierarchical_z"], bool):
        raise ValueError(f"biggan option hierarchical_z={options['hierarchical_z']!r} is "
                         "invalid; use true or false")
    if options["init"] not in WEIGHT_INITS:
        raise ValueError(f"biggan option init={options['init']!r} is invalid; use one of "
                         f"{list(WEIGHT_INITS)}")
    if options["ortho_reg"] < 0:
        raise ValueError(f"biggan option ortho_reg={options['ortho_reg']!r} is invalid; use a "
                         "non-negative weight (0 turns it off)")
    allowed_by_option = {"g_attention_resolutions": generator_attention_resolutions(resolution),
                         "d_attention_resolutions": discriminator_attention_resolutions(resolution)}
    for name, allowed in allowed_by_option.items():
        bad = [r for r in options[name] if r not in allowed]
        if bad:
            raise ValueError(f"biggan option {name}={list(options[name])} is invalid at "
                             f"{resolution}x{resolution}: {bad} not among the block output "
                             f"resolutions {allowed}")
        if any(r < 8 for r in options[name]):
            raise ValueError(f"biggan option {name}={list(options[name])} is invalid: "
                             "attention pools 2x2 and needs a resolution of at least 8")


def build_biggan(z_dim: int, resolution: int, channels: int, capacity: float,
                 options: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """Build BigGAN's G and D with a base width of ``base_channels * capacity``."""
    if resolution not in G_WIDTH_MULTIPLIERS:
        raise ValueError(f"biggan does not support resolution {resolution}; supported "
                         f"resolutions: {sorted(G_WIDTH_MULTIPLIERS)}")
    _check_options(resolution, options)
    width = scaled_channels(options["base_channels"], capacity)
    G = Generator(z_dim, resolution, channels, width, tuple(options["g_attention_resolutions"]),
                  options["hierarchical_z"])
    sizes = [stop - start for start, stop in G.slices]
    if G.hierarchical:
        log.info("biggan: z_dim %d split into chunks %s (linear layer, then one per block)",
                 z_dim, sizes)
    else:
        reason = ("hierarchical_z is off" if not options["hierarchical_z"] else
                  f"z_dim {z_dim} is smaller than the {len(sizes)} latent chunks")
        log.info("biggan: %s, so the whole z (%d dims) feeds the linear layer and all %d blocks",
                 reason, z_dim, len(sizes) - 1)
    D = Discriminator(resolution, channels, width, tuple(options["d_attention_resolutions"]))
    initialize_weights(G, options["init"])
    initialize_weights(D, options["init"])
    return G, D


def make_biggan_loss(G: nn.Module, D: nn.Module, options: dict[str, Any]) -> GANLoss:
    return HingeLoss(G, D, float(options["ortho_reg"]))


MODELS.register("biggan", ModelFamily(
    name="biggan",
    build=build_biggan,
    make_loss=make_biggan_loss,
    default_options={
        "base_channels": 64,              # BigGAN's ch; G and D widths are multiples of it
        "g_attention_resolutions": [],    # G block output resolutions followed by attention
        "d_attention_resolutions": [],    # D block output resolutions followed by attention
        "hierarchical_z": True,           # split z over the linear layer and the G blocks
        "init": "N02",                    # weight initialisation: ortho | N02 | xavier
        "ortho_reg": 0.0,                 # orthogonal regularisation weight (BigGAN: 1e-4)
        "lr_g": 2e-4,
        "lr_d": 2e-4,
        "betas": [0.0, 0.999],
    },
    resolutions=tuple(sorted(G_WIDTH_MULTIPLIERS)),
))
