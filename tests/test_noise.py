"""Tests of noisedim.noise: float and quantised noise samplers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import special

from noisedim.entropy import float_noise_entropy
from noisedim.noise import (LEVEL_SETS, MAX_FLOAT32_BITS, NoiseSampler, quantized_levels,
                            quantized_noise_entropy, round_to_format)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# torch's own float32 normals, the reason the sampler draws float64.


def test_torch_randn_uses_24_bit_uniforms():
    uniforms = torch.rand(64, generator=seeded(3))
    assert torch.all(uniforms.double() * 2 ** 24 == torch.round(uniforms.double() * 2 ** 24))
    normals = torch.randn(64, generator=seeded(3))
    # Tensors of 16 or more elements: blocks of 16 uniforms, u1 = 1 - first 8, u2 = last 8.
    blocks = uniforms.double().reshape(-1, 2, 8)
    radius = torch.sqrt(-2 * torch.log(1 - blocks[:, 0]))
    theta = 2 * math.pi * blocks[:, 1]
    expected = torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=1)
    assert torch.allclose(normals.double(), expected.reshape(-1), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------
# Rounding float64 to narrower formats.


def bfloat16_reference(values: np.ndarray) -> np.ndarray:
    """Round to nearest bfloat16 through the sorted table of all finite bfloat16 values."""
    with np.errstate(invalid="ignore"):
        table = (np.arange(2 ** 16, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)
    table = np.unique(table[np.isfinite(table)])
    midpoints = (table[:-1] + table[1:]) / 2
    return table[np.searchsorted(midpoints, values)]  # inputs avoid exact midpoints


def test_round_to_format_matches_single_rounding():
    generator = np.random.default_rng(0)
    values = np.concatenate([generator.standard_normal(100_000),
                             generator.standard_normal(1000) * 1e-6,  # float16 subnormals
                             [70000.0, -1e5, 1e-9, 0.0, -0.0]])
    tensor = torch.from_numpy(values)
    with np.errstate(over="ignore"):
        float16 = values.astype(np.float16).astype(np.float64)
    assert np.array_equal(round_to_format(tensor, "float16").numpy(), float16)
    float32 = tensor.to(torch.float32).double().numpy()
    assert np.array_equal(round_to_format(tensor, "float32").numpy(), float32)
    finite = values[np.abs(values) < 1e30]
    assert np.array_equal(round_to_format(torch.from_numpy(finite), "bfloat16").numpy(),
                          bfloat16_reference(finite))


def test_round_to_format_ties_to_even():
    # 1 + 2^-11 is halfway between float16 1.0 and 1 + 2^-10; 1 + 3 * 2^-11 between odd and even.
    ties = torch.tensor([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520.0], dtype=torch.float64)
    rounded = round_to_format(ties, "float16")
    assert rounded.tolist() == [1.0, 1 + 2 ** -9, math.inf]


def test_round_to_format_rejects_float32_input():
    with pytest.raises(ValueError, match="needs float64 values"):
        round_to_format(torch.zeros(3), "float16")


# --------------------------------------------------------------------------------------------
# Float noise.


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_float_noise_values_lie_in_format(dtype):
    sampler = NoiseSampler(16, dtype)
    noise = sampler.sample(512, generator=seeded(1))
    assert noise.shape == (512, 16)
    assert noise.dtype == torch.float32
    torch_dtype = getattr(torch, dtype)
    assert torch.equal(noise.to(torch_dtype).to(torch.float32), noise)
    assert sampler.entropy_bits_per_dim == float_noise_entropy(dtype, "normal")
    assert sampler.entropy_bits == pytest.approx(16 * float_noise_entropy(dtype, "normal"))


def test_float_noise_is_reproducible_and_standard_normal():
    sampler = NoiseSampler(8, "float32")
    first = sampler.sample(50_000, generator=seeded(7))
    assert torch.equal(first, sampler.sample(50_000, generator=seeded(7)))
    assert not torch.equal(first, sampler.sample(50_000, generator=seeded(8)))
    assert abs(first.mean().item()) < 0.01
    assert first.std().item() == pytest.approx(1.0, abs=0.01)
    assert sampler.sample(4, generator=seeded(7), device="cpu").device.type == "cpu"
    assert sampler.sample(0).shape == (0, 8)


def test_bfloat16_noise_entropy_matches_samples():
    # Plug-in entropy of 2^21 draws with the Miller-Madow correction (K - 1) / (2 N ln 2).
    noise = NoiseSampler(1, "bfloat16").sample(2 ** 21, generator=seeded(5)).flatten()
    _, counts = np.unique(noise.numpy(), return_counts=True)
    frequencies = counts / counts.sum()
    plug_in = -np.sum(frequencies * np.log2(frequencies))
    estimate = plug_in + (len(counts) - 1) / (2 * counts.sum() * math.log(2))
    assert estimate == pytest.approx(float_noise_entropy("bfloat16", "normal"), abs=0.005)


# --------------------------------------------------------------------------------------------
# Quantised noise.


def test_uniform_levels():
    levels = quantized_levels(3, "uniform")
    step = 2 * math.sqrt(3) / 8
    assert np.allclose(levels, -math.sqrt(3) + step * (np.arange(8) + 0.5))
    assert np.allclose(levels, -levels[::-1])
    assert np.var(levels) == pytest.approx(1 - 4.0 ** -3)


def test_normal_quantile_levels():
    levels = quantized_levels(4, "normal_quantiles")
    assert np.allclose(levels, special.ndtri((np.arange(16) + 0.5) / 16))
    assert np.all(np.diff(levels) > 0)
    assert np.allclose(levels, -levels[::-1])


@pytest.mark.parametrize("levels", list(LEVEL_SETS))
def test_levels_stay_distinct_in_float32_at_limit(levels):
    values = quantized_levels(MAX_FLOAT32_BITS, levels).astype(np.float32)
    assert np.all(np.diff(values) > 0)


@pytest.mark.parametrize("bits", [1, 8, 32])
def test_quantized_entropy_is_bits(bits):
    assert quantized_noise_entropy(bits, "uniform") == float(bits)


def test_quantized_noise_samples_levels_uniformly():
    sampler = NoiseSampler(4, bits=3, levels="uniform")
    noise = sampler.sample(80_000, generator=seeded(2))
    assert noise.dtype == torch.float32
    levels = torch.from_numpy(quantized_levels(3, "uniform").astype(np.float32))
    index = torch.searchsorted(levels, noise.flatten())
    assert torch.equal(levels[index], noise.flatten())
    counts = torch.bincount(index, minlength=8).double()
    chi_square = (((counts - counts.mean()) ** 2) / counts.mean()).sum().item()
    assert chi_square < 30.0  # 7 degrees of freedom: P(chi2 > 30) < 1e-4
    assert sampler.entropy_bits_per_dim == 3.0
    assert sampler.entropy_bits == 12.0


def test_enumerate_lists_every_noise_vector_in_product_order():
    sampler = NoiseSampler(3, bits=2, levels="normal_quantiles")
    vectors = sampler.enumerate()
    levels = quantized_levels(2, "normal_quantiles").astype(np.float32)
    expected = np.array(list(itertools.product(levels, repeat=3)))
    assert vectors.shape == (64, 3)
    assert vectors.dtype == torch.float32
    assert np.array_equal(vectors.numpy(), expected)
    assert torch.unique(vectors, dim=0).shape[0] == 64


def test_enumerate_at_limit():
    vectors = NoiseSampler(2, bits=12, levels="uniform").enumerate()
    assert vectors.shape == (2 ** 24, 2)
    assert torch.equal(vectors[2 ** 12 + 5], vectors[0, :1].new_tensor(
        quantized_levels(12, "uniform")[[1, 5]].astype(np.float32)))


@pytest.mark.parametrize("arguments, message", [
    (dict(z_dim=0), "at least 1 dimension"),
    (dict(z_dim=4, dtype="float64"), "not supported for noise"),
    (dict(z_dim=4, dtype="float8"), "unknown noise dtype 'float8'"),
    (dict(z_dim=4, bits=0), "use an integer from 1 to 32"),
    (dict(z_dim=4, bits=33), "use an integer from 1 to 32"),
    (dict(z_dim=4, bits=25), "use bits <= 24"),
    (dict(z_dim=4, bits=4, levels="laplace"), "unknown level set 'laplace'"),
])
def test_sampler_rejects_invalid_settings(arguments, message):
    with pytest.raises(ValueError, match=message):
        NoiseSampler(**arguments)


def test_enumerate_rejects_float_and_large_noise():
    with pytest.raises(ValueError, match="cannot enumerate float noise"):
        NoiseSampler(2).enumerate()
    with pytest.raises(ValueError, match="bits \\* z_dim <= 24"):
        NoiseSampler(5, bits=5).enumerate()


def test_quantized_levels_rejects_25_bits():
    with pytest.raises(ValueError, match="from 1 to 24"):
        quantized_levels(25, "uniform")
