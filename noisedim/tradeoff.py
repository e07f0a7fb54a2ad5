"""Divergence-entropy trade-off d(eps) of a known discrete source, solved with DCCP.

    d(eps) = min { D(p, q) : q a distribution, H(q) <= eps }

is the smallest divergence a generator can reach when its output entropy is at most eps bits.
A deterministic generator fed with noise of eps bits cannot do better. The set
{q : H(q) <= eps} is not convex, so the problem is solved as a disciplined convex-concave
program. It minimises a convex D subject to the constraint sum(entr(q)) <= eps * ln 2, a
concave function below a constant, from several starts per eps (see ``START_BUILDERS``).

Two facts about f-divergences shrink the search space without losing the optimum, and the
solver uses both:

- Support: mass outside the support of p can be merged into an outcome of the support. The
  merge leaves p unchanged, so it cannot increase D (data processing), and merging outcomes
  cannot increase entropy. q is therefore solved on the support of p only.
- Order: D(p, q) = sum_i q_i f(p_i / q_i) has a non-positive mixed partial derivative in
  (p_i, q_i), so among permutations of q the one ordered like p has the smallest divergence,
  and the entropy does not change. The problem therefore carries the linear constraints
  q_i >= q_j whenever p_i >= p_j are adjacent in the sorted order, which removes the local
  optima that put the large masses on the wrong outcomes.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd
from dccp.problem import DCCP
from dccp.utils import DCCPSettings, NonDCCPError
from scipy.optimize import brentq

from noisedim.divergences import NATS_PER_BIT, Divergence
from noisedim.registry import DIVERGENCES
from noisedim.sources import entropy_bits_unchecked, validate_distribution
from noisedim.tradeoff_reference import temper_to_entropy

logger = logging.getLogger(__name__)

# Row status values.
OPTIMAL = "optimal"                    # DCCP converged from at least one start; best start kept
EXACT_ZERO = "exact_zero"              # eps >= H(p): q = p and d = 0
EXACT_POINT_MASS = "exact_point_mass"  # eps = 0: q is the best point mass, found by enumeration
FAILED = "failed"                      # no start gave a converged, feasible q; d is NaN

CURVE_COLUMNS = [
    "eps_bits", "divergence", "divergence_unit", "divergence_bits", "entropy_bits", "status",
    "iterations", "max_slack", "solve_seconds", "start", "starts_converged", "q",
]

# Entropy excess (bits) up to which a solution counts as feasible. Larger excesses, up to
# CCPSettings.entropy_repair_bits, are removed by tempering q first.
ENTROPY_TOL_BITS = 1e-9

# Mass of the uniform distribution mixed into every start. entr(q) has no finite gradient at
# q = 0, so a start with a zero entry cannot be linearised.
START_FLOOR_MASS = 1e-9

# Spread (standard deviation of the log-weights) of the random perturbation in "perturbed".
PERTURBATION_SCALE = 1.0

# Options passed to the cvxpy solver of every convex subproblem, per solver name. With
# CLARABEL's default step fraction of 0.99, about 1 in 10 subproblems of a K = 256 Zipf source
# ended in InsufficientProgress; with 0.9 none of 72 runs did (cvxpy 1.9.3, clarabel 0.11.1).
DEFAULT_SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {"max_step_fraction": 0.9},
}


@dataclass(frozen=True, kw_only=True)
class CCPSettings:
    """Settings of the convex-concave procedure run from each start.

    Attributes:
        max_iter: CCP iterations per start (dccp's max_iter). A start that has not converged
            by then is discarded.
        tau_ini: initial weight of the constraint slack in the objective, in divergence units
            per nat of slack. With dccp's default of 0.005, early iterates ignore the entropy
            limit, and in a K = 256 Zipf test such an iterate made CLARABEL fail.
        mu: factor by which tau grows each iteration.
        tau_max: upper bound of tau.
        max_slack: largest constraint slack (nats) that dccp accepts as converged.
        ep: largest change of the objective (divergence units) between iterations that
            counts as converged.
        solver: cvxpy solver for the convex subproblems.
        solver_options: keyword arguments for that solver. None selects
            ``DEFAULT_SOLVER_OPTIONS[solver]``, or no options for a solver not listed there.
        simplex_tol: largest |sum(q) - 1| and largest negative entry accepted from the solver
            before q is clipped and normalized.
        entropy_repair_bits: largest entropy excess over eps that is repaired by tempering q
            (q^b / Z with b >= 1 lowers entropy). A larger excess discards the start.
    """

    max_iter: int = 100
    tau_ini: float = 1.0
    mu: float = 1.5
    tau_max: float = 1e8
    max_slack: float = 1e-8
    ep: float = 1e-6
    solver: str = "CLARABEL"
    solver_options: dict[str, Any] | None = None
    simplex_tol: float = 1e-4
    entropy_repair_bits: float = 1e-3

    def __post_init__(self) -> None:
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) \
                or self.max_iter < 0:
            raise ValueError(f"CCPSettings.max_iter = {self.max_iter!r} is invalid; use an "
                             "integer >= 0")
        if not self.tau_ini > 0 or not self.tau_max >= self.tau_ini:
            raise ValueError(f"CCPSettings needs 0 < tau_ini <= tau_max, got tau_ini = "
                             f"{self.tau_ini!r}, tau_max = {self.tau_max!r}")
        if not self.mu >= 1:
            raise ValueError(f"CCPSettings.mu = {self.mu!r} is invalid; tau must not shrink, "
                             "so use mu >= 1")
        if self.solver not in cp.installed_solvers():
            raise ValueError(f"CCPSettings.solver = {self.solver!r} is not installed; "
                             f"installed cvxpy solvers: {', '.join(cp.installed_solvers())}")
        for name in ("max_slack", "ep", "simplex_tol", "entropy_repair_bits"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"CCPSettings.{name} = {value!r} is invalid; use a finite "
                                 "number >= 0")

    def resolved_solver_options(self) -> dict[str, Any]:
        """Return the solver keyword arguments, with the defaults applied."""
        if self.solver_options is not None:
            return dict(self.solver_options)
        return dict(DEFAULT_SOLVER_OPTIONS.get(self.solver, {}))


# ---------------------------------------------------------------------------------------------
# The DCCP problem.

@dataclass
class TradeoffProblem:
    """A cvxpy problem for one source and divergence, solved once per eps.

    Attributes:
        problem: minimise D(p, q) subject to sum(entr(q)) <= entropy_limit_nats, sum(q) = 1,
            q >= 0 and q ordered like p.
        q: the variable, one entry per outcome of the support of p.
        entropy_limit_nats: parameter set to eps * ln 2 before each solve.
    """

    problem: cp.Problem
    q: cp.Variable
    entropy_limit_nats: cp.Parameter


def build_tradeoff_problem(p_support: np.ndarray, divergence: Divergence) -> TradeoffProblem:
    """Build the DCCP problem for a strictly positive distribution ``p_support``."""
    if np.any(p_support <= 0):
        raise ValueError("build_tradeoff_problem needs p restricted to its support (all "
                         f"entries > 0), got min(p) = {p_support.min()!r}")
    q = cp.Variable(p_support.size, nonneg=True, name="q")
    entropy_limit_nats = cp.Parameter(nonneg=True, name="entropy_limit_nats")
    constraints = [cp.sum(cp.entr(q)) <= entropy_limit_nats, cp.sum(q) == 1]
    order = np.argsort(-p_support, kind="stable")
    if order.size > 1:
        constraints.append(q[order[:-1]] >= q[order[1:]])
    problem = cp.Problem(cp.Minimize(divergence.objective(p_support, q)), constraints)
    return TradeoffProblem(problem, q, entropy_limit_nats)


# ---------------------------------------------------------------------------------------------
# Starts. Each builder returns a distribution on the support of p, or None when the start does
# not exist at this eps. From a feasible start (entropy exactly eps) CCP descends through
# feasible points. The other starts rely on the slack penalty.

@dataclass
class StartContext:
    """Inputs of a start builder: p on its support, eps, a seeded generator and the neighbour.

    ``neighbour`` is the solution at the next larger eps of the curve, or None.
    """

    p: np.ndarray
    eps_bits: float
    rng: np.random.Generator
    neighbour: np.ndarray | None = None


def _tempered_start(context: StartContext) -> np.ndarray | None:
    """Temper p (q proportional to p^b, b >= 1) to entropy eps, the exact reverse-KL optimum."""
    try:
        return temper_to_entropy(context.p, context.eps_bits)[0]
    except ValueError:
        return None


def _mode_heavy_start(context: StartContext) -> np.ndarray:
    """Mix p with a point mass on its mode, (1 - w) p + w e_mode, with w set so H = eps.

    Along this segment the entropy is concave in w with slope -ln(max p) - H(p) <= 0 at w = 0
    (in nats), so it decreases from H(p) to 0 and the root is unique.
    """
    p = context.p
    point = np.zeros_like(p)
    point[np.argmax(p)] = 1.0
    weight = brentq(lambda w: entropy_bits_unchecked((1 - w) * p + w * point) - context.eps_bits,
                    0.0, 1.0, xtol=1e-15)
    return (1 - weight) * p + weight * point


def _perturbed_start(context: StartContext) -> np.ndarray:
    """Multiply p by random log-normal weights, reorder it like p and temper it to entropy eps.

    The random weights break ties in p. CCP keeps the symmetry of its start, so without them a
    source with tied outcomes would only reach solutions that treat those outcomes alike.
    """
    p = context.p
    weights = p * np.exp(PERTURBATION_SCALE * context.rng.standard_normal(p.size))
    order = np.argsort(-p, kind="stable")
    start = np.empty_like(p)
    start[order] = np.sort(weights)[::-1]
    start /= start.sum()
    try:
        return temper_to_entropy(start, context.eps_bits)[0]
    except ValueError:
        return start


def _neighbour_start(context: StartContext) -> np.ndarray | None:
    """Temper the solution at the next larger eps of the curve down to entropy eps."""
    if context.neighbour is None:
        return None
    try:
        return temper_to_entropy(context.neighbour, context.eps_bits)[0]
    except ValueError:
        return context.neighbour.copy()


def _source_start(context: StartContext) -> np.ndarray:
    """Return p itself. It violates the entropy limit, so the slack penalty has to pull CCP in."""
    return context.p.copy()


START_BUILDERS: dict[str, Callable[[StartContext], np.ndarray | None]] = {
    "neighbour": _neighbour_start,
    "tempered": _tempered_start,
    "mode_heavy": _mode_heavy_start,
    "perturbed": _perturbed_start,
    "source": _source_start,
}

DEFAULT_STARTS: tuple[str, ...] = tuple(START_BUILDERS)


# ---------------------------------------------------------------------------------------------
# One start, one eps.

@dataclass
class StartResult:
    """Outcome of one CCP run: a feasible q with its divergence, or the reason it was dropped."""

    start: str
    converged: bool
    iterations: int
    max_slack: float
    reason: str = ""
    q: np.ndarray | None = None
    divergence: float = math.nan


def _run_start(tradeoff: TradeoffProblem, divergence: Divergence, p: np.ndarray,
               eps_bits: float, name: str, start: np.ndarray,
               settings: CCPSettings) -> StartResult:
    """Run CCP from ``start`` and return the checked, possibly repaired solution."""
    tradeoff.q.value = (1 - START_FLOOR_MASS) * start + START_FLOOR_MASS / start.size
    tradeoff.entropy_limit_nats.value = eps_bits * NATS_PER_BIT
    solver = DCCP(tradeoff.problem, solver=settings.solver,
                  **settings.resolved_solver_options(), settings=DCCPSettings(
        max_iter=settings.max_iter, tau_ini=settings.tau_ini, mu=settings.mu,
        tau_max=settings.tau_max, max_slack=settings.max_slack, ep=settings.ep,
        verify_dccp=False))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            solver()
        except (cp.error.SolverError, NonDCCPError) as error:
            return StartResult(name, False, solver.iter.k, math.nan,
                               f"{type(error).__name__}: {error}")
    if caught:
        logger.debug("start %s at eps = %.6g bits: %d solver warnings, first: %s", name,
                     eps_bits, len(caught), caught[0].message)

    iterations, slack = solver.iter.k, float(solver.iter.slack)
    if tradeoff.problem.status != cp.OPTIMAL:
        return StartResult(name, False, iterations, slack,
                           f"not converged within max_iter = {settings.max_iter} (dccp status "
                           f"{tradeoff.problem.status!r}, slack {slack:.3g} nats)")
    q, reason = _feasible_solution(tradeoff.q.value, p, eps_bits, settings)
    if q is None:
        return StartResult(name, True, iterations, slack, reason)
    return StartResult(name, True, iterations, slack, q=q, divergence=divergence.evaluate(p, q))


def _feasible_solution(q_raw: np.ndarray | None, p: np.ndarray, eps_bits: float,
                       settings: CCPSettings) -> tuple[np.ndarray | None, str]:
    """Clip and normalize the solver's q, then move it onto the entropy limit H(q) = eps.

    A small entropy excess is removed by tempering q. A q strictly inside the limit is moved
    towards p (see ``_move_to_entropy_limit``). Returns (q, "") with q >= 0, sum(q) = 1 and
    H(q) <= eps + ENTROPY_TOL_BITS, or (None, the reason the solution is infeasible).
    """
    if q_raw is None or not np.all(np.isfinite(q_raw)):
        return None, "the solver returned no finite q"
    if q_raw.min() < -settings.simplex_tol:
        return None, f"q has a negative entry {q_raw.min():.3g}"
    q = np.clip(q_raw, 0.0, None)
    if abs(q.sum() - 1) > settings.simplex_tol:
        return None, f"q sums to {q.sum():.9g}"
    q = q / q.sum()

    excess_bits = entropy_bits_unchecked(q) - eps_bits
    if excess_bits < -ENTROPY_TOL_BITS:
        return _move_to_entropy_limit(q, p, eps_bits), ""
    if excess_bits <= ENTROPY_TOL_BITS:
        return q, ""
    if excess_bits > settings.entropy_repair_bits:
        return None, f"H(q) exceeds eps by {excess_bits:.3g} bits"
    try:
        q = temper_to_entropy(q, eps_bits)[0]
    except ValueError as error:
        return None, f"tempering could not remove an entropy excess of {excess_bits:.3g} " \
                     f"bits ({error})"
    if entropy_bits_unchecked(q) - eps_bits > ENTROPY_TOL_BITS:
        return None, "H(q) still exceeds eps after tempering"
    return q, ""


def _move_to_entropy_limit(q: np.ndarray, p: np.ndarray, eps_bits: float) -> np.ndarray:
    """Return q_t = (1 - t) q + t p for the largest t in [0, 1) with H(q_t) <= eps.

    For eps < H(p), every local optimum lies on the limit. If H(q) < eps, a small step towards
    p stays feasible and lowers D, because D is convex in q with D(p, p) = 0. CCP still stops
    inside the limit when the subproblem solver is inaccurate, as seen for kl at eps <= 0.003
    bits, where q has entries near 1e-6. H(q_t) is concave in t, below eps at t = 0 and above
    it at t = 1, so it crosses eps once. The step keeps q ordered like p and does not
    increase D. t is found by bisection to within 2^-60.
    """
    def excess_bits(t: float) -> float:
        return entropy_bits_unchecked((1 - t) * q + t * p) - eps_bits

    # Bisection, unlike brentq, returns a point on the feasible side of the root.
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if excess_bits(middle) <= 0:
            low = middle
        else:
            high = middle
    return (1 - low) * q + low * p


def _solve_point(tradeoff: TradeoffProblem, divergence: Divergence, p: np.ndarray,
                 eps_bits: float, starts: Sequence[str], context: StartContext,
                 settings: CCPSettings, agreement_bits: float | None
                 ) -> tuple[StartResult | None, list[StartResult]]:
    """Run the starts at one eps and return (best feasible result or None, all results).

    With ``agreement_bits`` set, the remaining starts are skipped as soon as two feasible
    results differ by at most that much.
    """
    results: list[StartResult] = []
    tried: list[np.ndarray] = []
    for name in starts:
        start = START_BUILDERS[name](context)
        if start is None:
            logger.debug("start %s does not exist at eps = %.6g bits; skipped", name, eps_bits)
            continue
        if any(np.max(np.abs(start - other)) < 1e-12 for other in tried):
            logger.debug("start %s repeats an earlier start at eps = %.6g bits; skipped", name,
                         eps_bits)
            continue
        tried.append(start)
        result = _run_start(tradeoff, divergence, p, eps_bits, name, start, settings)
        logger.debug("start %s at eps = %.6g bits: converged=%s iterations=%d divergence=%.9g "
                     "%s", name, eps_bits, result.converged, result.iterations,
                     result.divergence, result.reason)
        results.append(result)
        if agreement_bits is not None and _two_agree(results, agreement_bits):
            break

    feasible = [result for result in results if result.q is not None]
    best = min(feasible, key=lambda result: result.divergence, default=None)
    return best, results


def _two_agree(results: list[StartResult], agreement_bits: float) -> bool:
    values = sorted(result.divergence for result in results if result.q is not None)
    return any(upper - lower <= agreement_bits for lower, upper in zip(values, values[1:]))


# ---------------------------------------------------------------------------------------------
# The curve.

def divergence_entropy_curve(p: Any, eps_bits: Sequence[float] | float,
                             divergence: str = "kl", *,
                             starts: Sequence[str] = DEFAULT_STARTS, seed: int = 0,
                             settings: CCPSettings | None = None,
                             agreement_bits: float | None = 1e-5) -> pd.DataFrame:
    """Solve d(eps) = min { D(p, q) : H(q) <= eps } for each entropy limit in ``eps_bits``.

    Args:
        p: the source distribution, a 1-D probability vector (see ``validate_distribution``).
        eps_bits: entropy limits in bits, each finite and >= 0, in any order.
        divergence: a name in the ``DIVERGENCES`` registry (kl, reverse_kl, tv, js).
        starts: names from ``START_BUILDERS``, tried in this order at every eps.
        seed: seed of the random perturbation in the ``perturbed`` start.
        settings: CCP settings, ``CCPSettings()`` when None.
        agreement_bits: at each eps, skip the remaining starts once two starts have reached
            feasible solutions whose divergences differ by at most this much (in the
            divergence's unit). None runs every start.

    Returns:
        One row per entry of ``eps_bits``, in the input order, with ``CURVE_COLUMNS``:

        - ``divergence_bits``: d(eps) in ``divergence_unit``, which is bits, or dimensionless
          for tv. It is inf for kl at eps = 0 when p has more than one outcome, and NaN for a
          failed row.
        - ``entropy_bits``: H(q) of the solution q.
        - ``status``: optimal, exact_zero (eps >= H(p)), exact_point_mass (eps = 0) or failed.
        - ``iterations``, ``max_slack`` (nats): from the winning start. For a failed row they
          come from the start with the smallest slack.
        - ``start``: the winning start, ``exact`` for exact rows, ``none`` for failed ones.
        - ``starts_converged``: how many starts converged at this eps.
        - ``q``: the solution over all K outcomes as a JSON list, JSON null for a failed row.

    The limits are solved from the largest down, so the ``neighbour`` start of each limit is
    the solution at the next larger one. A row is ``optimal`` when at least one start
    converged to a feasible q. It is then the best of the local optima found, not a certified
    global optimum.

    NOTE: for kl at very small eps the optimal q has entries near 1e-6, beyond the accuracy of
    the conic subproblems. For a Zipf source with K = 16 and s = 1.1, d(0.001 bits) came out
    0.02 bits above the SLSQP reference, d(1e-4 bits) 0.06 bits above it, and eps = 1e-5 bits
    failed. From eps = 0.003 bits on, the two agreed to 1e-6 bits.
    """
    p = validate_distribution(p)
    eps = _validate_eps(eps_bits)
    divergence_entry: Divergence = DIVERGENCES.get(divergence)
    starts = _validate_starts(starts)
    settings = CCPSettings() if settings is None else settings
    if agreement_bits is not None and not (math.isfinite(agreement_bits) and agreement_bits >= 0):
        raise ValueError(f"agreement_bits = {agreement_bits!r} is invalid; use a number >= 0, "
                         "or None to run every start")

    support = p > 0
    p_support = p[support]
    total_bits = entropy_bits_unchecked(p)
    tradeoff = build_tradeoff_problem(p_support, divergence_entry) if p_support.size > 1 else None

    rows: dict[int, dict[str, Any]] = {}
    neighbour: np.ndarray | None = None
    began = time.perf_counter()
    for index in np.argsort(-eps, kind="stable"):
        point_began = time.perf_counter()
        eps_value = float(eps[index])
        if eps_value >= total_bits:
            row = _exact_row(p, p, EXACT_ZERO, divergence_entry)
            neighbour = p_support.copy()
        elif eps_value == 0:
            row = _exact_row(p, _best_point_mass(p, divergence_entry), EXACT_POINT_MASS,
                             divergence_entry)
        else:
            context = StartContext(p_support, eps_value,
                                   np.random.default_rng([seed, int(index)]), neighbour)
            best, results = _solve_point(tradeoff, divergence_entry, p_support, eps_value,
                                         starts, context, settings, agreement_bits)
            row = _solved_row(p, support, best, results, eps_value, divergence_entry)
            if best is not None:
                neighbour = best.q
        row["eps_bits"] = eps_value
        row["solve_seconds"] = time.perf_counter() - point_began
        rows[int(index)] = row

    curve = pd.DataFrame([rows[index] for index in range(eps.size)], columns=CURVE_COLUMNS)
    counts = curve["status"].value_counts().to_dict()
    logger.info("solved the %s trade-off at %d entropy limits (K = %d, starts %s) in %.2f s: "
                "%s", divergence, eps.size, p.size, ",".join(starts),
                time.perf_counter() - began, counts)
    return curve


def _exact_row(p: np.ndarray, q: np.ndarray, status: str, divergence: Divergence) -> dict:
    return {
        "divergence": divergence.name, "divergence_unit": divergence.unit,
        "divergence_bits": divergence.evaluate(p, q), "entropy_bits": entropy_bits_unchecked(q),
        "status": status, "iterations": 0, "max_slack": 0.0, "start": "exact",
        "starts_converged": 0, "q": json.dumps(q.tolist()),
    }


def _best_point_mass(p: np.ndarray, divergence: Divergence) -> np.ndarray:
    """Return the point mass q = e_j minimising D(p, e_j); at eps = 0 q must be a point mass.

    Ties, including the all-infinite KL case, go to the first mode of p.
    """
    best_value, best_q = math.inf, None
    for outcome in np.argsort(-p, kind="stable"):
        q = np.zeros_like(p)
        q[outcome] = 1.0
        value = divergence.evaluate(p, q)
        if best_q is None or value < best_value:
            best_value, best_q = value, q
    return best_q


def _solved_row(p: np.ndarray, support: np.ndarray, best: StartResult | None,
                results: list[StartResult], eps_bits: float, divergence: Divergence) -> dict:
    row = {"divergence": divergence.name, "divergence_unit": divergence.unit,
           "starts_converged": sum(result.converged for result in results)}
    if best is None:
        closest = min(results, key=lambda result: np.nan_to_num(result.max_slack, nan=math.inf),
                      default=None)
        logger.warning("no start gave a feasible solution at eps = %.6g bits (%s); the point "
                       "is marked failed", eps_bits,
                       "; ".join(f"{result.start}: {result.reason}" for result in results)
                       or "no start exists")
        row.update(divergence_bits=math.nan, entropy_bits=math.nan, status=FAILED,
                   iterations=closest.iterations if closest else 0,
                   max_slack=closest.max_slack if closest else math.nan, start="none",
                   q=json.dumps(None))
        return row

    q = np.zeros_like(p)
    q[support] = best.q
    row.update(divergence_bits=best.divergence, entropy_bits=entropy_bits_unchecked(q),
               status=OPTIMAL, iterations=best.iterations, max_slack=best.max_slack,
               start=best.start, q=json.dumps(q.tolist()))
    return row


# ---------------------------------------------------------------------------------------------
# Inputs, grid and CSV.

def _validate_eps(eps_bits: Sequence[float] | float) -> np.ndarray:
    try:
        eps = np.atleast_1d(np.asarray(eps_bits, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"eps_bits = {eps_bits!r} is not a sequence of numbers; pass entropy "
                         "limits in bits") from None
    if eps.ndim != 1 or eps.size == 0:
        raise ValueError(f"eps_bits has shape {eps.shape}; pass a non-empty 1-D sequence of "
                         "entropy limits in bits")
    bad = np.flatnonzero(~np.isfinite(eps) | (eps < 0))
    if bad.size:
        index = int(bad[0])
        raise ValueError(f"eps_bits[{index}] = {float(eps[index])!r} is invalid; an entropy "
                         "limit must be a finite number of bits >= 0")
    return eps


def _validate_starts(starts: Sequence[str]) -> tuple[str, ...]:
    if isinstance(starts, str):
        starts = (starts,)
    starts = tuple(starts)
    if not starts:
        raise ValueError(f"starts is empty; choose one or more of {', '.join(START_BUILDERS)}")
    unknown = [name for name in starts if name not in START_BUILDERS]
    if unknown:
        raise ValueError(f"unknown starts {unknown}; choose from {', '.join(START_BUILDERS)}")
    return starts


def eps_grid_bits(p: Any, num_points: int, max_fraction: float = 1.0) -> np.ndarray:
    """Return ``num_points`` evenly spaced entropy limits from 0 to ``max_fraction * H(p)`` bits."""
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 2:
        raise ValueError(f"num_points = {num_points!r} is invalid; a curve needs an integer "
                         ">= 2 points")
    if not (isinstance(max_fraction, (int, float)) and math.isfinite(max_fraction)
            and max_fraction > 0):
        raise ValueError(f"max_fraction = {max_fraction!r} is invalid; use a number > 0 (1.0 "
                         "ends the grid at H(p))")
    return np.linspace(0.0, max_fraction * entropy_bits_unchecked(validate_distribution(p)),
                       num_points)


def write_curve_csv(curve: pd.DataFrame, path: str | Path) -> None:
    """Write a curve from ``divergence_entropy_curve`` to CSV (floats at full precision)."""
    curve.to_csv(path, index=False)


NUMERIC_COLUMNS = ("eps_bits", "divergence_bits", "entropy_bits", "iterations", "max_slack",
                   "solve_seconds", "starts_converged")


def read_curve_csv(path: str | Path) -> pd.DataFrame:
    """Read a curve CSV written by ``write_curve_csv``; ``q`` stays a JSON string."""
    # pandas reads "null" as a missing value by default, which would turn the JSON null of a
    # failed row into NaN. Only empty numeric cells (how to_csv writes NaN) are missing here.
    curve = pd.read_csv(path, keep_default_na=False,
                        na_values={column: ["", "NaN", "nan"] for column in NUMERIC_COLUMNS})
    missing = [column for column in CURVE_COLUMNS if column not in curve.columns]
    if missing:
        raise ValueError(f"{str(path)!r} lacks the trade-off columns {missing}; write it with "
                         "write_curve_csv")
    return curve


def curve_solutions(curve: pd.DataFrame) -> list[np.ndarray | None]:
    """Decode the ``q`` column into arrays (None for failed rows)."""
    return [None if value is None else np.array(value)
            for value in (json.loads(text) for text in curve["q"])]
