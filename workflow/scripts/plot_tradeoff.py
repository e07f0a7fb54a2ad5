"""Snakemake script: draw a source and its divergence-entropy trade-off curve.

Expected by the rule:
    input.curve:   CSV written by solve_tradeoff.py (output.curve).
    input.source:  CSV of the source written by solve_tradeoff.py (output.source).
    params.title:  figure title.
    output:        one or more figure paths, each ending in .png or .pdf; every one is written.
    log[0]:        log file.
"""

from noisedim.logs import run_logged
from noisedim.plots_tradeoff import plot_tradeoff
from noisedim.sources import from_csv
from noisedim.tradeoff import read_curve_csv


def main(snakemake):
    p = from_csv(snakemake.input.source)
    curve = read_curve_csv(snakemake.input.curve)
    for path in snakemake.output:
        plot_tradeoff(p, curve, path, str(snakemake.params.title))


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821 (injected by Snakemake)
