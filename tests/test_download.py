"""Tests for noisedim.data.download against an HTTP server on 127.0.0.1 that each test starts."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from noisedim.data.download import (ChecksumError, DownloadError, download_file, sha256_file,
                                    verify_checksums, verify_md5, verify_sha256)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, several read chunks
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class ScriptedHandler(http.server.BaseHTTPRequestHandler):
    """Serve ``PAYLOAD`` at /file, failing the first requests as listed in ``server.script``.

    Each script entry is used for one request: ``503``, ``404``, ``"truncate"`` (announce the
    full length, send half, close) or ``"slow"`` (sleep past the client timeout).
    """

    def do_GET(self) -> None:
        self.server.requests += 1
        action = self.server.script.pop(0) if self.server.script else "ok"
        if self.path != "/file" or action == 404:
            self.send_error(404)
            return
        if action == 503:
            self.send_error(503)
            return
        if action == "slow":
            time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        body = PAYLOAD[: len(PAYLOAD) // 2] if action == "truncate" else PAYLOAD
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if action == "truncate":
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # keep test output clean
        pass


@contextlib.contextmanager
def scripted_server(script: list):
    """Run a ``ScriptedHandler`` server on 127.0.0.1; yield it with ``.url`` set."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    server.script = list(script)
    server.requests = 0
    server.url = f"http://127.0.0.1:{server.server_address[1]}/file"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_http_verifies_and_renames(tmp_path: Path):
    dest = tmp_path / "sub" / "file.bin"
    with scripted_server([]) as server:
        result = download_file(server.url, dest, PAYLOAD_SHA256, md5=PAYLOAD_MD5)
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("file.bin.part").exists()


def test_download_retries_5xx_with_log(tmp_path: Path, caplog):
    dest = tmp_path / "file.bin"
    with caplog.at_level(logging.WARNING, logger="noisedim.data.download"):
        with scripted_server([503, 503]) as server:
            download_file(server.url, dest, PAYLOAD_SHA256, retries=3, backoff_s=0.01)
    assert server.requests == 3
    assert dest.read_bytes() == PAYLOAD
    retry_lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_lines) == 2
    assert "attempt 1 of 4" in retry_lines[0]
    assert "HTTP 503" in retry_lines[0]


def test_download_retries_truncated_transfer(tmp_path: Path):
    dest = tmp_path / "file.bin"
    with scripted_server(["truncate"]) as server:
        download_file(server.url, dest, PAYLOAD_SHA256, backoff_s=0.01)
    assert server.requests == 2
    assert dest.read_bytes() == PAYLOAD


def test_download_retries_timeout(tmp_path: Path):
    dest = tmp_path / "file.bin"
    with scripted_server(["slow"]) as server:
        download_file(server.url, dest, PAYLOAD_SHA256, backoff_s=0.01, timeout_s=0.3)
    assert server.requests == 2
    assert dest.read_bytes() == PAYLOAD


def test_download_404_not_retried(tmp_path: Path):
    dest = tmp_path / "file.bin"
    with scripted_server([404]) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download_file(server.url, dest, PAYLOAD_SHA256, backoff_s=0.01)
    assert server.requests == 1
    assert list(tmp_path.iterdir()) == []


def test_download_gives_up_after_retries(tmp_path: Path):
    dest = tmp_path / "file.bin"
    with scripted_server([503] * 10) as server:
        with pytest.raises(DownloadError, match="after 3 attempts") as info:
            download_file(server.url, dest, PAYLOAD_SHA256, retries=2, backoff_s=0.01)
    assert server.requests == 3
    assert str(dest) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_connection_refused_retried(tmp_path: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on ``port`` once the probe socket is closed.
    with pytest.raises(DownloadError, match="after 2 attempts"):
        download_file(f"http://127.0.0.1:{port}/file", tmp_path / "file.bin", PAYLOAD_SHA256,
                      retries=1, backoff_s=0.01)
    assert list(tmp_path.iterdir()) == []


def test_download_checksum_mismatch_deletes_part(tmp_path: Path):
    dest = tmp_path / "file.bin"
    wrong = "0" * 64
    with scripted_server([]) as server:
        with pytest.raises(ChecksumError) as info:
            download_file(server.url, dest, wrong, backoff_s=0.01)
    message = str(info.value)
    assert server.url in message
    assert wrong in message
    assert PAYLOAD_SHA256 in message
    assert "stage the file by hand" in message
    assert server.requests == 1
    assert list(tmp_path.iterdir()) == []


def test_download_md5_mismatch_rejected(tmp_path: Path):
    with scripted_server([]) as server:
        with pytest.raises(ChecksumError, match="MD5 mismatch"):
            download_file(server.url, tmp_path / "file.bin", PAYLOAD_SHA256, md5="f" * 32)
    assert list(tmp_path.iterdir()) == []


def test_download_file_url_and_plain_path(tmp_path: Path):
    source = tmp_path / "source.bin"
    source.write_bytes(PAYLOAD)
    by_url = download_file(source.as_uri(), tmp_path / "a.bin", PAYLOAD_SHA256)
    by_path = download_file(str(source), tmp_path / "b.bin", PAYLOAD_SHA256)
    assert by_url.read_bytes() == PAYLOAD
    assert by_path.read_bytes() == PAYLOAD


def test_download_missing_local_file_fails_fast(tmp_path: Path):
    started = time.monotonic()
    with pytest.raises(DownloadError, match="cannot read"):
        download_file(tmp_path / "absent.bin", tmp_path / "dest.bin", PAYLOAD_SHA256,
                      backoff_s=5.0)
    assert time.monotonic() - started < 2.0


def test_download_existing_dest_verified_not_fetched(tmp_path: Path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    with scripted_server([]) as server:
        download_file(server.url, dest, PAYLOAD_SHA256)
    assert server.requests == 0

    dest.write_bytes(PAYLOAD[:-1])
    with pytest.raises(ChecksumError):
        download_file("http://127.0.0.1:9/never-contacted", dest, PAYLOAD_SHA256)
    assert dest.exists()


def test_download_without_checksum_logs_hash(tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="noisedim.data.download"):
        with scripted_server([]) as server:
            download_file(server.url, tmp_path / "file.bin", None)
    assert PAYLOAD_SHA256 in caplog.text


def test_verify_sha256_prestaged(tmp_path: Path):
    staged = tmp_path / "staged.bin"
    staged.write_bytes(PAYLOAD)
    assert verify_sha256(staged, PAYLOAD_SHA256.upper()) == staged
    assert verify_md5(staged, PAYLOAD_MD5) == staged
    assert sha256_file(staged) == PAYLOAD_SHA256

    staged.write_bytes(PAYLOAD + b"x")
    with pytest.raises(ChecksumError) as info:
        verify_sha256(staged, PAYLOAD_SHA256, url="https://example.invalid/file")
    assert PAYLOAD_SHA256 in str(info.value)
    assert "https://example.invalid/file" in str(info.value)
    assert staged.exists()


def test_verify_missing_file_names_path(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="absent.bin"):
        verify_sha256(tmp_path / "absent.bin", PAYLOAD_SHA256)
    with pytest.raises(FileNotFoundError, match="absent.bin"):
        verify_checksums(tmp_path / "absent.bin")


def test_download_negative_retries_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="retries=-1"):
        download_file("http://127.0.0.1:9/x", tmp_path / "x", None, retries=-1)
