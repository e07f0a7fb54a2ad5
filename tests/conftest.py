"""Shared fixtures: a digits dataset built once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    from noisedim.data.digits import build_digits

    path = tmp_path_factory.mktemp("data") / "digits"
    build_digits(path)
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Run tiny models on one thread; on a busy machine more threads stall each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rgb32_dir(tmp_path_factory) -> Path:
    """A 64-image 32x32 RGB dataset: blurred random blobs."""
    from noisedim.data.format import DatasetWriter

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, size=(64, 3, 4, 4)).astype(np.uint8)
    images = coarse.repeat(8, axis=2).repeat(8, axis=3)
    path = tmp_path_factory.mktemp("data") / "rgb32"
    with DatasetWriter(path, "rgb32", {"kind": "test blobs"}) as writer:
        writer.add_shard("train", images)
        writer.close()
    return path
