"""Checksummed file downloads with retries, for datasets and model weights.

``download_file`` streams a URL (``http``, ``https``, ``file``, or a plain local path) to
``<dest>.part``, verifies it, and renames it to ``dest`` only when the checksum matches, so a
file at ``dest`` is always complete. ``verify_sha256`` and ``verify_md5`` check files that were
staged by hand on machines without internet access.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
USER_AGENT = "noisedim-download/1"


class ChecksumError(ValueError):
    """A file does not match its expected checksum."""


class DownloadError(OSError):
    """A download failed permanently or ran out of retries."""


class _TransientError(Exception):
    """A failure worth retrying (connection error, timeout, HTTP 5xx, short read)."""


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 of the file at ``path`` as 64 lower-case hex digits."""
    return _hash_file(Path(path), "sha256")


def _staging_hint(url: str | None, dest: Path, algorithm: str, expected: str) -> str:
    command = "sha256sum" if algorithm == "sha256" else "md5sum"
    source = f"download {url} on a machine with internet access" if url else \
        "get a good copy of the file"
    return (f"To stage the file by hand, {source}, check that `{command} FILE` prints "
            f"{expected}, and copy it to {dest}.")


def _check_digest(path: Path, algorithm: str, expected: str, *, url: str | None,
                  dest: Path, downloaded: bool = False) -> None:
    expected = expected.strip().lower()
    actual = _hash_file(path, algorithm)
    if actual == expected:
        return
    label = {"sha256": "SHA-256", "md5": "MD5"}[algorithm]
    subject = f"the download of {url} to {dest}" if downloaded else str(path)
    deleted = " The partial file was deleted." if downloaded else ""
    raise ChecksumError(
        f"{label} mismatch for {subject}: expected {expected}, got {actual} "
        f"({path.stat().st_size} bytes). The file is truncated, corrupt or a different "
        f"version.{deleted} {_staging_hint(url, dest, algorithm, expected)}")


def verify_sha256(path: str | os.PathLike, sha256: str, *, url: str | None = None) -> Path:
    """Check that the file at ``path`` has SHA-256 ``sha256`` and return the path.

    Raises ``FileNotFoundError`` if the file is missing and ``ChecksumError`` on a mismatch.
    ``url`` only improves the message (where to fetch a good copy). The file is never deleted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file {path} not found; "
                                f"{_staging_hint(url, path, 'sha256', sha256)}")
    _check_digest(path, "sha256", sha256, url=url, dest=path)
    return path


def verify_md5(path: str | os.PathLike, md5: str, *, url: str | None = None) -> Path:
    """Check that the file at ``path`` has MD5 ``md5`` and return the path.

    Use MD5 only for sources that publish nothing stronger. Errors are as in ``verify_sha256``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file {path} not found; {_staging_hint(url, path, 'md5', md5)}")
    _check_digest(path, "md5", md5, url=url, dest=path)
    return path


def verify_checksums(path: str | os.PathLike, *, sha256: str | None = None,
                     md5: str | None = None, url: str | None = None) -> Path:
    """Check every checksum given (SHA-256 first, then MD5) and return the path.

    With neither checksum given the file is only checked for existence and a warning is
    logged with its SHA-256, so that the value can be pinned in the config.
    """
    path = Path(path)
    if sha256 is not None:
        verify_sha256(path, sha256, url=url)
    if md5 is not None:
        verify_md5(path, md5, url=url)
    if sha256 is None and md5 is None:
        if not path.is_file():
            raise FileNotFoundError(f"file {path} not found")
        log.warning("no checksum configured for %s; its SHA-256 is %s, set it as the sha256 "
                    "option to verify future copies", path, sha256_file(path))
    return path


def _as_url(source: str | os.PathLike) -> str:
    """Return ``source`` as a URL; plain local paths become ``file://`` URLs."""
    text = os.fspath(source)
    if urllib.parse.urlparse(text).scheme in ("http", "https", "file"):
        return text
    return Path(text).expanduser().resolve().as_uri()


def _fetch_once(url: str, part: Path, timeout_s: float) -> int:
    """Stream ``url`` into ``part``, overwriting it, and return the number of bytes written.

    Raises ``_TransientError`` for failures worth retrying and ``DownloadError`` otherwise.
    """
    is_file_url = urllib.parse.urlparse(url).scheme == "file"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code in (408, 429):
            raise _TransientError(f"HTTP {error.code} {error.reason}") from error
        raise DownloadError(f"download of {url} failed: HTTP {error.code} {error.reason}; "
                            "check the URL") from error
    except urllib.error.URLError as error:
        if is_file_url:
            raise DownloadError(f"cannot read {url}: {error.reason}") from error
        raise _TransientError(f"connection failed: {error.reason}") from error
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise _TransientError(f"{type(error).__name__}: {error}") from error

    with response:
        length_header = response.headers.get("Content-Length")
        expected_bytes = int(length_header) if length_header else None
        written = 0
        progress = tqdm(total=expected_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=part.name.removesuffix(".part"), file=sys.stderr, leave=False)
        try:
            with progress, open(part, "wb") as handle:
                for block in iter(lambda: response.read(CHUNK_BYTES), b""):
                    handle.write(block)
                    written += len(block)
                    progress.update(len(block))
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise _TransientError(f"{type(error).__name__} after {written} bytes: "
                                  f"{error}") from error
    if expected_bytes is not None and written != expected_bytes:
        raise _TransientError(f"connection closed after {written} of {expected_bytes} bytes")
    return written


def download_file(url: str | os.PathLike, dest: str | os.PathLike, sha256: str | None, *,
                  md5: str | None = None, retries: int = 3, backoff_s: float = 2.0,
                  timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, verify it, and return ``dest``.

    ``url`` may be ``http(s)://``, ``file://`` or a plain local path. The data streams to
    ``<dest>.part`` with a tqdm progress bar on stderr. Connection errors, timeouts, short reads
    and HTTP 5xx/408/429 are retried up to ``retries`` times, waiting
    ``backoff_s * 2**(attempt - 1)`` seconds before retry ``attempt``. Other HTTP errors (404)
    and unreadable local files fail at once. ``timeout_s`` bounds each socket operation.

    The file is renamed to ``dest`` only when every checksum given (``sha256``, ``md5``)
    matches. A mismatch deletes the partial file and raises ``ChecksumError``, without retrying.
    With no checksum at all, the download is accepted and a warning logs its SHA-256.

    An existing ``dest`` is verified and returned without downloading. If it does not match,
    ``ChecksumError`` is raised and the file stays in place for the user to inspect.
    """
    url = _as_url(url)
    dest = Path(dest)
    if retries < 0:
        raise ValueError(f"retries={retries} is invalid; use 0 or more")
    if dest.exists():
        log.info("%s already exists; verifying it instead of downloading %s", dest, url)
        return verify_checksums(dest, sha256=sha256, md5=md5, url=url)

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempts = retries + 1
    try:
        for attempt in range(1, attempts + 1):
            try:
                log.info("downloading %s to %s (attempt %d of %d)", url, dest, attempt, attempts)
                size_bytes = _fetch_once(url, part, timeout_s)
                break
            except _TransientError as error:
                if attempt == attempts:
                    raise DownloadError(
                        f"download of {url} failed after {attempts} attempts: {error}. "
                        f"Check the network, or stage the file by hand at {dest} (see "
                        "docs/datasets.md)") from error
                wait_s = backoff_s * 2 ** (attempt - 1)
                log.warning("download of %s failed (attempt %d of %d): %s; retrying in %.1f s",
                            url, attempt, attempts, error, wait_s)
                time.sleep(wait_s)
        if sha256 is not None:
            _check_digest(part, "sha256", sha256, url=url, dest=dest, downloaded=True)
        if md5 is not None:
            _check_digest(part, "md5", md5, url=url, dest=dest, downloaded=True)
        if sha256 is None and md5 is None:
            log.warning("no checksum configured for %s; the download has SHA-256 %s, set it "
                        "as the sha256 option to verify future downloads", url,
                        sha256_file(part))
        os.replace(part, dest)
    finally:
        if part.exists():
            part.unlink()
    log.info("downloaded %s to %s (%d bytes)", url, dest, size_bytes)
    return dest

