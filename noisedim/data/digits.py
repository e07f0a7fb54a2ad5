"""The ``digits`` dataset: scikit-learn's copy of the UCI handwritten digits.

1,797 real 8x8 grey-scale digits with integer intensities 0..16, shipped inside scikit-learn, so
it works offline. Intensities are mapped to 0..255 by ``round(v * 255 / 16)``, a bijection on the
17 levels, so every entropy measured on the stored images equals the original's.
"""

from __future__ import annotations

import os

import numpy as np

from noisedim.data.format import DatasetWriter
from noisedim.registry import DATASETS

SOURCE_LEVELS = 17


def digits_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map digit intensities 0..16 to uint8 0..255."""
    return np.rint(np.asarray(values, dtype=np.float64) * 255.0 / 16.0).astype(np.uint8)


@DATASETS.add("digits")
def build_digits(path: str | os.PathLike, *, test_fraction: float = 0.2,
                 split_seed: int = 0) -> dict:
    """Write the digits dataset to ``path`` with a fixed, stratified-free random split.

    The split is a permutation drawn from ``numpy.random.default_rng(split_seed)``; the first
    ``round(test_fraction * 1797)`` permuted images form the test split.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction {test_fraction} is invalid; use a value in (0, 1)")
    bunch = load_digits()
    images = digits_to_uint8(bunch.images)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(images))
    num_test = int(round(test_fraction * len(images)))
    test_index, train_index = np.sort(order[:num_test]), np.sort(order[num_test:])
    source = {"kind": "digits", "origin": "sklearn.datasets.load_digits (UCI ML hand-written "
              "digits)", "source_levels": SOURCE_LEVELS, "test_fraction": test_fraction,
              "split_seed": split_seed}
    with DatasetWriter(path, "digits", source) as writer:
        writer.add_shard("train", images[train_index], labels[train_index])
        writer.add_shard("test", images[test_index], labels[test_index])
        return writer.close()
