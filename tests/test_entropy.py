"""Tests of noisedim.entropy against brute-force enumeration and closed forms."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import torch
from scipy import stats

from noisedim import cli, entropy
from noisedim.entropy import (FLOAT_FORMATS, NOISE_LAWS, PAPER_FLOAT32_NORMAL_BITS,
                              float_noise_entropy, law_entropy_table, paper_constant_candidates)

SIXTEEN_BIT = ("float16", "bfloat16")


# --------------------------------------------------------------------------------------------
# Brute force over all 65,536 bit patterns of a 16-bit format.


def all_finite_values(dtype: str) -> np.ndarray:
    """Return every finite value of a 16-bit format as sorted float64, +0 and -0 merged."""
    patterns = np.arange(2 ** 16, dtype=np.uint32)
    if dtype == "float16":
        values = patterns.astype(np.uint16).view(np.float16).astype(np.float64)
    else:  # bfloat16 is the top half of a float32
        with np.errstate(invalid="ignore"):  # the NaN patterns
            values = (patterns << 16).view(np.float32).astype(np.float64)
    return np.unique(values[np.isfinite(values)])  # unique() merges -0.0 and 0.0


def rounding_cells(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the lower and upper bounds of each value's round-to-nearest cell and the
    overflow threshold, beyond which reals round to +-inf."""
    midpoints = (values[:-1] + values[1:]) / 2
    threshold = values[-1] + (values[-1] - values[-2]) / 2
    lo = np.concatenate([[-threshold], midpoints])
    hi = np.concatenate([midpoints, [threshold]])
    return lo, hi, threshold


def reference_probability(law: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P(lo <= X < hi) from scipy.stats, taking differences on the side of the smaller tail."""
    if law == "normal":
        upper_side = lo >= 0
        return np.where(upper_side, stats.norm.sf(lo) - stats.norm.sf(hi),
                        stats.norm.cdf(hi) - stats.norm.cdf(lo))
    low, high = {"uniform01": (0.0, 1.0), "uniform11": (-1.0, 1.0)}[law]
    return np.clip(np.minimum(hi, high) - np.maximum(lo, low), 0.0, None) / (high - low)


def brute_force_entropy(dtype: str, law: str) -> float:
    values = all_finite_values(dtype)
    lo, hi, threshold = rounding_cells(values)
    probability = np.concatenate([reference_probability(law, lo, hi),
                                  reference_probability(law, np.array([threshold]),
                                                        np.array([np.inf])),
                                  reference_probability(law, np.array([-np.inf]),
                                                        np.array([-threshold]))])
    assert math.isclose(probability.sum(), 1.0, rel_tol=1e-12)
    positive = probability[probability > 0]
    return float(-np.sum(positive * np.log2(positive)))


@pytest.mark.parametrize("dtype", SIXTEEN_BIT)
@pytest.mark.parametrize("law", list(NOISE_LAWS))
def test_entropy_matches_brute_force(dtype, law):
    expected = brute_force_entropy(dtype, law)
    for method in ("exact", "integral"):
        assert float_noise_entropy(dtype, law, method) == pytest.approx(expected, abs=1e-9)


def test_float16_cells_match_numpy_rounding():
    values = all_finite_values("float16")
    lo, hi, threshold = rounding_cells(values)
    # Just inside each cell, numpy's float64 -> float16 cast gives the cell's value.
    inside_lo = np.nextafter(lo, np.inf).astype(np.float16).astype(np.float64)
    inside_hi = np.nextafter(hi, -np.inf).astype(np.float16).astype(np.float64)
    assert np.array_equal(inside_lo, values)
    assert np.array_equal(inside_hi, values)
    # Exact midpoints go to the neighbour with an even mantissa.
    midpoints = hi[:-1]
    rounded = midpoints.astype(np.float16)
    assert np.all(rounded.view(np.uint16) % 2 == 0)
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(threshold))
    assert np.float16(np.nextafter(threshold, 0.0)) == np.float16(65504.0)


def test_bfloat16_cells_match_torch_rounding():
    values = all_finite_values("bfloat16")
    lo, hi, threshold = rounding_cells(values)
    # bfloat16 cell bounds are float32 values; torch's float32 -> bfloat16 cast rounds once.
    for bound, direction in ((lo, np.inf), (hi, -np.inf)):
        inside = np.nextafter(bound.astype(np.float32), np.float32(direction))
        rounded = torch.from_numpy(inside).to(torch.bfloat16).to(torch.float64).numpy()
        assert np.array_equal(rounded, values)
    midpoints = torch.from_numpy(hi[:-1].astype(np.float32)).to(torch.bfloat16)
    assert torch.all(midpoints.view(torch.int16) % 2 == 0)
    assert torch.isinf(torch.tensor(threshold, dtype=torch.float32).to(torch.bfloat16))


# --------------------------------------------------------------------------------------------
# Closed forms of the uniform laws.


def uniform01_closed_form(dtype: str) -> float:
    """Entropy of U[0, 1) rounded to nearest, summed binade by binade.

    Take m mantissa bits and lowest normal exponent e_min, so subnormals are spaced
    d = 2^(e_min - m). Zero has the cell [0, d/2). The 2^m - 1 subnormals and the 2^m values
    of binade e_min have cells of width d. Each binade e = e_min + 1 .. -1 has 2^m - 1 cells
    of width 2^(e - m), and its first value has a cell of width (3/4) 2^(e - m), because the
    half-gap below it is in the finer binade beneath. The value 1.0 keeps [1 - 2^-(m + 2), 1).
    A cell of width w contributes -w log2 w.
    """
    fmt = FLOAT_FORMATS[dtype]
    m, e_min = fmt.mantissa_bits, fmt.min_exponent

    def term(count: float, log2_width: float) -> float:
        return -count * 2.0 ** log2_width * log2_width

    terms = [term(1, e_min - m - 1), term(2 ** m - 1 + 2 ** m, e_min - m)]
    for e in range(e_min + 1, 0):
        terms.append(term(1, e - m + math.log2(0.75)))
        terms.append(term(2 ** m - 1, e - m))
    terms.append(term(1, -(m + 2)))
    return math.fsum(terms)


@pytest.mark.parametrize("dtype", list(FLOAT_FORMATS))
def test_uniform01_matches_closed_form(dtype):
    assert float_noise_entropy(dtype, "uniform01") == pytest.approx(
        uniform01_closed_form(dtype), abs=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform01_asymptotic_form(dtype):
    # Summing the closed form over all binades gives m + 2 + (3/4) log2(4/3) 2^-m, up to
    # the binades below 2^e_min (under 1e-35 bits for float32).
    m = FLOAT_FORMATS[dtype].mantissa_bits
    expected = m + 2 + 0.75 * math.log2(4 / 3) * 2.0 ** -m
    assert float_noise_entropy(dtype, "uniform01") == pytest.approx(expected, abs=1e-13)
    if dtype == "float32":
        assert float_noise_entropy(dtype, "uniform01") == pytest.approx(25 + 3.7107e-8, abs=1e-12)


@pytest.mark.parametrize("dtype", list(FLOAT_FORMATS))
def test_uniform11_is_sign_bit_more(dtype):
    # U[-1, 1) is a fair sign times U[0, 1), except that +0 and -0 are one value, which
    # takes back one bit from the zero cell's probability d/2 (density 1/2 over [-d/2, d/2]).
    fmt = FLOAT_FORMATS[dtype]
    zero_cell = 2.0 ** (fmt.min_exponent - fmt.mantissa_bits - 1)
    expected = 1.0 + float_noise_entropy(dtype, "uniform01") - zero_cell
    assert float_noise_entropy(dtype, "uniform11") == pytest.approx(expected, abs=1e-14)


# --------------------------------------------------------------------------------------------
# The normal law.


# (value, below, above): centred narrow cells, binade-first cells, wide cells, far tails,
# cells straddling 0 and the overflow cell.
MPMATH_CELLS = [
    (0.0, 2.0 ** -150, 2.0 ** -150), (1.5, 2.0 ** -24, 2.0 ** -24),
    (-3.25, 2.0 ** -22, 2.0 ** -22), (-0.75, 2.0 ** -9, 2.0 ** -9),
    (30.0, 2.0 ** -18, 2.0 ** -18), (1e-300, 1e-310, 1e-310),
    (1.0, 2.0 ** -25, 2.0 ** -24), (8.0, 2.0 ** -8, 2.0 ** -7),
    (12.0, 0.25, 0.5), (2.0, 0.5, 1.0), (0.5, 0.6, 0.1), (6.0, 0.0, np.inf),
]


@pytest.mark.parametrize("value, below, above", MPMATH_CELLS)
def test_cell_probability_matches_mpmath(value, below, above):
    probability = NOISE_LAWS["normal"].probability(np.float64(value), np.float64(below),
                                                   np.float64(above))
    with mpmath.workdps(40):
        lo = mpmath.mpf(value) - mpmath.mpf(below)
        hi = mpmath.inf if np.isinf(above) else mpmath.mpf(value) + mpmath.mpf(above)
        exact = float(mpmath.ncdf(hi) - mpmath.ncdf(lo))
    assert float(probability) == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("exponent", [-40, -20, -3, -1, 0, 1, 2, 3])
def test_float32_binade_methods_agree(exponent):
    # The full exact float32 sum takes 10 to 35 s, so the test compares single binades. These
    # cover the curved part of the density, and binade -40 takes the shortcut for flat runs.
    law = NOISE_LAWS["normal"]
    runs, _ = entropy._positive_cells(FLOAT_FORMATS["float32"])
    (run,) = [run for run in runs if run.spacing_exponent == exponent - 23
              and run.first_value > 2.0 ** -126]
    exact = entropy._run_entropy_exact(law, run, sign=1)
    integral = entropy._run_entropy_integral(law, run, sign=1)
    assert exact > 0
    assert integral == pytest.approx(exact, rel=1e-12, abs=1e-300)


def test_float32_normal_value():
    assert entropy.default_method("float32") == "integral"
    bits = float_noise_entropy("float32", "normal")
    assert bits == pytest.approx(26.4637339908, abs=1e-9)
    assert bits - PAPER_FLOAT32_NORMAL_BITS == pytest.approx(-0.0863, abs=1e-4)


def test_float64_normal_matches_continuous_approximation():
    # For float64 the binade-first corrections (about 0.09 * 2^-52 bits) and the spacing^2
    # term are negligible, so H = h(N(0, 1)) - E[log2 spacing(X)], from binade probabilities.
    exponents = np.arange(-1075, 1023)
    lo, hi = np.ldexp(1.0, exponents), np.ldexp(1.0, exponents + 1)
    binade_probability = 2 * (stats.norm.sf(lo) - stats.norm.sf(hi))
    spacing_exponents = np.maximum(exponents, -1022) - 52
    differential_bits = 0.5 * math.log2(2 * math.pi * math.e)
    expected = differential_bits - np.sum(binade_probability * spacing_exponents)
    assert float_noise_entropy("float64", "normal") == pytest.approx(expected, abs=1e-12)
    assert entropy.default_method("float64") == "integral"


def test_normal_integral_error_shrinks_with_spacing():
    # The integral method's first neglected terms are of order spacing^4.
    bfloat16_error = abs(float_noise_entropy("bfloat16", "normal", "integral")
                         - float_noise_entropy("bfloat16", "normal", "exact"))
    float16_error = abs(float_noise_entropy("float16", "normal", "integral")
                        - float_noise_entropy("float16", "normal", "exact"))
    assert bfloat16_error < 1e-9
    assert float16_error < 1e-12


def test_entropy_ordering_across_formats():
    table = law_entropy_table()
    assert list(table.columns) == ["dtype", "law", "entropy_bits"]
    assert len(table) == len(FLOAT_FORMATS) * len(NOISE_LAWS)
    normal = table[table.law == "normal"].set_index("dtype")["entropy_bits"]
    assert normal["bfloat16"] < normal["float16"] < normal["float32"] < normal["float64"]
    # Each extra mantissa bit adds about one bit: float64 has 29 more than float32.
    assert normal["float64"] - normal["float32"] == pytest.approx(29.0, abs=1e-6)


# --------------------------------------------------------------------------------------------
# PAPER_FLOAT32_NORMAL_BITS and input checks.


def test_paper_constant_candidates():
    candidates = paper_constant_candidates().set_index("convention")
    assert list(candidates.columns) == ["entropy_bits", "kind", "rounds_to_paper"]
    exact = candidates.loc["N(0,1) rounded to nearest float32", "entropy_bits"]
    assert exact == pytest.approx(float_noise_entropy("float32", "normal"))
    mantissa_uniform = candidates.loc[
        "sign bit + 23 uniform mantissa bits + H(exponent of N(0,1))", "entropy_bits"]
    assert mantissa_uniform == pytest.approx(26.5449, abs=1e-4)
    assert not candidates["rounds_to_paper"].any()


@pytest.mark.parametrize("arguments, message", [
    (("float8", "normal"), "unknown float dtype 'float8'"),
    (("float32", "cauchy"), "unknown noise law 'cauchy'"),
    (("float32", "normal", "simpson"), "unknown summation method 'simpson'"),
    (("float64", "normal", "exact"), "use method='integral' for float64"),
])
def test_invalid_arguments_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        float_noise_entropy(*arguments)


def test_cli_entropy_prints_exact_and_paper_values():
    result = subprocess.run([sys.executable, "-m", "noisedim", "entropy", "--dtype", "float32",
                             "--law", "normal"], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("normal noise rounded to float32: 26.463733991 bits per dimension "
                        "(integral method)")
    assert "26.55 bits per dimension" in lines[1]
    assert "-0.0863 bits" in lines[1]


def test_cli_entropy_table_and_candidates(capsys):
    assert cli.main(["entropy", "--table", "--candidates"]) == 0
    output = capsys.readouterr().out
    assert "| bfloat16 | uniform11 |" in output
    assert "26.544909" in output


def test_cli_rejects_unknown_dtype(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["entropy", "--dtype", "float8"])
    assert raised.value.code == 2
    assert "invalid choice: 'float8'" in capsys.readouterr().err


def test_cli_subcommand_registry():
    parser_names = set(cli.SUBCOMMANDS)
    assert {"entropy", "bitrates"} <= parser_names
    with pytest.raises(ValueError, match="already registered"):
        cli.register_subcommand("entropy", cli.SUBCOMMANDS["entropy"])
