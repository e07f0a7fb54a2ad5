"""Tabulate and plot the known-entropy cells against the bounds (rule known_entropy_report)."""

from noisedim.known_entropy import known_entropy_table, read_lattice_csv, read_measurement
from noisedim.logs import run_logged
from noisedim.plots_known_entropy import plot_known_entropy
from noisedim.tradeoff import read_curve_csv


def main(snakemake):
    measurements = [read_measurement(path) for path in snakemake.input.measurements]
    curve = read_curve_csv(snakemake.input.curve)
    lattice = read_lattice_csv(snakemake.input.lattice)
    divergences = snakemake.params.divergences
    table = known_entropy_table(measurements, curve, lattice, divergences)
    table.to_csv(snakemake.output.table, index=False)
    plot_known_entropy(table, curve, lattice, measurements[0]["source_entropy_bits"],
                       divergences, snakemake.output.figure)


run_logged(snakemake.log[0], main, snakemake)
