"""Figure of a source and its divergence-entropy trade-off curve d(eps).

The layout follows Figure 1 of Zhu et al., "Noise Dimension of GAN: An Image Compression
Perspective" (ICME 2024): panel (a) shows the source distribution, panel (b) the curve. The
figure is drawn on a ``matplotlib.figure.Figure`` with the Agg canvas, so importing this module
does not change the pyplot backend.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from noisedim.divergences import BITS
from noisedim.sources import entropy_bits_unchecked, validate_distribution
from noisedim.tradeoff import FAILED
from noisedim.tradeoff_reference import EXACT_CURVES

logger = logging.getLogger(__name__)

FIGURE_FORMATS = (".png", ".pdf")

# Entropy limits at which the exact reference curve is drawn.
REFERENCE_POINTS = 200


def plot_tradeoff(p: Any, curve: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Draw the source ``p`` and its trade-off ``curve`` and save the figure to ``path``.

    Args:
        p: the source distribution, as passed to ``divergence_entropy_curve``.
        curve: the table returned by ``divergence_entropy_curve`` (or read back with
            ``read_curve_csv``) for one divergence.
        path: output file; its suffix (.png or .pdf) selects the format.
        title: figure title.

    Panel (b) draws solved and exact points as a line, failed points as red crosses on the
    bottom axis, infinite values (KL at eps = 0) as triangles on the top axis, a vertical line
    at H(p), and, where ``EXACT_CURVES`` has one (reverse_kl, tv), the exact curve dashed.
    Returns ``path``.
    """
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise ValueError(f"cannot save a figure as {str(path)!r}: use a file name ending in "
                         f"{' or '.join(FIGURE_FORMATS)}")
    p = validate_distribution(p)
    divergence, unit = _curve_divergence(curve)

    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    source_axes, curve_axes = figure.subplots(1, 2, width_ratios=[1, 1.4])
    _draw_source(source_axes, p)
    _draw_curve(curve_axes, p, curve, divergence, unit)
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    logger.info("wrote the %s trade-off figure to %s", divergence, path)
    return path


def _curve_divergence(curve: pd.DataFrame) -> tuple[str, str]:
    divergences = curve["divergence"].unique()
    units = curve["divergence_unit"].unique()
    if len(divergences) != 1 or len(units) != 1:
        raise ValueError(f"the curve mixes divergences {list(divergences)}; plot one "
                         "divergence per figure")
    return str(divergences[0]), str(units[0])


def _draw_source(axes, p: np.ndarray) -> None:
    axes.bar(np.arange(p.size), p, width=0.8, color="tab:blue")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("outcome")
    axes.set_ylabel("probability")
    axes.set_title(f"(a) source, K = {p.size}")


def _draw_curve(axes, p: np.ndarray, curve: pd.DataFrame, divergence: str, unit: str) -> None:
    curve = curve.sort_values("eps_bits")
    values = curve["divergence_bits"].to_numpy(dtype=float)
    failed = (curve["status"] == FAILED).to_numpy()
    infinite = np.isinf(values) & ~failed
    finite = np.isfinite(values) & ~failed
    eps = curve["eps_bits"].to_numpy(dtype=float)

    axes.plot(eps[finite], values[finite], "o-", color="tab:blue", markersize=3,
              label="DCCP, best of starts")

    exact = EXACT_CURVES.get(divergence)
    if exact is not None:
        grid = np.linspace(0.0, max(eps.max(), entropy_bits_unchecked(p)), REFERENCE_POINTS)
        reference = exact(p, grid)
        axes.plot(reference["eps_bits"], reference["divergence_bits"], "--", color="black",
                  linewidth=1, label="exact")

    # Markers for points without a finite value sit on the axis edges, so they never set the
    # y-range: x in data coordinates, y in axes coordinates.
    edge = blended_transform_factory(axes.transData, axes.transAxes)
    if failed.any():
        axes.plot(eps[failed], np.zeros(failed.sum()), "x", color="red", markersize=9,
                  markeredgewidth=2, transform=edge, clip_on=False,
                  label=f"failed ({failed.sum()} points)")
    if infinite.any():
        axes.plot(eps[infinite], np.ones(infinite.sum()), "^", color="tab:purple",
                  transform=edge, clip_on=False, label="d = ∞")

    total_bits = entropy_bits_unchecked(p)
    axes.axvline(total_bits, color="gray", linestyle=":",
                 label=f"H(p) = {total_bits:.3f} bits")
    if finite.any():
        axes.set_ylim(bottom=0.0, top=_upper_limit(values[finite]))
    axes.set_xlim(left=0.0)
    axes.set_xlabel("entropy limit ε (bits)")
    unit_label = "bits" if unit == BITS else unit
    axes.set_ylabel(f"d(ε), {divergence} ({unit_label})")
    axes.set_title(f"(b) divergence-entropy trade-off, {divergence}")
    axes.legend(loc="upper right", fontsize="small")


def _upper_limit(values: np.ndarray) -> float:
    top = float(values.max())
    return 1.0 if top <= 0 or not math.isfinite(top) else 1.05 * top
