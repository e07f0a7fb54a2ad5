"""The templates dataset: a source of known entropy in the project's dataset format."""

import math

import numpy as np
import pytest
from scipy.stats import chisquare

from noisedim.data.format import DatasetError, load_split, read_metadata
from noisedim.data.templates import (build_templates, make_templates, min_template_distance,
                                     read_template_source)
from noisedim.registry import DATASETS

ZIPF = {"kind": "zipf", "K": 8, "s": 1.2}


@pytest.fixture(scope="module")
def zipf_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("templates") / "zipf"
    build_templates(path, source=ZIPF, num_train=20000, num_test=500, seed=3)
    return path


def test_registered_as_dataset():
    assert DATASETS.get("templates") is build_templates


def test_entropy_is_exact(zipf_dir):
    source = read_template_source(zipf_dir)
    weights = np.arange(1, 9, dtype=np.float64) ** -1.2
    p = weights / weights.sum()
    np.testing.assert_allclose(source.probabilities, p, rtol=1e-15)
    assert source.entropy_bits == pytest.approx(-np.sum(p * np.log2(p)), rel=1e-14)
    assert read_metadata(zipf_dir)["source"]["entropy_bits"] == source.entropy_bits
    assert source.spec == ZIPF


def test_uniform_source_entropy(tmp_path):
    build_templates(tmp_path / "u", source={"kind": "uniform", "K": 4}, num_train=10,
                    num_test=10)
    assert read_template_source(tmp_path / "u").entropy_bits == 2.0


def test_format_and_labels(zipf_dir):
    meta = read_metadata(zipf_dir)
    assert (meta["channels"], meta["resolution"]) == (1, 8)
    assert meta["splits"]["train"]["count"] == 20000
    assert meta["splits"]["test"]["count"] == 500
    templates = read_template_source(zipf_dir).templates
    for split in ("train", "test"):
        images, labels = load_split(zipf_dir, split, verify=True)
        assert images.dtype == np.uint8
        assert images.shape[1:] == (1, 8, 8)
        assert labels.min() >= 0
        assert labels.max() <= 7
        np.testing.assert_array_equal(images, templates[labels])


def test_label_frequencies_match_source(zipf_dir):
    _, labels = load_split(zipf_dir, "train")
    source = read_template_source(zipf_dir)
    counts = np.bincount(labels, minlength=8)
    expected = source.probabilities * len(labels)
    assert chisquare(counts, expected).pvalue > 1e-3
    sigma = np.sqrt(expected * (1 - source.probabilities))
    assert np.all(np.abs(counts - expected) < 5 * sigma)


def test_templates_are_digit_means():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    templates = make_templates("digit_means", 10)
    mean_of_sevens = bunch.images[bunch.target == 7].mean(axis=0)
    np.testing.assert_array_equal(templates[7, 0], np.rint(mean_of_sevens * 255 / 16))
    assert min_template_distance(templates) > 300


def test_random_binary_any_k():
    templates = make_templates("random_binary", 16, seed=1)
    assert templates.shape == (16, 1, 8, 8)
    assert set(np.unique(templates)) <= {0, 255}
    assert min_template_distance(templates) > 0


def test_min_distance_by_hand():
    templates = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    templates[1, 0, 0, 0] = 3
    templates[1, 0, 0, 1] = 4
    templates[2] = 200
    assert min_template_distance(templates) == 5.0
    assert min_template_distance(templates[:1]) == math.inf


def test_seed_changes_draws(tmp_path):
    first = build_templates(tmp_path / "a", num_train=100, num_test=10, seed=0)
    again = build_templates(tmp_path / "b", num_train=100, num_test=10, seed=0)
    other = build_templates(tmp_path / "c", num_train=100, num_test=10, seed=1)
    assert first["content_sha256"] == again["content_sha256"]
    assert first["content_sha256"] != other["content_sha256"]


def test_too_many_digit_templates(tmp_path):
    with pytest.raises(ValueError, match="random_binary"):
        build_templates(tmp_path / "x", source={"kind": "uniform", "K": 11})
    assert not (tmp_path / "x").exists()


def test_invalid_options(tmp_path):
    with pytest.raises(ValueError, match="unknown template set 'circles'"):
        build_templates(tmp_path / "x", template_set="circles")
    with pytest.raises(ValueError, match="num_train=0"):
        build_templates(tmp_path / "y", num_train=0)
    with pytest.raises(ValueError, match="source 'zipf'"):
        build_templates(tmp_path / "z", source={"kind": "zipf", "K": 8})


def test_other_dataset_rejected(digits_dir):
    with pytest.raises(DatasetError, match="not a templates dataset"):
        read_template_source(digits_dir)
