"""Tests for the DCCP trade-off solver, its reference solvers, the figure and the scripts.

The DCCP curves are checked against references that share no code with cvxpy or dccp: the
exact reverse-KL and TV curves, and multi-start SLSQP for kl and js.
"""

import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cvxpy as cp
import dccp
import numpy as np
import pandas as pd
import pytest

from noisedim.divergences import BITS, DIMENSIONLESS, NATS_PER_BIT
from noisedim.plots_tradeoff import plot_tradeoff
from noisedim.registry import DIVERGENCES
from noisedim.sources import entropy_bits, geometric, spike_uniform, uniform, zipf
from noisedim.tradeoff import (
    CURVE_COLUMNS,
    DEFAULT_STARTS,
    START_BUILDERS,
    CCPSettings,
    _move_to_entropy_limit,
    build_tradeoff_problem,
    curve_solutions,
    divergence_entropy_curve,
    eps_grid_bits,
    read_curve_csv,
    write_curve_csv,
)
from noisedim.tradeoff_reference import (
    independent_curve,
    reverse_kl_exact_curve,
    temper_to_entropy,
    tv_exact_curve,
    tv_extreme_point,
)

REPO = Path(__file__).resolve().parents[1]

# Test sources: no ties, a spike over a flat tail, and a fast decay.
SOURCES = {
    "zipf10": zipf(10, 1.1),
    "spike8": spike_uniform(8, 0.4),
    "geometric6": geometric(6, 0.5),
}
TOLERANCE_BITS = 1e-4


def interior_eps(p, count=4):
    """Entropy limits strictly between 0 and H(p)."""
    return np.linspace(0.0, entropy_bits(p), count + 2)[1:-1]


# ---------------------------------------------------------------------------------------------
# Divergences.

@pytest.mark.parametrize("name", ["kl", "reverse_kl", "tv", "js"])
def test_problem_is_dccp_not_dcp(name):
    tradeoff = build_tradeoff_problem(zipf(6, 1.0), DIVERGENCES.get(name))
    assert dccp.is_dccp(tradeoff.problem)
    assert not tradeoff.problem.is_dcp()


def test_every_registered_divergence_is_dccp():
    for name in DIVERGENCES.names():
        tradeoff = build_tradeoff_problem(zipf(5, 1.0), DIVERGENCES.get(name))
        assert dccp.is_dccp(tradeoff.problem), name


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "tv", "js"])
def test_objective_matches_evaluator(name):
    divergence = DIVERGENCES.get(name)
    p = zipf(7, 1.2)
    q_value = geometric(7, 0.7)
    q = cp.Variable(7)
    q.value = q_value
    assert divergence.objective(p, q).value == pytest.approx(divergence.evaluate(p, q_value),
                                                             rel=1e-12)


def test_divergence_known_values():
    p = np.array([0.5, 0.5])
    q = np.array([0.25, 0.75])
    kl = 0.5 * math.log2(0.5 / 0.25) + 0.5 * math.log2(0.5 / 0.75)
    reverse = 0.25 * math.log2(0.25 / 0.5) + 0.75 * math.log2(0.75 / 0.5)
    m = (p + q) / 2
    js = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    assert DIVERGENCES.get("kl").evaluate(p, q) == pytest.approx(kl, rel=1e-14)
    assert DIVERGENCES.get("reverse_kl").evaluate(p, q) == pytest.approx(reverse, rel=1e-14)
    assert DIVERGENCES.get("tv").evaluate(p, q) == pytest.approx(0.25, rel=1e-14)
    assert DIVERGENCES.get("js").evaluate(p, q) == pytest.approx(js, rel=1e-14)
    # Disjoint supports: JS reaches its maximum of 1 bit, TV its maximum of 1.
    assert DIVERGENCES.get("js").evaluate(np.array([1.0, 0]), np.array([0, 1.0])) == \
        pytest.approx(1.0)
    assert DIVERGENCES.get("tv").evaluate(np.array([1.0, 0]), np.array([0, 1.0])) == 1.0


def test_divergence_units():
    assert NATS_PER_BIT == pytest.approx(math.log(2))
    assert DIVERGENCES.get("kl").unit == BITS
    assert DIVERGENCES.get("tv").unit == DIMENSIONLESS


# ---------------------------------------------------------------------------------------------
# References.

def test_temper_to_entropy_hits_target():
    p = zipf(10, 1.1)
    for eps in interior_eps(p):
        q, beta = temper_to_entropy(p, eps)
        assert beta >= 1
        assert entropy_bits(q) == pytest.approx(eps, abs=1e-10)


def test_temper_to_entropy_rejects_tied_modes():
    with pytest.raises(ValueError, match="2 tied modes"):
        temper_to_entropy(np.array([0.4, 0.4, 0.2]), 0.5)


def test_reverse_kl_exact_beats_independent_solver():
    # The tempering formula is a closed form, so a local solver must never beat it.
    p = SOURCES["zipf10"]
    eps = interior_eps(p)
    exact = reverse_kl_exact_curve(p, eps)["divergence_bits"].to_numpy()
    independent = independent_curve(p, eps, "reverse_kl", restarts=8)["divergence_bits"]
    assert np.all(independent.to_numpy() >= exact - 1e-7)
    np.testing.assert_allclose(independent, exact, atol=1e-5)


def test_reverse_kl_exact_flat_modes():
    # Four tied modes: below 2 bits, d(eps) = -eps - log2(max p) exactly.
    p = spike_uniform(5, 0.04)
    eps = np.array([0.0, 0.5, 1.5])
    curve = reverse_kl_exact_curve(p, eps)
    np.testing.assert_allclose(curve["divergence_bits"], -eps - math.log2(p.max()), atol=1e-12)
    assert list(curve["method"]) == ["modes"] * 3


def test_tv_extreme_point_majorizes_ball():
    rng = np.random.default_rng(3)
    p = zipf(8, 0.8)
    radius = 0.2
    extreme = np.sort(tv_extreme_point(p, radius))[::-1]
    assert 0.5 * np.abs(tv_extreme_point(p, radius) - p).sum() == pytest.approx(radius)
    for _ in range(200):
        # A random q in the ball: move up to `radius` mass between random outcomes.
        q = p.copy()
        source, target = rng.integers(0, 8, size=2)
        moved = min(q[source], rng.uniform(0, radius))
        q[source] -= moved
        q[target] += moved
        partial_sums = np.cumsum(np.sort(q)[::-1])
        assert np.all(partial_sums <= np.cumsum(extreme) + 1e-12)


# ---------------------------------------------------------------------------------------------
# DCCP against the references.

@pytest.mark.parametrize("source", sorted(SOURCES))
def test_reverse_kl_matches_exact(source):
    p = SOURCES[source]
    eps = interior_eps(p)
    exact = reverse_kl_exact_curve(p, eps)["divergence_bits"].to_numpy()
    curve = divergence_entropy_curve(p, eps, "reverse_kl")
    assert list(curve["status"]) == ["optimal"] * eps.size
    np.testing.assert_allclose(curve["divergence_bits"], exact, atol=TOLERANCE_BITS)


def test_reverse_kl_matches_exact_without_tempered_start():
    # The tempered start is the exact reverse-KL optimum. Without it, DCCP must find it itself.
    p = SOURCES["zipf10"]
    eps = interior_eps(p)
    exact = reverse_kl_exact_curve(p, eps)["divergence_bits"].to_numpy()
    curve = divergence_entropy_curve(p, eps, "reverse_kl", starts=("mode_heavy", "source"),
                                     agreement_bits=None)
    assert set(curve["start"]) <= {"mode_heavy", "source"}
    np.testing.assert_allclose(curve["divergence_bits"], exact, atol=TOLERANCE_BITS)


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("name", ["kl", "js"])
def test_never_worse_than_independent(source, name):
    p = SOURCES[source]
    eps = interior_eps(p, count=3)
    independent = independent_curve(p, eps, name, restarts=10)
    curve = divergence_entropy_curve(p, eps, name)
    assert list(curve["status"]) == ["optimal"] * eps.size
    gap = curve["divergence_bits"].to_numpy() - independent["divergence_bits"].to_numpy()
    assert np.all(gap <= TOLERANCE_BITS), gap


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_tv_matches_exact(source):
    p = SOURCES[source]
    eps = interior_eps(p, count=3)
    exact = tv_exact_curve(p, eps)["divergence_bits"].to_numpy()
    curve = divergence_entropy_curve(p, eps, "tv")
    np.testing.assert_allclose(curve["divergence_bits"], exact, atol=TOLERANCE_BITS)
    assert set(curve["divergence_unit"]) == {DIMENSIONLESS}


def test_uniform_source_breaks_symmetry():
    # Uniform p has no tempered start, and CCP keeps the symmetry of its start.
    p = uniform(6)
    eps = np.array([0.8, 1.6])
    independent = independent_curve(p, eps, "kl", restarts=10)
    curve = divergence_entropy_curve(p, eps, "kl")
    assert list(curve["status"]) == ["optimal", "optimal"]
    gap = curve["divergence_bits"].to_numpy() - independent["divergence_bits"].to_numpy()
    assert np.all(gap <= TOLERANCE_BITS), gap


# ---------------------------------------------------------------------------------------------
# Curve properties.

@pytest.mark.parametrize("name", ["kl", "reverse_kl", "tv", "js"])
def test_curve_is_non_increasing(name):
    p = zipf(8, 1.0)
    eps = eps_grid_bits(p, 9, max_fraction=1.1)
    values = divergence_entropy_curve(p, eps, name)["divergence_bits"].to_numpy()
    finite = np.isfinite(values)
    assert np.all(np.diff(values[finite]) <= 1e-6)


def test_solutions_are_feasible_and_ordered():
    p = np.array([0.05, 0.4, 0.0, 0.25, 0.3])
    eps = np.array([0.4, 1.0, 1.5])
    curve = divergence_entropy_curve(p, eps, "kl")
    for q, limit in zip(curve_solutions(curve), eps):
        assert q.shape == p.shape
        assert np.all(q >= 0)
        assert q.sum() == pytest.approx(1.0, abs=1e-12)
        assert entropy_bits(q) <= limit + 1e-9
        assert q[2] == 0.0
        # Ordered like p: the outcomes sorted by p have non-increasing q.
        assert np.all(np.diff(q[np.argsort(-p)][:4]) <= 1e-12)
    np.testing.assert_allclose(curve["entropy_bits"], eps, atol=1e-6)


def test_zero_divergence_at_or_above_source_entropy():
    p = zipf(6, 1.0)
    total = entropy_bits(p)
    curve = divergence_entropy_curve(p, [total, total + 0.5, 10.0], "js")
    assert list(curve["status"]) == ["exact_zero"] * 3
    assert list(curve["divergence_bits"]) == [0.0] * 3
    for q in curve_solutions(curve):
        np.testing.assert_allclose(q, p)


def test_point_mass_at_zero_entropy():
    p = geometric(5, 0.6)
    expected = {"kl": math.inf, "reverse_kl": -math.log2(p.max()), "tv": 1 - p.max(),
                "js": DIVERGENCES.get("js").evaluate(p, np.eye(5)[0])}
    for name, value in expected.items():
        row = divergence_entropy_curve(p, [0.0], name).iloc[0]
        assert row["status"] == "exact_point_mass"
        assert row["divergence_bits"] == pytest.approx(value, rel=1e-12)
        assert json.loads(row["q"]) == [1.0, 0.0, 0.0, 0.0, 0.0]
        if name != "tv":
            reference = independent_curve(p, [0.0], name)["divergence_bits"].iloc[0]
            assert row["divergence_bits"] == pytest.approx(reference, rel=1e-12)


def test_rows_keep_input_order():
    p = zipf(6, 1.0)
    eps = [1.5, 0.0, 3.0, 0.7]
    curve = divergence_entropy_curve(p, eps, "reverse_kl")
    assert list(curve["eps_bits"]) == eps
    assert list(curve.columns) == CURVE_COLUMNS
    assert list(curve["status"]) == ["optimal", "exact_point_mass", "exact_zero", "optimal"]


def test_all_starts_without_agreement_rule():
    p = SOURCES["zipf10"]
    eps = interior_eps(p, count=2)
    everything = divergence_entropy_curve(p, eps, "kl", agreement_bits=None)
    default = divergence_entropy_curve(p, eps, "kl")
    # The largest eps is solved first and has no neighbour start.
    assert list(everything["starts_converged"]) == [5, 4]
    assert list(default["starts_converged"]) == [2, 2]
    assert np.all(everything["divergence_bits"] <= default["divergence_bits"] + 1e-9)


# ---------------------------------------------------------------------------------------------
# Failure marking.

def test_iteration_limit_marks_points_failed():
    p = zipf(8, 1.0)
    total = entropy_bits(p)
    curve = divergence_entropy_curve(p, [0.0, 1.0, 2.0, total], "kl",
                                     settings=CCPSettings(max_iter=0))
    solved = curve.iloc[1:3]
    assert list(solved["status"]) == ["failed", "failed"]
    assert solved["divergence_bits"].isna().all()
    assert solved["entropy_bits"].isna().all()
    assert list(solved["start"]) == ["none", "none"]
    assert list(solved["starts_converged"]) == [0, 0]
    assert curve_solutions(solved) == [None, None]
    assert list(curve["status"].iloc[[0, 3]]) == ["exact_point_mass", "exact_zero"]


def test_unrepairable_entropy_marks_point_failed():
    # A tiny, fixed slack weight and a slack tolerance of 10 nats let CCP converge at a q whose
    # entropy is far above the limit. With no repair allowed, the point must be failed.
    p = zipf(8, 1.0)
    settings = CCPSettings(entropy_repair_bits=0.0, max_slack=10.0, tau_ini=1e-6,
                           tau_max=1e-6, mu=1.0)
    row = divergence_entropy_curve(p, [0.5], "kl", starts=("source",),
                                   settings=settings).iloc[0]
    assert row["status"] == "failed"
    assert math.isnan(row["divergence_bits"])


def test_failed_curve_round_trips_through_csv(tmp_path):
    p = zipf(6, 1.0)
    curve = divergence_entropy_curve(p, [0.0, 1.0, 2.0, 3.0], "kl",
                                     settings=CCPSettings(max_iter=0))
    curve = pd.concat([curve, divergence_entropy_curve(p, [1.5], "kl")], ignore_index=True)
    path = tmp_path / "curve.csv"
    write_curve_csv(curve, path)
    pd.testing.assert_frame_equal(read_curve_csv(path), curve, check_dtype=False)


# ---------------------------------------------------------------------------------------------
# Input validation.

@pytest.mark.parametrize("kwargs, message", [
    ({"eps_bits": [1.0, -0.5]}, r"eps_bits\[1\] = -0.5 is invalid"),
    ({"eps_bits": [float("nan")]}, r"eps_bits\[0\] = nan is invalid"),
    ({"eps_bits": []}, "non-empty 1-D"),
    ({"eps_bits": "abc"}, "not a sequence of numbers"),
    ({"divergence": "hellinger"}, "unknown divergence 'hellinger'; registered divergences: js, "
                                  "kl, reverse_kl, tv"),
    ({"starts": ()}, "starts is empty"),
    ({"starts": ("tempered", "random")}, r"unknown starts \['random'\]"),
    ({"agreement_bits": -1.0}, "agreement_bits = -1.0 is invalid"),
    ({"p": [0.5, 0.6]}, "sums to 1.1"),
])
def test_curve_input_errors(kwargs, message):
    arguments = {"p": zipf(4, 1.0), "eps_bits": [1.0], "divergence": "kl"} | kwargs
    with pytest.raises(ValueError, match=message):
        divergence_entropy_curve(arguments.pop("p"), arguments.pop("eps_bits"), **arguments)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_iter": -1}, "max_iter = -1 is invalid"),
    ({"max_iter": 2.5}, "max_iter = 2.5 is invalid"),
    ({"tau_ini": 0.0}, "0 < tau_ini <= tau_max"),
    ({"mu": 0.5}, "mu = 0.5 is invalid"),
    ({"ep": float("nan")}, "ep = nan is invalid"),
    ({"solver": "MOSEK_PRO"}, "'MOSEK_PRO' is not installed"),
])
def test_settings_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CCPSettings(**kwargs)


def test_eps_grid_errors():
    with pytest.raises(ValueError, match="num_points = 1 is invalid"):
        eps_grid_bits(zipf(4, 1.0), 1)
    with pytest.raises(ValueError, match="max_fraction = 0 is invalid"):
        eps_grid_bits(zipf(4, 1.0), 5, max_fraction=0)


def test_default_starts_begin_with_neighbour():
    # The neighbour start is the cheapest, so it runs first and the agreement rule can stop
    # after the second start.
    assert DEFAULT_STARTS[0] == "neighbour"
    assert set(DEFAULT_STARTS) == set(START_BUILDERS)


def test_interior_solution_moves_to_limit():
    p = zipf(8, 1.0)
    eps = 1.2
    inside, _ = temper_to_entropy(p, 0.8)
    moved = _move_to_entropy_limit(inside, p, eps)
    kl = DIVERGENCES.get("kl")
    assert entropy_bits(moved) <= eps
    assert entropy_bits(moved) == pytest.approx(eps, abs=1e-9)
    assert kl.evaluate(p, moved) < kl.evaluate(p, inside)
    assert np.all(np.diff(moved) <= 0)


# ---------------------------------------------------------------------------------------------
# Figure and Snakemake scripts.

def test_plot_writes_png_and_pdf(tmp_path):
    p = zipf(8, 1.0)
    eps = eps_grid_bits(p, 6, max_fraction=1.1)
    curve = pd.concat([
        divergence_entropy_curve(p, eps[:3], "reverse_kl", settings=CCPSettings(max_iter=0)),
        divergence_entropy_curve(p, eps[3:], "reverse_kl"),
    ], ignore_index=True)
    png = plot_tradeoff(p, curve, tmp_path / "figure.png", "Zipf K = 8")
    pdf = plot_tradeoff(p, curve, tmp_path / "figure.pdf", "Zipf K = 8")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_plot_rejects_unknown_format_and_mixed_curves(tmp_path):
    p = zipf(5, 1.0)
    kl = divergence_entropy_curve(p, [0.0, 3.0], "kl")
    tv = divergence_entropy_curve(p, [0.0, 3.0], "tv")
    with pytest.raises(ValueError, match="ending in .png or .pdf"):
        plot_tradeoff(p, kl, tmp_path / "figure.svg", "title")
    with pytest.raises(ValueError, match="plot one divergence per figure"):
        plot_tradeoff(p, pd.concat([kl, tv]), tmp_path / "figure.png", "title")


@pytest.mark.skipif(shutil.which("snakemake", path=str(Path(sys.executable).parent)) is None,
                    reason="snakemake is not installed next to this Python")
def test_snakemake_scripts_run(tmp_path):
    scripts = REPO / "workflow" / "scripts"
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        rule plot_tradeoff:
            input:
                curve="curve.csv",
                source="source.csv",
            output:
                "figure.png",
                "figure.pdf",
            log:
                "plot.log",
            params:
                title="geometric K = 6",
            script:
                "{scripts / 'plot_tradeoff.py'}"

        rule solve_tradeoff:
            output:
                curve="curve.csv",
                source="source.csv",
            log:
                "solve.log",
            params:
                source={{"kind": "geometric", "K": 6, "r": 0.5}},
                divergence="reverse_kl",
                num_points=5,
            script:
                "{scripts / 'solve_tradeoff.py'}"
    """))
    environment = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                   "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--quiet"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    curve = read_curve_csv(tmp_path / "curve.csv")
    assert len(curve) == 5
    assert list(curve["status"])[0] == "exact_point_mass"
    assert list(curve["status"])[-1] == "exact_zero"
    assert (tmp_path / "figure.pdf").stat().st_size > 0
    assert "solved the reverse_kl trade-off" in (tmp_path / "solve.log").read_text()
