"""Extract reference features of a dataset split once (rule extract_reference_features)."""

import torch

from noisedim.logs import run_logged
from noisedim.metrics import Protocol, compute_reference_features


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    compute_reference_features(snakemake.input.dataset, snakemake.output.features,
                               Protocol(**snakemake.params.protocol), snakemake.params.weights)


run_logged(snakemake.log[0], main, snakemake)
