"""Tests for the synthetic sources, their validation and exact entropy."""

import math
import re

import numpy as np
import pytest

from noisedim.registry import SOURCES
from noisedim.sources import (
    PROBABILITY_SUM_TOL,
    discretized_gaussian,
    entropy_bits,
    from_csv,
    geometric,
    make_source,
    spike_uniform,
    uniform,
    validate_distribution,
    write_source_csv,
    zipf,
)


def assert_distribution(p, K):
    assert p.shape == (K,)
    assert p.dtype == np.float64
    assert np.all(p >= 0)
    assert abs(p.sum() - 1) < 1e-12


# ---------------------------------------------------------------------------------------------
# Built-in sources.

def test_registry_lists_builtin_sources():
    assert set(SOURCES.names()) >= {"zipf", "discretized_gaussian", "geometric", "uniform",
                                     "spike_uniform", "csv"}


def test_zipf_follows_power_law():
    p = zipf(5, 2.0)
    assert_distribution(p, 5)
    expected = 1 / np.arange(1, 6) ** 2.0
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-14)


def test_discretized_gaussian_is_centred_and_symmetric():
    p = discretized_gaussian(7, 1.5)
    assert_distribution(p, 7)
    assert np.argmax(p) == 3
    np.testing.assert_allclose(p, p[::-1], rtol=1e-14)
    ratio = math.exp(-(1**2) / (2 * 1.5**2))
    assert p[4] / p[3] == pytest.approx(ratio, rel=1e-12)


def test_discretized_gaussian_tiny_sigma_keeps_mode():
    p = discretized_gaussian(6, 1e-3)
    assert_distribution(p, 6)
    # Even K puts the centre at 2.5, between two outcomes that share the mass.
    np.testing.assert_allclose(p[[2, 3]], [0.5, 0.5])


def test_discretized_gaussian_custom_mean():
    p = discretized_gaussian(10, 1.0, mean=0.0)
    assert np.argmax(p) == 0


def test_geometric_has_constant_ratio():
    p = geometric(6, 0.5)
    assert_distribution(p, 6)
    np.testing.assert_allclose(p[1:] / p[:-1], 0.5, rtol=1e-12)


def test_uniform_entropy_is_log2_k():
    p = uniform(8)
    assert_distribution(p, 8)
    assert entropy_bits(p) == pytest.approx(3.0, abs=1e-12)


def test_spike_uniform_masses():
    p = spike_uniform(5, 0.6)
    assert_distribution(p, 5)
    assert p[0] == pytest.approx(0.6)
    np.testing.assert_allclose(p[1:], 0.1)


@pytest.mark.parametrize("call, message", [
    (lambda: zipf(0, 1.0), "K = 0 is too small"),
    (lambda: zipf(4.0, 1.0), "K = 4.0 is not an integer"),
    (lambda: zipf(True, 1.0), "is not an integer"),
    (lambda: zipf(4, -1.0), "s = -1.0 is outside its valid range"),
    (lambda: zipf(4, float("nan")), "s = nan is not a finite real number"),
    (lambda: discretized_gaussian(4, 0.0), "sigma = 0.0 is outside"),
    (lambda: geometric(4, 1.0), "r = 1.0 is outside its valid range (0, 1)"),
    (lambda: geometric(4, "0.5"), "r = '0.5' is not a finite real number"),
    (lambda: spike_uniform(1, 0.5), "this source needs K >= 2"),
    (lambda: spike_uniform(4, 1.5), "spike_mass = 1.5 is outside its valid range [0, 1]"),
])
def test_source_parameter_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# ---------------------------------------------------------------------------------------------
# Entropy and validation.

@pytest.mark.parametrize("p, bits", [
    ([1.0], 0.0),
    ([0.5, 0.5], 1.0),
    ([0.5, 0.25, 0.25], 1.5),
    ([0.0, 1.0, 0.0], 0.0),
    ([0.125] * 8, 3.0),
])
def test_entropy_bits_known_values(p, bits):
    assert entropy_bits(p) == pytest.approx(bits, abs=1e-12)


def test_entropy_bits_of_zipf_matches_direct_sum():
    p = zipf(16, 1.1)
    assert entropy_bits(p) == pytest.approx(-np.sum(p * np.log2(p)), rel=1e-14)


def test_validate_renormalizes_within_tolerance():
    p = validate_distribution([0.5, 0.5 + 0.5 * PROBABILITY_SUM_TOL])
    assert p.sum() == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("p, message", [
    ([0.5, -0.1, 0.6], r"p: entry 1 is -0.1, which is negative"),
    ([0.5, float("nan"), 0.5], r"p: entry 1 is nan, which is not finite"),
    ([0.5, float("inf")], r"p: entry 1 is inf, which is not finite"),
    ([0.5, 0.49], r"p sums to 0.99, which differs from 1 by 0.01"),
    ([0.5, 0.5 + 1e-6], r"tolerance 1e-09"),
    ([], r"shape \(0,\)"),
    ([[0.5, 0.5]], r"shape \(1, 2\)"),
    (["a", "b"], r"not a numeric vector"),
])
def test_validate_rejects_invalid(p, message):
    with pytest.raises(ValueError, match=message):
        validate_distribution(p)


# ---------------------------------------------------------------------------------------------
# make_source.

def test_make_source_builds_registered_kind():
    np.testing.assert_array_equal(make_source({"kind": "zipf", "K": 16, "s": 1.1}),
                                  zipf(16, 1.1))


def test_make_source_accepts_optional_parameter():
    p = make_source({"kind": "discretized_gaussian", "K": 9, "sigma": 1.0, "mean": 2.0})
    assert np.argmax(p) == 2


@pytest.mark.parametrize("spec, message", [
    ({"K": 4}, "has no 'kind' key; add one of"),
    ({"kind": "poisson", "K": 4}, "unknown source 'poisson'; registered sources: csv,"),
    ({"kind": "zipf", "K": 4}, r"invalid parameters \['K'\] for source 'zipf' .*expected: K, s"),
    ({"kind": "zipf", "K": 4, "s": 1.0, "q": 2}, r"unexpected keyword argument 'q'"),
    ({"kind": "uniform", "K": "8"}, "K = '8' is not an integer"),
    ([("kind", "zipf")], "must be a mapping"),
])
def test_make_source_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        make_source(spec)


# ---------------------------------------------------------------------------------------------
# CSV sources.

def test_csv_round_trip(tmp_path):
    p = zipf(12, 0.9)
    path = tmp_path / "source.csv"
    write_source_csv(p, path)
    np.testing.assert_array_equal(from_csv(path), p)
    np.testing.assert_array_equal(make_source({"kind": "csv", "path": str(path)}), p)


def test_csv_probability_column_among_others(tmp_path):
    path = tmp_path / "source.csv"
    path.write_text("outcome,probability\na,0.25\nb,0.75\n")
    np.testing.assert_allclose(from_csv(path), [0.25, 0.75])


def test_csv_single_column_without_header(tmp_path):
    path = tmp_path / "source.csv"
    path.write_text("0.1\n0.2\n0.7\n")
    np.testing.assert_allclose(from_csv(path), [0.1, 0.2, 0.7])


def test_csv_single_column_with_other_header(tmp_path):
    path = tmp_path / "source.csv"
    path.write_text("p\n0.5\n0.5\n")
    np.testing.assert_allclose(from_csv(path), [0.5, 0.5])


def test_csv_normalize_weights(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("probability\n1\n3\n")
    np.testing.assert_allclose(from_csv(path, normalize=True), [0.25, 0.75])
    with pytest.raises(ValueError, match="sums to 4.0"):
        from_csv(path)


@pytest.mark.parametrize("text, message", [
    ("a,b\n0.5,0.5\n", "has 2 columns and none is named 'probability'"),
    ("probability\n0.5\nhalf\n", "line 3: 'half' is not a number"),
    ("probability\n", "has a header but no probabilities"),
    ("probability\n0.5\n-0.5\n1.0\n", r"source.csv': entry 1 is -0.5, which is negative"),
])
def test_csv_errors(tmp_path, text, message):
    path = tmp_path / "source.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        from_csv(path)


def test_csv_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        from_csv(tmp_path / "absent.csv")


def test_csv_normalize_rejects_negative_weight(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("2\n-1\n")
    with pytest.raises(ValueError, match="weight 1 .* is -1.0"):
        from_csv(path, normalize=True)
