"""Locate the Inception-v3 weights that torch-fidelity's FID/KID extractor needs, offline first.

torch-fidelity 0.4.0 registers ``inception-v3-compat`` (``FeatureExtractorInceptionV3``). Given
no ``feature_extractor_weights_path`` it calls ``torch.hub.load_state_dict_from_url`` on
``TORCH_FIDELITY_INCEPTION_URL`` without hash checking, which loads
``<torch.hub.get_dir()>/checkpoints/weights-inception-2015-12-05-6726825d.pth`` when present and
downloads it otherwise, which fails on machines without internet access.
``resolve_inception_weights`` finds and verifies the file, so callers can pass its path
explicitly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from noisedim.data.download import (ChecksumError, DownloadError, download_file, sha256_file,
                                    verify_sha256)

log = logging.getLogger(__name__)

# URL_INCEPTION_V3 in torch_fidelity/feature_extractor_inceptionv3.py (torch-fidelity 0.4.0).
TORCH_FIDELITY_INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/"
                                "v0.2.0/weights-inception-2015-12-05-6726825d.pth")
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
# torch-fidelity publishes no full hash. Several public projects pin this SHA-256 for the file
# (95,628,359 bytes). Its first 8 hex digits equal the ``6726825d`` in the file name, which is
# where torch hub's check_hash convention puts the SHA-256 prefix.
INCEPTION_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_WEIGHTS_HASH_PREFIX = "6726825d"
INCEPTION_EXTRACTOR = "inception-v3-compat"
CONFIG_KEY = "evaluation.inception_weights"


class InceptionWeightsError(FileNotFoundError):
    """The Inception weights file is missing and cannot be downloaded."""


def hub_weights_path(hub_dir: str | os.PathLike | None = None) -> Path:
    """Return where torch hub (and so torch-fidelity) caches the weights file.

    ``hub_dir`` defaults to ``torch.hub.get_dir()``, which is ``$TORCH_HOME/hub`` unless
    ``torch.hub.set_dir`` was called.
    """
    hub_dir = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    return hub_dir / "checkpoints" / INCEPTION_WEIGHTS_FILE


def _verify(path: Path, sha256: str | None, url: str) -> Path:
    """Check ``path`` against ``sha256``, or against the file-name hash prefix when it is None."""
    if sha256 is not None:
        return verify_sha256(path, sha256, url=url)
    actual = sha256_file(path)
    if not actual.startswith(INCEPTION_WEIGHTS_HASH_PREFIX):
        raise ChecksumError(
            f"SHA-256 of {path} is {actual}, which does not start with the prefix "
            f"{INCEPTION_WEIGHTS_HASH_PREFIX} encoded in {INCEPTION_WEIGHTS_FILE}; the file is "
            f"corrupt or a different model. Fetch {url} again")
    log.info("checked only the SHA-256 prefix %s of %s", INCEPTION_WEIGHTS_HASH_PREFIX, path)
    return path


def _missing_message(local_path: Path | None, hub_path: Path, url: str, reason: str) -> str:
    configured = f"the configured file {local_path} does not exist. " if local_path else ""
    return (f"Inception weights not found: {configured}{reason}. Download {url} on a machine "
            f"with internet access and either copy it to {hub_path} (the torch hub cache that "
            f"torch-fidelity reads) or put it anywhere and set {CONFIG_KEY} to its path. "
            f"Its SHA-256 is {INCEPTION_WEIGHTS_SHA256}.")


def resolve_inception_weights(local_path: str | os.PathLike | None = None, *,
                              hub_dir: str | os.PathLike | None = None,
                              url: str = TORCH_FIDELITY_INCEPTION_URL,
                              sha256: str | None = INCEPTION_WEIGHTS_SHA256,
                              allow_download: bool = True) -> Path:
    """Return a verified path to the Inception weights for torch-fidelity's FID/KID.

    Tried in order:
    1. ``local_path`` (the ``evaluation.inception_weights`` config key), which must exist;
    2. the torch hub cache, ``<hub_dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth``;
    3. a download from ``url`` into that cache, when ``allow_download``.

    Every file found is checked against ``sha256``; with ``sha256=None`` only the 8-digit
    prefix in the file name is checked. A mismatch raises ``ChecksumError`` and never falls
    through to the next source. Raises ``InceptionWeightsError`` when no source works; the
    message gives both paths and the URL.
    """
    hub_path = hub_weights_path(hub_dir)
    if local_path is not None:
        local_path = Path(local_path)
        if not local_path.is_file():
            raise InceptionWeightsError(_missing_message(
                local_path, hub_path, url, f"fix or unset {CONFIG_KEY}"))
        return _verify(local_path, sha256, url)

    if hub_path.is_file():
        log.info("using Inception weights from the torch hub cache %s", hub_path)
        return _verify(hub_path, sha256, url)

    if not allow_download:
        raise InceptionWeightsError(_missing_message(
            None, hub_path, url, "downloading is disabled"))
    # Without a full hash, download beside the cache file and check the prefix before the
    # rename, so that torch-fidelity never finds an unchecked file in its cache.
    target = hub_path if sha256 is not None else hub_path.with_name(hub_path.name + ".unverified")
    try:
        download_file(url, target, sha256)
    except DownloadError as error:
        raise InceptionWeightsError(_missing_message(
            None, hub_path, url, f"the download failed ({error})")) from error
    if sha256 is None:
        try:
            _verify(target, None, url)
        except ChecksumError:
            target.unlink()
            raise
        os.replace(target, hub_path)
    return hub_path


def inception_extractor_kwargs(weights_path: str | os.PathLike) -> dict[str, str]:
    """Return the torch-fidelity ``calculate_metrics`` kwargs that select these weights.

    The extractor's 2048-dimensional pool3 features (torch-fidelity's default layer for FID and
    KID) then come from ``weights_path``, and nothing is downloaded.
    """
    return {"feature_extractor": INCEPTION_EXTRACTOR,
            "feature_extractor_weights_path": os.fspath(weights_path)}
