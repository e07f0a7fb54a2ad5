"""Exact Shannon entropy of a noise law rounded to a floating-point format.

A GAN's noise z is stored in a finite float format, so every noise dimension is a discrete
random variable: the real sample rounded to the nearest representable value (IEEE 754
round-to-nearest, ties to even). ``float_noise_entropy`` computes the Shannon entropy of that
discrete variable in bits per dimension.

Rounding cells. Rounding to nearest maps each representable value x to the real interval
between the midpoints to its two neighbours. Within one binade [2^e, 2^(e+1)) the values are
evenly spaced by delta = 2^(e - m) for m stored mantissa bits, so all cells of a binade have
width delta except the binade's first value 2^e, whose lower neighbour lies in the binade
below (spacing delta/2): its cell is [2^e - delta/4, 2^e + delta/2]. Subnormals are spaced
like the lowest normal binade. +0 and -0 count as one value (they compare equal, and a
generator built from sums and products maps them alike) with cell
[-delta_min/2, delta_min/2]. Reals at or beyond the
overflow threshold max_finite + delta_max/2 round to +-inf, which are values of their own.
The laws here are continuous, so cell endpoints, and with them the tie rule, carry no
probability.

Two summation methods give the entropy of the evenly spaced runs of cells:

- ``exact`` sums -P log2 P over every cell with a numerically stable P (2^m cells per
  binade, so float16, bfloat16 and float32 only).
- ``integral`` replaces the sum over a run of equal cells of width delta covering region R by
  its Euler-Maclaurin expansion,
  ``-integral_R f log2 f dx - P(R) log2 delta + delta^2 / (24 ln 2) * integral_R f'^2 / f dx``,
  whose first neglected terms are of order delta^4 (see docs/noise-entropy.md). It is the
  default for float32, where it matches the exact sum to 1e-14 bits in 1% of the time, and
  the only method for float64, whose 2^52 cells per binade cannot be summed one by one.

The binade-first cells, the zero cell and the infinity cells are always summed exactly.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from numpy.polynomial import hermite_e
from scipy import special

logger = logging.getLogger(__name__)

# Bits per float32 standard-normal noise dimension as printed in Zhu, Xu, Li and Wang, "Noise
# Dimension of GAN: An Image Compression Perspective" (ICME 2024, arXiv 2403.09196). The exact
# figure is float_noise_entropy("float32", "normal") = 26.4637 bits, and docs/noise-entropy.md
# compares the conventions that could give 26.55.
PAPER_FLOAT32_NORMAL_BITS = 26.55

LN2 = math.log(2.0)
LOG2_SQRT_2PI = 0.5 * math.log2(2.0 * math.pi)
INV_SQRT2 = 1.0 / math.sqrt(2.0)

# Number of cells that the exact method sums per numpy call. Arrays of 2^16 float64 (512 KiB)
# stay in the CPU cache.
_CHUNK_CELLS = 1 << 16


# --------------------------------------------------------------------------------------------
# Floating-point formats.


@dataclass(frozen=True)
class FloatFormat:
    """A binary IEEE 754-style format with subnormals, round-to-nearest-even and infinities."""

    name: str
    exponent_bits: int
    mantissa_bits: int  # stored fraction bits, without the implicit leading 1

    @property
    def min_exponent(self) -> int:
        """Exponent e of the lowest normal binade [2^e, 2^(e+1))."""
        return 2 - 2 ** (self.exponent_bits - 1)

    @property
    def max_exponent(self) -> int:
        """Exponent e of the highest finite binade."""
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def values_per_binade(self) -> int:
        """Number of representable values in one binade, 2^m."""
        return 2 ** self.mantissa_bits

    def spacing_exponent(self, exponent: int) -> int:
        """log2 of the spacing of the values in binade ``exponent`` (also for subnormals)."""
        return max(exponent, self.min_exponent) - self.mantissa_bits

    @property
    def max_finite(self) -> float:
        """Largest finite value, (2 - 2^-m) * 2^max_exponent."""
        return math.ldexp(2.0 - 2.0 ** -self.mantissa_bits, self.max_exponent)

    @property
    def overflow_threshold(self) -> float:
        """Smallest magnitude that rounds to infinity (inf where float64 cannot hold it)."""
        spacing = math.ldexp(1.0, self.spacing_exponent(self.max_exponent))
        with np.errstate(over="ignore"):
            return float(np.float64(self.max_finite) + np.float64(spacing / 2))


FLOAT_FORMATS: dict[str, FloatFormat] = {
    "float16": FloatFormat("float16", exponent_bits=5, mantissa_bits=10),
    "bfloat16": FloatFormat("bfloat16", exponent_bits=8, mantissa_bits=7),
    "float32": FloatFormat("float32", exponent_bits=8, mantissa_bits=23),
    "float64": FloatFormat("float64", exponent_bits=11, mantissa_bits=52),
}


def get_float_format(dtype: str) -> FloatFormat:
    """Return the format called ``dtype``, or raise ValueError for an unknown name."""
    try:
        return FLOAT_FORMATS[dtype]
    except KeyError:
        raise ValueError(f"unknown float dtype {dtype!r}; known dtypes: "
                         f"{', '.join(FLOAT_FORMATS)}") from None


# --------------------------------------------------------------------------------------------
# Noise laws.


@dataclass(frozen=True)
class NoiseLaw:
    """A continuous noise law with the integrals that the entropy sums need.

    A rounding cell is given as (value, below, above), the real interval
    [value - below, value + above). Here value is a representable number and below and above
    are the half-gaps to its neighbours. All three are exact float64 numbers even where the
    cell's bounds are not. ``probability(value, below, above)`` returns the cell's
    probability elementwise, accurate to about 1e-15 in relative terms even for cells far
    narrower than the law's scale. ``entropy_integral_bits(lo, hi)`` is the integral over
    [lo, hi] of -f log2 f, and ``fisher_integral(lo, hi)`` the integral of f'^2 / f, for wide
    intervals with lo < hi on one side of 0. ``support`` is the closed hull of the support,
    and the density must be smooth inside it and monotone on each side of 0 (the exact method
    relies on that to sum runs of equal cells at once). ``symmetric`` marks an even density,
    whose negative side is then not summed separately.
    """

    description: str
    support: tuple[float, float]
    symmetric: bool
    probability: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    entropy_integral_bits: Callable[[float, float], float]
    fisher_integral: Callable[[float, float], float]


def _normal_cell_probability_series(value: np.ndarray, below: np.ndarray,
                                    above: np.ndarray) -> np.ndarray:
    """Return P(value - below <= X < value + above) for narrow cells without cancellation.

    phi(v + u) / phi(v) = sum_n He_n(v) (-u)^n / n!, so the cell integral is
    phi(v) sum_n (-1)^n He_n(v) (above^(n+1) - (-below)^(n+1)) / (n + 1)!. Because
    |He_n(v)| <= (|v| + sqrt(n))^n, the term n relative to the cell width is at most
    2 x^n / (n + 1)! with x = max(below, above) (|v| + 4), for n <= 16. The caller guarantees
    x <= 1/8, and the series stops at the first n whose bound is below 2^-60. Odd terms
    vanish for centred cells (below == above), which are then summed over even n only.
    """
    if value.size == 0:
        return np.empty(0)
    x_max = float(np.max(np.maximum(below, above) * (np.abs(value) + 4.0)))
    last_order = 1
    while (last_order < 15
           and 2.0 * x_max ** last_order / math.factorial(last_order + 1) >= 2.0 ** -60):
        last_order += 1
    centred = bool(np.array_equal(below, above))

    total = above + below
    he_prev, he = np.ones_like(value), value  # He_0, He_1
    above_power, below_power = above.copy(), -below  # above^(n+1), (-below)^(n+1) at n = 0
    for n in range(1, last_order):
        above_power = above_power * above
        below_power = below_power * -below
        if not centred or n % 2 == 0:
            sign = -1.0 if n % 2 else 1.0
            total += sign * he * ((above_power - below_power) / math.factorial(n + 1))
        he_prev, he = he, value * he - n * he_prev  # He_{n+1}
    density = np.exp(-0.5 * value * value - LOG2_SQRT_2PI * LN2)
    return density * total


def _normal_centred_cell_probability(value: np.ndarray, half_width: float) -> np.ndarray:
    """Return P(|X - value| <= half_width) for narrow centred cells of one width.

    The even terms of the series in ``_normal_cell_probability_series`` form a polynomial in
    value^2 with scalar coefficients, evaluated here by Horner's rule (the hot path of the
    exact method). The caller guarantees half_width (max |value| + 4) <= 1/8.
    """
    x_max = half_width * (float(np.max(np.abs(value))) + 4.0)
    last_order = 2
    while (last_order < 16
           and 2.0 * x_max ** last_order / math.factorial(last_order + 1) >= 2.0 ** -60):
        last_order += 2
    # sum_{n even < last_order} He_n(v) h^n / (n + 1)! as power-series coefficients in v.
    coefficients = np.zeros(last_order)
    for n in range(0, last_order, 2):
        he_n = hermite_e.herme2poly([0.0] * n + [1.0])
        coefficients[: n + 1] += he_n * (half_width ** n / math.factorial(n + 1))
    # Only even powers of value occur: Horner's rule in value^2, highest power first.
    coefficients_in_square = coefficients[0::2]
    value_squared = value * value
    total = np.full_like(value, coefficients_in_square[-1])
    for coefficient in coefficients_in_square[-2::-1]:
        total *= value_squared
        total += coefficient
    total *= np.exp(-0.5 * value_squared)
    total *= 2.0 * half_width * math.exp(-LOG2_SQRT_2PI * LN2)
    return total


def _normal_probability(value: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
    """Return P(value - below <= X < value + above) for X ~ N(0, 1), elementwise."""
    if (np.ndim(below) == 0 and np.ndim(above) == 0 and below == above
            and np.size(value) > 0
            and float(below) * (float(np.max(np.abs(value))) + 4.0) <= 0.125):
        return _normal_centred_cell_probability(np.asarray(value, dtype=np.float64), float(below))
    value, below, above = np.broadcast_arrays(*(np.asarray(array, dtype=np.float64)
                                                for array in (value, below, above)))
    # Reflect cells to value >= 0, which keeps P because the density is even.
    negative = value < 0.0
    value = np.abs(value)
    below, above = np.where(negative, above, below), np.where(negative, below, above)
    result = np.empty(value.shape, dtype=np.float64)

    with np.errstate(over="ignore", invalid="ignore"):
        narrow = np.maximum(below, above) * (value + 4.0) <= 0.125
    result[narrow] = _normal_cell_probability_series(value[narrow], below[narrow], above[narrow])

    # Wide cells: differences of erf near 0 and of erfc in the tail, where each operand
    # exceeds the difference by a bounded factor because the cell is wide.
    wide = ~narrow
    with np.errstate(over="ignore"):  # the top float64 binade reaches past 1.8e308
        lo = value[wide] - below[wide]
        hi = value[wide] + above[wide]
    wide_result = np.empty(lo.shape)
    straddles = lo < 0.0
    wide_result[straddles] = 0.5 * (special.erf(hi[straddles] * INV_SQRT2)
                                    + special.erf(-lo[straddles] * INV_SQRT2))
    near_zero = ~straddles & (lo < 1.0)
    wide_result[near_zero] = 0.5 * (special.erf(hi[near_zero] * INV_SQRT2)
                                    - special.erf(lo[near_zero] * INV_SQRT2))
    tail = lo >= 1.0
    wide_result[tail] = 0.5 * (special.erfc(lo[tail] * INV_SQRT2)
                               - special.erfc(hi[tail] * INV_SQRT2))
    result[wide] = wide_result
    return result


def _interval_probability(law: "NoiseLaw", lo: float, hi: float) -> float:
    """Return P(lo <= X < hi) for a wide interval [lo, hi] on one side of 0 (or touching it)."""
    if lo >= 0.0:
        return float(law.probability(np.float64(lo), np.float64(0.0), np.float64(hi - lo)))
    return float(law.probability(np.float64(hi), np.float64(hi - lo), np.float64(0.0)))


def _normal_second_moment_from_zero(x: float) -> float:
    """Return integral from 0 to x of t^2 phi(t) dt for 0 <= x <= 1 by its Taylor series."""
    # phi(t) t^2 = phi(0) sum_n (-1/2)^n t^(2n+2) / n!, whose term n = 20 is below 1e-25.
    x_squared = x * x
    total = 0.0
    for n in range(20, -1, -1):
        total = total * x_squared + (-0.5) ** n / (math.factorial(n) * (2 * n + 3))
    return math.exp(-LOG2_SQRT_2PI * LN2) * x ** 3 * total


def _normal_second_moment_tail(x: float) -> float:
    """Return integral from x to inf of t^2 phi(t) dt = Q(x) + x phi(x), for x >= 1."""
    if math.isinf(x):
        return 0.0
    return float(special.ndtr(-x)) + x * math.exp(-0.5 * x * x - LOG2_SQRT_2PI * LN2)


def _normal_second_moment(lo: float, hi: float) -> float:
    """Return integral over [lo, hi] of t^2 phi(t) dt for 0 <= lo < hi or lo < hi <= 0."""
    a, b = (lo, hi) if lo >= 0.0 else (-hi, -lo)
    if b <= 1.0:
        return _normal_second_moment_from_zero(b) - _normal_second_moment_from_zero(a)
    if a >= 1.0:
        return _normal_second_moment_tail(a) - _normal_second_moment_tail(b)
    return _normal_second_moment(a, 1.0) + _normal_second_moment(1.0, b)


def _normal_entropy_integral_bits(lo: float, hi: float) -> float:
    # -log2 phi(x) = log2 sqrt(2 pi) + x^2 / (2 ln 2)
    probability = _interval_probability(NOISE_LAWS["normal"], lo, hi)
    return probability * LOG2_SQRT_2PI + _normal_second_moment(lo, hi) / (2.0 * LN2)


def _uniform_law(low: float, high: float, description: str) -> NoiseLaw:
    """Return the uniform law on [low, high).

    Cell probabilities are exact when low and high are representable values whose
    differences to the cell values involved are exact (true for 0 and +-1), because every
    length is then computed without rounding.
    """
    width = high - low

    def probability(value: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
        value, below, above = (np.asarray(array, dtype=np.float64)
                               for array in (value, below, above))
        with np.errstate(invalid="ignore"):
            # Lengths of [value - below, value) and [value, value + above) inside the
            # support, written so that value - below and value + above are never rounded.
            below_length = (np.minimum(value, high) - value) + np.minimum(below, value - low)
            above_length = np.minimum(above, high - value) + (value - np.maximum(value, low))
        return (np.maximum(below_length, 0.0) + np.maximum(above_length, 0.0)) / width

    def entropy_integral_bits(lo: float, hi: float) -> float:
        return _interval_probability(law, lo, hi) * math.log2(width)

    law = NoiseLaw(description=description, support=(low, high), symmetric=low == -high,
                   probability=probability, entropy_integral_bits=entropy_integral_bits,
                   fisher_integral=lambda lo, hi: 0.0)
    return law


NOISE_LAWS: dict[str, NoiseLaw] = {
    "normal": NoiseLaw(description="standard normal N(0, 1)",
                       support=(-math.inf, math.inf),
                       symmetric=True,
                       probability=_normal_probability,
                       entropy_integral_bits=_normal_entropy_integral_bits,
                       # For phi, phi'^2 / phi = x^2 phi.
                       fisher_integral=_normal_second_moment),
    "uniform01": _uniform_law(0.0, 1.0, "uniform on [0, 1)"),
    "uniform11": _uniform_law(-1.0, 1.0, "uniform on [-1, 1)"),
}


def get_noise_law(law: str) -> NoiseLaw:
    """Return the law called ``law``, or raise ValueError for an unknown name."""
    try:
        return NOISE_LAWS[law]
    except KeyError:
        raise ValueError(f"unknown noise law {law!r}; known laws: "
                         f"{', '.join(NOISE_LAWS)}") from None


# --------------------------------------------------------------------------------------------
# Rounding cells of a format.


@dataclass(frozen=True)
class _CellRun:
    """Centred positive rounding cells of width 2^spacing_exponent around the evenly spaced
    values first_value + k 2^spacing_exponent, k = 0 .. count - 1."""

    first_value: float
    count: int
    spacing_exponent: int

    @property
    def half_spacing(self) -> float:
        return math.ldexp(1.0, self.spacing_exponent - 1)

    @property
    def region(self) -> tuple[float, float]:
        """Union [lo, hi] of the run's cells (bounds rounded to float64)."""
        spacing = math.ldexp(1.0, self.spacing_exponent)
        return (self.first_value - spacing / 2,
                self.first_value + (self.count - 0.5) * spacing)


def _positive_cells(fmt: FloatFormat) -> tuple[list[_CellRun], tuple[np.ndarray, ...]]:
    """Split the positive finite values of ``fmt`` into runs of centred cells and the
    binade-first values, whose cells are not centred.

    Returns (runs, (values, below, above)) with the binade-first cells as arrays of
    (value, half-gap below, half-gap above). Zero and infinity are not included.
    """
    subnormal_spacing_exponent = fmt.spacing_exponent(fmt.min_exponent)
    runs = [_CellRun(first_value=math.ldexp(1.0, subnormal_spacing_exponent),
                     count=fmt.values_per_binade - 1,
                     spacing_exponent=subnormal_spacing_exponent)]
    exponents = range(fmt.min_exponent, fmt.max_exponent + 1)
    for exponent in exponents:
        spacing_exponent = fmt.spacing_exponent(exponent)
        first_value = math.ldexp(1.0, exponent) + math.ldexp(1.0, spacing_exponent)
        runs.append(_CellRun(first_value=first_value, count=fmt.values_per_binade - 1,
                             spacing_exponent=spacing_exponent))
    values = np.array([math.ldexp(1.0, e) for e in exponents])
    below = np.array([math.ldexp(1.0, fmt.spacing_exponent(e - 1) - 1) for e in exponents])
    above = np.array([math.ldexp(1.0, fmt.spacing_exponent(e) - 1) for e in exponents])
    return runs, (values, below, above)


def _mirror(value, below, above, sign: int) -> tuple:
    """Map the positive cell (value, below, above) to the side of ``sign``."""
    return (value, below, above) if sign > 0 else (-value, above, below)


def _neg_p_log2_p(probability: np.ndarray) -> np.ndarray:
    probability = np.atleast_1d(probability)
    positive = probability > 0.0
    terms = np.zeros_like(probability)
    terms[positive] = -probability[positive] * np.log2(probability[positive])
    return terms


def _run_probability(law: NoiseLaw, run: _CellRun, sign: int) -> float:
    """Return the probability of the union of the cells of ``run``."""
    spacing = math.ldexp(1.0, run.spacing_exponent)
    region = (np.float64(run.first_value), np.float64(spacing / 2),
              np.float64((run.count - 0.5) * spacing))
    return float(law.probability(*_mirror(*region, sign))[()])


def _run_entropy_exact(law: NoiseLaw, run: _CellRun, sign: int) -> float:
    """Sum -P log2 P over every cell of ``run`` (mirrored to ``sign``)."""
    spacing = math.ldexp(1.0, run.spacing_exponent)
    half = np.float64(run.half_spacing)
    # A monotone density whose first and last cells agree to 2^-55 relative gives all cells
    # of the run the same float64 probability, so the sum is count * (-p log2 p).
    ends = np.array([run.first_value, run.first_value + (run.count - 1) * spacing])
    end_probability = law.probability(*_mirror(ends, half, half, sign))
    if abs(end_probability[1] - end_probability[0]) <= 2.0 ** -55 * np.max(end_probability):
        run_probability = _run_probability(law, run, sign)
        return run_probability * (math.log2(run.count) - math.log2(run_probability))

    total = 0.0
    for start in range(0, run.count, _CHUNK_CELLS):
        index = np.arange(start, min(start + _CHUNK_CELLS, run.count), dtype=np.float64)
        values = run.first_value + index * spacing  # exact: values of the format
        total += float(_neg_p_log2_p(law.probability(*_mirror(values, half, half, sign))).sum())
    return total


def _run_entropy_integral(law: NoiseLaw, run: _CellRun, sign: int) -> float:
    """Euler-Maclaurin value of the sum of -P log2 P over the cells of ``run``."""
    lo, hi = run.region if sign > 0 else (-run.region[1], -run.region[0])
    for edge in law.support:
        if lo < edge < hi:
            raise AssertionError(f"support edge {edge} lies inside the cell run [{lo}, {hi}], "
                                 "where the integral method needs a smooth density")
    spacing_squared = math.ldexp(1.0, 2 * run.spacing_exponent)
    return (law.entropy_integral_bits(lo, hi)
            - _run_probability(law, run, sign) * run.spacing_exponent
            + spacing_squared / (24.0 * LN2) * law.fisher_integral(lo, hi))


_RUN_METHODS: dict[str, Callable[[NoiseLaw, _CellRun, int], float]] = {
    "exact": _run_entropy_exact,
    "integral": _run_entropy_integral,
}

# Largest run that the exact method accepts (one float32 binade), and the largest that it is
# the default for (one float16 binade).
_MAX_EXACT_RUN = 2 ** 23
_DEFAULT_EXACT_MAX_RUN = 2 ** 10

# Runs whose contribution is provably below this many bits are skipped.
_NEGLIGIBLE_BITS = 1e-25


def _side_entropy_terms(fmt: FloatFormat, law: NoiseLaw, method: str,
                        sign: int) -> Iterator[float]:
    """Yield the entropy contributions, in bits, of the nonzero values of sign ``sign``."""
    runs, binade_first_cells = _positive_cells(fmt)
    yield float(_neg_p_log2_p(law.probability(*_mirror(*binade_first_cells, sign))).sum())

    for run in runs:
        run_probability = _run_probability(law, run, sign)
        # count cells sharing run_probability contribute at most -P log2(P / count).
        if (run_probability == 0.0
                or run_probability * (math.log2(run.count) - math.log2(run_probability))
                < _NEGLIGIBLE_BITS):
            continue
        yield _RUN_METHODS[method](law, run, sign)

    # Reals at or beyond the overflow threshold round to +-inf. For float64 the threshold
    # itself overflows, and no law here has probability beyond 1.8e308.
    threshold = fmt.overflow_threshold
    if math.isfinite(threshold):
        infinity_cell = _mirror(np.float64(threshold), np.float64(0.0), np.float64(np.inf), sign)
        yield float(_neg_p_log2_p(law.probability(*infinity_cell)).sum())


def _entropy_terms(fmt: FloatFormat, law: NoiseLaw, method: str) -> Iterator[float]:
    """Yield the entropy contributions, in bits, of all values of ``fmt`` under ``law``."""
    # +0 and -0: one value whose cell reaches half the subnormal spacing to either side. For
    # float64 that half-spacing, 2^-1075, underflows to 0 and the cell's 2e-324 is dropped.
    half_spacing = np.float64(math.ldexp(1.0, fmt.spacing_exponent(fmt.min_exponent) - 1))
    yield float(_neg_p_log2_p(law.probability(np.float64(0.0), half_spacing,
                                              half_spacing)).sum())
    if law.symmetric:
        yield 2.0 * math.fsum(_side_entropy_terms(fmt, law, method, sign=1))
    else:
        yield from _side_entropy_terms(fmt, law, method, sign=1)
        yield from _side_entropy_terms(fmt, law, method, sign=-1)


def default_method(dtype: str) -> str:
    """Return the summation method that ``float_noise_entropy`` uses for ``dtype`` by default.

    That is ``exact`` for the 16-bit formats and ``integral`` for float32 and float64. For
    float32 the integral method agrees with the exact sum to 1e-14 bits and takes about 0.2 s
    instead of 10 to 35 s.
    """
    return ("exact" if get_float_format(dtype).values_per_binade <= _DEFAULT_EXACT_MAX_RUN
            else "integral")


@functools.lru_cache(maxsize=None)
def float_noise_entropy(dtype: str, law: str = "normal", method: str | None = None) -> float:
    """Return the Shannon entropy, in bits per dimension, of ``law`` rounded to ``dtype``.

    dtype: ``float16``, ``bfloat16``, ``float32`` or ``float64``. law: a name in
    ``NOISE_LAWS`` (``normal``, ``uniform01``, ``uniform11``). Rounding is to nearest with ties
    to even, including subnormals and overflow to +-inf, and +0 and -0 count as one value.
    method: ``exact`` sums over every value and cannot handle float64. ``integral`` expands
    each run of equal cells by Euler-Maclaurin, with an error of order spacing^4: below 1e-10
    bits for bfloat16 and below float64 rounding for float32 and float64. None selects
    ``default_method(dtype)``.
    Results are cached. Cells whose probability underflows float64 (below about 1e-308) are
    dropped, which changes the result by less than 1e-300 bits.
    """
    fmt = get_float_format(dtype)
    noise_law = get_noise_law(law)
    method = default_method(dtype) if method is None else method
    if method not in _RUN_METHODS:
        raise ValueError(f"unknown summation method {method!r}; use one of "
                         f"{', '.join(_RUN_METHODS)} or None for the default")
    if method == "exact" and fmt.values_per_binade > _MAX_EXACT_RUN:
        raise ValueError(f"method 'exact' would sum {fmt.values_per_binade} cells per binade "
                         f"of {dtype}; use method='integral' for {dtype}")
    entropy_bits = math.fsum(_entropy_terms(fmt, noise_law, method))
    logger.debug("entropy of %s rounded to %s (%s method): %.12f bits",
                 law, dtype, method, entropy_bits)
    return entropy_bits


def law_entropy_table(dtypes: list[str] | tuple[str, ...] = tuple(FLOAT_FORMATS),
                      laws: list[str] | tuple[str, ...] = tuple(NOISE_LAWS)) -> pd.DataFrame:
    """Tabulate ``float_noise_entropy`` for every (dtype, law) pair.

    Returns a DataFrame with columns ``dtype``, ``law``, ``entropy_bits`` (bits per dimension),
    one row per pair in the order given.
    """
    rows = [{"dtype": dtype, "law": law, "entropy_bits": float_noise_entropy(dtype, law)}
            for dtype in dtypes for law in laws]
    return pd.DataFrame(rows, columns=["dtype", "law", "entropy_bits"])


# --------------------------------------------------------------------------------------------
# Conventions that could explain the paper's 26.55 bits (see docs/noise-entropy.md).


def _binade_probabilities(fmt: FloatFormat, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Return (exponents e, P(2^e <= |scale Z| < 2^(e+1))) for Z ~ N(0, 1) over the finite
    binades of ``fmt``, the subnormal range counted as binade min_exponent - 1."""
    exponents = np.arange(fmt.min_exponent - 1, fmt.max_exponent + 1)
    lo = np.ldexp(1.0, exponents) / scale
    lo[0] = 0.0
    hi = np.ldexp(1.0, exponents + 1) / scale
    probability = 2.0 * (special.ndtr(-lo) - special.ndtr(-hi))
    return exponents, probability


def _continuous_approximation_bits(fmt: FloatFormat, scale: float = 1.0) -> float:
    """Return h(scale Z) - E[log2 spacing(scale Z)] for Z ~ N(0, 1), in bits.

    This is the integral method without the spacing^2 term and with the binade-first cells
    treated as centred, which is off by about 0.09 * 2^-m bits.
    """
    exponents, probability = _binade_probabilities(fmt, scale)
    spacing_exponents = np.array([fmt.spacing_exponent(int(e)) for e in exponents])
    differential_bits = 0.5 * math.log2(2.0 * math.pi * math.e) + math.log2(scale)
    return differential_bits - float(np.sum(probability * spacing_exponents))


def paper_constant_candidates() -> pd.DataFrame:
    """Compute the conventions tried to reproduce ``PAPER_FLOAT32_NORMAL_BITS`` (26.55).

    Returns a DataFrame with columns ``convention``, ``entropy_bits`` (bits per float32
    noise dimension), ``kind`` (``exact``, ``approximation`` or ``upper bound``) and
    ``rounds_to_paper`` (entropy_bits rounded to 2 decimals equals 26.55).
    """
    fmt = FLOAT_FORMATS["float32"]
    h_normal_bits = 0.5 * math.log2(2.0 * math.pi * math.e)
    _, binade_probability = _binade_probabilities(fmt)
    positive = binade_probability[binade_probability > 0]
    exponent_entropy_bits = float(-np.sum(positive * np.log2(positive)))
    scales = 2.0 ** np.linspace(0.0, 1.0, 129)
    scaled = [_continuous_approximation_bits(fmt, float(scale)) for scale in scales]
    rows = [
        ("N(0,1) rounded to nearest float32", float_noise_entropy("float32", "normal"), "exact"),
        ("h(N(0,1)) - E[log2 spacing(X)] (continuous approximation)",
         _continuous_approximation_bits(fmt), "approximation"),
        ("h(N(0,1)) + 23: spacing 2^-23 of float32 at 1.0", h_normal_bits + 23, "approximation"),
        ("h(N(0,1)) + 24: spacing 2^-24 just below 1.0", h_normal_bits + 24, "approximation"),
        ("sign bit + 23 uniform mantissa bits + H(exponent of N(0,1))",
         1 + 23 + exponent_entropy_bits, "approximation"),
        ("N(0, s^2) rounded to float32, lowest over s in [1, 2)", min(scaled), "approximation"),
        ("N(0, s^2) rounded to float32, highest over s in [1, 2)", max(scaled), "approximation"),
        ("U[-1, 1) rounded to nearest float32", float_noise_entropy("float32", "uniform11"),
         "exact"),
        ("torch.randn float32 on CPU, >= 16 elements: Box-Muller of two 24-bit uniforms",
         24.0, "upper bound"),
    ]
    table = pd.DataFrame(rows, columns=["convention", "entropy_bits", "kind"])
    table["rounds_to_paper"] = table["entropy_bits"].round(2) == PAPER_FLOAT32_NORMAL_BITS
    return table
