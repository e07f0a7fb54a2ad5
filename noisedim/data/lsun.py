"""The ``lsun_church`` dataset: LSUN church_outdoor, centre-cropped and resized to a square.

LSUN ships each scene category as a zip file that contains one LMDB directory, for example
``church_outdoor_train_lmdb.zip`` with ``church_outdoor_train_lmdb/data.mdb`` and ``lock.mdb``.
LMDB keys are image ids; values are encoded images (WebP in the current release, JPEG in older
ones). Every format Pillow decodes is accepted.

Each image is converted to RGB, cropped to the centred square of side ``min(width, height)`` and
resized to ``resolution`` with Pillow's LANCZOS filter, the filter that StyleGAN2-ADA's
``dataset_tool.py`` uses for LSUN. When shrinking, Pillow scales the Lanczos kernel with the
reduction factor, so it low-pass filters and keeps aliasing out of the small images.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sys
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import lmdb
import numpy as np
from PIL import Image
from tqdm import tqdm

from noisedim.data.download import download_file, sha256_file, verify_checksums
from noisedim.data.format import DatasetError, DatasetWriter
from noisedim.registry import DATASETS

log = logging.getLogger(__name__)

# URLs from the LSUN download script (fyu/lsun, download.py). LSUN publishes no checksums.
LSUN_CHURCH_TRAIN_URL = "http://dl.yf.io/lsun/scenes/church_outdoor_train_lmdb.zip"
LSUN_CHURCH_VAL_URL = "http://dl.yf.io/lsun/scenes/church_outdoor_val_lmdb.zip"
RESOLUTIONS = (64, 128, 256)
RESIZE_FILTER = Image.Resampling.LANCZOS
# Decode failures logged one by one. Later ones are only counted.
MAX_LOGGED_DECODE_ERRORS = 10
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def decode_square_image(data: bytes, resolution: int) -> np.ndarray:
    """Decode an encoded image, centre-crop it to a square and resize it with LANCZOS.

    Returns uint8 ``[3, resolution, resolution]`` RGB, 0..255. Raises the decoder's error
    (``OSError`` and others) for data that Pillow cannot decode.
    """
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # Crop before resizing, as dataset_tool.py does: resizing with ``box=`` instead would let
    # the filter read pixels outside the square into the border of the result.
    square = image.crop((left, top, left + side, top + side))
    resized = square.resize((resolution, resolution), RESIZE_FILTER)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)


def _extract_lmdb_zip(archive: Path, extract_root: Path) -> Path:
    """Extract the LMDB directory inside an LSUN zip to ``extract_root`` and return its path.

    Only ``<name>_lmdb/data.mdb`` and ``lock.mdb`` are read. They go to a temporary folder that
    is renamed into place when complete, replacing a previous extraction. A damaged zip raises
    ``DatasetError`` and leaves nothing behind.
    """
    try:
        with zipfile.ZipFile(archive) as bundle:
            data_members = [info for info in bundle.infolist()
                            if PurePosixPath(info.filename).name == "data.mdb"
                            and len(PurePosixPath(info.filename).parts) == 2]
            if len(data_members) != 1:
                raise DatasetError(
                    f"zip {archive} contains {len(data_members)} LMDB directories "
                    "(<name>/data.mdb), expected exactly 1; it is not an LSUN scene zip such as "
                    "church_outdoor_train_lmdb.zip")
            lmdb_name = PurePosixPath(data_members[0].filename).parts[0]
            if lmdb_name in ("", ".", ".."):
                raise DatasetError(f"zip {archive} has an invalid LMDB directory name "
                                   f"{lmdb_name!r}")
            target = extract_root / lmdb_name
            tmp = extract_root / f".{lmdb_name}.{os.getpid()}.tmp"
            extract_root.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            try:
                for file_name in ("data.mdb", "lock.mdb"):
                    member = f"{lmdb_name}/{file_name}"
                    if member not in bundle.namelist():
                        continue
                    # ZipFile.open checks each member's CRC-32 while reading.
                    with bundle.open(member) as source, open(tmp / file_name, "wb") as dest:
                        shutil.copyfileobj(source, dest, length=1 << 20)
                if target.exists():
                    log.info("replacing previous extraction %s", target)
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
        raise DatasetError(f"cannot extract {archive} ({type(error).__name__}: {error}); the zip "
                           "is truncated or corrupt, so download it again") from error
    log.info("extracted %s to %s", archive, target)
    return target


def _find_lmdb_dir(location: Path) -> Path | None:
    """Return the LMDB directory at ``location``: itself, its ``data.mdb`` parent, or one child."""
    if location.is_file() and location.name == "data.mdb":
        return location.parent
    if (location / "data.mdb").is_file():
        return location
    children = [child for child in sorted(location.glob("*_lmdb"))
                if (child / "data.mdb").is_file()] if location.is_dir() else []
    return children[0] if len(children) == 1 else None


def resolve_lmdb(location: str | os.PathLike | None, url: str | None, sha256: str | None,
                 download_dir: Path, option: str) -> tuple[Path, dict[str, Any]]:
    """Find, download or extract one LSUN LMDB directory and return it with its provenance.

    ``location`` may be an LMDB directory, its ``data.mdb``, a folder with one ``*_lmdb``
    child, or an LSUN zip (checked against ``sha256`` when given, then extracted to
    ``download_dir``). Otherwise ``url`` is downloaded to ``download_dir``. ``option`` names the
    config key in error messages.
    """
    if url is not None:
        archive = download_file(url, download_dir / PurePosixPath(url).name, sha256)
        return _extract_lmdb_zip(archive, download_dir), {
            "url": url, "archive": str(archive), "archive_sha256": sha256_file(archive)}
    location = Path(location)
    if not location.exists():
        raise FileNotFoundError(
            f"LSUN data {location} not found; stage church_outdoor_train_lmdb.zip (from "
            f"{LSUN_CHURCH_TRAIN_URL}) or its extracted folder there, or fix {option}")
    if location.is_file() and zipfile.is_zipfile(location):
        verify_checksums(location, sha256=sha256)
        return _extract_lmdb_zip(location, download_dir), {
            "archive": str(location), "archive_sha256": sha256_file(location)}
    lmdb_dir = _find_lmdb_dir(location)
    if lmdb_dir is None:
        raise DatasetError(f"{location} is neither an LSUN zip nor an LMDB directory (a folder "
                           f"with data.mdb); fix {option}")
    return lmdb_dir, {"lmdb": str(lmdb_dir)}


def open_lmdb(lmdb_dir: Path) -> lmdb.Environment:
    """Open an LMDB directory read-only, rejecting files that are not LMDB or are truncated.

    A truncated ``data.mdb`` would make the memory-mapped reads crash the process (SIGBUS), so
    its size is checked against the last page number that the LMDB meta page records.
    """
    data_file = lmdb_dir / "data.mdb"
    try:
        env = lmdb.open(str(lmdb_dir), readonly=True, lock=False, readahead=False,
                        meminit=False, max_readers=1)
        required_bytes = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    except lmdb.Error as error:
        raise DatasetError(f"cannot open LMDB {lmdb_dir} ({type(error).__name__}: {error}); "
                           "the database is corrupt or not LMDB, so extract or download it "
                           "again") from error
    actual_bytes = data_file.stat().st_size
    if actual_bytes < required_bytes:
        env.close()
        raise DatasetError(f"LMDB file {data_file} is truncated: {actual_bytes} bytes, but its "
                           f"meta page needs {required_bytes}; extract or download it again")
    return env


def convert_lmdb_split(env: lmdb.Environment, writer: DatasetWriter, split: str, *,
                       resolution: int, max_images: int | None, shard_size: int,
                       label: str) -> dict[str, int]:
    """Decode the images of ``env`` into shards of ``split`` and return the counts.

    At most ``shard_size`` decoded images are held in memory
    (``shard_size * 3 * resolution**2`` bytes). Undecodable images are skipped and counted.
    Returns ``{"images": written, "skipped": undecodable}``.
    """
    total = env.stat()["entries"]
    if max_images is not None:
        total = min(total, max_images)
    buffer = np.empty((min(shard_size, max(total, 1)), 3, resolution, resolution), np.uint8)
    filled = written = skipped = 0
    progress = tqdm(total=total, unit="img", desc=f"{label} {split}", file=sys.stderr)
    try:
        with progress, env.begin(buffers=False) as txn:
            for key, value in txn.cursor():
                if written + filled >= total:
                    break
                progress.update(1)
                try:
                    buffer[filled] = decode_square_image(value, resolution)
                except _DECODE_ERRORS as error:
                    skipped += 1
                    if skipped <= MAX_LOGGED_DECODE_ERRORS:
                        log.warning("skipping undecodable image %s in %s split (%s: %s)",
                                    key.decode("ascii", "replace"), split,
                                    type(error).__name__, error)
                    continue
                filled += 1
                if filled == len(buffer):
                    writer.add_shard(split, buffer[:filled])
                    written, filled = written + filled, 0
    except lmdb.Error as error:
        raise DatasetError(f"reading LMDB {env.path()} failed after {written + filled} images "
                           f"({type(error).__name__}: {error}); the database is corrupt, so "
                           "extract or download it again") from error
    if filled:
        writer.add_shard(split, buffer[:filled])
        written += filled
    if skipped:
        log.warning("skipped %d undecodable images of %d in %s split", skipped,
                    written + skipped, split)
    if written == 0:
        raise DatasetError(f"no image in LMDB {env.path()} could be decoded ({skipped} "
                           "skipped), so it contains no usable LSUN images")
    return {"images": written, "skipped": skipped}


@DATASETS.add("lsun_church")
def build_lsun_church(path: str | os.PathLike, *, lmdb_path: str | os.PathLike | None = None,
                      url: str | None = None, sha256: str | None = None,
                      val_lmdb_path: str | os.PathLike | None = None,
                      val_url: str | None = None, val_sha256: str | None = None,
                      resolution: int = 64, max_images: int | None = None,
                      shard_size: int = 10000,
                      download_dir: str | os.PathLike | None = None) -> dict:
    """Write LSUN church_outdoor to the dataset directory ``path``; return its metadata.

    Splits: ``train`` (every decodable image of the train LMDB, in key order, up to
    ``max_images``) and, when a validation LMDB is given, ``test`` (LSUN's 300 validation
    images). Images are uint8 ``[n, 3, resolution, resolution]`` without labels (-1).

    Options:
        lmdb_path: the train data: ``church_outdoor_train_lmdb.zip``, the extracted
            ``church_outdoor_train_lmdb/`` folder, its ``data.mdb``, or a folder holding it.
        url: download the train zip from here instead (e.g. ``LSUN_CHURCH_TRAIN_URL``). Give
            exactly one of ``lmdb_path`` and ``url``.
        sha256: expected SHA-256 of the train zip (downloaded or staged). LSUN publishes
            none; without it the zip's SHA-256 is logged and recorded.
        val_lmdb_path, val_url, val_sha256: the same for the validation LMDB (optional).
        resolution: output side in pixels, 64, 128 or 256.
        max_images: stop the train split after this many decoded images.
        shard_size: images per shard; bounds memory to ``shard_size * 3 * resolution**2`` bytes.
        download_dir: where zips are downloaded and extracted; defaults to
            ``<parent of path>/downloads``.
    """
    path = Path(path)
    _check_options(lmdb_path, url, val_lmdb_path, val_url, resolution, max_images, shard_size)
    if path.exists():
        raise FileExistsError(f"dataset directory {path} already exists; remove it first if "
                              "you want to rebuild it")
    download_dir = Path(download_dir) if download_dir is not None else path.parent / "downloads"

    inputs = {"train": resolve_lmdb(lmdb_path, url, sha256, download_dir,
                                    "datasets.lsun_church.options.lmdb_path")}
    if val_lmdb_path is not None or val_url is not None:
        inputs["test"] = resolve_lmdb(val_lmdb_path, val_url, val_sha256, download_dir,
                                      "datasets.lsun_church.options.val_lmdb_path")
    source: dict[str, Any] = {
        "kind": "lsun_church", "category": "church_outdoor", "resolution": resolution,
        "crop": "centre square of side min(width, height)", "resize_filter": "PIL LANCZOS",
        "max_images": max_images, "inputs": {split: info for split, (_, info) in inputs.items()},
        "skipped_images": {}}

    with DatasetWriter(path, "lsun_church", source) as writer:
        for split, (lmdb_dir, _) in inputs.items():
            env = open_lmdb(lmdb_dir)
            try:
                counts = convert_lmdb_split(
                    env, writer, split, resolution=resolution, shard_size=shard_size,
                    max_images=max_images if split == "train" else None, label="lsun_church")
            finally:
                env.close()
            source["skipped_images"][split] = counts["skipped"]
        return writer.close()


def _check_options(lmdb_path: Any, url: Any, val_lmdb_path: Any, val_url: Any,
                   resolution: int, max_images: int | None, shard_size: int) -> None:
    if (lmdb_path is None) == (url is None):
        raise ValueError(
            "set exactly one of datasets.lsun_church.options.lmdb_path (a staged "
            f"church_outdoor_train_lmdb.zip or folder) and .url (e.g. {LSUN_CHURCH_TRAIN_URL}); "
            f"got lmdb_path={lmdb_path!r}, url={url!r}")
    if val_lmdb_path is not None and val_url is not None:
        raise ValueError(f"set at most one of val_lmdb_path and val_url; got "
                         f"val_lmdb_path={val_lmdb_path!r}, val_url={val_url!r}")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution={resolution!r} is not supported; use one of "
                         f"{', '.join(map(str, RESOLUTIONS))}")
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images={max_images} is invalid; use a positive number or null "
                         "for all images")
    if shard_size < 1:
        raise ValueError(f"shard_size={shard_size} is invalid; use a positive number of images")
