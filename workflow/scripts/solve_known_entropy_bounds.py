"""Solve d(eps) and the lattice bound of the templates source (rule solve_known_entropy_bounds)."""

from noisedim.data.templates import read_template_source
from noisedim.known_entropy import known_entropy_bounds
from noisedim.logs import run_logged
from noisedim.tradeoff import write_curve_csv


def main(snakemake):
    source = read_template_source(snakemake.input.dataset)
    curve, lattice = known_entropy_bounds(source.probabilities, snakemake.params.noise_bits,
                                          snakemake.params.divergences,
                                          snakemake.params.curve_points, snakemake.params.seed)
    write_curve_csv(curve, snakemake.output.curve)
    lattice.to_csv(snakemake.output.lattice, index=False)


run_logged(snakemake.log[0], main, snakemake)
