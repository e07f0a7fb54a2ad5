"""Train or resume one grid cell's GAN (rule train_gan)."""

import torch

from noisedim.logs import run_logged
from noisedim.training import TrainSettings, train_cell


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    settings = TrainSettings(**snakemake.params.settings)
    train_cell(settings, snakemake.input.dataset, snakemake.params.run_dir,
               snakemake.output.network, snakemake.output.samples,
               device=snakemake.params.device)


run_logged(snakemake.log[0], main, snakemake)
