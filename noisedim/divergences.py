"""Divergences D(p, q) between a known source p and a generated distribution q.

Each registered ``Divergence`` builds the objective of the trade-off problem as a convex cvxpy
expression in the variable q and evaluates the same quantity with numpy. The built-ins are
registered in ``noisedim.registry.DIVERGENCES`` at the bottom of this module:

- ``kl``: D(p || q) in bits.
- ``reverse_kl``: D(q || p) in bits.
- ``tv``: total variation 0.5 * sum |p - q|, a plain number in [0, 1] (unit ``dimensionless``).
- ``js``: Jensen-Shannon divergence in bits, in [0, 1].

All four are f-divergences. The trade-off solver relies on that to restrict q to the support of
p and to order q like p (see ``noisedim.tradeoff``), so a new entry must be an f-divergence
too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import cvxpy as cp
import numpy as np
from scipy.special import rel_entr

from noisedim.registry import DIVERGENCES

# cvxpy's entr and rel_entr, and scipy.special's, use natural logarithms. The divergences and
# the trade-off solver convert between nats and bits only through this constant.
NATS_PER_BIT = math.log(2)

BITS = "bits"
DIMENSIONLESS = "dimensionless"


@dataclass(frozen=True)
class Divergence:
    """A divergence D(p, q) with a cvxpy objective builder and a numpy evaluator.

    Attributes:
        name: registry name.
        unit: unit of both the objective and the evaluator, ``bits`` or ``dimensionless``.
        objective: ``objective(p, q)`` returns a convex cvxpy expression equal to D(p, q) in
            ``unit``, for a constant 1-D array p and a cvxpy variable q of the same length.
        evaluate: ``evaluate(p, q)`` returns D(p, q) in ``unit`` for two numpy distributions,
            or ``inf`` where the divergence is infinite.
    """

    name: str
    unit: str
    objective: Callable[[np.ndarray, cp.Variable], cp.Expression]
    evaluate: Callable[[np.ndarray, np.ndarray], float]


NumberOrExpression = TypeVar("NumberOrExpression", float, np.ndarray, cp.Expression)


def nats_to_bits(value: NumberOrExpression) -> NumberOrExpression:
    """Convert a numpy value or cvxpy expression from nats to bits."""
    return value / NATS_PER_BIT


def _kl_objective(p: np.ndarray, q: cp.Variable) -> cp.Expression:
    return nats_to_bits(cp.sum(cp.rel_entr(p, q)))


def _kl_evaluate(p: np.ndarray, q: np.ndarray) -> float:
    return float(nats_to_bits(np.sum(rel_entr(p, q))))


def _reverse_kl_objective(p: np.ndarray, q: cp.Variable) -> cp.Expression:
    return nats_to_bits(cp.sum(cp.rel_entr(q, p)))


def _reverse_kl_evaluate(p: np.ndarray, q: np.ndarray) -> float:
    return float(nats_to_bits(np.sum(rel_entr(q, p))))


def _tv_objective(p: np.ndarray, q: cp.Variable) -> cp.Expression:
    return 0.5 * cp.norm1(q - p)


def _tv_evaluate(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.sum(np.abs(p - q)))


def _js_objective(p: np.ndarray, q: cp.Variable) -> cp.Expression:
    # JS = 0.5 KL(p || m) + 0.5 KL(q || m) with m = (p + q) / 2. rel_entr is jointly convex and
    # both arguments are affine in q, so the expression is DCP convex.
    m = (p + q) / 2
    return nats_to_bits(0.5 * cp.sum(cp.rel_entr(p, m)) + 0.5 * cp.sum(cp.rel_entr(q, m)))


def _js_evaluate(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    return float(nats_to_bits(0.5 * np.sum(rel_entr(p, m)) + 0.5 * np.sum(rel_entr(q, m))))


DIVERGENCES.register("kl", Divergence("kl", BITS, _kl_objective, _kl_evaluate))
DIVERGENCES.register("reverse_kl", Divergence("reverse_kl", BITS, _reverse_kl_objective,
                                              _reverse_kl_evaluate))
DIVERGENCES.register("tv", Divergence("tv", DIMENSIONLESS, _tv_objective, _tv_evaluate))
DIVERGENCES.register("js", Divergence("js", BITS, _js_objective, _js_evaluate))
