"""Tidy tables built from per-cell records."""

from __future__ import annotations

import json
import os
from typing import Iterable

import pandas as pd

from noisedim.noise import NoiseSampler

CELL_COLUMNS = ["dataset", "model", "capacity", "z_dim", "seed"]


def metrics_table(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Read per-cell ``metrics.json`` files into one row per cell, sorted by the cell keys.

    Columns: the cell keys, ``fid``, ``kid_mean``, ``kid_std``, the protocol fields prefixed
    ``protocol_``, the training facts (``kimg``, ``training_s``, ``noise_dims_consumed``) and the
    noise format with its entropy (``noise_bits_per_dim``, ``noise_entropy_bits`` = z_dim times
    the entropy of one dimension).
    """
    rows = []
    for path in paths:
        with open(path) as handle:
            record = json.load(handle)
        row = {key: record["cell"][key] for key in CELL_COLUMNS}
        row.update(fid=record["fid"], kid_mean=record["kid_mean"], kid_std=record["kid_std"])
        row.update({f"protocol_{k}": v for k, v in record["protocol"].items()})
        training = dict(record["training"])
        noise = NoiseSampler(int(row["z_dim"]), **training.pop("noise"))
        row.update(training)
        levels = noise.levels if noise.bits is not None else None  # only quantised noise
        row.update(noise_dtype=noise.dtype, noise_bits=noise.bits, noise_levels=levels,
                   noise_bits_per_dim=noise.entropy_bits_per_dim,
                   noise_entropy_bits=noise.entropy_bits)
        rows.append(row)
    if not rows:
        raise ValueError("no metrics files given; the grid is empty")
    table = pd.DataFrame(rows)
    table["capacity"] = table["capacity"].astype(float)
    table["z_dim"] = table["z_dim"].astype(int)
    table["seed"] = table["seed"].astype(int)
    return table.sort_values(CELL_COLUMNS).reset_index(drop=True)
