"""The on-disk dataset format shared by every dataset (digits, CIFAR10, LSUN, synthetic sources).

A dataset is a directory::

    dataset.json             metadata (see below)
    train-00000.npz          shard 0 of the train split
    train-00001.npz          ...
    test-00000.npz           shard 0 of the test split

Each shard is an uncompressed ``.npz`` with two arrays: ``images``, uint8 of shape
``[n, C, H, W]`` with values 0..255, and ``labels``, int64 of shape ``[n]`` (-1 where a dataset has
no labels). ``dataset.json`` contains ``format_version``, ``name``, ``channels``, ``resolution``,
``splits`` (per split: ``count`` and the list of ``shards`` with their file name, image count and
SHA-256), ``content_sha256`` (a hash over all shard hashes, used as a cache key for features) and a
free-form ``source`` mapping that says where the data came from.

``DatasetWriter`` writes shards one at a time, so converters of large datasets keep memory bounded,
into a temporary directory that is renamed into place only when ``close`` succeeds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_FILE = "dataset.json"


class DatasetError(ValueError):
    """A dataset directory is missing, incomplete or corrupt."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DatasetWriter:
    """Write a dataset directory shard by shard, then move it into place atomically.

    Use as a context manager: on an exception the temporary directory is removed and nothing
    appears at ``path``. An existing ``path`` is never overwritten.
    """

    def __init__(self, path: str | os.PathLike, name: str, source: dict[str, Any]):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"dataset directory {self.path} already exists; remove it "
                                  "first if you want to rebuild it")
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        if self.tmp_path.exists():
            shutil.rmtree(self.tmp_path)
        self.tmp_path.mkdir(parents=True)
        self.name = name
        self.source = source
        self.shape: tuple[int, int, int] | None = None
        self.splits: dict[str, dict[str, Any]] = {}

    def add_shard(self, split: str, images: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Append one shard of ``images`` (uint8 ``[n, C, H, W]``) and ``labels`` (``[n]``)."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 of shape [n, C, H, W], got {images.dtype} "
                             f"of shape {images.shape}")
        if self.shape is None:
            self.shape = images.shape[1:]
        elif images.shape[1:] != self.shape:
            raise ValueError(f"shard images of shape {images.shape[1:]} do not match the "
                             f"dataset's [C, H, W] = {self.shape}")
        if labels is None:
            labels = np.full(len(images), -1, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(images),):
            raise ValueError(f"labels of shape {labels.shape} do not match {len(images)} images")
        entry = self.splits.setdefault(split, {"count": 0, "shards": []})
        file_name = f"{split}-{len(entry['shards']):05d}.npz"
        np.savez(self.tmp_path / file_name, images=images, labels=labels)
        entry["shards"].append({"file": file_name, "count": int(len(images)),
                                "sha256": _sha256_file(self.tmp_path / file_name)})
        entry["count"] += int(len(images))

    def close(self) -> dict[str, Any]:
        """Write ``dataset.json`` and rename the directory into place; return the metadata."""
        if self.shape is None:
            raise ValueError(f"dataset {self.name!r} has no images; nothing to write")
        channels, height, width = self.shape
        if height != width:
            raise ValueError(f"images must be square, got {height}x{width}")
        shard_hashes = [shard["sha256"] for split in sorted(self.splits)
                        for shard in self.splits[split]["shards"]]
        meta = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "channels": int(channels),
            "resolution": int(height),
            "splits": self.splits,
            "content_sha256": hashlib.sha256("".join(shard_hashes).encode()).hexdigest(),
            "source": self.source,
        }
        with open(self.tmp_path / METADATA_FILE, "w") as handle:
            json.dump(meta, handle, indent=2)
        os.replace(self.tmp_path, self.path)
        log.info("wrote dataset %s to %s: %s", self.name, self.path,
                 ", ".join(f"{s} {e['count']} images" for s, e in self.splits.items()))
        return meta

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.tmp_path.exists():
            shutil.rmtree(self.tmp_path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``dataset.json`` of the dataset directory ``path``."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise DatasetError(f"dataset metadata {meta_path} not found; build the dataset with "
                           "`snakemake results/data/<name>` or point the config at a dataset "
                           "directory")
    try:
        with open(meta_path) as handle:
            meta = json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetError(f"dataset metadata {meta_path} is not valid JSON ({error}); "
                           "delete the dataset directory and rebuild it") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"dataset {path} has format_version {meta.get('format_version')!r}, "
                           f"expected {FORMAT_VERSION}; rebuild it with this version of noisedim")
    return meta


def load_split(path: str | os.PathLike, split: str = "train",
               verify: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load all shards of ``split`` into memory.

    Returns ``images`` (uint8 ``[N, C, H, W]``, 0..255) and ``labels`` (int64 ``[N]``). With
    ``verify``, each shard's SHA-256 is checked against ``dataset.json`` first.
    """
    path = Path(path)
    meta = read_metadata(path)
    if split not in meta["splits"]:
        raise DatasetError(f"dataset {path} has no split {split!r}; available splits: "
                           f"{', '.join(sorted(meta['splits']))}")
    images, labels = [], []
    for shard in meta["splits"][split]["shards"]:
        shard_path = path / shard["file"]
        if not shard_path.is_file():
            raise DatasetError(f"dataset shard {shard_path} not found; the dataset directory is "
                               "incomplete, delete it and rebuild it")
        if verify and _sha256_file(shard_path) != shard["sha256"]:
            raise DatasetError(f"dataset shard {shard_path} does not match its SHA-256 in "
                               f"{METADATA_FILE}; the file is corrupt, rebuild the dataset")
        try:
            with np.load(shard_path, allow_pickle=False) as arrays:
                images.append(arrays["images"])
                labels.append(arrays["labels"])
        except (zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
            raise DatasetError(f"cannot read dataset shard {shard_path} ({error}); the file is "
                               "corrupt, delete the dataset directory and rebuild it") from None
    return np.concatenate(images), np.concatenate(labels)


class ImageDataset(torch.utils.data.Dataset):
    """A split held in memory as a torch dataset of uint8 ``[C, H, W]`` image tensors.

    torch-fidelity takes this directly; GAN training converts batches to [-1, 1] itself.
    """

    def __init__(self, path: str | os.PathLike, split: str = "train",
                 max_images: int | None = None):
        images, labels = load_split(path, split)
        if max_images is not None:
            images, labels = images[:max_images], labels[:max_images]
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]
