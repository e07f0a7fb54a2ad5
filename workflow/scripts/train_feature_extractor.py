"""Train the domain classifier used as FID/KID feature extractor (rule train_feature_extractor)."""

import json

import torch

from noisedim.extractors import train_classifier
from noisedim.logs import run_logged


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    settings = dict(snakemake.params.settings)
    min_accuracy = settings.pop("min_test_accuracy")
    summary = train_classifier(snakemake.input.dataset, snakemake.output.weights, **settings)
    if summary["test_accuracy"] < min_accuracy:
        raise RuntimeError(
            f"classifier test accuracy {summary['test_accuracy']:.4f} is below "
            f"feature_extractor_training.min_test_accuracy={min_accuracy}; its features would "
            "make FID/KID unreliable. Train longer (feature_extractor_training.epochs)")
    with open(snakemake.output.summary, "w") as handle:
        json.dump(summary, handle, indent=2)


run_logged(snakemake.log[0], main, snakemake)
