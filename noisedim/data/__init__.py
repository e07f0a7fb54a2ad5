"""Datasets in the project's on-disk format (see ``noisedim.data.format``)."""

from __future__ import annotations

from typing import Any, Callable

# Image side in pixels that each dataset builder writes, as a function of its options, so the
# config can be checked against the models' resolutions before any job runs.
BUILDER_RESOLUTIONS: dict[str, Callable[[dict[str, Any]], int]] = {
    "digits": lambda options: 8,
    "cifar10": lambda options: 32,
    "lsun_church": lambda options: int(options.get("resolution", 64)),
    "templates": lambda options: int(options.get("resolution", 8)),
}


def builder_resolution(builder: str, options: dict[str, Any]) -> int | None:
    """Return the resolution ``builder`` writes with ``options``, or None when undeclared."""
    declared = BUILDER_RESOLUTIONS.get(builder)
    return None if declared is None else declared(options)
