"""Figures of the grid: scores against the noise dimension, and sample grids across z_dims."""

from __future__ import annotations

import os
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def _series_label(dataset: str, model: str, capacity: float) -> str:
    return f"{dataset} / {model} / capacity {capacity:g}"


def noise_format_label(row: pd.Series) -> str:
    """Return the ``noise_format`` label of the n_min table for a metrics table row."""
    if pd.isna(row["noise_bits"]):
        return f"{row['noise_dtype']} normal"
    return f"{int(row['noise_bits'])}-bit {row['noise_levels']}"


def select_bounds(table: pd.DataFrame, min_noise_dim: pd.DataFrame) -> pd.DataFrame:
    """Pick, per dataset of ``table``, the smallest measured n_min for the noise it trained with.

    The smallest n_min comes from the codec with the lowest bitrate, the tightest upper bound on
    H(X). Returns columns ``dataset``, ``codec`` (with its mode) and ``n_min``.
    """
    rows = []
    for dataset, group in table.groupby("dataset"):
        for label in sorted({noise_format_label(row) for _, row in group.iterrows()}):
            candidates = min_noise_dim[(min_noise_dim["dataset"] == dataset)
                                       & (min_noise_dim["source"] == "measured")
                                       & min_noise_dim["noise_format"].str.startswith(label)]
            if candidates.empty:
                continue
            best = candidates.loc[candidates["n_min"].idxmin()]
            rows.append({"dataset": dataset, "codec": f"{best['codec']} {best['mode']}",
                         "n_min": int(best["n_min"])})
    return pd.DataFrame(rows, columns=["dataset", "codec", "n_min"])


def plot_scores_vs_zdim(table: pd.DataFrame, path: str | os.PathLike,
                        bounds: pd.DataFrame | None = None) -> None:
    """Plot FID and KID (mean and spread over seeds) against z_dim on a log2 x axis.

    ``bounds`` (optional) has columns ``dataset``, ``codec`` and ``n_min``; each row becomes a
    vertical line at the minimum noise dimension that codec's bitrate implies.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = table.groupby(["dataset", "model", "capacity"], sort=True)
    for (dataset, model, capacity), group in groups:
        by_zdim = group.groupby("z_dim")
        for ax, column in zip(axes, ("fid", "kid_mean")):
            mean, std = by_zdim[column].mean(), by_zdim[column].std().fillna(0.0)
            ax.errorbar(mean.index, mean.values, yerr=std.values, marker="o", capsize=3,
                        label=_series_label(dataset, model, capacity))
    if bounds is not None:
        styles = ["--", ":", "-."]
        for i, row in enumerate(bounds.itertuples()):
            for ax in axes:
                ax.axvline(row.n_min, color="grey", linestyle=styles[i % len(styles)],
                           label=f"n_min {row.dataset} ({row.codec}) = {row.n_min}")
    ticks = sorted(set(table["z_dim"]) | set([] if bounds is None else bounds["n_min"]))
    extractor = table["protocol_extractor"].iloc[0] if "protocol_extractor" in table else ""
    for ax, title in zip(axes, ("FID", "KID")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(z) for z in ticks])
        ax.minorticks_off()
        ax.set_xlabel("noise dimension z_dim")
        ax.set_ylabel(f"{title}, {extractor} features (lower is better)")
        ax.set_title(f"{title} against noise dimension")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sample_grids(cells: Sequence[dict[str, Any]], sample_paths: Sequence[str],
                      path: str | os.PathLike, max_columns: int = 8) -> None:
    """Show each cell's sample grid, one row per (dataset, model, capacity, seed), z_dim across."""
    rows: dict[tuple, list[tuple[int, str]]] = {}
    for cell, sample_path in zip(cells, sample_paths):
        key = (cell["dataset"], cell["model"], cell["capacity"], cell["seed"])
        rows.setdefault(key, []).append((int(cell["z_dim"]), sample_path))
    num_columns = min(max_columns, max(len(v) for v in rows.values()))
    fig, axes = plt.subplots(len(rows), num_columns, squeeze=False,
                             figsize=(2.4 * max(num_columns, 3) + 1.0, 2.6 * len(rows)))
    for ax in axes.flat:
        ax.axis("off")
    for r, (key, entries) in enumerate(sorted(rows.items())):
        for c, (z_dim, sample_path) in enumerate(sorted(entries)[:num_columns]):
            axes[r, c].imshow(mpimg.imread(sample_path), cmap="gray")
            axes[r, c].set_title(f"z_dim {z_dim}", fontsize=9)
        axes[r, 0].text(-0.08, 0.5, f"{key[0]}\n{key[1]} c{key[2]} s{key[3]}", fontsize=8,
                        transform=axes[r, 0].transAxes, ha="right", va="center")
    fig.suptitle("EMA generator samples from fixed noise,\nby noise dimension", fontsize=10)
    fig.tight_layout(rect=(0.12, 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
