"""Plot FID/KID against z_dim and the sample grids across z_dims (rule plot_metrics)."""

import pandas as pd

from noisedim.logs import run_logged
from noisedim.plots import plot_sample_grids, plot_scores_vs_zdim, select_bounds


def main(snakemake):
    table = pd.read_csv(snakemake.input.table)
    bounds = select_bounds(table, pd.read_csv(snakemake.input.min_noise_dim))
    plot_scores_vs_zdim(table, snakemake.output.scores, bounds)
    plot_sample_grids(snakemake.params.cells, list(snakemake.input.samples),
                      snakemake.output.samples)


run_logged(snakemake.log[0], main, snakemake)
