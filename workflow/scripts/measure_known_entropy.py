"""Measure one trained known-entropy cell against its source (rule measure_known_entropy)."""

import torch

from noisedim.known_entropy import MeasureSettings, measure_cell, write_measurement
from noisedim.logs import run_logged


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    settings = MeasureSettings(**snakemake.params.settings)
    result = measure_cell(snakemake.input.network, snakemake.input.dataset, settings)
    write_measurement(result, snakemake.output.measurement)


run_logged(snakemake.log[0], main, snakemake)
