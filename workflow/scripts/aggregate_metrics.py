"""Collect every cell's metrics into one tidy table (rule aggregate_metrics)."""

from noisedim.logs import run_logged
from noisedim.tables import metrics_table


def main(snakemake):
    metrics_table(snakemake.input.metrics).to_csv(snakemake.output.table, index=False)


run_logged(snakemake.log[0], main, snakemake)
