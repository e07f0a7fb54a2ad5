"""Build one dataset with its registered builder (rule build_dataset)."""

from noisedim.logs import run_logged
from noisedim.registry import DATASETS


def main(snakemake):
    builder = DATASETS.get(snakemake.params.builder)
    builder(snakemake.output[0], **snakemake.params.options)


run_logged(snakemake.log[0], main, snakemake)
