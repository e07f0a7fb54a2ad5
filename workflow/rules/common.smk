# Config validation, the experiment grid and per-cell params, shared by every stage.

import itertools
import re
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from noisedim.config import validate_config
from noisedim.fingerprint import code_fingerprint, object_fingerprint
from noisedim.registry import DATASETS

validate_config(config)

RESULTS = "results"
LOGS = "logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
CELL = "{dataset}/{model}/cap{capacity}/nz{z_dim}/seed{seed}"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    model=r"[A-Za-z0-9_\-]+",
    capacity=r"[0-9.]+",
    z_dim=r"\d+",
    seed=r"\d+",
    source="|".join(map(re.escape, config["tradeoff"]["sources"])) or "^$",
    divergence=r"[a-z_]+",


def capacity_label(capacity):
    """Format a channel multiplier as it appears in paths (1.0 -> '1', 0.5 -> '0.5')."""
    return f"{capacity:g}"


def grid_cells():
    """Yield the wildcard values of every (dataset, model, capacity, z_dim, seed) cell."""
    grid = config["grid"]
    for dataset, model, capacity, z_dim, seed in itertools.product(
        grid["datasets"], grid["models"], grid["capacities"], grid["z_dims"], grid["seeds"]
    ):
        yield dict(dataset=dataset, model=model, capacity=capacity_label(capacity),
                   z_dim=z_dim, seed=seed)


def cell_paths(pattern):
    return [pattern.format(**cell) for cell in grid_cells()]


def capacity_value(label):
    for capacity in config["grid"]["capacities"]:
        if capacity_label(capacity) == label:
            return capacity
    raise ValueError(f"capacity {label!r} is not in grid.capacities")


# Package code each stage depends on; see noisedim/fingerprint.py.
TRAIN_CODE = code_fingerprint("training.py", "checkpoint.py", "noise.py", "devices.py",
                              "models/__init__.py", "data/format.py")
EXTRACTOR_CODE = code_fingerprint("extractors.py", "data/format.py")
REFERENCE_CODE = code_fingerprint("metrics.py", "extractors.py", "inception.py", "data/format.py")
EVALUATE_CODE = code_fingerprint("metrics.py", "extractors.py", "inception.py", "noise.py",
                                 "training.py", "models/__init__.py")
REPORT_CODE = code_fingerprint("tables.py", "plots.py", "noise.py", "entropy.py")
THEORY_CODE = code_fingerprint("entropy.py", "compression.py", "noise.py", "data/format.py")
TRADEOFF_CODE = code_fingerprint("tradeoff.py", "divergences.py", "sources.py")
REPORT_CODE_TRADEOFF = code_fingerprint("plots_tradeoff.py")


def theory_datasets():
    """Datasets whose bitrates bound H(X): theory.datasets, or the grid's datasets."""
    names = config["theory"]["datasets"]
    return config["grid"]["datasets"] if names is None else names


def data_code(wildcards):
    """Fingerprint of the dataset format and of this dataset's builder module."""
    builder = DATASETS.get(config["datasets"][wildcards.dataset]["builder"])
    return object_fingerprint(builder, "data/format.py")


def train_settings(wildcards):
    """Return only this cell's training settings, so other cells' edits do not rerun it."""
    train = config["train"]
    return dict(
        model=wildcards.model,
        z_dim=int(wildcards.z_dim),
        capacity=capacity_value(wildcards.capacity),
        seed=int(wildcards.seed),
        total_kimg=train["total_kimg"],
        batch_size=train["batch_size"],
        tick_kimg=train["tick_kimg"],
        snapshot_ticks=train["snapshot_ticks"],
        ema_kimg=train["ema_kimg"],
        keep_checkpoints=train["keep_checkpoints"],
        amp=train["amp"],
        model_options=config["models"].get(wildcards.model, {}),
        noise=config["noise"],
    )


def model_code(wildcards):
    return code_fingerprint(f"models/{wildcards.model}.py")


def rule_resources(rule):
    """Resources of a GPU rule from the config; runtime grows with each retry."""
    settings = config["resources"][rule]
    return dict(
        gpu=settings["gpu"],
        mem_mb=settings["mem_mb"],
        runtime=lambda wildcards, attempt: settings["runtime"] * attempt,
    )


def evaluation_protocol(wildcards=None):
    evaluation = config["evaluation"]
    return {key: evaluation[key] for key in ("extractor", "num_generated", "reference_split",
                                             "num_reference", "kid_subset_size", "kid_subsets",
                                             "batch_size", "seed")}


def extractor_weights(wildcards):
    """The trained classifier for the classifier extractor; nothing for pretrained ones."""
    if config["evaluation"]["extractor"] == "classifier":
        return {"weights": f"{RESULTS}/extractors/{wildcards.dataset}/classifier.pt"}
    return {}


def weights_path(input):
    if "weights" in input.keys():
        return input.weights
    return config["evaluation"]["inception_weights"]


def tradeoff_source_file(wildcards):
    """The CSV file of a csv-kind source, so that Snakemake tracks it; nothing otherwise."""
    spec = config["tradeoff"]["sources"][wildcards.source]
    return {"source_csv": spec["path"]} if spec["kind"] == "csv" else {}


def theory_outputs():
    tradeoff = config["tradeoff"]
    return [
        f"{RESULTS}/theory/noise_entropy.csv",
        f"{RESULTS}/theory/min_noise_dim.csv",
    ] + expand(f"{RESULTS}/theory/bitrates/{{dataset}}.csv", dataset=theory_datasets()) + expand(f"{RESULTS}/theory/tradeoff/{{source}}_{{divergence}}.png",
               source=list(tradeoff["sources"]), divergence=tradeoff["divergences"])


def all_outputs():
    return theory_outputs() + [
        f"{RESULTS}/tables/metrics.csv",
        f"{RESULTS}/plots/fid_kid_vs_zdim.png",
        f"{RESULTS}/plots/samples_vs_zdim.png",
    ]
