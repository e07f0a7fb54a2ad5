"""Measurement, enumeration and lattice bound of GANs on a source of known entropy."""

import copy
import itertools
import logging
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from noisedim import divergences, known_entropy
from noisedim.config import load_config
from noisedim.data.templates import build_templates, make_templates
from noisedim.known_entropy import (SEPARABLE_TERMS, MeasureSettings, assign_outcomes,
                                    bootstrap_divergence, cell_train_settings, check_config,
                                    enumerate_outputs, exact_outcome_counts, extend_with_other,
                                    grid_cells, grid_noise_bits,
                                    known_entropy_bounds, known_entropy_table, lattice_allocation,
                                    measure_cell, plug_in_entropy_bits, read_lattice_csv,
                                    read_measurement, sample_outcomes, write_measurement)
from noisedim.noise import NoiseSampler, quantized_levels
from noisedim.plots_known_entropy import plot_known_entropy
from noisedim.registry import DIVERGENCES
from noisedim.sources import zipf
from noisedim.tradeoff_reference import reverse_kl_exact_curve, tv_exact_curve
from noisedim.training import TrainSettings, images_to_float, train_cell

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = make_templates("digit_means", 4)


class LookupGenerator(nn.Module):
    """Map the i-th level of 1-D quantised noise to ``images[table[i]]`` (float, [-1, 1])."""

    def __init__(self, bits: int, table: list[int], images: np.ndarray):
        super().__init__()
        self.register_buffer("levels", torch.from_numpy(quantized_levels(bits)).float())
        self.register_buffer("table", torch.tensor(table))
        self.register_buffer("images", images_to_float(torch.from_numpy(images)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        level = (z[:, :1] - self.levels[None, :]).abs().argmin(1)
        return self.images[self.table[level]]


def far_image() -> np.ndarray:
    """An image farther than half the smallest template distance from every template."""
    image = np.full((1, 1, 8, 8), 255, dtype=np.uint8)
    assert np.all(np.linalg.norm((TEMPLATES.astype(float) - image).reshape(4, -1), axis=1) > 800)
    return image


# ---------------------------------------------------------------------------------------------
# Quantised noise and enumeration.

def test_quantised_noise_uniform_on_levels():
    sampler = NoiseSampler(2, bits=3)
    values = sampler.enumerate()
    assert sampler.entropy_bits == 6.0
    assert values.shape == (64, 2)
    assert len(torch.unique(values, dim=0)) == 64
    sample = sampler.sample(64_000, generator=torch.Generator().manual_seed(0))
    index = (sample[:, None, :] == values[None, :, :]).all(-1).float().argmax(1)
    assert (sample == values[index]).all()
    counts = torch.bincount(index, minlength=64).numpy()
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000))


def test_enumeration_counts_collisions():
    G = LookupGenerator(3, [0, 0, 0, 1, 1, 2, 3, 3], TEMPLATES)
    enumeration = enumerate_outputs(G, NoiseSampler(1, bits=3), batch_size=3)
    assert enumeration.num_noise_values == 8
    assert enumeration.noise_entropy_bits == 3.0
    assert enumeration.distinct_outputs == 4
    assert sorted(enumeration.counts.tolist()) == [1, 2, 2, 3]
    expected = -sum(c / 8 * math.log2(c / 8) for c in (3, 2, 1, 2))
    assert enumeration.output_entropy_bits == pytest.approx(expected, rel=1e-14)
    assert enumeration.output_entropy_bits < enumeration.noise_entropy_bits
    assert enumeration.colliding_fraction == 7 / 8


def test_injective_generator_keeps_entropy():
    images = make_templates("random_binary", 8, seed=2)
    G = LookupGenerator(3, list(range(8)), images)
    enumeration = enumerate_outputs(G, NoiseSampler(1, bits=3))
    assert enumeration.distinct_outputs == 8
    assert enumeration.output_entropy_bits == 3.0
    assert enumeration.colliding_fraction == 0.0


def test_exact_outcome_counts_with_other():
    images = np.concatenate([TEMPLATES, far_image()])
    G = LookupGenerator(3, [0, 0, 0, 1, 4, 2, 4, 4], images)
    enumeration = enumerate_outputs(G, NoiseSampler(1, bits=3))
    counts = exact_outcome_counts(enumeration, TEMPLATES, radius=100.0)
    assert counts.tolist() == [3, 1, 1, 0, 3]


def test_float_noise_not_enumerable():
    with pytest.raises(ValueError, match="quantised"):
        enumerate_outputs(LookupGenerator(1, [0, 1], TEMPLATES), NoiseSampler(1))


# ---------------------------------------------------------------------------------------------
# Assignment and sampled measurement.

def test_assignment_radius_boundary():
    templates = np.zeros((2, 1, 2, 2), dtype=np.uint8)
    templates[1] = 100
    images = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    images[0, 0, 0, 0] = 10           # distance 10 from template 0
    images[1] = 50                    # equidistant: the lower index wins
    images[2, 0, 0, 0] = 11
    assert assign_outcomes(images, templates, 10.0).tolist() == [0, 2, 2]
    assert assign_outcomes(images, templates, 100.0).tolist() == [0, 0, 0]
    assert assign_outcomes(images, templates, 9.99).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="radius"):
        assign_outcomes(images, templates, -1.0)


def test_sampled_interval_covers_exact():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    G = LookupGenerator(3, [0, 0, 0, 1, 1, 2, 3, 3], TEMPLATES)
    sample = sample_outcomes(G, NoiseSampler(1, bits=3), TEMPLATES, 100.0, 4000, seed=1)
    assert sample.num_samples == 4000
    q = np.array([3, 2, 1, 2, 0]) / 8
    sigma = np.sqrt(4000 * q * (1 - q))
    assert np.all(np.abs(sample.outcome_counts - 4000 * q) <= 5 * sigma)
    assert len(sample.image_counts) == 4
    for name in ("kl", "reverse_kl", "tv", "js"):
        exact = DIVERGENCES.get(name).evaluate(extend_with_other(p), q)
        estimate = bootstrap_divergence(p, sample.outcome_counts, name, 500, 0.99, seed=2)
        assert estimate.ci_low <= exact <= estimate.ci_high, name


def test_missing_template_gives_infinite_kl():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    estimate = bootstrap_divergence(p, np.array([50, 30, 20, 0, 0]), "kl", 200)
    assert (estimate.estimate, estimate.ci_low, estimate.ci_high) == (math.inf,) * 3
    finite = bootstrap_divergence(p, np.array([50, 30, 20, 0, 0]), "reverse_kl", 200)
    assert math.isfinite(finite.ci_high)


def test_other_gives_infinite_reverse_kl():
    p = np.array([0.5, 0.5])
    estimate = bootstrap_divergence(p, np.array([40, 40, 20]), "reverse_kl", 200)
    assert estimate.estimate == math.inf
    assert estimate.ci_low == math.inf


def test_bootstrap_rejects_bad_input():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="3 non-negative outcome counts"):
        bootstrap_divergence(p, np.array([1, 1]), "kl")
    with pytest.raises(ValueError, match="confidence=1"):
        bootstrap_divergence(p, np.array([1, 1, 0]), "kl", confidence=1)
    with pytest.raises(ValueError, match="unknown divergence"):
        bootstrap_divergence(p, np.array([1, 1, 0]), "hellinger")


def test_plug_in_entropy():
    assert plug_in_entropy_bits(np.array([2, 2, 0, 4])) == 1.5


# ---------------------------------------------------------------------------------------------
# Lattice bound.

def test_lattice_kl_by_hand():
    m, bound = lattice_allocation(np.array([0.75, 0.25]), 2, "kl")
    assert m.tolist() == [1, 1]
    assert bound == pytest.approx(0.75 * math.log2(1.5) - 0.25, rel=1e-12)


def test_lattice_reverse_kl_by_hand():
    m, bound = lattice_allocation(np.array([0.6, 0.3, 0.1]), 2, "reverse_kl")
    assert m.tolist() == [1, 1, 0]
    assert bound == pytest.approx(0.5 * math.log2(0.5 / 0.6) + 0.5 * math.log2(0.5 / 0.3),
                                  rel=1e-12)


def test_lattice_exact_when_p_on_lattice():
    for name in SEPARABLE_TERMS:
        m, bound = lattice_allocation(np.array([0.5, 0.25, 0.25]), 4, name)
        assert m.tolist() == [2, 1, 1], name
        assert bound == pytest.approx(0.0, abs=1e-15), name


def test_lattice_kl_infinite_below_support():
    m, bound = lattice_allocation(zipf(8, 1.2), 4, "kl")
    assert bound == math.inf
    assert m.sum() == 4


def compositions(total: int, parts: int):
    for cuts in itertools.combinations(range(total + parts - 1), parts - 1):
        edges = (-1, *cuts, total + parts - 1)
        yield np.array([edges[i + 1] - edges[i] - 1 for i in range(parts)])


@pytest.mark.parametrize("name", sorted(SEPARABLE_TERMS))
def test_lattice_matches_brute_force(name):
    rng = np.random.default_rng(7)
    evaluate = DIVERGENCES.get(name).evaluate
    for parts, total in itertools.product((2, 3, 4), range(1, 7)):
        p = rng.dirichlet(np.ones(parts))
        if parts == 4:
            p = np.append(p[:3] / p[:3].sum(), 0.0)  # a zero-probability outcome too
        best = min(evaluate(p, m / total) for m in compositions(total, parts))
        m, bound = lattice_allocation(p, total, name)
        assert m.sum() == total
        assert bound == best or math.isclose(bound, best, rel_tol=1e-12, abs_tol=1e-14), (
            name, p, total)


def test_separable_terms_match_registry():
    assert known_entropy.NATS_PER_BIT == divergences.NATS_PER_BIT
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.2, 0.0])
    for q in (rng.dirichlet(np.ones(4)), np.array([0.5, 0.5, 0.0, 0.0])):
        for name, term in SEPARABLE_TERMS.items():
            total = math.fsum(term(a, b) for a, b in zip(p, q))
            assert total == pytest.approx(DIVERGENCES.get(name).evaluate(p, q), rel=1e-12)


def test_lattice_above_exact_curves():
    p = zipf(8, 1.2)
    exact_curves = {"reverse_kl": reverse_kl_exact_curve, "tv": tv_exact_curve}
    for name, solve in exact_curves.items():
        for bits in range(7):
            curve = solve(p, [float(bits)])
            _, bound = lattice_allocation(p, 2**bits, name)
            assert bound >= curve["divergence_bits"].iloc[0] - 1e-12, (name, bits)


def test_lattice_rejects_bad_input():
    with pytest.raises(ValueError, match="no lattice bound"):
        lattice_allocation(np.array([0.5, 0.5]), 2, "hellinger")
    with pytest.raises(ValueError, match="num_noise_values=0"):
        lattice_allocation(np.array([0.5, 0.5]), 0, "kl")


# ---------------------------------------------------------------------------------------------
# Bounds, cells and the table.

def test_bounds_small_source(caplog):
    p = zipf(4, 1.0)
    with caplog.at_level(logging.ERROR, logger="noisedim.known_entropy"):
        curve, lattice = known_entropy_bounds(p, [1, 2], ["reverse_kl"], curve_points=4)
    assert not caplog.records
    assert lattice["noise_bits"].tolist() == [0, 1, 2, 3, 4]
    assert not lattice["lattice_below_curve"].any()
    assert set(curve["divergence"]) == {"reverse_kl"}
    for bits in (0, 1, 2, 3, 4):
        assert np.isclose(curve["eps_bits"], bits).any()


@pytest.fixture(scope="module")
def trained_cell(tmp_path_factory):
    root = tmp_path_factory.mktemp("cell")
    build_templates(root / "data", source={"kind": "zipf", "K": 4, "s": 1.0}, num_train=256,
                    num_test=16)
    settings = TrainSettings(model="dcgan", z_dim=1, capacity=0.125, seed=0, total_kimg=0.064,
                             batch_size=32, tick_kimg=0.064, noise={"bits": 2})
    train_cell(settings, root / "data", root / "run", root / "network.pt", root / "samples.png",
               device="cpu")
    return root


def test_measure_cell_exact(trained_cell):
    settings = MeasureSettings(num_samples=500, bootstrap_resamples=50)
    result = measure_cell(trained_cell / "network.pt", trained_cell / "data", settings)
    assert result["method"] == "exact_enumeration"
    assert (result["noise_entropy_bits"], result["num_noise_values"]) == (2.0, 4)
    assert result["distinct_outputs"] <= 4
    assert result["output_entropy_bits"] <= 2.0 + 1e-12
    assert sum(result["exact_outcome_counts"]) == 4
    assert sum(result["sample_outcome_counts"]) == 500
    assert set(result["divergences"]) == set(DIVERGENCES.names())
    write_measurement(result, trained_cell / "measurement.json")
    assert read_measurement(trained_cell / "measurement.json") == result


def test_measure_cell_plug_in(trained_cell):
    settings = MeasureSettings(num_samples=300, bootstrap_resamples=20, max_enumeration_bits=1)
    result = measure_cell(trained_cell / "network.pt", trained_cell / "data", settings)
    assert result["method"] == "plug_in_samples"
    assert result["colliding_fraction"] is None
    assert result["exact_outcome_counts"] is None
    assert all(entry["exact_bits"] is None for entry in result["divergences"].values())
    assert result["output_entropy_bits"] <= math.log2(300)


def synthetic_cell(exact_counts, sample_counts, p):
    p_ext = extend_with_other(p)
    divergences = {}
    for name in ("kl", "tv"):
        estimate = bootstrap_divergence(p, np.array(sample_counts), name, 100)
        divergences[name] = {"unit": DIVERGENCES.get(name).unit,
                             "estimate_bits": estimate.estimate, "ci_low_bits": estimate.ci_low,
                             "ci_high_bits": estimate.ci_high,
                             "exact_bits": DIVERGENCES.get(name).evaluate(
                                 p_ext, np.array(exact_counts) / sum(exact_counts))}
    return {"network": "synthetic", "z_dim": 1, "noise": {"bits": 2}, "seed": 0,
            "noise_entropy_bits": 2.0, "num_noise_values": 4, "source_entropy_bits": 1.5,
            "output_entropy_bits": 2.0, "method": "exact_enumeration", "distinct_outputs": 4,
            "colliding_fraction": 0.0, "outcome_entropy_bits": 1.5, "radius": 100.0,
            "exact_outcome_counts": exact_counts, "sample_outcome_counts": sample_counts,
            "ci_method": "test", "divergences": divergences}


def test_table_flags_cell_below_bound(caplog, tmp_path):
    p = np.array([0.5, 0.25, 0.25])
    curve, lattice = known_entropy_bounds(p, [1, 2], ["kl", "tv"], curve_points=3)
    lattice.to_csv(tmp_path / "lattice.csv", index=False)
    lattice = read_lattice_csv(tmp_path / "lattice.csv")
    good = synthetic_cell([2, 1, 0, 1], [500, 240, 0, 260], p)
    # q = p is impossible with 2 noise values, so this cell must be flagged.
    bad = synthetic_cell([2, 1, 1, 0], [500, 250, 250, 0], p)
    bad.update(num_noise_values=2, noise_entropy_bits=1.0, z_dim=2, noise={"bits": 1})
    with caplog.at_level(logging.ERROR, logger="noisedim.known_entropy"):
        table = known_entropy_table([good, bad], curve, lattice, ["kl", "tv"])
    assert len(table) == 4
    assert sorted(table.loc[table["below_bound"], "z_dim"]) == [2, 2]
    assert sum("below the bound" in record.message for record in caplog.records) == 2
    kl_good = table[(table["z_dim"] == 1) & (table["divergence"] == "kl")].iloc[0]
    assert kl_good["exact_divergence_bits"] == math.inf
    assert kl_good["other_fraction"] == 0.25
    plot_known_entropy(table, curve, lattice, 1.5, ["kl", "tv"], tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 10_000


def test_table_needs_curve_point():
    p = np.array([0.5, 0.25, 0.25])
    curve, lattice = known_entropy_bounds(p, [1], ["tv"], curve_points=2)
    cell = synthetic_cell([2, 1, 1, 0], [2, 1, 1, 0], p)
    cell["noise_entropy_bits"] = 5.0
    with pytest.raises(ValueError, match="no point at eps = H\\(Z\\) = 5.0"):
        known_entropy_table([cell], curve, lattice, ["tv"])


# ---------------------------------------------------------------------------------------------
# Config and workflow.

def default_section():
    return load_config(REPO / "config" / "config.yaml")["known_entropy"]


def test_default_config_passes():
    check_config(default_section())


@pytest.mark.parametrize("path, value, message", [
    (("dataset", "source"), {"kind": "uniform", "K": 11}, "known_entropy.dataset"),
    (("train", "model"), "vae", "known_entropy.train: unknown model"),
    (("train", "model_options"), {"depth": 3}, "unknown option"),
    (("z_dims",), [5], "25 bits of noise"),
])
def test_config_errors(path, value, message):
    section = copy.deepcopy(default_section())
    target = section
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    if path == ("z_dims",):
        section["bits"] = [5]
    with pytest.raises(ValueError, match=message):
        check_config(section)


def test_grid_of_default_config():
    section = default_section()
    assert len(grid_cells(section)) == 6
    assert grid_noise_bits(section) == [1, 2, 3, 4, 6]
    settings = TrainSettings(**cell_train_settings(section, "2", "3", "0"))
    assert settings.noise == {"bits": 3, "levels": "normal_quantiles"}
    assert NoiseSampler(settings.z_dim, **settings.noise).entropy_bits == 6.0
    assert settings.model_options == {"lr_g": 0.001, "lr_d": 0.001}


def test_rules_dry_run(tmp_path):
    # The repository's Snakefile's includes, plus this stage's rule file where it is missing.
    includes = re.findall(r'^include: "(workflow/rules/\w+\.smk)"',
                          (REPO / "Snakefile").read_text(), flags=re.MULTILINE)
    if "workflow/rules/known_entropy.smk" not in includes:
        includes.append("workflow/rules/known_entropy.smk")
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(f'configfile: "{REPO / "config" / "config.yaml"}"\n'
                         + "".join(f'include: "{REPO / path}"\n' for path in includes))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    result = subprocess.run([snakemake, "-s", str(snakefile), "-d", str(tmp_path), "-n",
                             "known_entropy_report"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    output = result.stdout + result.stderr
    for rule, count in (("build_known_entropy_dataset", 1), ("train_known_entropy_gan", 6),
                        ("measure_known_entropy", 6), ("solve_known_entropy_bounds", 1),
                        ("known_entropy_report", 1)):
        assert any(line.split() == [rule, str(count)] for line in output.splitlines()), rule
