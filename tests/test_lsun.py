"""Tests for the lsun_church builder on small LMDBs in the LSUN layout, built by the tests."""

from __future__ import annotations

import hashlib
import io
import logging
import tracemalloc
import zipfile
from pathlib import Path

import lmdb
import numpy as np
import pytest
from PIL import Image

from noisedim.data.download import ChecksumError
from noisedim.data.format import DatasetError, load_split
from noisedim.data.lsun import build_lsun_church, decode_square_image
from noisedim.registry import DATASETS

LMDB_NAME = "church_outdoor_train_lmdb"
FORMATS = ("WEBP", "JPEG", "PNG")
# Lossy WebP and JPEG shift a flat colour by a few levels at most.
COLOUR_TOLERANCE = 6


def encode(array: np.ndarray, image_format: str) -> bytes:
    """Encode an ``[H, W, 3]`` uint8 array as WEBP, JPEG or PNG bytes."""
    buffer = io.BytesIO()
    options = {"quality": 90} if image_format in ("WEBP", "JPEG") else {}
    Image.fromarray(array).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def write_lmdb(directory: Path, entries: dict[bytes, bytes]) -> Path:
    """Write ``entries`` (key: encoded image) to a new LMDB at ``directory``."""
    env = lmdb.open(str(directory), map_size=1 << 28)
    with env.begin(write=True) as txn:
        for key, value in entries.items():
            txn.put(key, value)
    env.close()
    return directory


def make_church_entries(count: int, seed: int = 0, max_side: int = 320
                        ) -> tuple[dict[bytes, bytes], dict[bytes, tuple[int, int, int]]]:
    """Return LMDB entries of flat-coloured images and their colours, by key.

    Sizes and aspect ratios are random (sides 48..max_side), the formats cycle through WebP,
    JPEG and PNG, and keys are random 40-digit hex ids like LSUN's.
    """
    rng = np.random.default_rng(seed)
    entries, colours = {}, {}
    for index in range(count):
        key = rng.bytes(20).hex().encode()
        width, height = (int(side) for side in rng.integers(48, max_side + 1, 2))
        colour = tuple(int(c) for c in rng.integers(20, 236, 3))
        array = np.empty((height, width, 3), np.uint8)
        array[:] = colour
        entries[key] = encode(array, FORMATS[index % len(FORMATS)])
        colours[key] = colour
    return entries, colours


def official_zip(lmdb_dir: Path, archive: Path) -> Path:
    """Zip an LMDB directory the way LSUN ships it: ``<name>_lmdb/data.mdb`` and ``lock.mdb``."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{LMDB_NAME}/", b"")
        for file_name in ("data.mdb", "lock.mdb"):
            bundle.write(lmdb_dir / file_name, f"{LMDB_NAME}/{file_name}")
    return archive


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_flat_colours(images: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
    assert len(images) == len(colours)
    for image, colour in zip(images, colours):
        expected = np.array(colour, dtype=np.int16)[:, None, None]
        assert np.abs(image.astype(np.int16) - expected).max() <= COLOUR_TOLERANCE


@pytest.mark.parametrize("width,height", [(300, 200), (200, 300), (65, 64), (64, 257)])
@pytest.mark.parametrize("resolution", [64, 256])
def test_decode_keeps_centre_square(width: int, height: int, resolution: int):
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    array = np.zeros((height, width, 3), np.uint8)
    array[:] = (255, 0, 0)
    array[top:top + side, left:left + side] = (0, 255, 0)

    image = decode_square_image(encode(array, "PNG"), resolution)
    assert image.shape == (3, resolution, resolution)
    assert image.dtype == np.uint8
    assert image[0].max() == 0
    assert image[1].min() == 255
    assert image[2].max() == 0


def test_decode_converts_grey_and_alpha_to_rgb():
    grey = Image.fromarray(np.full((80, 100), 90, np.uint8), mode="L")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    assert decode_square_image(buffer.getvalue(), 64)[:, 10, 10].tolist() == [90, 90, 90]

    rgba = np.zeros((70, 70, 4), np.uint8)
    rgba[:] = (10, 200, 30, 128)
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="WEBP", lossless=True)
    assert decode_square_image(buffer.getvalue(), 64)[:, 5, 5].tolist() == [10, 200, 30]


def test_lsun_builds_from_lmdb_dir_and_skips_corrupt(tmp_path: Path, caplog):
    entries, colours = make_church_entries(12)
    jpeg = entries[sorted(entries)[3]]
    corrupt = {b"f" * 40: b"not an image at all", b"0" * 40: jpeg[: len(jpeg) // 3]}
    lmdb_dir = write_lmdb(tmp_path / LMDB_NAME, {**entries, **corrupt})

    with caplog.at_level(logging.WARNING, logger="noisedim.data.lsun"):
        meta = build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir, shard_size=5)

    assert meta["splits"]["train"]["count"] == 12
    assert [s["count"] for s in meta["splits"]["train"]["shards"]] == [5, 5, 2]
    assert "test" not in meta["splits"]
    assert meta["resolution"] == 64
    assert meta["source"]["skipped_images"] == {"train": 2}
    assert "skipped 2 undecodable images of 14" in caplog.text
    images, labels = load_split(tmp_path / "out", "train", verify=True)
    assert images.shape == (12, 3, 64, 64)
    assert (labels == -1).all()
    # The LMDB cursor returns keys in sorted order.
    assert_flat_colours(images, [colours[key] for key in sorted(colours)])


def test_lsun_max_images_and_resolution(tmp_path: Path):
    entries, colours = make_church_entries(9)
    lmdb_dir = write_lmdb(tmp_path / LMDB_NAME, entries)
    meta = build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir, resolution=128,
                             max_images=4, shard_size=3)
    assert meta["splits"]["train"]["count"] == 4
    assert [s["count"] for s in meta["splits"]["train"]["shards"]] == [3, 1]
    images, _ = load_split(tmp_path / "out", "train")
    assert images.shape == (4, 3, 128, 128)
    assert_flat_colours(images, [colours[key] for key in sorted(colours)[:4]])


def test_lsun_official_zip_with_val_split(tmp_path: Path):
    train_entries, train_colours = make_church_entries(7, seed=1)
    val_entries, val_colours = make_church_entries(3, seed=2)
    staged = tmp_path / "staged"
    staged.mkdir()
    train_zip = official_zip(write_lmdb(tmp_path / "train_db", train_entries),
                             staged / f"{LMDB_NAME}.zip")
    val_dir = write_lmdb(tmp_path / "church_outdoor_val_lmdb", val_entries)
    download_dir = tmp_path / "downloads"

    meta = build_lsun_church(tmp_path / "out", lmdb_path=train_zip,
                             sha256=file_sha256(train_zip), val_lmdb_path=tmp_path,
                             download_dir=download_dir)
    assert meta["splits"]["train"]["count"] == 7
    assert meta["splits"]["test"]["count"] == 3
    assert meta["source"]["inputs"]["train"]["archive_sha256"] == file_sha256(train_zip)
    assert (download_dir / LMDB_NAME / "data.mdb").is_file()
    train, _ = load_split(tmp_path / "out", "train")
    test, _ = load_split(tmp_path / "out", "test")
    assert_flat_colours(train, [train_colours[key] for key in sorted(train_colours)])
    assert_flat_colours(test, [val_colours[key] for key in sorted(val_colours)])
    assert val_dir.is_dir()


def test_lsun_url_download_of_zip(tmp_path: Path):
    entries, colours = make_church_entries(4, seed=3)
    served = official_zip(write_lmdb(tmp_path / "db", entries), tmp_path / f"{LMDB_NAME}.zip")
    download_dir = tmp_path / "downloads"
    meta = build_lsun_church(tmp_path / "out", url=served.as_uri(), sha256=file_sha256(served),
                             download_dir=download_dir)
    assert meta["splits"]["train"]["count"] == 4
    assert (download_dir / f"{LMDB_NAME}.zip").is_file()
    assert meta["source"]["inputs"]["train"]["url"] == served.as_uri()


def test_lsun_zip_checksum_mismatch(tmp_path: Path):
    entries, _ = make_church_entries(3)
    archive = official_zip(write_lmdb(tmp_path / "db", entries), tmp_path / f"{LMDB_NAME}.zip")
    with pytest.raises(ChecksumError, match="0" * 64):
        build_lsun_church(tmp_path / "data" / "lsun", lmdb_path=archive, sha256="0" * 64)
    assert not (tmp_path / "data").exists()


def test_lsun_truncated_zip_leaves_nothing(tmp_path: Path):
    entries, _ = make_church_entries(6)
    archive = official_zip(write_lmdb(tmp_path / "db", entries), tmp_path / f"{LMDB_NAME}.zip")
    data = archive.read_bytes()
    # Keep the central directory (at the end) but damage the compressed data.mdb in the middle.
    damaged = bytearray(data)
    damaged[len(data) // 3: len(data) // 3 + 64] = bytes(64)
    archive.write_bytes(bytes(damaged))
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        build_lsun_church(tmp_path / "data" / "lsun", lmdb_path=archive)
    assert not (tmp_path / "data" / "lsun").exists()
    assert list((tmp_path / "data" / "downloads").iterdir()) == []


def test_lsun_corrupt_lmdb_is_an_error(tmp_path: Path):
    entries, _ = make_church_entries(6)
    lmdb_dir = write_lmdb(tmp_path / LMDB_NAME, entries)
    (lmdb_dir / "data.mdb").write_bytes(np.random.default_rng(0).bytes(16384))
    with pytest.raises(DatasetError, match="corrupt or not LMDB"):
        build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir)
    assert not (tmp_path / "out").exists()


def test_lsun_truncated_lmdb_is_an_error(tmp_path: Path):
    entries, _ = make_church_entries(6)
    lmdb_dir = write_lmdb(tmp_path / LMDB_NAME, entries)
    data = (lmdb_dir / "data.mdb").read_bytes()
    (lmdb_dir / "data.mdb").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir)
    assert not (tmp_path / "out").exists()


def test_lsun_all_corrupt_is_an_error(tmp_path: Path):
    lmdb_dir = write_lmdb(tmp_path / LMDB_NAME, {b"a" * 40: b"junk", b"b" * 40: b"\x00" * 50})
    with pytest.raises(DatasetError, match="no image"):
        build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir)
    assert not (tmp_path / "out").exists()


def peak_traced_bytes(tmp_path: Path, count: int) -> int:
    """Build a 256-pixel dataset of ``count`` images in shards of 4; return traced peak bytes."""
    entries, _ = make_church_entries(count, seed=count, max_side=300)
    lmdb_dir = write_lmdb(tmp_path / f"db{count}", entries)
    tracemalloc.start()
    try:
        build_lsun_church(tmp_path / f"out{count}", lmdb_path=lmdb_dir, resolution=256,
                          shard_size=4)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_lsun_memory_bounded_by_shard(tmp_path: Path):
    small_peak = peak_traced_bytes(tmp_path, 16)
    large_peak = peak_traced_bytes(tmp_path, 64)
    large_set_bytes = 64 * 3 * 256 * 256
    # Holding the whole set would add 48 images (9.4 MiB) to the peak of the small build.
    assert large_peak < small_peak + 2 * 3 * 256 * 256
    assert large_peak < large_set_bytes / 3


def test_lsun_option_errors(tmp_path: Path):
    lmdb_dir = write_lmdb(tmp_path / LMDB_NAME, make_church_entries(1)[0])
    with pytest.raises(ValueError, match="64, 128, 256"):
        build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir, resolution=100)
    with pytest.raises(ValueError, match="exactly one"):
        build_lsun_church(tmp_path / "out")
    with pytest.raises(ValueError, match="exactly one"):
        build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir, url="file:///x.zip")
    with pytest.raises(ValueError, match="max_images=0"):
        build_lsun_church(tmp_path / "out", lmdb_path=lmdb_dir, max_images=0)
    with pytest.raises(FileNotFoundError, match="absent"):
        build_lsun_church(tmp_path / "out", lmdb_path=tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DatasetError, match="neither an LSUN zip nor an LMDB"):
        build_lsun_church(tmp_path / "out", lmdb_path=tmp_path / "plain")
    assert not (tmp_path / "out").exists()


def test_lsun_registered():
    assert DATASETS.get("lsun_church") is build_lsun_church
