"""GANs on a source of known entropy: measured output distribution, exact output entropy, and
the best divergence that noise uniform over M values allows.

The source is a ``templates`` dataset (``noisedim.data.templates``): template k is drawn with
probability p_k, so H(X) = H(p) exactly. A generated image is assigned to its nearest template
(L2 distance on uint8 pixels) when that distance is at most ``radius``, and otherwise to the
extra outcome "other" with index K. The generated distribution q is therefore a vector over
K + 1 outcomes, compared with p extended by p_other = 0. Every divergence is evaluated with the
``DIVERGENCES`` registry, so D(p || q) is infinite when q misses a template of positive
probability, and D(q || p) is infinite when q puts mass on "other". Infinite values are
reported as ``inf``.

Three measurements per trained generator (``measure_cell``):

- Sampled: q estimated from i.i.d. noise samples, with a percentile-bootstrap interval for each
  divergence (``bootstrap_divergence``).
- Exact: with quantised noise of at most ``max_enumeration_bits`` bits, every noise value is
  run through the generator (``enumerate_outputs``). Noise values are equiprobable, so the
  output distribution, H(g(Z)), the fraction of colliding noise values and the outcome counts
  m (q = m / M) are exact.
- For larger noise, H(g(Z)) is estimated by the plug-in entropy of the distinct sampled images.

The lattice bound (``lattice_allocation``): a deterministic generator fed with noise uniform
over M values can only produce q with entries in multiples of 1/M, so no such generator can
beat min over integer allocations m of D(p, m / M).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from noisedim.data.templates import read_template_source
from noisedim.noise import NoiseSampler
from noisedim.registry import DIVERGENCES
from noisedim.sources import entropy_bits_unchecked, validate_distribution
from noisedim.training import float_to_images, load_generator

log = logging.getLogger(__name__)

# Equal to noisedim.divergences.NATS_PER_BIT. This module does not import noisedim.divergences or
# noisedim.tradeoff at import time, so the workflow's parse-time ``check_config`` does not pay
# for importing cvxpy.
NATS_PER_BIT = math.log(2)

# Largest noise, in bits, for which the lattice bound is computed. The greedy allocation takes
# one heap step per noise value: 1 to 3 s per million values with K = 8, measured on a busy
# 2-core CPU, so 24 bits cost up to a minute per divergence.
MAX_LATTICE_NOISE_BITS = 24

# Absolute tolerance (divergence units) below a bound before a value counts as below it.
BOUND_TOLERANCE = 1e-9

EXACT_ENUMERATION = "exact_enumeration"
PLUG_IN_SAMPLES = "plug_in_samples"
CI_METHOD = "percentile bootstrap over multinomial resamples of the sample counts"


# ---------------------------------------------------------------------------------------------
# Generated images and their outcomes.

def _module_device(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def generate_images(G: nn.Module, z: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """Run ``G`` on noise ``z`` ``[N, z_dim]`` in batches; return uint8 ``[N, C, H, W]``.

    Outputs in [-1, 1] are mapped to 0..255 by ``float_to_images`` (clamped, rounded).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; use an integer >= 1")
    device = _module_device(G)
    batches = [float_to_images(G(z[start:start + batch_size].to(device)).cpu()).numpy()
               for start in range(0, len(z), batch_size)]
    return np.concatenate(batches)


def nearest_templates(images: np.ndarray, templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each image's nearest template and the L2 distance to it (uint8 units).

    Args:
        images: uint8 ``[N, C, H, W]``.
        templates: uint8 ``[K, C, H, W]``.

    Returns:
        int64 ``[N]`` template indices (ties go to the lower index) and float64 ``[N]``
        distances.
    """
    if images.shape[1:] != templates.shape[1:]:
        raise ValueError(f"images of shape {images.shape[1:]} cannot be compared with "
                         f"templates of shape {templates.shape[1:]}")
    flat_templates = templates.reshape(len(templates), -1).astype(np.float64)
    template_norms = (flat_templates**2).sum(1)
    nearest = np.empty(len(images), dtype=np.int64)
    distance = np.empty(len(images), dtype=np.float64)
    chunk = 65536  # bounds the [chunk, K] distance matrix
    for start in range(0, len(images), chunk):
        flat = images[start:start + chunk].reshape(-1, flat_templates.shape[1]).astype(np.float64)
        squared = ((flat**2).sum(1)[:, None] + template_norms[None, :]
                   - 2.0 * flat @ flat_templates.T)
        index = squared.argmin(1)
        nearest[start:start + chunk] = index
        distance[start:start + chunk] = np.sqrt(np.maximum(squared[np.arange(len(flat)), index],
                                                           0.0))
    return nearest, distance


def assign_outcomes(images: np.ndarray, templates: np.ndarray, radius: float) -> np.ndarray:
    """Assign each image to its nearest template, or to "other" when it is farther than radius.

    Args:
        images: uint8 ``[N, C, H, W]``.
        templates: uint8 ``[K, C, H, W]``.
        radius: largest L2 distance (uint8 units) at which an image counts as its template.

    Returns:
        int64 ``[N]`` in 0..K, where K means "other". Ties go to the lower template index.
    """
    if not radius >= 0:
        raise ValueError(f"radius={radius!r} is invalid; use an L2 distance >= 0")
    nearest, distance = nearest_templates(images, templates)
    return np.where(distance <= radius, nearest, len(templates))


def _distinct_counts(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct images ``[S, C, H, W]`` and how often each occurs ``[S]``."""
    flat = images.reshape(len(images), -1)
    distinct, counts = np.unique(flat, axis=0, return_counts=True)
    return distinct.reshape(-1, *images.shape[1:]), counts.astype(np.int64)


def plug_in_entropy_bits(counts: np.ndarray) -> float:
    """Return the entropy (bits) of the empirical distribution ``counts / counts.sum()``.

    As an estimate of the entropy of the sampled distribution it is biased low. Its expectation
    is at most the true entropy, and it never exceeds log2 of the number of samples. With many
    samples per outcome the bias is about -(S - 1) / (2 N ln 2) bits for S outcomes seen in N
    samples (the Miller-Madow correction).
    """
    counts = np.asarray(counts, dtype=np.float64)
    return entropy_bits_unchecked(counts / counts.sum())


@dataclass(frozen=True)
class SampleMeasurement:
    """Outcome and image counts of ``num_samples`` generated images.

    Attributes:
        outcome_counts: int64 ``[K + 1]``; the last entry counts "other".
        image_counts: int64 ``[S]``, occurrences of each distinct generated image.
        nearest_distances: float64 ``[N]``, each image's L2 distance to its nearest template.
    """

    outcome_counts: np.ndarray
    image_counts: np.ndarray
    nearest_distances: np.ndarray

    @property
    def num_samples(self) -> int:
        return int(self.outcome_counts.sum())


def sample_outcomes(G: nn.Module, sampler: NoiseSampler, templates: np.ndarray, radius: float,
                    num_samples: int, batch_size: int = 4096, seed: int = 0) -> SampleMeasurement:
    """Generate ``num_samples`` images from noise drawn with ``seed`` and count outcomes."""
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r} is invalid; use an integer >= 1")
    if not radius >= 0:
        raise ValueError(f"radius={radius!r} is invalid; use an L2 distance >= 0")
    generator = torch.Generator().manual_seed(seed)
    z = sampler.sample(num_samples, generator=generator)
    images = generate_images(G, z, batch_size)
    nearest, distance = nearest_templates(images, templates)
    outcomes = np.where(distance <= radius, nearest, len(templates))
    _, image_counts = _distinct_counts(images)
    return SampleMeasurement(np.bincount(outcomes, minlength=len(templates) + 1), image_counts,
                             distance)


# ---------------------------------------------------------------------------------------------
# Divergences of the measured distribution.

def extend_with_other(p: np.ndarray) -> np.ndarray:
    """Return p over K templates extended with p_other = 0, float64 ``[K + 1]``."""
    return np.append(validate_distribution(p), 0.0)


@dataclass(frozen=True)
class DivergenceEstimate:
    """A plug-in divergence estimate with its confidence interval, in the divergence's unit."""

    estimate: float
    ci_low: float
    ci_high: float


def bootstrap_divergence(p: np.ndarray, counts: np.ndarray, divergence: str,
                         resamples: int = 1000, confidence: float = 0.95,
                         seed: int = 0) -> DivergenceEstimate:
    """Estimate D(p, q) from outcome counts, with a percentile-bootstrap interval.

    Args:
        p: source distribution ``[K]``.
        counts: outcome counts ``[K + 1]`` (last entry "other") of i.i.d. generated images.
        divergence: a name in the ``DIVERGENCES`` registry.
        resamples: bootstrap resamples, each a multinomial draw of N = counts.sum() images
            from q_hat = counts / N.
        confidence: coverage of the interval, in (0, 1).

    Returns:
        The plug-in value D(p, q_hat) and the lower and upper (1 - confidence) / 2 quantiles of
        the resampled values (taken as order statistics, so infinite values stay infinite).
        The plug-in value is biased (upward for kl, which is convex in q), so it can lie
        outside its percentile interval, for example at q_hat = p. An outcome never seen stays
        at zero in every resample: where that makes D infinite, the whole interval is infinite,
        although the true q could be small but positive there.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} is invalid; use a number in (0, 1)")
    if resamples < 1:
        raise ValueError(f"resamples={resamples!r} is invalid; use an integer >= 1")
    p_ext = extend_with_other(p)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != p_ext.shape or counts.min() < 0 or counts.sum() == 0:
        raise ValueError(f"counts {counts.tolist()} are invalid: pass {len(p_ext)} non-negative "
                         "outcome counts (K templates, then 'other') with a positive sum")
    evaluate = DIVERGENCES.get(divergence).evaluate
    total = int(counts.sum())
    q_hat = counts / total
    draws = np.random.default_rng(seed).multinomial(total, q_hat, size=resamples) / total
    values = np.array([evaluate(p_ext, q) for q in draws])
    alpha = (1 - confidence) / 2
    low = float(np.quantile(values, alpha, method="lower"))
    high = float(np.quantile(values, 1 - alpha, method="higher"))
    return DivergenceEstimate(evaluate(p_ext, q_hat), low, high)


# ---------------------------------------------------------------------------------------------
# Exact output distribution by enumeration of the noise.

@dataclass(frozen=True)
class OutputEnumeration:
    """The exact output distribution of a generator on equiprobable noise values.

    Attributes:
        images: the distinct outputs, uint8 ``[S, C, H, W]``.
        counts: int64 ``[S]``, the number of noise values mapped to each; they sum to M.
    """

    images: np.ndarray
    counts: np.ndarray

    @property
    def num_noise_values(self) -> int:
        """M, the number of noise values."""
        return int(self.counts.sum())

    @property
    def noise_entropy_bits(self) -> float:
        """H(Z) = log2 M."""
        return math.log2(self.num_noise_values)

    @property
    def distinct_outputs(self) -> int:
        return len(self.counts)

    @property
    def output_entropy_bits(self) -> float:
        """H(g(Z)), exact: the output probabilities are counts / M."""
        return plug_in_entropy_bits(self.counts)

    @property
    def colliding_fraction(self) -> float:
        """Fraction of noise values whose output is also the output of another noise value."""
        return float(self.counts[self.counts > 1].sum() / self.num_noise_values)


def enumerate_outputs(G: nn.Module, sampler: NoiseSampler,
                      batch_size: int = 4096) -> OutputEnumeration:
    """Run ``G`` on every noise value of the quantised ``sampler`` and count distinct outputs.

    Raises ValueError (from ``NoiseSampler.enumerate``) for float noise or noise of more than
    ``noisedim.noise.MAX_ENUMERATED_BITS`` bits. The result obeys H(g(Z)) <= H(Z), with
    equality exactly when no two noise values give the same uint8 image.
    """
    z = sampler.enumerate()
    images, counts = _distinct_counts(generate_images(G, z, batch_size))
    enumeration = OutputEnumeration(images, counts)
    assert enumeration.output_entropy_bits <= enumeration.noise_entropy_bits + 1e-9, (
        f"H(g(Z)) = {enumeration.output_entropy_bits} bits exceeds H(Z) = "
        f"{enumeration.noise_entropy_bits} bits, which no deterministic map can do")
    return enumeration


def exact_outcome_counts(enumeration: OutputEnumeration, templates: np.ndarray,
                         radius: float) -> np.ndarray:
    """Return the outcome counts m, int64 ``[K + 1]`` summing to M, so that q = m / M exactly."""
    outcomes = assign_outcomes(enumeration.images, templates, radius)
    return np.bincount(outcomes, weights=enumeration.counts,
                       minlength=len(templates) + 1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The lattice bound for noise uniform over M values.

def _relative_entropy_nats(x: float, y: float) -> float:
    """Return x ln(x / y) with 0 ln(0 / y) = 0 and x ln(x / 0) = inf for x > 0.

    Same values as scipy.special.rel_entr on non-negative inputs, in plain Python, because the
    greedy allocation calls it once per unit and scipy's ufunc costs microseconds per scalar.
    """
    if x == 0:
        return 0.0
    if y == 0:
        return math.inf
    return x * math.log(x / y)


def _kl_term(p: float, q: float) -> float:
    return _relative_entropy_nats(p, q) / NATS_PER_BIT


def _reverse_kl_term(p: float, q: float) -> float:
    return _relative_entropy_nats(q, p) / NATS_PER_BIT


def _tv_term(p: float, q: float) -> float:
    return 0.5 * abs(p - q)


def _js_term(p: float, q: float) -> float:
    m = (p + q) / 2
    return 0.5 * (_relative_entropy_nats(p, m) + _relative_entropy_nats(q, m)) / NATS_PER_BIT


# Divergence name -> per-outcome term t(p_i, q_i) with D(p, q) = sum_i t(p_i, q_i); each term is
# convex in q_i. ``lattice_allocation`` checks the sum against the registry's evaluator.
SEPARABLE_TERMS: dict[str, Callable[[float, float], float]] = {
    "kl": _kl_term,
    "reverse_kl": _reverse_kl_term,
    "tv": _tv_term,
    "js": _js_term,
}


def _increment(after: float, before: float) -> float:
    """Return after - before, with inf - inf = inf (an outcome that must stay empty)."""
    if math.isinf(before) and before > 0:
        return math.inf if math.isinf(after) else -math.inf
    return after - before


def lattice_allocation(p: np.ndarray, num_noise_values: int,
                       divergence: str) -> tuple[np.ndarray, float]:
    """Return the best q = m / M on the 1/M lattice and its divergence D(p, m / M).

    With noise uniform over M values, a deterministic generator gives each output a multiple
    of 1/M, so its q over the templates is m / M with integers m_i >= 0 summing to M. Mass on
    "other" never helps: merging "other" into a template leaves p unchanged (p_other = 0), so by
    the data-processing inequality the f-divergence cannot grow. The bound is therefore
    min { sum_i t(p_i, m_i / M) : m_i >= 0 integers, sum_i m_i = M }, with the separable terms t
    of ``SEPARABLE_TERMS``.

    Greedy marginal allocation is exact. Write f_i(k) = t(p_i, k / M) and its increments
    delta_i(k) = f_i(k + 1) - f_i(k). Each f_i is convex, so delta_i is non-decreasing in k
    (a first increment of -inf, from f_i(0) = inf for kl, keeps this order). The cost of any
    allocation is sum_i f_i(0) plus, for each i, the first m_i increments of outcome i, so M
    increments in all, each list taken as a prefix. No M increments sum to less than the M
    smallest of all, and since every list is sorted those M smallest form prefixes. Adding one
    unit at a time to the outcome with the smallest next increment picks exactly them, so the
    greedy allocation attains the minimum. Ties go to the lower index. Cost: O(M log K).

    Args:
        p: source distribution ``[K]``.
        num_noise_values: M >= 1.
        divergence: a name in ``SEPARABLE_TERMS`` (kl, reverse_kl, tv, js).

    Returns:
        m, int64 ``[K]`` summing to M, and D(p, m / M) from the ``DIVERGENCES`` registry in
        that divergence's unit (inf for kl when M is smaller than the support of p).
    """
    p = validate_distribution(p)
    if divergence not in SEPARABLE_TERMS:
        raise ValueError(f"no lattice bound for divergence {divergence!r}; divergences with a "
                         f"separable form: {', '.join(sorted(SEPARABLE_TERMS))}")
    if isinstance(num_noise_values, bool) or not isinstance(num_noise_values, (int, np.integer)) \
            or not 1 <= num_noise_values <= 2**MAX_LATTICE_NOISE_BITS:
        raise ValueError(f"num_noise_values={num_noise_values!r} is invalid; use an integer "
                         f"from 1 to 2^{MAX_LATTICE_NOISE_BITS}")
    term, total = SEPARABLE_TERMS[divergence], int(num_noise_values)
    # Plain Python lists: numpy scalar indexing would triple the cost of the loop.
    p_list = p.tolist()
    units = [0] * len(p_list)
    value = [term(p_i, 0.0) for p_i in p_list]
    after = [term(p_i, 1 / total) for p_i in p_list]

    # Add M units one at a time, each where it lowers the divergence most.
    heap = [(_increment(after[i], value[i]), i) for i in range(len(p_list))]
    heapq.heapify(heap)
    for _ in range(total):
        i = heap[0][1]
        units[i] += 1
        value[i] = after[i]
        after[i] = term(p_list[i], (units[i] + 1) / total)
        heapq.heapreplace(heap, (_increment(after[i], value[i]), i))

    m = np.array(units, dtype=np.int64)
    bound = DIVERGENCES.get(divergence).evaluate(p, m / total)
    separable_sum = math.fsum(value)
    assert (math.isinf(bound) and math.isinf(separable_sum)) or math.isclose(
        bound, separable_sum, rel_tol=1e-9, abs_tol=1e-12), (
        f"the separable {divergence} terms sum to {separable_sum}, but the registry evaluates "
        f"{bound}; SEPARABLE_TERMS[{divergence!r}] does not match noisedim.divergences")
    return m, bound


# ---------------------------------------------------------------------------------------------
# Bounds: the continuous d(eps) curve and the lattice bound per number of noise bits.

LATTICE_COLUMNS = ["divergence", "divergence_unit", "noise_bits", "num_noise_values",
                   "lattice_bound_bits", "allocation", "curve_bits", "curve_status",
                   "lattice_below_curve"]


def bound_noise_bits(source_entropy_bits: float, cell_noise_bits: Sequence[int]) -> list[int]:
    """Return the noise sizes (bits) at which the lattice bound is drawn: 0 to past H(p) + 2."""
    largest = max([math.ceil(source_entropy_bits) + 2, *[int(b) for b in cell_noise_bits]])
    return list(range(largest + 1))


def curve_eps_bits(source_entropy_bits: float, noise_bits: Sequence[int],
                   num_points: int) -> np.ndarray:
    """Return the sorted entropy limits of the curve: an even grid on [0, H(p)] plus noise_bits.

    d(eps) = 0 for eps >= H(p), so grid points above H(p) would add nothing.
    """
    grid = np.linspace(0.0, source_entropy_bits, num_points)
    return np.unique(np.concatenate([grid, [source_entropy_bits],
                                     np.asarray(noise_bits, dtype=np.float64)]))


def known_entropy_bounds(p: np.ndarray, cell_noise_bits: Sequence[int],
                         divergences: Sequence[str], curve_points: int = 25,
                         seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solve d(eps) for each divergence and the lattice bound for each noise size.

    Returns ``(curve, lattice)``. ``curve`` concatenates ``divergence_entropy_curve`` over the
    divergences at ``curve_eps_bits``. ``lattice`` has ``LATTICE_COLUMNS``, one row per
    divergence and noise size in ``bound_noise_bits``, with d(noise_bits) from the curve. A
    lattice bound below the curve (``lattice_below_curve``) is impossible for the true d, so
    it marks a solver failure and is logged as an error.
    """
    from noisedim.tradeoff import divergence_entropy_curve

    p = validate_distribution(p)
    source_bits = entropy_bits_unchecked(p)
    noise_bits = bound_noise_bits(source_bits, cell_noise_bits)
    eps = curve_eps_bits(source_bits, noise_bits, curve_points)
    curves, rows = [], []
    for name in divergences:
        curve = divergence_entropy_curve(p, eps, name, seed=seed)
        curves.append(curve)
        for bits in noise_bits:
            m, bound = lattice_allocation(p, 2**bits, name)
            point = curve.loc[np.isclose(curve["eps_bits"], bits)].iloc[0]
            below = bool(bound < point["divergence_bits"] - BOUND_TOLERANCE)
            if below:
                log.error("%s lattice bound %.6g at %d noise bits lies below the solved curve "
                          "d(%d) = %.6g (status %s): the DCCP solution is not optimal there",
                          name, bound, bits, bits, point["divergence_bits"], point["status"])
            rows.append({"divergence": name, "divergence_unit": DIVERGENCES.get(name).unit,
                         "noise_bits": bits, "num_noise_values": 2**bits,
                         "lattice_bound_bits": bound, "allocation": json.dumps(m.tolist()),
                         "curve_bits": point["divergence_bits"],
                         "curve_status": point["status"], "lattice_below_curve": below})
    return pd.concat(curves, ignore_index=True), pd.DataFrame(rows, columns=LATTICE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# One trained cell.

@dataclass(frozen=True)
class MeasureSettings:
    """How a trained generator is measured.

    Attributes:
        num_samples: generated images for the sampled estimate of q.
        radius_fraction: the assignment radius as a fraction of the smallest distance between
            two templates. At most 0.5, so no image lies within the radius of two templates.
        confidence: coverage of the bootstrap intervals.
        bootstrap_resamples: multinomial resamples per interval.
        max_enumeration_bits: largest H(Z) in bits that is enumerated exactly.
        batch_size: noise vectors per generator call.
        seed: seed of the noise samples and of the bootstrap.
    """

    num_samples: int = 10000
    radius_fraction: float = 0.5
    confidence: float = 0.95
    bootstrap_resamples: int = 1000
    max_enumeration_bits: int = 20
    batch_size: int = 4096
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [("num_samples", self.num_samples >= 1, "an integer >= 1"),
                  ("radius_fraction", 0 <= self.radius_fraction <= 0.5, "in [0, 0.5]"),
                  ("confidence", 0 < self.confidence < 1, "in (0, 1)"),
                  ("bootstrap_resamples", self.bootstrap_resamples >= 1, "an integer >= 1"),
                  ("max_enumeration_bits", 0 <= self.max_enumeration_bits <= 24,
                   "an integer from 0 to 24"),
                  ("batch_size", self.batch_size >= 1, "an integer >= 1")]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"measurement setting {name}={getattr(self, name)!r} is "
                                 f"invalid; use {allowed}")


def _output_entropy(G: nn.Module, sampler: NoiseSampler, templates: np.ndarray, radius: float,
                    sample: SampleMeasurement, settings: MeasureSettings) -> dict[str, Any]:
    """Return H(g(Z)) and the outcome distribution, exact when the noise can be enumerated."""
    if sampler.bits is not None and sampler.entropy_bits <= settings.max_enumeration_bits:
        enumeration = enumerate_outputs(G, sampler, settings.batch_size)
        counts = exact_outcome_counts(enumeration, templates, radius)
        return {"method": EXACT_ENUMERATION,
                "output_entropy_bits": enumeration.output_entropy_bits,
                "distinct_outputs": enumeration.distinct_outputs,
                "colliding_fraction": enumeration.colliding_fraction,
                "exact_outcome_counts": counts.tolist(),
                "outcome_entropy_bits": plug_in_entropy_bits(counts)}
    log.info("noise of %.4g bits is not enumerated (limit %d bits); H(g(Z)) is the plug-in "
             "entropy of %d samples, biased low", sampler.entropy_bits,
             settings.max_enumeration_bits, sample.num_samples)
    return {"method": PLUG_IN_SAMPLES,
            "output_entropy_bits": plug_in_entropy_bits(sample.image_counts),
            "distinct_outputs": len(sample.image_counts), "colliding_fraction": None,
            "exact_outcome_counts": None,
            "outcome_entropy_bits": plug_in_entropy_bits(sample.outcome_counts)}


def _cell_divergences(p: np.ndarray, sample_counts: np.ndarray, exact_counts: list[int] | None,
                      settings: MeasureSettings) -> dict[str, dict[str, Any]]:
    """Return, per registered divergence, the plug-in estimate, its interval and the exact value.

    The exact value is None when ``exact_counts`` is None (noise not enumerated).
    """
    p_ext = extend_with_other(p)
    divergences = {}
    for name in DIVERGENCES.names():
        entry = DIVERGENCES.get(name)
        estimate = bootstrap_divergence(p, sample_counts, name, settings.bootstrap_resamples,
                                        settings.confidence, settings.seed)
        exact = None
        if exact_counts is not None:
            exact = entry.evaluate(p_ext, np.asarray(exact_counts) / sum(exact_counts))
        divergences[name] = {"unit": entry.unit, "estimate_bits": estimate.estimate,
                             "ci_low_bits": estimate.ci_low, "ci_high_bits": estimate.ci_high,
                             "exact_bits": exact}
    return divergences


def measure_cell(network_path: str | os.PathLike, dataset_dir: str | os.PathLike,
                 settings: MeasureSettings | None = None) -> dict[str, Any]:
    """Measure one trained generator against the templates dataset it was trained on.

    Returns a JSON-ready dict with the cell (``z_dim``, ``noise``, ``seed``), H(Z)
    (``noise_entropy_bits``), M (``num_noise_values``, None for float noise), H(X), the
    assignment radius, the sampled outcome counts and the output entropy (see
    ``_output_entropy``). Under ``divergences`` it holds, per registered divergence, the plug-in
    estimate with its bootstrap interval and the exact value when the noise was enumerated.
    Infinite divergences are ``inf``.
    """
    settings = MeasureSettings() if settings is None else settings
    began = time.perf_counter()
    source = read_template_source(dataset_dir)
    G, meta = load_generator(network_path)
    train_settings = meta["settings"]
    sampler = NoiseSampler(train_settings.z_dim, **train_settings.noise)
    radius = settings.radius_fraction * source.min_distance

    # Sample, then enumerate when the noise is small enough.
    sample = sample_outcomes(G, sampler, source.templates, radius, settings.num_samples,
                             settings.batch_size, settings.seed)
    output = _output_entropy(G, sampler, source.templates, radius, sample, settings)

    divergences = _cell_divergences(source.probabilities, sample.outcome_counts,
                                    output["exact_outcome_counts"], settings)
    result = {
        "network": str(network_path), "z_dim": train_settings.z_dim,
        "noise": dict(train_settings.noise), "seed": train_settings.seed,
        "noise_entropy_bits": sampler.entropy_bits,
        "num_noise_values": 2**int(sampler.entropy_bits) if sampler.bits is not None else None,
        "source_entropy_bits": source.entropy_bits, "num_templates": len(source.probabilities),
        "radius": radius, "min_template_distance": source.min_distance,
        "nearest_distance_quantiles": {
            f"q{int(level * 100)}": float(np.quantile(sample.nearest_distances, level))
            for level in (0.1, 0.5, 0.9)},
        "settings": dataclasses.asdict(settings),
        "sample_outcome_counts": sample.outcome_counts.tolist(), **output,
        "ci_method": f"{CI_METHOD}, {settings.bootstrap_resamples} resamples, "
                     f"{settings.confidence:.0%}",
        "divergences": divergences, "measure_seconds": time.perf_counter() - began,
    }
    log.info("cell z_dim=%d noise=%s: H(Z) = %.4g bits, H(g(Z)) = %.4g bits (%s), %d distinct "
             "outputs, q = %s", result["z_dim"], result["noise"], result["noise_entropy_bits"],
             output["output_entropy_bits"], output["method"], output["distinct_outputs"],
             output["exact_outcome_counts"] or sample.outcome_counts.tolist())
    return result


def write_measurement(result: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a ``measure_cell`` result as JSON; infinite divergences become ``Infinity``.

    ``Infinity`` is not strict JSON, but Python's ``json`` module and ``read_measurement`` read it.
    """
    with open(path, "w") as handle:
        json.dump(result, handle, indent=2)


def read_measurement(path: str | os.PathLike) -> dict[str, Any]:
    """Read a measurement written by ``write_measurement``."""
    with open(path) as handle:
        result = json.load(handle)
    missing = [key for key in ("z_dim", "noise", "divergences", "noise_entropy_bits")
               if key not in result]
    if missing:
        raise ValueError(f"measurement {path} lacks the keys {missing}; rerun the rule "
                         "measure_known_entropy for it")
    return result


def read_lattice_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a lattice-bound table written from ``known_entropy_bounds``."""
    lattice = pd.read_csv(path, dtype={"divergence": str, "divergence_unit": str,
                                       "allocation": str, "curve_status": str})
    missing = [column for column in LATTICE_COLUMNS if column not in lattice.columns]
    if missing:
        raise ValueError(f"{path} lacks the lattice columns {missing}; rerun the rule "
                         "solve_known_entropy_bounds")
    return lattice


# ---------------------------------------------------------------------------------------------
# The table of all cells against the bounds.

TABLE_COLUMNS = [
    "z_dim", "noise_bits_per_dim", "seed", "noise_entropy_bits", "num_noise_values",
    "source_entropy_bits", "output_entropy_bits", "output_entropy_method", "distinct_outputs",
    "colliding_fraction", "outcome_entropy_bits", "radius", "other_fraction", "divergence",
    "divergence_unit", "divergence_bits", "ci_low_bits", "ci_high_bits", "ci_method",
    "exact_divergence_bits", "curve_bound_bits", "curve_status", "lattice_bound_bits",
    "below_bound",
]


def _cell_bounds(curve: pd.DataFrame, lattice: pd.DataFrame, name: str,
                 cell: dict[str, Any]) -> tuple[float, str, float]:
    """Return d(H(Z)) with its solver status, and the lattice bound for M (NaN without one)."""
    rows = curve[(curve["divergence"] == name)
                 & np.isclose(curve["eps_bits"], cell["noise_entropy_bits"])]
    if rows.empty:
        raise ValueError(f"the {name} curve has no point at eps = H(Z) = "
                         f"{cell['noise_entropy_bits']} bits of cell {cell['network']}; "
                         "rerun the bounds rule with this cell in the noise grid")
    lattice_bound = math.nan
    if cell["num_noise_values"] is not None:
        match = lattice[(lattice["divergence"] == name)
                        & (lattice["num_noise_values"] == cell["num_noise_values"])]
        if match.empty:
            raise ValueError(f"no {name} lattice bound for M = {cell['num_noise_values']} noise "
                             f"values (cell {cell['network']}); rerun the bounds rule")
        lattice_bound = float(match["lattice_bound_bits"].iloc[0])
    return float(rows["divergence_bits"].iloc[0]), str(rows["status"].iloc[0]), lattice_bound


def _below_bound(row: dict[str, Any]) -> bool:
    """Return whether the interval, or the exact value, lies below d(H(Z)) or the lattice bound."""
    bounds = [b for b in (row["curve_bound_bits"], row["lattice_bound_bits"]) if not math.isnan(b)]
    if not bounds:
        return False
    bound = max(bounds) - BOUND_TOLERANCE
    exact = row["exact_divergence_bits"]
    return bool(row["ci_high_bits"] < bound or (exact is not None and exact < bound))


def known_entropy_table(measurements: Sequence[dict[str, Any]], curve: pd.DataFrame,
                        lattice: pd.DataFrame, divergences: Sequence[str]) -> pd.DataFrame:
    """Return one row per cell and divergence with ``TABLE_COLUMNS``, sorted by cell.

    ``below_bound`` is True when the bootstrap interval lies entirely below the larger of
    d(H(Z)) and the lattice bound, or when the exact divergence does. Each such row is logged
    as an error, because it means that the measurement or the solver failed.
    """
    rows = []
    for cell in measurements:
        counts = np.asarray(cell["exact_outcome_counts"] or cell["sample_outcome_counts"])
        for name in divergences:
            measured = cell["divergences"][name]
            curve_bound, curve_status, lattice_bound = _cell_bounds(curve, lattice, name, cell)
            row = {
                "z_dim": cell["z_dim"], "noise_bits_per_dim": cell["noise"].get("bits"),
                "seed": cell["seed"], "noise_entropy_bits": cell["noise_entropy_bits"],
                "num_noise_values": cell["num_noise_values"],
                "source_entropy_bits": cell["source_entropy_bits"],
                "output_entropy_bits": cell["output_entropy_bits"],
                "output_entropy_method": cell["method"],
                "distinct_outputs": cell["distinct_outputs"],
                "colliding_fraction": cell["colliding_fraction"],
                "outcome_entropy_bits": cell["outcome_entropy_bits"],
                "radius": cell["radius"],
                "other_fraction": float(counts[-1] / counts.sum()),
                "divergence": name, "divergence_unit": measured["unit"],
                "divergence_bits": measured["estimate_bits"],
                "ci_low_bits": measured["ci_low_bits"], "ci_high_bits": measured["ci_high_bits"],
                "ci_method": cell["ci_method"], "exact_divergence_bits": measured["exact_bits"],
                "curve_bound_bits": curve_bound, "curve_status": curve_status,
                "lattice_bound_bits": lattice_bound,
            }
            row["below_bound"] = _below_bound(row)
            if row["below_bound"]:
                log.error("cell z_dim=%d bits=%s seed=%d: %s = %.6g [%.6g, %.6g] (exact %s) lies "
                          "below the bound (curve %.6g, lattice %.6g); the measurement or the "
                          "solver is wrong", row["z_dim"], row["noise_bits_per_dim"], row["seed"],
                          name, row["divergence_bits"], row["ci_low_bits"], row["ci_high_bits"],
                          row["exact_divergence_bits"], curve_bound, lattice_bound)
            rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["divergence", "noise_entropy_bits", "z_dim", "seed"],
                             kind="stable", ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Config checks that the JSON schema cannot express.

def check_config(section: dict[str, Any]) -> None:
    """Check the ``known_entropy`` config section against the registries; raise ValueError.

    ``section`` has already passed ``config/schema.yaml``, so every key is present.
    """
    from noisedim.data.templates import make_templates
    from noisedim.registry import MODELS
    from noisedim.sources import make_source

    problems = []
    dataset = section["dataset"]
    try:
        p = make_source(dataset["source"])
        make_templates(dataset["template_set"], len(p), dataset["template_seed"])
    except ValueError as error:
        problems.append(f"config key known_entropy.dataset: {error}")
    train = section["train"]
    try:
        MODELS.get(train["model"]).resolve_options(train["model_options"])
    except ValueError as error:
        problems.append(f"config key known_entropy.train: {error}")
    largest = max(section["z_dims"]) * max(section["bits"])
    if largest > MAX_LATTICE_NOISE_BITS:
        problems.append(f"config keys known_entropy.z_dims and known_entropy.bits: the largest "
                        f"cell has {largest} bits of noise, but the lattice bound is computed "
                        f"up to {MAX_LATTICE_NOISE_BITS} bits; lower the largest z_dim or bits")
    unknown = [name for name in section["divergences"] if name not in SEPARABLE_TERMS]
    if unknown:
        problems.append(f"config key known_entropy.divergences: {unknown} have no lattice "
                        f"bound; choose from {sorted(SEPARABLE_TERMS)}")
    if problems:
        raise ValueError("invalid config:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------------
# The workflow's grid (workflow/rules/known_entropy.smk).

def grid_cells(section: dict[str, Any]) -> list[dict[str, int]]:
    """Return the wildcards ``{z_dim, bits, seed}`` of every cell of the ``known_entropy`` grid."""
    return [{"z_dim": z_dim, "bits": bits, "seed": seed} for z_dim, bits, seed in
            itertools.product(section["z_dims"], section["bits"], section["seeds"])]


def grid_noise_bits(section: dict[str, Any]) -> list[int]:
    """Return the distinct H(Z) = z_dim * bits of the grid's cells, sorted, in bits."""
    return sorted({cell["z_dim"] * cell["bits"] for cell in grid_cells(section)})


def cell_train_settings(section: dict[str, Any], z_dim: int, bits: int,
                        seed: int) -> dict[str, Any]:
    """Return the ``TrainSettings`` keywords of one cell, with noise of ``bits`` per dimension."""
    train = section["train"]
    return {"model": train["model"], "z_dim": int(z_dim), "capacity": train["capacity"],
            "seed": int(seed), "total_kimg": train["total_kimg"],
            "batch_size": train["batch_size"], "tick_kimg": train["tick_kimg"],
            "snapshot_ticks": train["snapshot_ticks"], "ema_kimg": train["ema_kimg"],
            "model_options": train["model_options"],
            "noise": {"bits": int(bits), "levels": section["noise_levels"]}}
