"""Building blocks shared by the ``biggan`` and ``stylegan2`` families.

* Spectrally normalised convolutions and linear layers, as in BigGAN (Brock et al., 2019, "Large
  Scale GAN Training for High Fidelity Natural Image Synthesis"). They use ``torch.nn.utils.parametrizations.spectral_norm``, which runs one power
  iteration per training-mode forward and keeps its ``_u`` and ``_v`` vectors in buffers, so
  checkpoints contain them.
* Layers with the equalized learning rate of StyleGAN (Karras et al., 2019) and StyleGAN2
  (Karras et al., 2020, "Analyzing and Improving the Image Quality of StyleGAN"): weights are
  stored as N(0, 1) / lr_multiplier and scaled by ``lr_multiplier / sqrt(fan_in)`` at run time.
* Loss-scaling helpers for mixed precision. The trainer sets a loss's ``grad_scaler`` attribute
  to a ``torch.amp.GradScaler`` when it trains in fp16. The losses call ``scaled_backward`` and
  ``input_gradient``, which scale and unscale their backward passes and gradient penalties as
  the gradient-penalty example of the PyTorch AMP documentation does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through leaky ReLU


# Spectral normalisation (BigGAN) --------------------------------------------------------------

def sn_conv2d(in_channels: int, out_channels: int, kernel_size: int,
              bias: bool = True) -> nn.Conv2d:
    """Return a 'same'-padded convolution with spectral normalisation and zero bias."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
    if bias:
        nn.init.zeros_(conv.bias)
    return spectral_norm(conv)


def sn_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """Return a linear layer with spectral normalisation and zero bias."""
    linear = nn.Linear(in_features, out_features, bias=bias)
    if bias:
        nn.init.zeros_(linear.bias)
    return spectral_norm(linear)


# Equalized learning rate (StyleGAN2) ----------------------------------------------------------

class EqualizedLinear(nn.Module):
    """Fully connected layer with equalized learning rate, mapping ``[N, in]`` to ``[N, out]``.

    ``lr_multiplier`` scales the effective learning rate of the layer (0.01 in StyleGAN's
    mapping network). ``bias_init`` is the initial bias (1 for the style affines, so styles start
    at 1). With ``activate`` the output passes through leaky ReLU (slope 0.2) times sqrt(2).
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0,
                 lr_multiplier: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN if self.activate else x


class EqualizedConv2d(nn.Module):
    """'Same'-padded convolution with equalized learning rate, ``[N, I, H, W] -> [N, O, H, W]``.

    ``down=True`` halves the resolution with 2x2 average pooling before the convolution.
    ``activate`` applies leaky ReLU times sqrt(2). ``gain`` multiplies the result, and sqrt(0.5)
    on both branches of a residual block keeps the variance of their sum.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activate: bool = True, down: bool = False, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        self.activate, self.down, self.gain = activate, down, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        if self.activate:
            x = F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN
        return x * self.gain if self.gain != 1.0 else x


# Loss scaling for fp16 ------------------------------------------------------------------------

def scaled_backward(loss: torch.Tensor, grad_scaler: torch.amp.GradScaler | None) -> None:
    """Back-propagate ``loss``, multiplied by the scaler's current scale when one is given."""
    if grad_scaler is None:
        loss.backward()
    else:
        grad_scaler.scale(loss).backward()


def input_gradient(outputs: torch.Tensor, inputs: torch.Tensor,
                   grad_scaler: torch.amp.GradScaler | None) -> torch.Tensor:
    """Return d(outputs.sum())/d(inputs) with ``create_graph=True``, for gradient penalties.

    With a scaler the sum is scaled before differentiation, so small fp16 gradients do not
    underflow. The result is divided by the scale again, so it is the same gradient either way.
    """
    total = outputs.sum()
    if grad_scaler is None:
        (grad,) = torch.autograd.grad(total, inputs, create_graph=True)
        return grad
    (grad,) = torch.autograd.grad(grad_scaler.scale(total), inputs, create_graph=True)
    return grad / grad_scaler.get_scale()
