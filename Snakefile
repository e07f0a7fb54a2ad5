# noisedim: how the noise dimension of a GAN limits what it can generate.
#
#   snakemake --cores all                      the embedded default (offline, CPU)
#   snakemake --cores all --resources gpu=4    on a machine with 4 GPUs
#   snakemake --profile profiles/slurm --configfile config/paper.yaml
#
# Target rules: all (default), theory, known_entropy, train, evaluate.

import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/known_entropy.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
        KNOWN_ENTROPY_OUTPUTS,
    default_target: True


rule theory:
    input:
        theory_outputs(),


rule known_entropy:
    input:
        KNOWN_ENTROPY_OUTPUTS,


rule train:
    input:
        cell_paths(f"{RESULTS}/train/{CELL}/network.pt"),


rule evaluate:
    input:
        cell_paths(f"{RESULTS}/evaluate/{CELL}/metrics.json"),
