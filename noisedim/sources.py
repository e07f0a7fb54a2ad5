"""Known discrete sources for the divergence-entropy trade-off, and their exact entropy.

A source is a probability vector over K outcomes, returned as a validated 1-D float64 numpy
array. The built-in sources are registered in ``noisedim.registry.SOURCES`` at the bottom of
this module, so a config refers to them by name through ``make_source``:

    make_source({"kind": "zipf", "K": 16, "s": 1.1})
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from noisedim.registry import SOURCES

# Largest |sum(p) - 1| that ``validate_distribution`` accepts. Within it the vector is
# renormalized, beyond it the vector is rejected: silently rescaling a vector that sums to 0.98
# would hide a wrong input.
PROBABILITY_SUM_TOL = 1e-9

# Column that ``from_csv`` reads and ``write_source_csv`` writes.
PROBABILITY_COLUMN = "probability"


def validate_distribution(p: Any, name: str = "p") -> np.ndarray:
    """Check that ``p`` is a probability vector and return it as a float64 copy.

    ``p`` must be a non-empty 1-D sequence of finite, non-negative numbers whose sum is within
    ``PROBABILITY_SUM_TOL`` of 1. The returned copy is divided by its sum, so it sums to 1 up
    to rounding. Raises ValueError that names the offending index and value.
    """
    try:
        array = np.array(p, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} is not a numeric vector ({error}); pass a 1-D sequence of "
                         "probabilities") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} has shape {array.shape}, but a distribution must be a "
                         "non-empty 1-D vector of probabilities")

    not_finite = np.flatnonzero(~np.isfinite(array))
    if not_finite.size:
        index = int(not_finite[0])
        raise ValueError(f"{name}: entry {index} is {float(array[index])}, which is not finite; "
                         "every probability must be a finite number in [0, 1]")
    negative = np.flatnonzero(array < 0)
    if negative.size:
        index = int(negative[0])
        raise ValueError(f"{name}: entry {index} is {float(array[index])!r}, which is negative; "
                         "every probability must be >= 0")

    total = float(array.sum())
    if abs(total - 1.0) > PROBABILITY_SUM_TOL:
        raise ValueError(f"{name} sums to {total!r}, which differs from 1 by "
                         f"{abs(total - 1.0):.3g} (tolerance {PROBABILITY_SUM_TOL:g}); "
                         "normalize the probabilities before passing them")
    return array / total


def entropy_bits(p: Any) -> float:
    """Return the Shannon entropy of the distribution ``p`` in bits (0 log 0 = 0).

    ``p`` is validated with ``validate_distribution`` first.
    """
    return entropy_bits_unchecked(validate_distribution(p))


def entropy_bits_unchecked(p: np.ndarray) -> float:
    """Return the entropy in bits of a vector already known to be a distribution.

    Solvers call this on their own iterates, which may carry rounding error of order 1e-12,
    so it skips validation. Zero entries contribute nothing.
    """
    positive = p[p > 0]
    return float(0.0 - np.sum(positive * np.log2(positive)))


def write_source_csv(p: Any, path: str | Path) -> None:
    """Write ``p`` to ``path`` as a CSV with one column ``probability`` (see ``from_csv``)."""
    p = validate_distribution(p)
    # repr-precision floats, so reading the file back gives the same vector.
    pd.DataFrame({PROBABILITY_COLUMN: p}).to_csv(path, index=False, float_format="%.17g")


def make_source(spec: Mapping[str, Any]) -> np.ndarray:
    """Build a source from a config mapping such as ``{"kind": "zipf", "K": 16, "s": 1.1}``.

    ``kind`` names an entry of the ``SOURCES`` registry, and the other keys are that source's
    keyword arguments. Raises ValueError for a missing or unknown kind, for missing or
    unexpected parameters (the message lists the expected ones), and for invalid values.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"a source spec must be a mapping with a 'kind' key, got {spec!r}")
    if "kind" not in spec:
        raise ValueError(f"source spec {dict(spec)!r} has no 'kind' key; add one of "
                         f"{', '.join(SOURCES.names())}")

    kind = spec["kind"]
    build = SOURCES.get(kind)
    params = {key: value for key, value in spec.items() if key != "kind"}

    signature = inspect.signature(build)
    try:
        signature.bind(**params)
    except TypeError as error:
        expected = ", ".join(
            name if parameter.default is inspect.Parameter.empty
            else f"{name} (optional, default {parameter.default!r})"
            for name, parameter in signature.parameters.items())
        raise ValueError(f"invalid parameters {sorted(params)} for source {kind!r} "
                         f"({error}); expected: {expected}") from None
    return build(**params)


# ---------------------------------------------------------------------------------------------
# Parameter checks shared by the built-in sources.

def _check_support_size(K: Any, minimum: int = 1) -> int:
    if isinstance(K, bool) or not isinstance(K, numbers.Integral):
        raise ValueError(f"K = {K!r} is not an integer; K is the number of outcomes, an "
                         f"integer >= {minimum}")
    if K < minimum:
        raise ValueError(f"K = {K} is too small; this source needs K >= {minimum} outcomes")
    return int(K)


def _check_real(name: str, value: Any, low: float, high: float, *, low_open: bool,
                high_open: bool) -> float:
    """Return ``value`` as a float if it lies in the interval described, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} = {value!r} is not a finite real number")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} = {value!r} is outside its valid range {interval}")
    return float(value)


def _normalize_weights(weights: np.ndarray) -> np.ndarray:
    return validate_distribution(weights / weights.sum())


# ---------------------------------------------------------------------------------------------
# Built-in sources.

def zipf(K: int, s: float) -> np.ndarray:
    """Return the Zipf distribution p_k proportional to k^(-s) for k = 1..K, with s > 0."""
    K = _check_support_size(K)
    s = _check_real("s", s, 0.0, math.inf, low_open=True, high_open=True)
    ranks = np.arange(1, K + 1, dtype=np.float64)
    return _normalize_weights(ranks ** -s)


def discretized_gaussian(K: int, sigma: float, mean: float | None = None) -> np.ndarray:
    """Return a Gaussian restricted to the integers 0..K-1 and normalized.

    p_k is proportional to exp(-(k - mean)^2 / (2 sigma^2)). ``mean`` defaults to the centre
    (K - 1) / 2. Outcomes far from the mean may underflow to probability 0.
    """
    K = _check_support_size(K)
    sigma = _check_real("sigma", sigma, 0.0, math.inf, low_open=True, high_open=True)
    centre = (K - 1) / 2 if mean is None else _check_real(
        "mean", mean, -math.inf, math.inf, low_open=True, high_open=True)
    points = np.arange(K, dtype=np.float64)
    log_weights = -((points - centre) ** 2) / (2 * sigma**2)
    # Subtracting the largest log-weight keeps the most likely outcome at weight 1, so a small
    # sigma cannot underflow every weight to 0.
    return _normalize_weights(np.exp(log_weights - log_weights.max()))


def geometric(K: int, r: float) -> np.ndarray:
    """Return the geometric distribution p_k proportional to r^k on k = 0..K-1, with 0 < r < 1."""
    K = _check_support_size(K)
    r = _check_real("r", r, 0.0, 1.0, low_open=True, high_open=True)
    log_weights = np.arange(K, dtype=np.float64) * math.log(r)
    return _normalize_weights(np.exp(log_weights))


def uniform(K: int) -> np.ndarray:
    """Return the uniform distribution on K outcomes."""
    K = _check_support_size(K)
    return np.full(K, 1.0 / K)


def spike_uniform(K: int, spike_mass: float) -> np.ndarray:
    """Return a distribution with mass ``spike_mass`` on outcome 0 and the rest spread evenly.

    Outcomes 1..K-1 each get (1 - spike_mass) / (K - 1). K must be at least 2.
    """
    K = _check_support_size(K, minimum=2)
    spike_mass = _check_real("spike_mass", spike_mass, 0.0, 1.0, low_open=False, high_open=False)
    p = np.full(K, (1.0 - spike_mass) / (K - 1))
    p[0] = spike_mass
    return validate_distribution(p)


def from_csv(path: str | Path, normalize: bool = False) -> np.ndarray:
    """Read a distribution from a CSV file.

    The file either has a header row with a column named ``probability`` (other columns are
    ignored), or it has exactly one column of numbers, with or without a header row. With
    ``normalize=False`` the values must already sum to 1 within ``PROBABILITY_SUM_TOL``. With
    ``normalize=True`` they are treated as non-negative weights and divided by their sum.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"source CSV {str(path)!r} not found; check the path in the source spec")
    table = pd.read_csv(path, header=None, dtype=str, skip_blank_lines=True)
    if table.empty:
        raise ValueError(f"source CSV {str(path)!r} is empty; it needs one probability per row")

    header = [str(cell).strip() for cell in table.iloc[0]]
    if PROBABILITY_COLUMN in header:
        cells = table.iloc[1:, header.index(PROBABILITY_COLUMN)]
        first_row = 2
    elif table.shape[1] == 1:
        has_header = _parse_float(table.iloc[0, 0]) is None
        cells = table.iloc[1:, 0] if has_header else table.iloc[:, 0]
        first_row = 2 if has_header else 1
    else:
        raise ValueError(f"source CSV {str(path)!r} has {table.shape[1]} columns and none is "
                         f"named {PROBABILITY_COLUMN!r}; add that header or keep one column")

    values = []
    for offset, cell in enumerate(cells):
        value = _parse_float(cell)
        if value is None:
            raise ValueError(f"source CSV {str(path)!r}, line {first_row + offset}: {cell!r} is "
                             "not a number; every row needs one probability")
        values.append(value)
    if not values:
        raise ValueError(f"source CSV {str(path)!r} has a header but no probabilities")

    weights = np.array(values)
    if normalize:
        weights = _check_weights(weights, path)
        weights = weights / weights.sum()
    return validate_distribution(weights, name=f"source CSV {str(path)!r}")


def _parse_float(cell: Any) -> float | None:
    try:
        return float(str(cell).strip())
    except ValueError:
        return None


def _check_weights(weights: np.ndarray, path: Path) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        index = int(bad[0])
        raise ValueError(f"weight {index} in {str(path)!r} is {float(weights[index])!r}; weights "
                         "must be finite and >= 0")
    if weights.sum() <= 0:
        raise ValueError(f"the weights in {str(path)!r} sum to 0; at least one must be positive")
    return weights


SOURCES.register("zipf", zipf)
SOURCES.register("discretized_gaussian", discretized_gaussian)
SOURCES.register("geometric", geometric)
SOURCES.register("uniform", uniform)
SOURCES.register("spike_uniform", spike_uniform)
SOURCES.register("csv", from_csv)
