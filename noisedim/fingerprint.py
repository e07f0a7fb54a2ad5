"""Fingerprints of package source code, for workflow params.

Snakemake's code trigger covers only a rule's own script, not the package code it imports. Each
stage's params therefore carry a hash of the package files that stage depends on, so editing
those files changes the params and reruns that stage and everything downstream of it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def code_fingerprint(*relative_paths: str) -> str:
    """Return a short SHA-256 of the named files (paths relative to the ``noisedim`` package).

    A path that names a directory includes every ``.py`` file below it.
    """
    digest = hashlib.sha256()
    for relative in sorted(relative_paths):
        path = PACKAGE_DIR / relative
        if path.is_dir():
            files = sorted(path.rglob("*.py"))
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"cannot fingerprint {path}: no such file or directory "
                                    "in the noisedim package")
        for file in files:
            digest.update(str(file.relative_to(PACKAGE_DIR)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def object_fingerprint(obj: object, *relative_paths: str) -> str:
    """Return ``code_fingerprint`` of the module that defines ``obj`` plus ``relative_paths``."""
    module = sys.modules[obj.__module__]
    module_path = Path(module.__file__).resolve().relative_to(PACKAGE_DIR)
    return code_fingerprint(str(module_path), *relative_paths)
