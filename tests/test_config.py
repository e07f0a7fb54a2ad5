"""Config validation: defaults, and clear errors that name the key, value and allowed values."""

import copy
from pathlib import Path

import pytest
import yaml

from noisedim.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parent.parent


def default_config():
    with open(REPO / "config" / "config.yaml") as handle:
        return yaml.safe_load(handle)


def invalid(mutate):
    config = default_config()
    mutate(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


def test_default_config_valid_with_defaults():
    config = validate_config(default_config())
    assert config["grid"]["seeds"] == [0]
    assert config["evaluation"]["kid_subsets"] == 50
    assert config["train"]["keep_checkpoints"] == 2
    assert config["noise"]["levels"] == "normal_quantiles"


def test_unknown_model_lists_registered():
    message = invalid(lambda c: c["grid"]["models"].append("gpt"))
    assert "grid.models[1]" in message
    assert "'gpt'" in message
    assert "dcgan" in message


def test_unknown_dataset_reference():
    message = invalid(lambda c: c["grid"].update(datasets=["cifar100"]))
    assert "grid.datasets[0]" in message
    assert "cifar100" in message


def test_unknown_dataset_builder():
    message = invalid(lambda c: c["datasets"]["digits"].update(builder="mnist"))
    assert "datasets.digits.builder" in message
    assert "mnist" in message


def test_zero_z_dim_rejected():
    message = invalid(lambda c: c["grid"].update(z_dims=[0, 2]))
    assert "grid.z_dims[0]" in message
    assert "minimum of 1" in message


def test_empty_grid_rejected():
    message = invalid(lambda c: c["grid"].update(z_dims=[]))
    assert "grid.z_dims" in message
    assert "should be non-empty" in message


def test_wrong_type_rejected():
    message = invalid(lambda c: c["train"].update(batch_size="64"))
    assert "train.batch_size" in message
    assert "'64' is not of type 'integer'" in message


def test_negative_kimg_rejected():
    message = invalid(lambda c: c["train"].update(total_kimg=-5))
    assert "train.total_kimg" in message
    assert "-5" in message


def test_unknown_key_rejected():
    message = invalid(lambda c: c["train"].update(learning_rate=0.1))
    assert "train" in message
    assert "learning_rate" in message


def test_unknown_model_option_rejected():
    message = invalid(lambda c: c["models"]["dcgan"].update(lr_gen=0.1))
    assert "models.dcgan" in message
    assert "lr_gen" in message


def test_unknown_extractor_rejected():
    message = invalid(lambda c: c["evaluation"].update(extractor="clip"))
    assert "evaluation.extractor" in message
    assert "classifier" in message


def test_validation_keeps_given_values():
    config = default_config()
    config["train"]["batch_size"] = 32
    original = copy.deepcopy(config)
    validate_config(config)
    assert config["train"]["batch_size"] == original["train"]["batch_size"]


def test_resolution_model_mismatch_rejected(monkeypatch):
    from noisedim.data import BUILDER_RESOLUTIONS

    monkeypatch.setitem(BUILDER_RESOLUTIONS, "digits", lambda options: 12)
    message = invalid(lambda c: None)
    assert "cannot generate 12x12 images of dataset 'digits'" in message
    assert "dcgan" in message


def test_paper_config_valid():
    config = default_config()
    with open(REPO / "config" / "paper.yaml") as handle:
        paper = yaml.safe_load(handle)
    for key, value in paper.items():
        if isinstance(value, dict) and key in config and key != "grid":
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    validate_config(config)
    assert config["evaluation"]["extractor"] == "inception"


def test_unknown_divergence_rejected():
    message = invalid(lambda c: c.update(tradeoff={"divergences": ["hellinger"]}))
    assert "tradeoff.divergences[0]" in message
    assert "reverse_kl" in message


def test_unknown_source_kind_rejected():
    message = invalid(lambda c: c.update(tradeoff={"sources": {"s1": {"kind": "poisson"}}}))
    assert "tradeoff.sources.s1.kind" in message
    assert "zipf" in message


def test_noise_bits_above_limit_rejected():
    message = invalid(lambda c: c["noise"].update(bits=30))
    assert "noise.bits" in message
    assert "maximum of 24" in message


def test_model_option_wrong_type_rejected():
    message = invalid(lambda c: c["models"]["dcgan"].update(lr_g="fast"))
    assert "models.dcgan" in message
    assert "lr_g='fast'" in message


def test_bad_source_parameter_rejected():
    message = invalid(lambda c: c.update(tradeoff={"sources": {"z": {"kind": "zipf", "K": -3,
                                                                     "s": 1.1}}}))
    assert "tradeoff.sources.z" in message


def test_misspelled_key_lists_allowed():
    message = invalid(lambda c: c["train"].update(totl_kimg=5))
    assert "totl_kimg" in message
    assert "allowed keys:" in message
    assert "total_kimg" in message
