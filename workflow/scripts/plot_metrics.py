"""Plot FID/KID against z_dim and the sample grids across z_dims (rule plot_metrics)."""

import pandas as pd

from noisedim.logs import run_logged
from noisedim.plots import plot_sample_grids, plot_scores_vs_zdim


def main(snakemake):
    table = pd.read_csv(snakemake.input.table)
    plot_scores_vs_zdim(table, snakemake.output.scores)
    plot_sample_grids(snakemake.params.cells, list(snakemake.input.samples),
                      snakemake.output.samples)


run_logged(snakemake.log[0], main, snakemake)
