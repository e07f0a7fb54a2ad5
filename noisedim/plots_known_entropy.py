"""Figure of the known-entropy experiment: trained GANs against d(eps) and the lattice bound."""

from __future__ import annotations

import math
import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Infinite values are drawn at this multiple of the largest finite value on the y axis.
INFINITY_LEVEL = 1.08


def _finite_max(*series: pd.Series | np.ndarray) -> float:
    values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in series])
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 1.0


def _plot_bounds(ax, curve: pd.DataFrame, lattice: pd.DataFrame, top: float) -> None:
    """Draw the solved d(eps) (failed points left out) and the lattice bound per noise size."""
    solved = curve[np.isfinite(curve["divergence_bits"].astype(float))].sort_values("eps_bits")
    ax.plot(solved["eps_bits"], solved["divergence_bits"], color="black",
            label="d(eps), DCCP")
    finite = lattice[np.isfinite(lattice["lattice_bound_bits"])]
    ax.step(finite["noise_bits"], finite["lattice_bound_bits"], where="post", color="tab:blue",
            linestyle="--", marker="s", markersize=4,
            label="lattice bound, noise uniform over 2^eps values")
    infinite = lattice[~np.isfinite(lattice["lattice_bound_bits"])]
    if not infinite.empty:
        ax.scatter(infinite["noise_bits"], np.full(len(infinite), top), color="tab:blue",
                   marker="s", s=16, label="lattice bound infinite")


def _plot_cells(ax, rows: pd.DataFrame, top: float) -> None:
    """Draw each cell at eps = H(Z) (estimate with interval, exact value) and at H(g(Z))."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"][1:]
    for index, row in enumerate(rows.itertuples()):
        colour = colours[index % len(colours)]
        label = f"n={row.z_dim}, b={row.noise_bits_per_dim}, seed {row.seed}"
        x = row.noise_entropy_bits
        infinite = not math.isfinite(row.divergence_bits)
        estimate = top if infinite else row.divergence_bits
        if math.isfinite(row.ci_low_bits) and math.isfinite(row.ci_high_bits):
            # The plug-in estimate may lie outside its percentile interval (it is biased).
            error = [[max(estimate - row.ci_low_bits, 0.0)],
                     [max(row.ci_high_bits - estimate, 0.0)]]
            ax.errorbar(x, estimate, yerr=error, fmt="o", color=colour, capsize=3, label=label)
        else:
            ax.scatter(x, estimate, marker="^" if infinite else "o", color=colour,
                       label=label + (" (inf)" if infinite else ""))
        exact = row.exact_divergence_bits
        if exact is not None and not pd.isna(exact):
            exact = exact if math.isfinite(exact) else top
            ax.scatter(x, exact, marker="o", facecolors="none", edgecolors=colour, s=60)
            ax.plot([x, row.output_entropy_bits], [exact, exact], color=colour, linestyle=":")
            ax.scatter(row.output_entropy_bits, exact, marker="x", color=colour)
        if row.below_bound:
            ax.annotate("below bound", (x, estimate), color="red", fontsize=8,
                        textcoords="offset points", xytext=(4, 4))


def plot_known_entropy(table: pd.DataFrame, curve: pd.DataFrame, lattice: pd.DataFrame,
                       source_entropy_bits: float, divergences: Sequence[str],
                       path: str | os.PathLike) -> None:
    """Plot one panel per divergence: d(eps), the lattice bound and every trained cell.

    Each cell appears at eps = H(Z) as its sampled estimate with the bootstrap interval (filled
    marker) and its exact value (hollow circle), joined by a dotted line to the exact value at
    eps = H(g(Z)) (cross). Infinite values sit on a line at the top of the panel.
    """
    columns = min(2, len(divergences))
    rows_of_panels = math.ceil(len(divergences) / columns)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(6.4 * columns, 4.8 * rows_of_panels),
                             squeeze=False)
    for ax in axes.ravel()[len(divergences):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), divergences):
        rows = table[table["divergence"] == name]
        name_curve = curve[curve["divergence"] == name]
        name_lattice = lattice[lattice["divergence"] == name]
        top = INFINITY_LEVEL * _finite_max(
            name_curve["divergence_bits"], name_lattice["lattice_bound_bits"],
            rows["divergence_bits"], rows["ci_high_bits"],
            rows["exact_divergence_bits"].astype(float))
        _plot_bounds(ax, name_curve, name_lattice, top)
        _plot_cells(ax, rows, top)
        ax.axhline(top, color="grey", linewidth=0.5)
        ax.text(0.0, top, "inf", va="bottom", fontsize=8, color="grey")
        ax.axvline(source_entropy_bits, color="grey", linestyle="-.",
                   label=f"H(X) = {source_entropy_bits:.3f} bits")
        unit = rows["divergence_unit"].iloc[0] if not rows.empty else "bits"
        ax.set_ylim(0, top * 1.06)
        ax.set_xlabel("entropy (bits): H(Z) at the dots, H(g(Z)) at the crosses")
        ax.set_ylabel(f"{name} ({unit})")
        ax.set_title(f"{name}: trained GANs against d(eps)")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    if not table.empty:
        fig.suptitle(f"Images farther than {table['radius'].iloc[0]:.1f} (L2, uint8 units) from "
                     "every template count as 'other'", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
