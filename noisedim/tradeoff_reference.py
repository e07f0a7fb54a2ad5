"""Reference solvers for the divergence-entropy trade-off, independent of cvxpy and dccp.

d(eps) = min { D(p, q) : H(q) <= eps } over distributions q, in bits. These solvers check the
DCCP solver in ``noisedim.tradeoff``:

- ``reverse_kl_exact_curve``: closed form up to a 1-D root search (tempering, proof below).
- ``tv_exact_curve``: closed form up to a 1-D root search (majorization, proof below).
- ``independent_curve``: multi-start SLSQP on a softmax parametrisation for the smooth
  divergences ``kl``, ``reverse_kl`` and ``js``. It is a local method like DCCP, but with its
  own formulas, gradients and starts, so the two fail in different ways.

All three work on the support of p. Mass outside the support can be merged into any outcome of
the support. That merge is a deterministic map that leaves p unchanged, so by the
data-processing inequality it does not increase an f-divergence. Merging outcomes does not
increase entropy either.

The module converts nats to bits with its own ``LN2`` rather than
``noisedim.divergences.NATS_PER_BIT``, so that it shares no code with the solver it checks.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize

from noisedim.sources import entropy_bits_unchecked, validate_distribution

logger = logging.getLogger(__name__)

LN2 = math.log(2)

# Entries within this relative distance of max(p) count as tied modes. Tempering cannot separate
# modes that are tied to rounding error, so those are treated as exactly tied.
MODE_TIE_RTOL = 1e-12

# Tempering exponents are searched in [1, MAX_TEMPERING_EXPONENT].
MAX_TEMPERING_EXPONENT = 1e15

# Largest entropy excess (bits) for which an independent-solver result still counts as feasible.
INDEPENDENT_ENTROPY_TOL_BITS = 1e-8

REFERENCE_COLUMNS = ["eps_bits", "divergence_bits", "entropy_bits", "method", "q"]


# ---------------------------------------------------------------------------------------------
# Tempering: q proportional to p^beta.

def _logsumexp(values: np.ndarray) -> float:
    # scipy.special.logsumexp costs about 0.5 ms a call through its array-API layer, which
    # dominated the SLSQP runs; this plain version takes microseconds.
    largest = values.max()
    return float(largest + np.log(np.sum(np.exp(values - largest))))


def tempered_distribution(p: np.ndarray, beta: float) -> np.ndarray:
    """Return q proportional to p^beta on the support of p (zeros stay zero).

    Computed in the log domain, so exponents up to ``MAX_TEMPERING_EXPONENT`` do not underflow
    the largest entries.
    """
    q = np.zeros_like(p, dtype=np.float64)
    support = p > 0
    log_weights = beta * np.log(p[support])
    q[support] = np.exp(log_weights - _logsumexp(log_weights))
    return q


def _mode_count(p: np.ndarray) -> int:
    return int(np.count_nonzero(p >= p.max() * (1 - MODE_TIE_RTOL)))


def temper_to_entropy(p: np.ndarray, eps_bits: float) -> tuple[np.ndarray, float]:
    """Return (q, beta) with q proportional to p^beta, beta >= 1 and H(q) = eps_bits.

    H(p^beta / Z) decreases in beta: its derivative is -beta * Var_q[ln p] / ln 2 <= 0. It falls
    from H(p) at beta = 1 towards log2(m) as beta grows, where m is the number of tied modes of
    p. For eps_bits >= H(p) this returns (p, 1). Raises ValueError when eps_bits <= log2(m), which
    no finite beta reaches.
    """
    total_bits = entropy_bits_unchecked(p)
    if eps_bits >= total_bits:
        return p.copy(), 1.0
    floor_bits = math.log2(_mode_count(p))
    if eps_bits <= floor_bits:
        raise ValueError(f"no tempering of p reaches entropy {eps_bits!r} bits: p has "
                         f"{_mode_count(p)} tied modes, so tempered entropies stay above "
                         f"{floor_bits:.6g} bits")

    def excess_bits(beta: float) -> float:
        return entropy_bits_unchecked(tempered_distribution(p, beta)) - eps_bits

    high = 2.0
    while excess_bits(high) > 0:
        high *= 2
        if high > MAX_TEMPERING_EXPONENT:
            raise ValueError(f"entropy {eps_bits!r} bits needs a tempering exponent above "
                             f"{MAX_TEMPERING_EXPONENT:g}; the modes of p are too close to "
                             "separate in float64")
    beta = brentq(excess_bits, 1.0, high, xtol=1e-14, rtol=1e-14)
    return tempered_distribution(p, beta), float(beta)


def _mode_mixture_to_entropy(p: np.ndarray, eps_bits: float) -> np.ndarray:
    """Return a distribution on the tied modes of p with entropy eps_bits <= log2(m).

    It mixes the uniform distribution on the m modes with a point mass on the first mode. The
    entropy of the mixture falls from log2(m) to 0 as the point-mass weight goes from 0 to 1.
    """
    modes = np.flatnonzero(p >= p.max() * (1 - MODE_TIE_RTOL))
    uniform = np.zeros_like(p)
    uniform[modes] = 1.0 / modes.size
    point = np.zeros_like(p)
    point[modes[0]] = 1.0
    if eps_bits <= 0:
        return point
    if eps_bits >= math.log2(modes.size):
        return uniform

    def excess_bits(weight: float) -> float:
        return entropy_bits_unchecked((1 - weight) * uniform + weight * point) - eps_bits

    weight = brentq(excess_bits, 0.0, 1.0, xtol=1e-15)
    return (1 - weight) * uniform + weight * point


def reverse_kl_exact_curve(p: np.ndarray, eps_bits: Sequence[float]) -> pd.DataFrame:
    """Return the exact reverse-KL trade-off d(eps) = min { D(q || p) : H(q) <= eps } in bits.

    Claim: for log2(m) < eps < H(p), with m the number of tied modes of p, the minimiser is the
    tempered q_b proportional to p^b with b >= 1 and H(q_b) = eps. Proof, in nats: q_b is the
    Gibbs distribution of the function b ln p, so it maximises H(r) + b E_r[ln p] over all
    distributions r (log-sum-exp duality). For any q with H(q) <= eps this gives
    E_q[ln p] <= (eps - H(q)) / b + E_{q_b}[ln p], and therefore
        D(q || p) = -H(q) - E_q[ln p]
                  >= -eps - E_{q_b}[ln p] + (eps - H(q)) (1 - 1/b)
                  >= D(q_b || p),
    because eps >= H(q) and b >= 1. For eps <= log2(m), D(q || p) >= -H(q) - log2(max p)
    >= -eps - log2(max p) in bits, with equality for any q on the modes with H(q) = eps. For
    eps >= H(p) the minimiser is q = p and d = 0.

    Columns: ``REFERENCE_COLUMNS``, with q as a JSON list.
    """
    p = validate_distribution(p)
    total_bits = entropy_bits_unchecked(p)
    rows = []
    for eps in _validate_reference_eps(eps_bits):
        if eps >= total_bits:
            q, method = p.copy(), "exact_zero"
        elif eps <= math.log2(_mode_count(p)):
            q, method = _mode_mixture_to_entropy(p, eps), "modes"
        else:
            q, _ = temper_to_entropy(p, eps)
            method = "tempered"
        rows.append(_reference_row(eps, _reverse_kl_bits(p, q), q, method))
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


def _reverse_kl_bits(p: np.ndarray, q: np.ndarray) -> float:
    support = q > 0
    return float(np.sum(q[support] * np.log2(q[support] / p[support])))


# ---------------------------------------------------------------------------------------------
# Total variation: the most concentrated distribution in a TV ball.

def tv_extreme_point(p: np.ndarray, radius: float) -> np.ndarray:
    """Return the distribution in the TV ball {q : TV(p, q) <= radius} that majorizes all others.

    It adds ``radius`` to the largest entry of p and removes the same mass from the smallest
    entries, emptying them from the bottom up. For every k, the sum of the k largest entries of
    any q in the ball is at most min(1, top_k(p) + radius), and this point attains that bound,
    so it majorizes the whole ball. Entropy is Schur-concave, so it is also the
    minimum-entropy point of the ball.
    """
    order = np.argsort(-p, kind="stable")
    sorted_q = p[order].astype(np.float64)
    radius = min(radius, 1.0 - sorted_q[0])
    sorted_q[0] += radius
    remaining = radius
    for index in range(sorted_q.size - 1, 0, -1):
        if remaining <= 0:
            break
        removed = min(sorted_q[index], remaining)
        sorted_q[index] -= removed
        remaining -= removed
    q = np.empty_like(sorted_q)
    q[order] = sorted_q
    return q


def tv_exact_curve(p: np.ndarray, eps_bits: Sequence[float]) -> pd.DataFrame:
    """Return the exact TV trade-off d(eps) = min { TV(p, q) : H(q) <= eps }.

    By ``tv_extreme_point``, a TV ball of radius t contains a q with H(q) <= eps exactly when
    its extreme point does. That point's entropy is continuous and strictly decreasing in t on
    [0, 1 - max p], so d(eps) is the root t of H(extreme point) = eps. TV is dimensionless, so
    the ``divergence_bits`` column contains the plain TV value.
    """
    p = validate_distribution(p)
    total_bits = entropy_bits_unchecked(p)
    largest_radius = 1.0 - p.max()
    rows = []
    for eps in _validate_reference_eps(eps_bits):
        if eps >= total_bits:
            radius = 0.0
        elif eps <= 0:
            radius = largest_radius
        else:
            radius = brentq(
                lambda t: entropy_bits_unchecked(tv_extreme_point(p, t)) - eps,
                0.0, largest_radius, xtol=1e-15)
        q = tv_extreme_point(p, radius)
        rows.append(_reference_row(eps, radius, q, "majorization"))
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


EXACT_CURVES: dict[str, Callable[[np.ndarray, Sequence[float]], pd.DataFrame]] = {
    "reverse_kl": reverse_kl_exact_curve,
    "tv": tv_exact_curve,
}


def exact_curve(p: np.ndarray, eps_bits: Sequence[float], divergence: str) -> pd.DataFrame:
    """Return the exact trade-off curve for a divergence listed in ``EXACT_CURVES``."""
    if divergence not in EXACT_CURVES:
        raise ValueError(f"no exact trade-off curve is known for divergence {divergence!r}; "
                         f"exact curves exist for {', '.join(sorted(EXACT_CURVES))}, use "
                         "independent_curve for the others")
    return EXACT_CURVES[divergence](p, eps_bits)


# ---------------------------------------------------------------------------------------------
# Independent multi-start SLSQP solver on q = softmax(z).

def _softmax_chain(q: np.ndarray, grad_q: np.ndarray) -> np.ndarray:
    """Map a gradient in q to the gradient in z for q = softmax(z)."""
    return q * (grad_q - np.dot(q, grad_q))


def _kl_value_grad(p, log_q, q):
    value = np.sum(p * (np.log(p) - log_q))
    # The chain rule through softmax turns the gradient -p/q in q into q - p in z, which
    # needs no division by a possibly underflowed q.
    return value, q - p


def _reverse_kl_value_grad(p, log_q, q):
    value = np.sum(q * (log_q - np.log(p)))
    return value, _softmax_chain(q, log_q - np.log(p) + 1)


def _js_value_grad(p, log_q, q):
    log_m = np.log((p + q) / 2)
    value = 0.5 * np.sum(p * (np.log(p) - log_m)) + 0.5 * np.sum(q * (log_q - log_m))
    # The derivative of 0.5 KL(p || m) + 0.5 KL(q || m) in q_i simplifies to 0.5 ln(q_i / m_i).
    return value, _softmax_chain(q, 0.5 * (log_q - log_m))


# Value (nats) and gradient in the logits z of each smooth divergence at q = softmax(z), for
# p > 0. Written separately from noisedim.divergences so that a formula error there cannot hide
# here.
_SMOOTH_DIVERGENCES = {
    "kl": _kl_value_grad,
    "reverse_kl": _reverse_kl_value_grad,
    "js": _js_value_grad,
}


def _solve_slsqp(p: np.ndarray, eps_bits: float, value_grad, z0: np.ndarray,
                 max_iter: int) -> tuple[np.ndarray, float] | None:
    """Run SLSQP from logits z0 and return (q, divergence in bits), or None if it diverged."""
    def split(z):
        log_q = z - _logsumexp(z)
        return log_q, np.exp(log_q)

    def objective(z):
        log_q, q = split(z)
        value, grad_z = value_grad(p, log_q, q)
        return value / LN2, grad_z / LN2

    def entropy_slack(z):
        log_q, q = split(z)
        return eps_bits + np.dot(q, log_q) / LN2

    def entropy_slack_grad(z):
        log_q, q = split(z)
        return _softmax_chain(q, log_q + 1) / LN2

    result = minimize(objective, z0, jac=True, method="SLSQP",
                      constraints=[{"type": "ineq", "fun": entropy_slack,
                                    "jac": entropy_slack_grad}],
                      options={"maxiter": max_iter, "ftol": 1e-14})
    if not np.all(np.isfinite(result.x)):
        return None
    value_bits = objective(result.x)[0]
    return split(result.x)[1], value_bits


def independent_curve(p: np.ndarray, eps_bits: Sequence[float], divergence: str, *,
                      restarts: int = 24, seed: int = 0, max_iter: int = 500) -> pd.DataFrame:
    """Solve the trade-off for a smooth divergence by multi-start SLSQP on q = softmax(z).

    Each eps gets ``restarts`` starts: tempered p (q proportional to p^b) at b = 1, 2, 4, 8,
    then random logits z ~ N(log p, s^2) with s drawn from {0.5, 2, 8}. The feasible result
    (entropy <= eps + ``INDEPENDENT_ENTROPY_TOL_BITS``) with the smallest divergence is kept; a
    point where no start is feasible gets NaN and method ``failed``. At eps = 0, where q must be
    a point mass, the best point mass is found by enumeration. Meant for small supports
    (tested up to 16 outcomes); the cost grows with K times ``restarts``.
    """
    if divergence not in _SMOOTH_DIVERGENCES:
        raise ValueError(f"independent_curve supports {', '.join(sorted(_SMOOTH_DIVERGENCES))}, "
                         f"not {divergence!r}; for tv use tv_exact_curve")
    if restarts < 1:
        raise ValueError(f"restarts = {restarts} is invalid; use at least 1")
    p = validate_distribution(p)
    support = p > 0
    p_support = p[support]
    total_bits = entropy_bits_unchecked(p)
    value_grad = _SMOOTH_DIVERGENCES[divergence]

    rows = []
    for index, eps in enumerate(_validate_reference_eps(eps_bits)):
        if eps >= total_bits:
            rows.append(_reference_row(eps, 0.0, p.copy(), "exact_zero"))
            continue
        if eps == 0:
            rows.append(_point_mass_row(p, divergence))
            continue
        rng = np.random.default_rng([seed, index])
        best_value, best_q = math.inf, None
        for z0 in _slsqp_starts(p_support, restarts, rng):
            solution = _solve_slsqp(p_support, eps, value_grad, z0, max_iter)
            if solution is None:
                continue
            q_support, value = solution
            if entropy_bits_unchecked(q_support) > eps + INDEPENDENT_ENTROPY_TOL_BITS:
                continue
            if value < best_value:
                best_value, best_q = value, q_support
        if best_q is None:
            logger.warning("independent solver found no feasible start at eps = %g bits", eps)
            rows.append(_reference_row(eps, math.nan, None, "failed"))
            continue
        q = np.zeros_like(p)
        q[support] = best_q
        rows.append(_reference_row(eps, best_value, q, "slsqp"))
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


def _point_mass_row(p: np.ndarray, divergence: str) -> dict:
    """Return the row for eps = 0, where q must be a point mass e_j: the best j by enumeration."""
    best_value, best_q = math.inf, None
    for outcome in np.flatnonzero(p > 0):
        q = np.zeros_like(p)
        q[outcome] = 1.0
        if divergence == "kl":
            # KL(p || e_j) is infinite unless p is e_j itself.
            value = 0.0 if p[outcome] == 1.0 else math.inf
        elif divergence == "reverse_kl":
            value = -math.log2(p[outcome])
        else:
            m = (p + q) / 2
            support = p > 0
            value = 0.5 * float(np.sum(p[support] * np.log2(p[support] / m[support]))) \
                + 0.5 * math.log2(1.0 / m[outcome])
        if best_q is None or value < best_value:
            best_value, best_q = value, q
    return _reference_row(0.0, best_value, best_q, "point_mass")


def _slsqp_starts(p_support: np.ndarray, restarts: int, rng: np.random.Generator):
    log_p = np.log(p_support)
    for start in range(restarts):
        if start < 4:
            yield (2.0**start) * log_p
        else:
            yield log_p + rng.choice([0.5, 2.0, 8.0]) * rng.standard_normal(log_p.size)


# ---------------------------------------------------------------------------------------------
# Shared helpers.

def _validate_reference_eps(eps_bits: Sequence[float]) -> np.ndarray:
    eps = np.atleast_1d(np.asarray(eps_bits, dtype=np.float64))
    bad = np.flatnonzero(~np.isfinite(eps) | (eps < 0))
    if bad.size:
        raise ValueError(f"eps_bits[{int(bad[0])}] = {float(eps[bad[0]])!r} is invalid; entropy "
                         "limits must be finite and >= 0 bits")
    return eps


def _reference_row(eps: float, divergence: float, q: np.ndarray | None, method: str) -> dict:
    return {
        "eps_bits": float(eps),
        "divergence_bits": float(divergence),
        "entropy_bits": math.nan if q is None else entropy_bits_unchecked(q),
        "method": method,
        "q": json.dumps(None if q is None else q.tolist()),
    }
