"""Snakemake script: solve the divergence-entropy trade-off d(eps) of one known source.

Expected by the rule:
    params.source:       mapping for noisedim.sources.make_source, such as
                         {"kind": "zipf", "K": 16, "s": 1.1}. For kind "csv", also list the
                         file under input so that Snakemake tracks it.
    params.divergence:   name in the DIVERGENCES registry (kl, reverse_kl, tv, js).
    params.num_points:   number of entropy limits, evenly spaced from 0 to max_fraction * H(p).
    params.max_fraction: optional, default 1.0.
    params.starts:       optional list of start names (default: all of START_BUILDERS).
    params.seed:         optional, default 0.
    output.curve:        CSV with one row per entropy limit (noisedim.tradeoff.CURVE_COLUMNS).
    output.source:       CSV of the source, one column "probability".
    log[0]:              log file.
"""

from noisedim.logs import run_logged
from noisedim.sources import make_source, write_source_csv
from noisedim.tradeoff import (DEFAULT_STARTS, divergence_entropy_curve, eps_grid_bits,
                               write_curve_csv)


def main(snakemake):
    params = snakemake.params
    p = make_source(dict(params.source))
    eps_bits = eps_grid_bits(p, int(params.num_points), float(params.get("max_fraction", 1.0)))
    curve = divergence_entropy_curve(p, eps_bits, params.divergence,
                                     starts=tuple(params.get("starts", DEFAULT_STARTS)),
                                     seed=int(params.get("seed", 0)))
    write_source_csv(p, snakemake.output.source)
    write_curve_csv(curve, snakemake.output.curve)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821 (injected by Snakemake)
