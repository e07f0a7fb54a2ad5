"""Benchmark the DCCP trade-off solver: time per curve and gap to a reference.

For each support size K and divergence, solve a curve of evenly spaced entropy limits from 0 to
H(p) for a Zipf source (s = 1.1), then compare it with the exact curve (reverse_kl, tv) or with
the independent multi-start SLSQP solver (kl, js, only for K <= --independent-max-k, because
SLSQP with 24 restarts per point takes about 20 s of CPU time for 50 points at K = 16).

    .venv/bin/python benchmarks/tradeoff.py
    .venv/bin/python benchmarks/tradeoff.py --sizes 16 64 --points 20 --output results.csv

Gap columns are DCCP minus reference in bits over the points both solved: a positive
max_gap_bits means DCCP is worse than the reference somewhere. ``seconds`` is wall-clock time
and ``cpu_seconds`` the CPU time of this process. The solver runs in one thread, so on a
machine shared with other jobs ``cpu_seconds`` is the better measure of its own cost.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from noisedim.sources import zipf
from noisedim.tradeoff import EXACT_POINT_MASS, EXACT_ZERO, FAILED, OPTIMAL, CCPSettings
from noisedim.tradeoff import divergence_entropy_curve, eps_grid_bits
from noisedim.tradeoff_reference import EXACT_CURVES, independent_curve

ZIPF_EXPONENT = 1.1


def run_case(K: int, divergence: str, points: int, independent_max_k: int) -> dict:
    """Solve one curve, compare it with its reference and return one table row."""
    p = zipf(K, ZIPF_EXPONENT)
    eps = eps_grid_bits(p, points)
    began, cpu_began = time.perf_counter(), time.process_time()
    curve = divergence_entropy_curve(p, eps, divergence)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began

    reference_name, reference = "none", None
    if divergence in EXACT_CURVES:
        reference_name, reference = "exact", EXACT_CURVES[divergence](p, eps)
    elif K <= independent_max_k:
        reference_name, reference = "slsqp", independent_curve(p, eps, divergence)

    max_gap = min_gap = float("nan")
    if reference is not None:
        solved = curve["divergence_bits"].to_numpy()
        expected = reference["divergence_bits"].to_numpy()
        # Both are inf for kl at eps = 0, and NaN marks failed points.
        both_finite = np.isfinite(solved) & np.isfinite(expected)
        gap = solved[both_finite] - expected[both_finite]
        max_gap, min_gap = float(gap.max()), float(gap.min())

    status = curve["status"]
    return {
        "K": K, "divergence": divergence, "points": points, "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "optimal": int((status == OPTIMAL).sum()),
        "exact": int(status.isin([EXACT_ZERO, EXACT_POINT_MASS]).sum()),
        "failed": int((status == FAILED).sum()),
        "ccp_iterations": int(curve["iterations"].sum()),
        "starts_converged": int(curve["starts_converged"].sum()),
        "reference": reference_name, "max_gap_bits": max_gap, "min_gap_bits": min_gap,
    }


def describe_machine() -> str:
    """Return one line with the CPU, core count and the solver package versions."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = ", ".join(f"{name} {version(name)}"
                         for name in ("numpy", "scipy", "cvxpy", "dccp", "clarabel"))
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {packages}, "
            f"subproblem solver {CCPSettings().solver}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256],
                        help="support sizes K of the Zipf source")
    parser.add_argument("--divergences", nargs="+", default=["kl", "reverse_kl"],
                        help="divergences to solve")
    parser.add_argument("--points", type=int, default=50, help="entropy limits per curve")
    parser.add_argument("--independent-max-k", type=int, default=16,
                        help="largest K compared with the SLSQP solver (kl, js)")
    parser.add_argument("--output", type=Path, help="also write the table to this CSV file")
    arguments = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(describe_machine(), flush=True)
    rows = []
    for K in arguments.sizes:
        for divergence in arguments.divergences:
            row = run_case(K, divergence, arguments.points, arguments.independent_max_k)
            rows.append(row)
            print(f"K = {K:4d} {divergence:<11s} {row['seconds']:6.1f} s wall "
                  f"{row['cpu_seconds']:6.1f} s CPU  optimal {row['optimal']} exact "
                  f"{row['exact']} failed {row['failed']}  max gap {row['max_gap_bits']:.3g} "
                  f"bits ({row['reference']})", flush=True)

    table = pd.DataFrame(rows)
    print()
    print(table.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else
          table.to_string(index=False, float_format="%.3g"))
    if arguments.output is not None:
        table.to_csv(arguments.output, index=False)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
