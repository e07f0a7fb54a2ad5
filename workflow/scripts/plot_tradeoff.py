"""Snakemake script: draw a source and its divergence-entropy trade-off curve.

Expected by the rule:
    input.curve:   CSV written by solve_tradeoff.py (output.curve).
    input.source:  CSV of the source written by solve_tradeoff.py (output.source).
    params.title:  figure title.
    output:        one or more figure paths, each ending in .png or .pdf; every one is written.
    log[0]:        log file.
"""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected by Snakemake)
logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")

from noisedim.plots_tradeoff import plot_tradeoff  # noqa: E402
from noisedim.sources import from_csv  # noqa: E402
from noisedim.tradeoff import read_curve_csv  # noqa: E402

p = from_csv(snakemake.input.source)  # noqa: F821
curve = read_curve_csv(snakemake.input.curve)  # noqa: F821
for path in snakemake.output:  # noqa: F821
    plot_tradeoff(p, curve, path, str(snakemake.params.title))  # noqa: F821
