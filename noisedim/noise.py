"""Noise samplers for generators: a float format, or 2^bits equiprobable levels per dimension.

``NoiseSampler(z_dim)`` draws standard normal noise rounded to a float format (float32 by
default), whose entropy per dimension is ``float_noise_entropy(dtype)``. With ``bits`` set, each
dimension takes one of 2^bits equiprobable levels, so the noise holds exactly ``z_dim * bits``
bits and every noise value can be enumerated.
"""

from __future__ import annotations

import functools
import itertools
from typing import Callable

import numpy as np
import torch
from scipy.special import ndtri

from noisedim.entropy import float_noise_entropy

MAX_ENUMERATION_BITS = 24
_TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16,
                 "float32": torch.float32, "float64": torch.float64}


def _uniform_levels(count: int) -> np.ndarray:
    # Mid-rise levels on (-sqrt(3), sqrt(3)): a uniform law of unit variance, discretised.
    half_width = np.sqrt(3.0)
    return -half_width + (np.arange(count) + 0.5) * (2 * half_width / count)


def _normal_quantile_levels(count: int) -> np.ndarray:
    return ndtri((np.arange(count) + 0.5) / count)


LEVELS: dict[str, Callable[[int], np.ndarray]] = {
    "uniform": _uniform_levels,
    "normal_quantiles": _normal_quantile_levels,
}


def quantized_levels(bits: int, levels: str = "normal_quantiles") -> np.ndarray:
    """Return the 2^bits level values (float64, increasing) of quantised noise."""
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ValueError(f"noise bits={bits!r} is invalid; use an integer from 1 to 32")
    if levels not in LEVELS:
        raise ValueError(f"unknown noise levels {levels!r}; known: {sorted(LEVELS)}")
    return LEVELS[levels](2 ** int(bits))


def quantized_noise_entropy(bits: int, levels: str = "normal_quantiles") -> float:
    """Return the entropy in bits of one quantised dimension: exactly ``bits`` (equiprobable)."""
    quantized_levels(bits, levels) if bits <= 20 else quantized_levels(1, levels)  # validate
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ValueError(f"noise bits={bits!r} is invalid; use an integer from 1 to 32")
    return float(bits)


@functools.lru_cache(maxsize=None)
def _float_entropy_bits(dtype: str) -> float:
    return float_noise_entropy(dtype, "normal")


class NoiseSampler:
    """Draw noise ``[n, z_dim]`` (float32) for a generator, with known entropy per dimension."""

    def __init__(self, z_dim: int, dtype: str = "float32", bits: int | None = None,
                 levels: str = "normal_quantiles"):
        if not isinstance(z_dim, (int, np.integer)) or z_dim < 1:
            raise ValueError(f"z_dim={z_dim!r} is invalid; a generator needs at least one "
                             "noise dimension")
        if dtype not in _TORCH_DTYPES:
            raise ValueError(f"noise dtype {dtype!r} is invalid; use one of "
                             f"{sorted(_TORCH_DTYPES)}")
        self.z_dim, self.dtype, self.bits, self.levels = int(z_dim), dtype, bits, levels
        self._levels = None
        if bits is not None:
            self._levels = torch.from_numpy(quantized_levels(bits, levels)).to(torch.float32)

    @property
    def entropy_bits_per_dim(self) -> float:
        if self.bits is not None:
            return float(self.bits)
        return _float_entropy_bits(self.dtype)

    @property
    def entropy_bits(self) -> float:
        return self.z_dim * self.entropy_bits_per_dim

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """Return ``n`` noise vectors ``[n, z_dim]`` (float32) drawn from ``generator``."""
        if self._levels is not None:
            index = torch.randint(len(self._levels), (n, self.z_dim), generator=generator)
            z = self._levels[index]
        else:
            z = torch.randn(n, self.z_dim, generator=generator, dtype=torch.float64)
            z = z.to(_TORCH_DTYPES[self.dtype]).to(torch.float32)
        return z if device is None else z.to(device)

    def enumerate(self) -> torch.Tensor:
        """Return all 2^(bits * z_dim) noise vectors ``[M, z_dim]`` in lexicographic order."""
        if self._levels is None:
            raise ValueError("only quantised noise (noise.bits set) can be enumerated")
        total_bits = self.bits * self.z_dim
        if total_bits > MAX_ENUMERATION_BITS:
            raise ValueError(f"enumerating {total_bits} bits of noise (z_dim={self.z_dim}, "
                             f"bits={self.bits}) is too large; the limit is "
                             f"{MAX_ENUMERATION_BITS} bits")
        index = torch.tensor(list(itertools.product(range(len(self._levels)),
                                                    repeat=self.z_dim)))
        return self._levels[index].reshape(-1, self.z_dim)
