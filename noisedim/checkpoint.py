"""Training checkpoints: atomic writes, and loading that falls back past corrupt files.

Checkpoints are ``ckpt-<step>.pt`` files in one directory. They are loaded with
``torch.load(weights_only=True)``, so they hold only tensors and plain Python containers.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d{9})\.pt$")


class CheckpointError(RuntimeError):
    """No usable checkpoint exists although checkpoint files do."""


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    return Path(directory) / f"ckpt-{step:09d}.pt"


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Return the checkpoint files in ``directory``, newest step first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), directory / name) for name in os.listdir(directory)
             if (m := _NAME.match(name))]
    return [path for _, path in sorted(found, reverse=True)]


def save_checkpoint(state: dict[str, Any], directory: str | os.PathLike, step: int,
                    keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint of ``step`` atomically and keep the newest ``keep``.

    The file is written under a temporary name, flushed to disk and renamed, so a crash leaves
    either the previous checkpoints or the new one, never a half-written file under a checkpoint
    name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    tmp_path = path.with_name(path.name + ".tmp")
    with open(tmp_path, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp_path, path)
    for old in list_checkpoints(directory)[max(keep, 1):]:
        old.unlink()
    return path


def load_latest_checkpoint(directory: str | os.PathLike,
                           required_keys: tuple[str, ...] = ()) -> tuple[dict[str, Any], Path] | None:
    """Load the newest readable checkpoint in ``directory``.

    Returns ``None`` when the directory contains no checkpoint. A truncated or corrupt file is
    reported by name and the previous one is tried; when every file fails, ``CheckpointError``
    is raised instead of silently starting from scratch.
    """
    candidates = list_checkpoints(directory)
    failures = []
    for path in candidates:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
                ValueError) as error:
            log.error("checkpoint %s is corrupt or truncated (%s); trying the previous one",
                      path, str(error).splitlines()[0] if str(error) else type(error).__name__)
            failures.append(path)
            continue
        missing = [key for key in required_keys if key not in state]
        if missing:
            log.error("checkpoint %s lacks %s; trying the previous one", path, missing)
            failures.append(path)
            continue
        return state, path
    if failures:
        names = ", ".join(str(path) for path in failures)
        raise CheckpointError(f"no readable checkpoint in {directory}: {names} could not be "
                              "loaded; move them away to restart this run from scratch")
    return None
