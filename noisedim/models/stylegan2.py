"""``stylegan2``: StyleGAN2 (Karras et al., 2020, "Analyzing and Improving the Image Quality of
StyleGAN", CVPR) trained with adaptive discriminator augmentation as in StyleGAN2-ADA (Karras et
al., 2020, "Training Generative Adversarial Networks with Limited Data", NeurIPS).

Generator: a mapping network of ``mapping_layers`` fully connected layers, with learning rate
x0.01, maps z to w. The synthesis network starts from a learned 4x4 constant. At each resolution
it applies modulated and demodulated 3x3 convolutions (the first one up-samples 2x), per-layer
noise inputs and leaky ReLU, and a 1x1 toRGB layer adds its output to the up-sampled image of
the previous resolution (the "skip" generator).

Discriminator: a 1x1 fromRGB layer, then residual blocks of two 3x3 convolutions (the second
one down-samples) plus a 1x1 shortcut, summed with gain sqrt(1/2). Minibatch standard deviation,
a 3x3 convolution and two fully connected layers follow. All layers use the equalized learning
rate.

Loss: non-saturating logistic. Lazy R1 on real images every ``r1_interval`` steps has weight
``r1_gamma / 2`` times the interval, and lazy path-length regularisation is optional. D sees
every image, real or generated, through ``noisedim.augment.AugmentPipe``, whose probability ADA
adjusts.

Choices for a noise-dimension study:

* ``normalize_z`` defaults to false. The official mapping network first rescales z to unit root
  mean square. With z_dim = 1 that leaves only the sign of z (two possible w), and in general it
  removes one of the z_dim degrees of freedom, so the generator would consume less noise than
  z_dim says.
* ``noise_inputs`` controls the per-layer noise. ``random`` draws fresh N(0, 1) noise per sample
  and layer, as the official code does. These scalars are extra noise dimensions, and
  ``G.noise_dims_consumed`` counts them. ``const`` uses one fixed buffer per layer, drawn at
  build time, and ``off`` adds no noise. With ``const`` or ``off`` the generator is a
  deterministic function of z alone.

Differences from the official implementation (NVlabs/stylegan2-ada-pytorch):

* D's down-sampling convolutions average-pool 2x2 before convolving instead of filtering with
  [1, 3, 3, 1], and G's image skips up-sample bilinearly, which is the same filter away from
  the border.
* Modulation scales the activations instead of the weights of a grouped convolution, which
  computes the same function.
* There is no style mixing, truncation, or fp16 layers with activation clamping.
* The regularisation terms join the main loss of the same step instead of separate phases, and
  the Adam settings are not adjusted for lazy regularisation.
* D is residual. The official ``cifar`` configuration uses the plain ("orig") D.

The other defaults follow the official ``cifar`` configuration: two mapping layers, 512 channels
at every resolution up to 64, R1 gamma 0.01, learning rate 0.0025 with betas (0, 0.99), and no
path-length regularisation. In training mode G's output is unbounded, as in the official code,
so D's gradient is not cut at the range edge. In eval mode (G_ema, exported networks) it is
clamped to [-1, 1].
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from noisedim.augment import TRANSFORMS, AdaController, AugmentPipe
from noisedim.models import GANLoss, ModelFamily, scaled_channels
from noisedim.models.layers import (LRELU_GAIN, LRELU_SLOPE, EqualizedConv2d, EqualizedLinear,
                                    input_gradient, scaled_backward)
from noisedim.registry import MODELS

RESOLUTIONS = (8, 16, 32, 64, 128, 256)

# StyleGAN2's [1, 3, 3, 1] low-pass filter, 2D, with gain 4 to undo zero-insertion up-sampling.
_FIR = torch.tensor([1.0, 3.0, 3.0, 1.0])
UPSAMPLE_FILTER = torch.outer(_FIR, _FIR) / 16.0
NOISE_MODES = ("random", "const", "off")
AUGMENT_MODES = ("ada", "fixed", "off")


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Up-sample ``x`` ``[N, I, H, W]`` 2x and convolve with ``weight`` ``[O, I, 3, 3]``.

    Zero insertion and the convolution run as one stride-2 transposed convolution, which costs a
    quarter of a convolution at the high resolution. The [1, 3, 3, 1] filter then removes the
    spectral images that zero insertion creates. Returns ``[N, O, 2H, 2W]``.
    """
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)           # [N, O, 2H+1, 2W+1]
    channels = x.shape[1]
    kernel = UPSAMPLE_FILTER.to(device=x.device, dtype=x.dtype).expand(channels, 1, 4, 4)
    return F.conv2d(F.pad(x, (1, 1, 1, 1)), kernel, groups=channels)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Rescale each row of ``x`` ``[N, D]`` to unit root mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """Map ``z`` ``[N, z_dim]`` to ``w`` ``[N, w_dim]``."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_multiplier: float,
                 normalize_z: bool):
        super().__init__()
        features = [z_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(*(EqualizedLinear(features[i], features[i + 1],
                                                      lr_multiplier=lr_multiplier, activate=True)
                                      for i in range(num_layers)))
        self.normalize_z = normalize_z

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(normalize_2nd_moment(z) if self.normalize_z else z)


class ModulatedConv2d(nn.Module):
    """Convolution whose input channels are scaled per sample by a style from ``w``.

    Maps ``x`` ``[N, I, H, W]`` and ``w`` ``[N, w_dim]`` to ``[N, O, H', W']`` (H' = 2H when
    ``up``). With ``demodulate`` each output channel is divided by the norm of its modulated
    filter, so the output has unit variance for unit-variance input.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate, self.up, self.padding = demodulate, up, kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)                                          # [N, I]
        if not self.demodulate:
            styles = styles * self.weight_gain
        x = x * styles[:, :, None, None]
        if self.up:
            x = upsample_conv2d(x, self.weight)
        else:
            x = F.conv2d(x, self.weight, padding=self.padding)
        if self.demodulate:
            # sum over i, k of (W[o, i, k] * s[n, i])^2, for every sample n and output o
            filter_norms = styles.square() @ self.weight.square().sum(dim=(2, 3)).t()  # [N, O]
            x = x * (filter_norms + 1e-8).rsqrt()[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution, noise input, bias and leaky ReLU at ``resolution``."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 up: bool, noise_mode: str):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_mode, self.resolution = noise_mode, resolution
        if noise_mode != "off":
            self.noise_strength = nn.Parameter(torch.zeros(()))
        if noise_mode == "const":
            self.register_buffer("noise_const", torch.randn(resolution, resolution))

    @property
    def noise_scalars(self) -> int:
        """Random scalars one sample draws in this layer."""
        return self.resolution ** 2 if self.noise_mode == "random" else 0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        if self.noise_mode == "random":
            noise = torch.randn(len(x), 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype)
            x = x + noise * self.noise_strength
        elif self.noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return F.leaky_relu(x + self.bias[:, None, None], LRELU_SLOPE) * LRELU_GAIN


class ToRGB(nn.Module):
    """Modulated 1x1 convolution without demodulation, ``[N, I, H, W] -> [N, C, H, W]``."""

    def __init__(self, in_channels: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: convolutions, then toRGB added to the image."""

    def __init__(self, in_channels: int, out_channels: int, channels: int, w_dim: int,
                 resolution: int, noise_mode: str):
        super().__init__()
        first = resolution == 4
        if first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        self.convs = nn.ModuleList(
            ([] if first else [SynthesisLayer(in_channels, out_channels, w_dim, resolution,
                                              up=True, noise_mode=noise_mode)])
            + [SynthesisLayer(out_channels, out_channels, w_dim, resolution, up=False,
                              noise_mode=noise_mode)])
        self.torgb = ToRGB(out_channels, channels, w_dim)

    def forward(self, x: torch.Tensor | None, image: torch.Tensor | None,
                ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map features, image and this block's ``ws`` ``[N, len(convs) + 1, w_dim]``."""
        if x is None:
            x = self.const.unsqueeze(0).expand(len(ws), -1, -1, -1)
        for i, conv in enumerate(self.convs):
            x = conv(x, ws[:, i])
        rgb = self.torgb(x, ws[:, len(self.convs)])
        if image is not None:
            rgb = rgb + F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
        return x, rgb


class SynthesisNetwork(nn.Module):
    """Map ``ws`` ``[N, num_ws, w_dim]`` to images ``[N, C, R, R]`` (unbounded)."""

    def __init__(self, w_dim: int, resolution: int, channels: int, widths: dict[int, int],
                 noise_mode: str):
        super().__init__()
        resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        self.blocks = nn.ModuleList(
            SynthesisBlock(widths[max(r // 2, 4)], widths[r], channels, w_dim, r, noise_mode)
            for r in resolutions)
        # As in the official code, a block's toRGB shares its w with the next block's first
        # convolution: num_ws counts the convolutions plus the last toRGB.
        self.num_ws = sum(len(block.convs) for block in self.blocks) + 1

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = image = None
        index = 0
        for block in self.blocks:
            x, image = block(x, image, ws[:, index:index + len(block.convs) + 1])
            index += len(block.convs)
        return image


class Generator(nn.Module):
    """Map ``z`` ``[N, z_dim]`` (float32) to images ``[N, C, R, R]``.

    Outputs are clamped to [-1, 1] in eval mode only (see the module docstring).
    """

    def __init__(self, z_dim: int, resolution: int, channels: int, widths: dict[int, int],
                 w_dim: int, mapping_layers: int, mapping_lr_multiplier: float,
                 normalize_z: bool, noise_mode: str):
        super().__init__()
        if z_dim < 1:
            raise ValueError(f"z_dim {z_dim} is invalid; a generator needs at least one noise "
                             "dimension")
        self.z_dim = z_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_multiplier,
                                      normalize_z)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, widths, noise_mode)
        self.noise_dims_consumed = z_dim + sum(layer.noise_scalars for layer in self.modules()
                                               if isinstance(layer, SynthesisLayer))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z of shape {tuple(z.shape)} is invalid; expected [N, {self.z_dim}]")
        ws = self.mapping(z).unsqueeze(1).expand(-1, self.synthesis.num_ws, -1)
        image = self.synthesis(ws)
        return image if self.training else image.clamp(-1.0, 1.0)


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int) -> torch.Tensor:
    """Append the minibatch standard deviation to ``x`` ``[N, C, H, W]``: ``[N, C + F, H, W]``.

    Samples ``i, i + N/G, i + 2N/G, ...`` form a group of ``G = min(group_size, N)``. The
    standard deviation of each feature over a group, averaged over ``C / F`` channels and all
    pixels, gives ``F = num_channels`` extra feature maps.
    """
    n, c, h, w = x.shape
    group = min(group_size, n)
    if n % group:
        raise ValueError(f"batch size {n} is not divisible by the minibatch-stddev group size "
                         f"{group}; use a batch size divisible by mbstd_group_size={group_size} "
                         "or change that option")
    # float32 even under autocast, because 1e-8 underflows to 0 in float16 and the square root
    # of a zero variance then has an infinite gradient.
    y = x.float().reshape(group, -1, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))                      # [N/G, F]
    y = y.reshape(-1, num_channels, 1, 1).repeat(group, 1, h, w)   # [N, F, H, W]
    return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual block ``[N, in, H, W] -> [N, out, H/2, W/2]``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        gain = math.sqrt(0.5)
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, down=True, gain=gain)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, bias=False, activate=False,
                                    down=True, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv1(self.conv0(x))


class Discriminator(nn.Module):
    """Map images ``[N, C, R, R]`` to logits ``[N]``; N must be divisible by the mbstd group."""

    def __init__(self, resolution: int, channels: int, widths: dict[int, int],
                 mbstd_group_size: int, mbstd_channels: int):
        super().__init__()
        self.fromrgb = EqualizedConv2d(channels, widths[resolution], 1)
        resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]
        self.blocks = nn.Sequential(*(DiscriminatorBlock(widths[r], widths[r // 2])
                                      for r in resolutions))
        width = widths[4]
        self.mbstd_group_size, self.mbstd_channels = mbstd_group_size, mbstd_channels
        self.conv = EqualizedConv2d(width + mbstd_channels, width, 3)
        self.fc = EqualizedLinear(width * 16, width, activate=True)
        self.out = EqualizedLinear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.fromrgb(x))
        x = self.conv(minibatch_stddev(x, self.mbstd_group_size, self.mbstd_channels))
        return self.out(self.fc(x.flatten(1))).squeeze(1)


class StyleGAN2Loss(GANLoss):
    """Non-saturating logistic loss with lazy R1, optional path length, and augmentation.

    ``state_dict`` contains the ADA state (``augment_p`` and the partial interval), the running
    mean path length and the last measured R1 penalty, so a resumed run continues exactly.
    """

    def __init__(self, G: Generator, D: Discriminator, options: dict[str, Any]):
        self.G, self.D = G, D
        self.r1_gamma, self.r1_interval = float(options["r1_gamma"]), int(options["r1_interval"])
        self.pl_weight, self.pl_interval = float(options["pl_weight"]), int(options["pl_interval"])
        self.pl_decay, self.pl_batch_shrink = float(options["pl_decay"]), int(options["pl_batch_shrink"])
        self.augment_pipe: AugmentPipe | None = None
        self.ada: AdaController | None = None
        if options["augment"] != "off":
            self.augment_pipe = AugmentPipe(options["augment_transforms"], options["augment_p"])
        if options["augment"] == "ada":
            self.ada = AdaController(self.augment_pipe, options["ada_target"],
                                     options["ada_interval"], options["ada_kimg"])
        self.pl_mean = 0.0
        self.last_r1 = 0.0
        self.grad_scaler: torch.amp.GradScaler | None = None  # set by the trainer for fp16

    @property
    def augment_p(self) -> float:
        """Current augmentation probability (0 without augmentation)."""
        return self.augment_pipe.p if self.augment_pipe is not None else 0.0

    def run_D(self, images: torch.Tensor) -> torch.Tensor:
        if self.augment_pipe is not None:
            images = self.augment_pipe(images)
        return self.D(images).float()

    def accumulate_discriminator(self, real: torch.Tensor, z: torch.Tensor,
                                 step: int) -> dict[str, float]:
        with torch.no_grad():
            fake = self.G(z)
        logits_fake = self.run_D(fake)
        do_r1 = self.r1_gamma > 0 and step % self.r1_interval == 0
        real = real.detach().requires_grad_(do_r1)
        logits_real = self.run_D(real)
        loss = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        stats = {"loss_D": loss.item(), "D_real": logits_real.mean().item(),
                 "D_fake": logits_fake.mean().item(),
                 "rt": logits_real.detach().sign().mean().item()}

        # Lazy R1: penalise the gradient on the un-augmented real images every r1_interval
        # steps, multiplied by the interval so the average strength matches r1_gamma / 2.
        if do_r1:
            grad = input_gradient(logits_real, real, self.grad_scaler)
            penalty = grad.float().square().sum(dim=(1, 2, 3)).mean()
            loss = loss + penalty * (0.5 * self.r1_gamma * self.r1_interval)
            self.last_r1 = penalty.item()
        if self.r1_gamma > 0:
            stats["r1"] = self.last_r1
        scaled_backward(loss, self.grad_scaler)

        if self.ada is not None:
            self.ada.observe(logits_real)
        if self.augment_pipe is not None:
            stats["augment_p"] = self.augment_pipe.p
        return stats

    def accumulate_generator(self, z: torch.Tensor, step: int) -> dict[str, float]:
        loss = F.softplus(-self.run_D(self.G(z))).mean()
        stats = {"loss_G": loss.item()}
        if self.pl_weight > 0:
            if step % self.pl_interval == 0:
                penalty = self._path_length_penalty(z[:max(1, len(z) // self.pl_batch_shrink)])
                loss = loss + penalty * (self.pl_weight * self.pl_interval)
            stats["pl_mean"] = self.pl_mean
        scaled_backward(loss, self.grad_scaler)
        return stats

    def _path_length_penalty(self, z: torch.Tensor) -> torch.Tensor:
        """Return the path-length penalty of StyleGAN2 on ``z`` and update ``pl_mean``."""
        ws = self.G.mapping(z).unsqueeze(1).repeat(1, self.G.synthesis.num_ws, 1)
        images = self.G.synthesis(ws)
        height, width = images.shape[2:]
        noise = torch.randn_like(images) / math.sqrt(height * width)
        grads = input_gradient(images * noise, ws, self.grad_scaler).float()  # [N, num_ws, w_dim]
        lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = self.pl_mean + (lengths.mean() - self.pl_mean) * self.pl_decay
        self.pl_mean = pl_mean.item()
        return (lengths - pl_mean).square().mean()

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"pl_mean": self.pl_mean, "last_r1": self.last_r1}
        if self.ada is not None:
            state["ada"] = self.ada.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(f"stylegan2 loss state contains {sorted(state)}, expected "
                             f"{sorted(expected)}; the checkpoint was written with other "
                             "augmentation settings")
        self.pl_mean, self.last_r1 = float(state["pl_mean"]), float(state["last_r1"])
        if self.ada is not None:
            self.ada.load_state_dict(state["ada"])


def _check_options(channels: int, widths: dict[int, int], options: dict[str, Any]) -> None:
    choices = {"noise_inputs": NOISE_MODES, "augment": AUGMENT_MODES}
    for name, allowed in choices.items():
        if options[name] not in allowed:
            raise ValueError(f"stylegan2 option {name}={options[name]!r} is invalid; use one "
                             f"of {list(allowed)}")
    if not isinstance(options["normalize_z"], bool):
        raise ValueError(f"stylegan2 option normalize_z={options['normalize_z']!r} is invalid; "
                         "use true or false")
    at_least_one = ("w_dim", "mapping_layers", "mbstd_group_size", "mbstd_channels",
                    "r1_interval", "pl_interval", "pl_batch_shrink", "ada_interval")
    for name in at_least_one:
        if int(options[name]) < 1 or int(options[name]) != options[name]:
            raise ValueError(f"stylegan2 option {name}={options[name]!r} is invalid; use an "
                             "integer of at least 1")
    if widths[4] % options["mbstd_channels"]:
        raise ValueError(f"stylegan2 option mbstd_channels={options['mbstd_channels']} does not "
                         f"divide the {widths[4]} channels at 4x4; choose a divisor")
    unknown = [t for t in options["augment_transforms"] if t not in TRANSFORMS]
    if unknown:
        raise ValueError(f"stylegan2 option augment_transforms lists unknown transforms "
                         f"{unknown}; known transforms: {list(TRANSFORMS)}")
    colour = {"brightness", "contrast", "saturation"} & set(options["augment_transforms"])
    if options["augment"] != "off" and colour and channels not in (1, 3):
        raise ValueError(f"colour augmentation {sorted(colour)} needs 1 or 3 image channels, "
                         f"the dataset has {channels}; remove them from augment_transforms")


def build_stylegan2(z_dim: int, resolution: int, channels: int, capacity: float,
                    options: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """Build StyleGAN2's G and D.

    Each resolution r gets ``min(channel_base / r, channel_max) * capacity`` channels. The
    capacity does not scale w_dim or the mapping network, as the official ``--cbase`` does not.
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"stylegan2 does not support resolution {resolution}; supported "
                         f"resolutions: {list(RESOLUTIONS)}")
    widths = {2 ** i: scaled_channels(min(options["channel_base"] // 2 ** i,
                                          options["channel_max"]), capacity)
              for i in range(2, int(math.log2(resolution)) + 1)}
    _check_options(channels, widths, options)
    G = Generator(z_dim, resolution, channels, widths, options["w_dim"],
                  options["mapping_layers"], options["mapping_lr_multiplier"],
                  options["normalize_z"], options["noise_inputs"])
    D = Discriminator(resolution, channels, widths, options["mbstd_group_size"],
                      options["mbstd_channels"])
    return G, D


def make_stylegan2_loss(G: nn.Module, D: nn.Module, options: dict[str, Any]) -> GANLoss:
    return StyleGAN2Loss(G, D, options)


MODELS.register("stylegan2", ModelFamily(
    name="stylegan2",
    build=build_stylegan2,
    make_loss=make_stylegan2_loss,
    default_options={
        "channel_base": 32768,            # channels at resolution r: channel_base / r ...
        "channel_max": 512,               # ... at most this, times the capacity
        "w_dim": 512,                     # width of w and of the mapping network
        "mapping_layers": 2,              # 2 in the official cifar configuration, else 8
        "mapping_lr_multiplier": 0.01,
        "normalize_z": False,             # official: true; see the module docstring
        "noise_inputs": "random",         # random | const | off
        "mbstd_group_size": 4,            # samples per minibatch-stddev group (cifar: 32)
        "mbstd_channels": 1,
        "r1_gamma": 0.01,                 # R1 weight gamma (penalty gamma / 2 * |grad|^2)
        "r1_interval": 16,                # steps between lazy R1 evaluations
        "pl_weight": 0.0,                 # path-length weight; 0 turns it off (official: 2)
        "pl_interval": 4,                 # steps between lazy path-length evaluations
        "pl_decay": 0.01,                 # decay of the running mean path length
        "pl_batch_shrink": 2,             # path length uses batch_size / this samples
        "augment": "ada",                 # ada | fixed | off
        "augment_p": 0.0,                 # initial (ada) or constant (fixed) probability
        "augment_transforms": list(TRANSFORMS),
        "ada_target": 0.6,                # target of r_t = E[sign(D(real))]
        "ada_interval": 4,                # batches between p adjustments
        "ada_kimg": 500,                  # kimg for p to move by 1 at full speed
        "lr_g": 0.0025,
        "lr_d": 0.0025,
        "betas": [0.0, 0.99],
    },
    resolutions=RESOLUTIONS,
))
