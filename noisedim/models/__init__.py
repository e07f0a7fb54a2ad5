"""GAN model families and the interface the trainer uses.

A model family is registered in ``noisedim.registry.MODELS`` as a ``ModelFamily``. Its ``build``
returns a generator and a discriminator for one cell:

* the generator maps noise ``z`` of shape ``[N, z_dim]`` (float32) to images ``[N, C, H, W]``
  in [-1, 1], and has the attributes ``z_dim`` and ``noise_dims_consumed`` (the number of random
  scalars one sample draws in total: ``z_dim`` plus any per-layer noise inputs);
* the discriminator maps images ``[N, C, H, W]`` in [-1, 1] to logits ``[N]``.

Its ``make_loss`` returns a ``GANLoss`` that computes and back-propagates each phase's loss, so
that family-specific regularisers (R1, path length, augmentation) stay with the family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


# Options of the trainer that every family accepts. d_steps: discriminator steps per generator
# step, each on a fresh real batch (BigGAN's CIFAR recipe uses 4).
TRAINER_OPTIONS: dict[str, Any] = {"d_steps": 1}


class GANLoss:
    """Loss of one model family: computes each phase's loss and calls ``backward`` on it.

    Subclasses implement ``accumulate_discriminator`` and ``accumulate_generator``; both return a
    dict of float statistics whose ``loss_D`` / ``loss_G`` entries the trainer checks for
    finiteness. ``state_dict`` contains any state that must survive a resume (for example the
    augmentation probability).
    """

    def accumulate_discriminator(self, real: torch.Tensor, z: torch.Tensor,
                                 step: int) -> dict[str, float]:
        raise NotImplementedError

    def accumulate_generator(self, z: torch.Tensor, step: int) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state, but the checkpoint contains "
                             f"{sorted(state)}")


@dataclass(frozen=True)
class ModelFamily:
    """A registered GAN family.

    ``build(z_dim, resolution, channels, capacity, options) -> (G, D)`` and
    ``make_loss(G, D, options) -> GANLoss``; ``default_options`` lists every option the family
    accepts, with its default (the config may override any of them and nothing else).
    """

    name: str
    build: Callable[..., tuple[nn.Module, nn.Module]]
    make_loss: Callable[..., GANLoss]
    default_options: dict[str, Any] = field(default_factory=dict)
    resolutions: tuple[int, ...] = (8, 16, 32, 64, 128, 256)

    def resolve_options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        """Return the default options updated with ``options``; unknown keys raise.

        Every family also accepts the trainer's options in ``TRAINER_OPTIONS``.
        """
        options = dict(options or {})
        defaults = {**TRAINER_OPTIONS, **self.default_options}
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for model {self.name!r}; allowed: "
                             f"{sorted(defaults)}")
        for key, value in options.items():
            _check_option_type(self.name, key, value, defaults[key])
        resolved = {**defaults, **options}
        if not isinstance(resolved["d_steps"], int) or resolved["d_steps"] < 1:
            raise ValueError(f"option d_steps={resolved['d_steps']!r} of model {self.name!r} is "
                             "invalid; use an integer of at least 1")
        return resolved

    def check_resolution(self, resolution: int) -> None:
        if resolution not in self.resolutions:
            raise ValueError(f"model {self.name!r} does not support resolution {resolution}; "
                             f"supported resolutions: {list(self.resolutions)}")


def _check_option_type(model: str, key: str, value: Any, default: Any) -> None:
    """Raise when ``value`` has another kind of type than the option's default."""
    number = (int, float)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, number):
        # An integer default may still take a real value (ada_kimg=500 accepts 0.5).
        ok = isinstance(value, number) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    elif default is None:
        ok = True
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(f"option {key}={value!r} of model {model!r} has the wrong type; "
                         f"expected a value like the default {default!r}")


def scaled_channels(base: int, capacity: float, minimum: int = 4) -> int:
    """Return ``base * capacity`` rounded to an integer of at least ``minimum`` channels."""
    if capacity <= 0:
        raise ValueError(f"capacity {capacity} is invalid; use a positive channel multiplier")
    return max(minimum, int(round(base * capacity)))


def num_upsamplings(resolution: int, start: int = 4) -> int:
    """Return how many 2x upsamplings lead from ``start`` to ``resolution`` (a power of two)."""
    steps = math.log2(resolution / start)
    if steps < 1 or steps != int(steps):
        raise ValueError(f"resolution {resolution} is invalid; use a power of two of at least "
                         f"{2 * start}")
    return int(steps)
