"""The dataset format and the digits builder."""

import json

import numpy as np
import pytest

from noisedim.data.digits import build_digits, digits_to_uint8
from noisedim.data.format import (DatasetError, DatasetWriter, ImageDataset, load_split,
                                  read_metadata)


def test_digits_builder_shapes_and_split(digits_dir):
    meta = read_metadata(digits_dir)
    train_x, train_y = load_split(digits_dir, "train", verify=True)
    test_x, test_y = load_split(digits_dir, "test", verify=True)
    assert meta["channels"] == 1
    assert meta["resolution"] == 8
    assert train_x.shape == (1438, 1, 8, 8)
    assert test_x.shape == (359, 1, 8, 8)
    assert train_x.dtype == np.uint8
    assert set(np.unique(train_y)) == set(range(10))
    assert len(np.unique(np.concatenate([train_x, test_x]))) == 17


def test_digits_split_fixed(tmp_path, digits_dir):
    build_digits(tmp_path / "again")
    assert read_metadata(tmp_path / "again")["content_sha256"] == \
        read_metadata(digits_dir)["content_sha256"]


def test_digits_levels_bijective():
    mapped = digits_to_uint8(np.arange(17))
    assert mapped[0] == 0
    assert mapped[-1] == 255
    assert len(np.unique(mapped)) == 17


def test_writer_shards_and_dataset(tmp_path):
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "d", "toy", {"kind": "test"}) as writer:
        for _ in range(3):
            writer.add_shard("train", rng.integers(0, 256, (5, 3, 4, 4), dtype=np.uint8))
        meta = writer.close()
    assert meta["splits"]["train"]["count"] == 15
    assert len(meta["splits"]["train"]["shards"]) == 3
    dataset = ImageDataset(tmp_path / "d", "train", max_images=7)
    assert len(dataset) == 7
    assert dataset[0].shape == (3, 4, 4)
    assert (load_split(tmp_path / "d")[1] == -1).all()


def test_writer_failure_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        with DatasetWriter(tmp_path / "d", "toy", {}) as writer:
            writer.add_shard("train", np.zeros((2, 1, 4, 4), np.uint8))
            writer.add_shard("train", np.zeros((2, 1, 8, 8), np.uint8))
    assert not (tmp_path / "d").exists()
    assert not (tmp_path / "d.tmp").exists()


def test_writer_refuses_existing(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        DatasetWriter(tmp_path / "d", "toy", {})


def test_missing_dataset_names_file(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json not found"):
        load_split(tmp_path / "nothing")


def test_corrupt_shard_names_file(tmp_path, digits_dir):
    import shutil

    copy = tmp_path / "digits"
    shutil.copytree(digits_dir, copy)
    shard = copy / "train-00000.npz"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="train-00000.npz"):
        load_split(copy, "train")
    with pytest.raises(DatasetError, match="SHA-256"):
        load_split(copy, "train", verify=True)


def test_unknown_split_lists_available(digits_dir):
    with pytest.raises(DatasetError, match="available splits: test, train"):
        load_split(digits_dir, "val")


def test_wrong_format_version(tmp_path, digits_dir):
    import shutil

    copy = tmp_path / "digits"
    shutil.copytree(digits_dir, copy)
    meta = json.loads((copy / "dataset.json").read_text())
    meta["format_version"] = 99
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="format_version 99"):
        read_metadata(copy)
