"""The ``cifar10`` dataset, built from the CIFAR-10 binary version (no pickle involved).

``cifar-10-binary.tar.gz`` contains ``cifar-10-batches-bin/`` with ``data_batch_1.bin`` ..
``data_batch_5.bin`` (10,000 records each, the 50,000 training images) and ``test_batch.bin``
(10,000 test images). Each record is 3,073 bytes: one label byte (0..9), then the 32x32 red plane,
green plane and blue plane, each row-major. A record therefore reshapes directly to
``[3, 32, 32]``, the ``[C, H, W]`` layout of the dataset format.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import zlib
from pathlib import Path

import numpy as np

from noisedim.data.download import download_file, sha256_file, verify_checksums
from noisedim.data.format import DatasetError, DatasetWriter
from noisedim.registry import DATASETS

log = logging.getLogger(__name__)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_ARCHIVE_NAME = "cifar-10-binary.tar.gz"
# MD5 published by the dataset authors on https://www.cs.toronto.edu/~kriz/cifar.html.
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
# The authors publish no SHA-256. JuliaML/MLDatasets.jl (src/datasets/vision/cifar10.jl) pins
# this value for the same URL, and the archive is 170,052,171 bytes. The builder checks both
# hashes by default.
CIFAR10_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"

BATCHES_DIR = "cifar-10-batches-bin"
TRAIN_BATCH_FILES = tuple(f"data_batch_{index}.bin" for index in range(1, 6))
TEST_BATCH_FILE = "test_batch.bin"
CLASS_NAMES_FILE = "batches.meta.txt"
# Members copied out of the archive. Other members are ignored.
EXTRACTED_FILES = (*TRAIN_BATCH_FILES, TEST_BATCH_FILE, CLASS_NAMES_FILE)
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Parse one CIFAR-10 binary batch file.

    Returns ``images``, uint8 ``[n, 3, 32, 32]`` (RGB, 0..255), and ``labels``, int64 ``[n]``
    with values 0..9. Raises ``DatasetError`` when the file size is not a positive multiple of
    3,073 bytes or a label byte exceeds 9.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES != 0:
        raise DatasetError(f"CIFAR-10 batch {path} has {raw.size} bytes, not a positive multiple "
                           f"of the {RECORD_BYTES}-byte record; the file is truncated or not a "
                           "CIFAR-10 binary batch, so delete it and extract the archive again")
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DatasetError(f"CIFAR-10 batch {path} record {bad[0]} has label {labels[bad[0]]}, "
                           f"expected 0..{NUM_CLASSES - 1}; the file is not a CIFAR-10 binary "
                           "batch (CIFAR-100 records start with two label bytes)")
    images = records[:, 1:].reshape(-1, *IMAGE_SHAPE)
    return np.ascontiguousarray(images), labels


def find_batches_dir(folder: str | os.PathLike) -> Path:
    """Return the folder with the batch files, ``folder`` or ``folder/cifar-10-batches-bin``."""
    folder = Path(folder)
    for candidate in (folder, folder / BATCHES_DIR):
        if all((candidate / name).is_file() for name in (*TRAIN_BATCH_FILES, TEST_BATCH_FILE)):
            return candidate
    missing = [name for name in (*TRAIN_BATCH_FILES, TEST_BATCH_FILE)
               if not (folder / name).is_file() and not (folder / BATCHES_DIR / name).is_file()]
    raise DatasetError(f"{folder} is not an extracted CIFAR-10 binary folder: missing "
                       f"{', '.join(missing)}; point `archive` at {CIFAR10_ARCHIVE_NAME} or at "
                       f"its extracted {BATCHES_DIR}/ folder")


def extract_cifar10_archive(archive: str | os.PathLike, extract_root: str | os.PathLike) -> Path:
    """Extract the batch files of ``archive`` to ``extract_root/cifar-10-batches-bin``.

    Only the known members are read, so the archive cannot write outside the target. They go to
    a temporary folder that is renamed into place once every member is complete, replacing a
    previous extraction. A damaged or incomplete archive raises ``DatasetError`` and leaves
    nothing behind. Returns the target folder.
    """
    archive, extract_root = Path(archive), Path(extract_root)
    target = extract_root / BATCHES_DIR
    tmp = extract_root / f".{BATCHES_DIR}.{os.getpid()}.tmp"
    extract_root.mkdir(parents=True, exist_ok=True)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in EXTRACTED_FILES:
                try:
                    member = tar.getmember(f"{BATCHES_DIR}/{name}")
                except KeyError:
                    if name == CLASS_NAMES_FILE:
                        continue
                    raise DatasetError(f"archive {archive} has no member {BATCHES_DIR}/{name}; it "
                                       f"is not the CIFAR-10 binary version "
                                       f"({CIFAR10_ARCHIVE_NAME})") from None
                if not member.isfile():
                    raise DatasetError(f"archive member {member.name} of {archive} is not a "
                                       "regular file; the archive is not the CIFAR-10 binary "
                                       "version")
                with tar.extractfile(member) as source, open(tmp / name, "wb") as dest:
                    shutil.copyfileobj(source, dest)
        if target.exists():
            log.info("replacing previous extraction %s", target)
            shutil.rmtree(target)
        os.replace(tmp, target)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DatasetError(f"cannot extract {archive} ({type(error).__name__}: {error}); the "
                           f"archive is truncated or corrupt, so fetch {CIFAR10_URL} again") \
            from error
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("extracted %s to %s", archive, target)
    return target


def _read_class_names(batches_dir: Path) -> list[str] | None:
    meta = batches_dir / CLASS_NAMES_FILE
    if not meta.is_file():
        return None
    return [line.strip() for line in meta.read_text().splitlines() if line.strip()]


def _resolve_batches_dir(archive: str | os.PathLike | None, url: str, sha256: str | None,
                         md5: str | None, download_dir: Path) -> tuple[Path, dict]:
    """Find, download or extract the batch folder and return it with its provenance."""
    if archive is not None:
        archive = Path(archive)
        if archive.is_dir():
            log.info("using extracted CIFAR-10 folder %s; no checksum applies", archive)
            return find_batches_dir(archive), {"archive": str(archive), "archive_sha256": None}
        if not archive.is_file():
            raise FileNotFoundError(
                f"CIFAR-10 archive {archive} not found; stage {CIFAR10_ARCHIVE_NAME} from "
                f"{CIFAR10_URL} there, or unset datasets.cifar10.options.archive to download it")
        verify_checksums(archive, sha256=sha256, md5=md5, url=CIFAR10_URL)
        source = {"archive": str(archive)}
    else:
        archive = download_file(url, download_dir / CIFAR10_ARCHIVE_NAME, sha256, md5=md5)
        source = {"url": url, "archive": str(archive)}
    source["archive_sha256"] = sha256_file(archive)
    return extract_cifar10_archive(archive, download_dir), source


@DATASETS.add("cifar10")
def build_cifar10(path: str | os.PathLike, *, archive: str | os.PathLike | None = None,
                  url: str = CIFAR10_URL, sha256: str | None = CIFAR10_SHA256,
                  md5: str | None = CIFAR10_MD5, download_dir: str | os.PathLike | None = None,
                  shard_size: int = 10000) -> dict:
    """Write CIFAR-10 to the dataset directory ``path``; return its metadata.

    Splits: ``train`` (the five data batches, 50,000 images) and ``test`` (10,000), uint8
    ``[n, 3, 32, 32]`` with labels 0..9, in shards of at most ``shard_size`` images that never
    span two batch files.

    Options:
        archive: a pre-staged ``cifar-10-binary.tar.gz``, or an extracted folder (the
            ``cifar-10-batches-bin/`` folder itself or its parent). Without it the archive is
            downloaded from ``url``.
        url: where to download the archive; ``http(s)://``, ``file://`` or a local path.
        sha256, md5: expected checksums of the archive, checked for downloads and pre-staged
            archives (not for extracted folders). Set both to ``None`` for a custom archive;
            its SHA-256 is then logged and recorded.
        download_dir: where the archive is downloaded and extracted; defaults to
            ``<parent of path>/downloads``.
        shard_size: maximum images per shard.
    """
    path = Path(path)
    if shard_size < 1:
        raise ValueError(f"shard_size={shard_size} is invalid; use a positive number of images")
    if path.exists():
        raise FileExistsError(f"dataset directory {path} already exists; remove it first if "
                              "you want to rebuild it")
    download_dir = Path(download_dir) if download_dir is not None else path.parent / "downloads"
    batches_dir, provenance = _resolve_batches_dir(archive, url, sha256, md5, download_dir)

    source = {"kind": "cifar10", "format": "CIFAR-10 binary version", **provenance,
              "class_names": _read_class_names(batches_dir)}
    splits = {"train": TRAIN_BATCH_FILES, "test": (TEST_BATCH_FILE,)}
    with DatasetWriter(path, "cifar10", source) as writer:
        for split, file_names in splits.items():
            for file_name in file_names:
                images, labels = read_cifar10_batch(batches_dir / file_name)
                log.info("read %d %s images from %s", len(images), split, file_name)
                for start in range(0, len(images), shard_size):
                    stop = start + shard_size
                    writer.add_shard(split, images[start:stop], labels[start:stop])
        return writer.close()
