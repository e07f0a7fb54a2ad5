"""FID/KID through torch-fidelity with the digits classifier as feature extractor."""

import dataclasses
import logging

import pytest
import torch

from noisedim.data.format import ImageDataset
from noisedim.extractors import train_classifier
from noisedim.metrics import (Protocol, _extract, _TensorDataset, compute_reference_features,
                              load_reference_features, scores_from_features)
from noisedim.registry import FEATURE_EXTRACTORS

PROTOCOL = Protocol(extractor="classifier", num_generated=300, reference_split="train",
                    num_reference=300, kid_subset_size=100, kid_subsets=10)


@pytest.fixture(scope="module")
def classifier(digits_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("extractor") / "classifier.pt"
    summary = train_classifier(digits_dir, path, epochs=40)
    assert summary["test_accuracy"] > 0.95
    return str(path)


def features_of(images, classifier):
    spec = FEATURE_EXTRACTORS.get("classifier")
    return _extract(_TensorDataset(images), spec.fidelity_kwargs(classifier),
                    spec.feature_layer, batch_size=128, cuda=False)


def test_fid_of_set_with_itself_near_zero(digits_dir, classifier):
    images = ImageDataset(digits_dir, "train").images
    features = features_of(images[:600], classifier)
    same, _ = scores_from_features(features[:300], features[300:600], "features", PROTOCOL)
    shifted_images = torch.roll(images[600:900], shifts=3, dims=3)
    shifted, _ = scores_from_features(features_of(shifted_images, classifier),
                                      features[300:600], "features", PROTOCOL)
    assert same["fid"] < 0.25 * shifted["fid"]
    assert shifted["fid"] > 1.0
    assert shifted["kid_mean"] > 3 * abs(same["kid_mean"])
    identical, _ = scores_from_features(features[:300], features[:300], "features", PROTOCOL)
    assert identical["fid"] == pytest.approx(0.0, abs=1e-3)


def test_kid_subset_reduced_with_warning(digits_dir, classifier, caplog):
    features = features_of(ImageDataset(digits_dir, "train").images[:80], classifier)
    with caplog.at_level(logging.WARNING):
        _, subset_size = scores_from_features(features[:40], features[40:], "features", PROTOCOL)
    assert subset_size == 40
    assert "KID subset size 100 exceeds the 40 samples" in caplog.text


def test_reference_features_protocol_recorded(digits_dir, classifier, tmp_path):
    path = tmp_path / "reference.pt"
    record = compute_reference_features(digits_dir, path, PROTOCOL, classifier, cuda=False)
    assert record["features"].shape == (300, 128)
    loaded = load_reference_features(path, PROTOCOL, digits_dir)
    assert loaded["protocol"]["num_reference"] == 300
    assert loaded["dataset_sha256"] == record["dataset_sha256"]


def test_stale_reference_features_rejected(digits_dir, classifier, tmp_path):
    path = tmp_path / "reference.pt"
    compute_reference_features(digits_dir, path, PROTOCOL, classifier, cuda=False)
    other = dataclasses.replace(PROTOCOL, num_reference=200)
    with pytest.raises(ValueError, match="rerun extract_reference_features"):
        load_reference_features(path, other, digits_dir)
    record = torch.load(path, weights_only=True)
    record["dataset_sha256"] = "0" * 64
    torch.save(record, path)
    with pytest.raises(ValueError, match="belong to dataset content 000000000000"):
        load_reference_features(path, PROTOCOL, digits_dir)
