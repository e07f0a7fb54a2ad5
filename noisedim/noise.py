"""GAN noise samplers whose entropy per dimension is known exactly.

Two kinds of noise:

- float noise: N(0, 1) rounded to nearest in a float format (``float16``, ``bfloat16`` or
  ``float32``), whose entropy is ``float_noise_entropy(dtype, "normal")``.
- quantised noise: each dimension uniform over 2^bits fixed levels, whose entropy is exactly
  ``bits`` per dimension and whose support can be enumerated.

Float noise is drawn in float64 and rounded once to the target format. Drawing directly in
float32 with torch.randn would not give the rounded normal: on the CPU, torch 2.x fills
float32 tensors of 16 or more elements by Box-Muller from pairs of 24-bit uniforms, which
carries at most 24 bits per dimension. The float64 draws use 53-bit uniforms, so their
rounding to float32 or narrower follows the rounded normal except far below the target's
spacing.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
import torch
from scipy import special

from noisedim.entropy import FLOAT_FORMATS, float_noise_entropy, get_float_format

logger = logging.getLogger(__name__)

# Formats that NoiseSampler draws float noise in. Every value of each is a float32 value.
SAMPLER_DTYPES = ("float16", "bfloat16", "float32")

MAX_BITS = 32
# 2^24 levels of either level set stay distinct in float32: the uniform levels are
# 2 sqrt(3) 2^-24 = 2.1e-7 apart, above float32's spacing 1.2e-7 in [1, 2), and adjacent
# normal quantiles are at least 2^-24 / phi(x) apart, above float32's spacing at every x.
MAX_FLOAT32_BITS = 24
# Largest number of noise vectors that NoiseSampler.enumerate returns, 2^24.
MAX_ENUMERATED_BITS = 24


# --------------------------------------------------------------------------------------------
# Quantisation levels.


def _uniform_levels(indices: np.ndarray, bits: int) -> np.ndarray:
    # Mid-rise levels filling (-sqrt 3, sqrt 3): variance 1 - 4^-bits.
    half_range = math.sqrt(3.0)
    return -half_range + (indices + 0.5) * (2.0 * half_range / 2.0 ** bits)


def _normal_quantile_levels(indices: np.ndarray, bits: int) -> np.ndarray:
    return special.ndtri((indices + 0.5) / 2.0 ** bits)


# Level-set name -> function(level indices as float64 array, bits) -> float64 level values,
# increasing in the index.
LEVEL_SETS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "uniform": _uniform_levels,
    "normal_quantiles": _normal_quantile_levels,
}


def _check_bits(bits: int, limit: int = MAX_BITS) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= limit:
        raise ValueError(f"invalid bits={bits!r}: use an integer from 1 to {limit}")


def _check_levels(levels: str) -> None:
    if levels not in LEVEL_SETS:
        raise ValueError(f"unknown level set {levels!r}; known level sets: "
                         f"{', '.join(LEVEL_SETS)}")


def quantized_levels(bits: int, levels: str = "normal_quantiles") -> np.ndarray:
    """Return the 2^bits quantisation levels of one noise dimension, increasing, float64.

    levels: ``uniform`` (evenly spaced mid-rise levels in (-sqrt 3, sqrt 3), variance
    1 - 4^-bits) or ``normal_quantiles`` (the N(0, 1) quantiles at (i + 0.5) / 2^bits).
    bits: 1 to 24 (at most 2^24 levels, 128 MiB).
    """
    _check_bits(bits, limit=MAX_ENUMERATED_BITS)
    _check_levels(levels)
    return LEVEL_SETS[levels](np.arange(2 ** bits, dtype=np.float64), bits)


def quantized_noise_entropy(bits: int, levels: str = "normal_quantiles") -> float:
    """Return the entropy in bits per dimension of noise uniform over 2^bits distinct levels,
    which is exactly ``bits``."""
    _check_bits(bits)
    _check_levels(levels)
    return float(bits)


# --------------------------------------------------------------------------------------------
# Rounding float64 to a narrower format.


def round_to_format(values: torch.Tensor, dtype: str) -> torch.Tensor:
    """Round float64 ``values`` to nearest in format ``dtype``, ties to even, in one step.

    Returns float64 values that are exactly representable in ``dtype`` (+-inf on overflow).
    torch's own float64 -> float16 and -> bfloat16 casts go through float32 and so round
    twice, which moves about one value in 2^14 to the wrong neighbour. This function rounds
    once.
    """
    fmt = get_float_format(dtype)
    if values.dtype != torch.float64:
        raise ValueError(f"round_to_format needs float64 values, got {values.dtype}")
    _, exponent = torch.frexp(values)  # |values| in [2^(exponent-1), 2^exponent)
    binade = torch.clamp(exponent.to(torch.float64) - 1.0, min=float(fmt.min_exponent))
    spacing = torch.exp2(binade - fmt.mantissa_bits)
    # Division and multiplication by a power of two are exact, and torch.round rounds half to
    # even.
    rounded = torch.round(values / spacing) * spacing
    overflow = rounded.abs() > fmt.max_finite
    return torch.where(overflow, torch.copysign(torch.full_like(rounded, math.inf), values),
                       rounded)


# --------------------------------------------------------------------------------------------
# The sampler.


class NoiseSampler:
    """Noise z of shape [n, z_dim] for a generator, with exactly known entropy.

    z_dim: noise dimensions, at least 1. dtype: format the N(0, 1) noise is rounded to when
    ``bits`` is None (``float16``, ``bfloat16`` or ``float32``). bits: None for float noise,
    or 1 to 24 for quantised noise uniform over 2^bits levels per dimension. levels: level
    set of quantised noise (``uniform`` or ``normal_quantiles``).
    """

    def __init__(self, z_dim: int, dtype: str = "float32", bits: int | None = None,
                 levels: str = "normal_quantiles"):
        if isinstance(z_dim, bool) or not isinstance(z_dim, (int, np.integer)) or z_dim < 1:
            raise ValueError(f"invalid z_dim={z_dim!r}: the noise needs at least 1 dimension")
        if dtype not in SAMPLER_DTYPES:
            if dtype in FLOAT_FORMATS:
                raise ValueError(
                    f"dtype {dtype!r} is not supported for noise: torch draws float64 normals "
                    "from 53-bit uniforms, fewer bits than N(0, 1) rounded to float64 holds "
                    f"(55.46); use one of {', '.join(SAMPLER_DTYPES)}")
            raise ValueError(f"unknown noise dtype {dtype!r}; use one of "
                             f"{', '.join(SAMPLER_DTYPES)}")
        _check_levels(levels)
        if bits is not None:
            _check_bits(bits)
            if bits > MAX_FLOAT32_BITS:
                raise ValueError(
                    f"bits={bits} is too many for float32 noise: 2^{bits} {levels} levels do "
                    f"not all stay distinct in float32, so the entropy would fall below {bits} "
                    f"bits; use bits <= {MAX_FLOAT32_BITS}")
        self.z_dim = int(z_dim)
        self.dtype = dtype
        self.bits = None if bits is None else int(bits)
        self.levels = levels
        self._level_table: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (f"NoiseSampler(z_dim={self.z_dim}, dtype={self.dtype!r}, bits={self.bits}, "
                f"levels={self.levels!r})")

    @property
    def entropy_bits_per_dim(self) -> float:
        """Entropy of one noise dimension in bits: exactly ``bits`` for quantised noise, else
        that of N(0, 1) rounded to ``dtype``."""
        if self.bits is None:
            return float_noise_entropy(self.dtype, "normal")
        return quantized_noise_entropy(self.bits, self.levels)

    @property
    def entropy_bits(self) -> float:
        """Entropy of one noise vector in bits, z_dim * entropy_bits_per_dim (the dimensions
        are independent)."""
        return self.z_dim * self.entropy_bits_per_dim

    def _levels_on(self, device: torch.device) -> torch.Tensor:
        if self._level_table is None:
            table = quantized_levels(self.bits, self.levels).astype(np.float32)
            self._level_table = torch.from_numpy(table)
        return self._level_table.to(device)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """Draw ``n`` noise vectors, a float32 tensor of shape [n, z_dim] on ``device``.

        Draws happen on the generator's device (CPU when no generator is given) and are then
        moved, so a seeded generator gives the same noise for every target device.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"invalid sample count n={n!r}: use an integer >= 0")
        draw_device = generator.device if generator is not None else torch.device("cpu")
        target = torch.device(device) if device is not None else draw_device
        if self.bits is None:
            normal = torch.randn(n, self.z_dim, dtype=torch.float64, generator=generator,
                                 device=draw_device)
            noise = round_to_format(normal, self.dtype).to(torch.float32)
        else:
            indices = torch.randint(0, 2 ** self.bits, (n, self.z_dim), generator=generator,
                                    device=draw_device)
            noise = self._levels_on(draw_device)[indices]
        return noise.to(target)

    def enumerate(self) -> torch.Tensor:
        """Return all 2^(bits * z_dim) noise vectors as a float32 tensor [2^(bits z_dim), z_dim].

        Row r has level index (r >> (bits (z_dim - 1 - j))) mod 2^bits in dimension j, so the
        first dimension varies slowest (the order of itertools.product). Only for quantised
        noise with bits * z_dim <= 24.
        """
        if self.bits is None:
            raise ValueError(f"cannot enumerate float noise ({self.dtype}); enumeration needs "
                             "quantised noise: construct NoiseSampler with bits set")
        total_bits = self.bits * self.z_dim
        if total_bits > MAX_ENUMERATED_BITS:
            raise ValueError(
                f"cannot enumerate 2^{total_bits} noise vectors (bits={self.bits} x "
                f"z_dim={self.z_dim}); enumeration allows bits * z_dim <= {MAX_ENUMERATED_BITS}")
        rows = torch.arange(2 ** total_bits, dtype=torch.int64)
        shifts = self.bits * torch.arange(self.z_dim - 1, -1, -1, dtype=torch.int64)
        indices = (rows[:, None] >> shifts[None, :]) & (2 ** self.bits - 1)
        return self._levels_on(torch.device("cpu"))[indices]
