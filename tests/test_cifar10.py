"""Tests for the cifar10 builder on small archives in the real CIFAR-10 binary format."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from noisedim.data.cifar10 import (BATCHES_DIR, CIFAR10_ARCHIVE_NAME, CIFAR10_SHA256,
                                   CIFAR10_URL, RECORD_BYTES, TEST_BATCH_FILE, TRAIN_BATCH_FILES,
                                   build_cifar10, read_cifar10_batch)
from noisedim.data.download import ChecksumError
from noisedim.data.format import DatasetError, load_split
from noisedim.registry import DATASETS

RECORDS_PER_BATCH = 20
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def encode_record(label: int, red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> bytes:
    """One CIFAR-10 binary record: the label byte, then the 32x32 R, G and B planes row-major."""
    return bytes([label]) + red.tobytes(order="C") + green.tobytes(order="C") + \
        blue.tobytes(order="C")


def make_batch(rng: np.random.Generator) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Return the bytes of one batch file and its images ``[n, 3, 32, 32]`` and labels."""
    labels = rng.integers(0, 10, RECORDS_PER_BATCH)
    planes = rng.integers(0, 256, (RECORDS_PER_BATCH, 3, 32, 32), dtype=np.uint8)
    data = b"".join(encode_record(int(label), *image) for label, image in zip(labels, planes))
    return data, planes, labels


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_archive(directory: Path, seed: int = 0) -> tuple[Path, dict]:
    """Write a small cifar-10-binary.tar.gz with the real member names; return it and contents."""
    rng = np.random.default_rng(seed)
    expected = {"train": ([], []), "test": ([], [])}
    archive = directory / CIFAR10_ARCHIVE_NAME
    with tarfile.open(archive, "w:gz") as tar:
        folder = tarfile.TarInfo(BATCHES_DIR)
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        add_member(tar, f"{BATCHES_DIR}/batches.meta.txt", "\n".join(CLASS_NAMES).encode())
        add_member(tar, f"{BATCHES_DIR}/readme.html", b"<html></html>")
        for split, names in (("train", TRAIN_BATCH_FILES), ("test", (TEST_BATCH_FILE,))):
            for name in names:
                data, images, labels = make_batch(rng)
                add_member(tar, f"{BATCHES_DIR}/{name}", data)
                expected[split][0].append(images)
                expected[split][1].append(labels)
    contents = {split: (np.concatenate(images), np.concatenate(labels))
                for split, (images, labels) in expected.items()}
    return archive, contents


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1; yield the base URL."""
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_cifar10_builds_from_archive(tmp_path: Path):
    archive, contents = make_archive(tmp_path)
    out = tmp_path / "data" / "cifar10"
    meta = build_cifar10(out, archive=archive, sha256=file_sha256(archive), md5=None)

    assert meta["splits"]["train"]["count"] == 5 * RECORDS_PER_BATCH
    assert meta["splits"]["test"]["count"] == RECORDS_PER_BATCH
    assert meta["resolution"] == 32
    assert meta["channels"] == 3
    assert meta["source"]["archive_sha256"] == file_sha256(archive)
    assert meta["source"]["class_names"] == CLASS_NAMES
    for split in ("train", "test"):
        images, labels = load_split(out, split, verify=True)
        np.testing.assert_array_equal(images, contents[split][0])
        np.testing.assert_array_equal(labels, contents[split][1])
    assert (tmp_path / "data" / "downloads" / BATCHES_DIR / "data_batch_1.bin").is_file()


def test_cifar10_record_layout_is_rgb_planes(tmp_path: Path):
    red = np.arange(1024, dtype=np.uint16).reshape(32, 32).astype(np.uint8)
    green = np.full((32, 32), 7, np.uint8)
    blue = red.T.copy()
    batch = tmp_path / "batch.bin"
    batch.write_bytes(encode_record(3, red, green, blue) + encode_record(9, blue, red, green))

    images, labels = read_cifar10_batch(batch)
    assert images.shape == (2, 3, 32, 32)
    assert labels.tolist() == [3, 9]
    # Pixel (row 2, column 5) of the first image is (R, G, B) = (red[2, 5], 7, blue[2, 5]).
    assert images[0, :, 2, 5].tolist() == [red[2, 5], 7, blue[2, 5]]
    np.testing.assert_array_equal(images[1, 0], blue)
    np.testing.assert_array_equal(images[1, 1], red)


def test_cifar10_shards_follow_shard_size(tmp_path: Path):
    archive, _ = make_archive(tmp_path)
    meta = build_cifar10(tmp_path / "out", archive=archive, sha256=None, md5=None, shard_size=7)
    train_counts = [shard["count"] for shard in meta["splits"]["train"]["shards"]]
    test_counts = [shard["count"] for shard in meta["splits"]["test"]["shards"]]
    assert train_counts == [7, 7, 6] * 5
    assert test_counts == [7, 7, 6]


def test_cifar10_extracted_folder_input(tmp_path: Path):
    archive, contents = make_archive(tmp_path)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    for index, location in enumerate((unpacked, unpacked / BATCHES_DIR)):
        out = tmp_path / f"out{index}"
        meta = build_cifar10(out, archive=location)
        assert meta["source"]["archive_sha256"] is None
        images, labels = load_split(out, "train")
        np.testing.assert_array_equal(images, contents["train"][0])
        np.testing.assert_array_equal(labels, contents["train"][1])


def test_cifar10_download_over_http(tmp_path: Path):
    served = tmp_path / "served"
    served.mkdir()
    archive, contents = make_archive(served)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    download_dir = tmp_path / "downloads"
    with serve_directory(served) as base_url:
        url = f"{base_url}/{CIFAR10_ARCHIVE_NAME}"
        meta = build_cifar10(tmp_path / "out", url=url, sha256=file_sha256(archive), md5=md5,
                             download_dir=download_dir)
    assert meta["source"]["url"] == url
    assert (download_dir / CIFAR10_ARCHIVE_NAME).read_bytes() == archive.read_bytes()
    images, _ = load_split(tmp_path / "out", "test")
    np.testing.assert_array_equal(images, contents["test"][0])


def test_cifar10_tampered_download_leaves_nothing(tmp_path: Path):
    served = tmp_path / "served"
    served.mkdir()
    archive, _ = make_archive(served)
    good_sha256 = file_sha256(archive)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    out_root = tmp_path / "results"
    with serve_directory(served) as base_url:
        url = f"{base_url}/{CIFAR10_ARCHIVE_NAME}"
        with pytest.raises(ChecksumError) as info:
            build_cifar10(out_root / "cifar10", url=url, sha256=good_sha256, md5=None)
    message = str(info.value)
    assert url in message
    assert good_sha256 in message
    assert file_sha256(archive) in message
    assert not (out_root / "cifar10").exists()
    assert leftovers(out_root / "downloads") == []


def test_cifar10_truncated_archive_fails_checksum(tmp_path: Path):
    archive, _ = make_archive(tmp_path)
    good_sha256 = file_sha256(archive)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ChecksumError, match=good_sha256):
        build_cifar10(tmp_path / "data" / "cifar10", archive=archive, sha256=good_sha256,
                      md5=None)
    assert not (tmp_path / "data").exists()
    assert archive.exists()


def test_cifar10_truncated_unchecked_archive_cleans_up(tmp_path: Path):
    archive, _ = make_archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        build_cifar10(tmp_path / "data" / "cifar10", archive=archive, sha256=None, md5=None)
    assert not (tmp_path / "data" / "cifar10").exists()
    assert leftovers(tmp_path / "data" / "downloads") == []


def test_cifar10_default_checksums_reject_other_archive(tmp_path: Path):
    archive, _ = make_archive(tmp_path)
    with pytest.raises(ChecksumError) as info:
        build_cifar10(tmp_path / "out", archive=archive)
    assert CIFAR10_SHA256 in str(info.value)
    assert CIFAR10_URL in str(info.value)
    assert not (tmp_path / "out").exists()


def test_cifar10_archive_missing_member(tmp_path: Path):
    archive = tmp_path / CIFAR10_ARCHIVE_NAME
    with tarfile.open(archive, "w:gz") as tar:
        add_member(tar, f"{BATCHES_DIR}/data_batch_1.bin", make_batch(np.random.default_rng())[0])
    with pytest.raises(DatasetError, match="data_batch_2.bin"):
        build_cifar10(tmp_path / "out", archive=archive, sha256=None, md5=None)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path / "downloads") == []


def test_cifar10_batch_size_and_label_checks(tmp_path: Path):
    short = tmp_path / "short.bin"
    short.write_bytes(b"\x00" * (RECORD_BYTES + 5))
    with pytest.raises(DatasetError, match=str(RECORD_BYTES + 5)):
        read_cifar10_batch(short)
    bad_label = tmp_path / "label.bin"
    bad_label.write_bytes(b"\x0c" + b"\x00" * (RECORD_BYTES - 1))
    with pytest.raises(DatasetError, match="label 12"):
        read_cifar10_batch(bad_label)


def test_cifar10_errors_for_missing_inputs(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="absent.tar.gz"):
        build_cifar10(tmp_path / "out", archive=tmp_path / "absent.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="test_batch.bin"):
        build_cifar10(tmp_path / "out", archive=tmp_path / "empty")
    (tmp_path / "existing").mkdir()
    with pytest.raises(FileExistsError, match="existing"):
        build_cifar10(tmp_path / "existing", archive=tmp_path / "absent.tar.gz")
    with pytest.raises(ValueError, match="shard_size=0"):
        build_cifar10(tmp_path / "out", archive=tmp_path / "empty", shard_size=0)


def test_cifar10_registered():
    assert DATASETS.get("cifar10") is build_cifar10
