"""Score one cell with FID and KID (rule compute_fid_kid)."""

import json

import torch

from noisedim.logs import run_logged
from noisedim.metrics import Protocol, score_cell


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    record = score_cell(snakemake.input.network, snakemake.input.reference,
                        Protocol(**snakemake.params.protocol), snakemake.params.weights,
                        cell=snakemake.params.cell, dataset_dir=snakemake.input.dataset)
    with open(snakemake.output.metrics, "w") as handle:
        json.dump(record, handle, indent=2)


run_logged(snakemake.log[0], main, snakemake)
