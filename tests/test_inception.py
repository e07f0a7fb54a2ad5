"""Tests for noisedim.inception with a stand-in weights file of the real layout.

The stand-in is torch-fidelity's own ``FeatureExtractorInceptionV3`` with random weights, so it
has the real keys and shapes but not the real values: these tests check how the file is found,
verified and loaded, never a score.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest
import torch
import torch_fidelity.utils
from torch_fidelity.feature_extractor_inceptionv3 import (URL_INCEPTION_V3,
                                                          FeatureExtractorInceptionV3)

from noisedim.data.download import ChecksumError
from noisedim.inception import (CONFIG_KEY, INCEPTION_EXTRACTOR, INCEPTION_WEIGHTS_FILE,
                                INCEPTION_WEIGHTS_HASH_PREFIX, INCEPTION_WEIGHTS_SHA256,
                                TORCH_FIDELITY_INCEPTION_URL, InceptionWeightsError,
                                hub_weights_path, inception_extractor_kwargs,
                                resolve_inception_weights)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> tuple[Path, str, dict]:
    """Write random Inception weights with torch-fidelity's keys; return path, SHA-256, state."""
    directory = tmp_path_factory.mktemp("weights")
    empty = directory / "empty.pth"
    torch.save({}, empty)
    # The constructor builds every layer before it loads the file. Loading an empty state dict
    # therefore fails only after the layers exist, leaving a complete model with random weights.
    model = FeatureExtractorInceptionV3.__new__(FeatureExtractorInceptionV3)
    with pytest.raises(RuntimeError, match="Missing key"):
        FeatureExtractorInceptionV3.__init__(model, INCEPTION_EXTRACTOR, ["2048"],
                                             feature_extractor_weights_path=str(empty))
    state = model.state_dict()
    path = directory / INCEPTION_WEIGHTS_FILE
    torch.save(state, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), state


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


def assert_same_weights(model: torch.nn.Module, state: dict) -> None:
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.bias"):
        assert torch.equal(loaded[key], state[key].to(loaded[key].dtype))


def test_constants_match_torch_fidelity():
    assert TORCH_FIDELITY_INCEPTION_URL == URL_INCEPTION_V3
    assert TORCH_FIDELITY_INCEPTION_URL.rsplit("/", 1)[1] == INCEPTION_WEIGHTS_FILE
    assert INCEPTION_WEIGHTS_SHA256.startswith(INCEPTION_WEIGHTS_HASH_PREFIX)
    assert f"-{INCEPTION_WEIGHTS_HASH_PREFIX}." in INCEPTION_WEIGHTS_FILE


def test_local_path_is_verified(stand_in):
    path, sha256, _ = stand_in
    assert resolve_inception_weights(path, sha256=sha256, allow_download=False) == path
    with pytest.raises(ChecksumError, match=INCEPTION_WEIGHTS_SHA256):
        resolve_inception_weights(path, allow_download=False)
    with pytest.raises(ChecksumError, match=f"prefix {INCEPTION_WEIGHTS_HASH_PREFIX}"):
        resolve_inception_weights(path, sha256=None, allow_download=False)


def test_missing_local_path_names_both_paths(tmp_path: Path):
    missing = tmp_path / "weights.pth"
    with pytest.raises(InceptionWeightsError) as info:
        resolve_inception_weights(missing, hub_dir=tmp_path / "hub")
    message = str(info.value)
    assert str(missing) in message
    assert str(tmp_path / "hub" / "checkpoints" / INCEPTION_WEIGHTS_FILE) in message
    assert TORCH_FIDELITY_INCEPTION_URL in message
    assert CONFIG_KEY in message


def test_hub_cache_is_used(stand_in, tmp_path: Path):
    path, sha256, _ = stand_in
    cached = tmp_path / "hub" / "checkpoints" / INCEPTION_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    shutil.copyfile(path, cached)
    resolved = resolve_inception_weights(hub_dir=tmp_path / "hub", sha256=sha256,
                                         allow_download=False)
    assert resolved == cached


def test_no_source_error_names_paths(tmp_path: Path):
    with pytest.raises(InceptionWeightsError) as info:
        resolve_inception_weights(hub_dir=tmp_path / "hub", allow_download=False)
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / INCEPTION_WEIGHTS_FILE) in message
    assert TORCH_FIDELITY_INCEPTION_URL in message
    assert CONFIG_KEY in message
    assert INCEPTION_WEIGHTS_SHA256 in message


def test_download_into_hub_cache(stand_in, tmp_path: Path):
    path, sha256, _ = stand_in
    with serve_directory(path.parent) as base_url:
        resolved = resolve_inception_weights(hub_dir=tmp_path / "hub", sha256=sha256,
                                             url=f"{base_url}/{INCEPTION_WEIGHTS_FILE}")
    assert resolved == hub_weights_path(tmp_path / "hub")
    assert resolved.read_bytes() == path.read_bytes()


def test_failed_download_names_both_paths(tmp_path: Path):
    served = tmp_path / "served"
    served.mkdir()
    with serve_directory(served) as base_url:
        url = f"{base_url}/{INCEPTION_WEIGHTS_FILE}"
        with pytest.raises(InceptionWeightsError) as info:
            resolve_inception_weights(hub_dir=tmp_path / "hub", url=url)
    message = str(info.value)
    assert "HTTP 404" in message
    assert url in message
    assert CONFIG_KEY in message
    assert not hub_weights_path(tmp_path / "hub").exists()


def test_prefix_only_download_rejects_wrong_file(stand_in, tmp_path: Path):
    path, _, _ = stand_in
    with serve_directory(path.parent) as base_url:
        with pytest.raises(ChecksumError, match=INCEPTION_WEIGHTS_HASH_PREFIX):
            resolve_inception_weights(hub_dir=tmp_path / "hub", sha256=None,
                                      url=f"{base_url}/{INCEPTION_WEIGHTS_FILE}")
    assert list((tmp_path / "hub" / "checkpoints").iterdir()) == []


def test_extractor_loads_weights_from_kwargs(stand_in):
    path, sha256, state = stand_in
    kwargs = inception_extractor_kwargs(resolve_inception_weights(path, sha256=sha256))
    assert kwargs == {"feature_extractor": "inception-v3-compat",
                      "feature_extractor_weights_path": str(path)}
    assert torch_fidelity.utils.resolve_feature_extractor(**kwargs) == INCEPTION_EXTRACTOR
    assert torch_fidelity.utils.resolve_feature_layer_for_metric("fid", **kwargs) == "2048"
    assert torch_fidelity.utils.resolve_feature_layer_for_metric("kid", **kwargs) == "2048"

    extractor = torch_fidelity.utils.create_feature_extractor(
        INCEPTION_EXTRACTOR, ["2048"], cuda=False, verbose=False, **kwargs)
    assert_same_weights(extractor, state)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (features,) = extractor(images)
    assert features.shape == (2, 2048)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()


def test_torch_fidelity_reads_resolved_hub_path(stand_in, tmp_path: Path, monkeypatch):
    path, sha256, state = stand_in
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    cached = hub_weights_path()
    assert cached == tmp_path / "torch-home" / "hub" / "checkpoints" / INCEPTION_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    shutil.copyfile(path, cached)
    assert resolve_inception_weights(sha256=sha256, allow_download=False) == cached
    # The file exists, so torch-fidelity's own loader reads it and starts no download.
    assert cached.is_file()
    extractor = FeatureExtractorInceptionV3(INCEPTION_EXTRACTOR, ["2048"])
    assert_same_weights(extractor, state)
