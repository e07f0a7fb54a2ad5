"""Shared fixtures: a digits dataset built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    from noisedim.data.digits import build_digits

    path = tmp_path_factory.mktemp("data") / "digits"
    build_digits(path)
    return path
