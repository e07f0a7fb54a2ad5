"""End to end: the real snakemake on a tiny config, then dry runs that show what reruns."""

import math
import os
import shutil
import signal
import subprocess
import time

import pandas as pd
import pytest

from workflow_utils import (REPO, TINY_CONFIG, planned_jobs, run_snakemake,
                            snakemake_executable, write_config)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    run_snakemake(workdir, "--cores", "2", "--configfile", str(TINY_CONFIG))
    return workdir


def test_pipeline_table_and_plots(finished_run):
    table = pd.read_csv(finished_run / "results" / "tables" / "metrics.csv")
    assert sorted(zip(table["model"], table["z_dim"])) == [
        ("biggan", 1), ("biggan", 4), ("dcgan", 1), ("dcgan", 4), ("stylegan2", 1),
        ("stylegan2", 4)]
    # StyleGAN2's per-layer noise inputs add random scalars beyond z; the others draw only z.
    stylegan = table[table["model"] == "stylegan2"]
    assert (stylegan["noise_dims_consumed"] > stylegan["z_dim"]).all()
    others = table[table["model"] != "stylegan2"]
    assert (others["noise_dims_consumed"] == others["z_dim"]).all()
    for column in ("fid", "kid_mean", "kid_std", "training_s"):
        assert table[column].map(math.isfinite).all(), column
    assert (table["protocol_extractor"] == "classifier").all()
    assert (table["protocol_num_generated"] == 64).all()
    for name in ("fid_kid_vs_zdim.png", "samples_vs_zdim.png"):
        assert (finished_run / "results" / "plots" / name).stat().st_size > 10_000
    bounds = pd.read_csv(finished_run / "results" / "theory" / "min_noise_dim.csv")
    assert (bounds.loc[bounds["source"] == "measured", "dataset"] == "digits").all()
    assert (finished_run / "results" / "theory" / "noise_entropy.md").exists()
    curve = pd.read_csv(finished_run / "results" / "theory" / "tradeoff" / "zipf8_kl.csv")
    assert len(curve) == 8
    assert (curve["status"] != "failed").all()
    assert (finished_run / "results" / "theory" / "tradeoff" / "zipf8_reverse_kl.png").exists()
    known = pd.read_csv(finished_run / "results" / "known_entropy" / "known_entropy.csv")
    assert set(known["divergence"]) == {"kl", "tv"}
    assert not known["below_bound"].any()


def test_every_job_has_log(finished_run):
    logs = list((finished_run / "logs").rglob("*.log"))
    rule_dirs = {path.name for path in (finished_run / "logs").iterdir()}
    assert {"build_dataset", "train_feature_extractor", "train_gan",
            "extract_reference_features", "compute_fid_kid", "aggregate_metrics",
            "plot_metrics"} <= rule_dirs
    # 1 dataset, 1 extractor, 6 cells x 2, 1 reference, 2 report, 3 theory, 2 curves x 2,
    # and 5 known-entropy jobs (dataset, one cell's training and measurement, bounds, report)
    assert len(logs) == 29
    assert list((finished_run / "results" / "benchmarks" / "train_gan").rglob("*.tsv"))


def test_nothing_to_do_after_run(finished_run):
    assert planned_jobs(finished_run, "--configfile", str(TINY_CONFIG)) == []


def test_new_z_dim_trains_only_new_cell(finished_run):
    config = write_config(finished_run, "grid: {z_dims: [1, 4, 8]}\n")
    jobs = planned_jobs(finished_run, "--configfile", str(TINY_CONFIG), str(config))
    trained = sorted((w["model"], w["z_dim"]) for rule, w in jobs if rule == "train_gan")
    assert trained == [("biggan", "8"), ("dcgan", "8"), ("stylegan2", "8")]
    assert {rule for rule, _ in jobs} == {"train_gan", "compute_fid_kid", "aggregate_metrics",
                                         "plot_metrics", "all"}


def test_evaluation_change_retrains_nothing(finished_run):
    config = write_config(finished_run, "evaluation: {kid_subsets: 7}\n")
    jobs = planned_jobs(finished_run, "--configfile", str(TINY_CONFIG), str(config))
    rules = [rule for rule, _ in jobs]
    assert "train_gan" not in rules
    assert rules.count("compute_fid_kid") == 6
    assert "extract_reference_features" in rules


def test_learning_rate_change_retrains_model(finished_run):
    config = write_config(finished_run, "models: {dcgan: {lr_g: 0.001}}\n")
    jobs = planned_jobs(finished_run, "--configfile", str(TINY_CONFIG), str(config))
    trained = sorted((w["model"], w["z_dim"]) for rule, w in jobs if rule == "train_gan")
    assert trained == [("dcgan", "1"), ("dcgan", "4")]
    assert "build_dataset" not in [rule for rule, _ in jobs]


def test_killed_training_resumes(tmp_path):
    workdir = tmp_path / "killed"
    workdir.mkdir()
    config = write_config(workdir, "train: {total_kimg: 6.4}\ngrid: {z_dims: [2]}\n")
    target = "results/train/digits/dcgan/cap0.25/nz2/seed0/network.pt"
    # Targets go before --configfile, which takes every following argument as a file.
    args = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "1", target,
            "--configfile", str(TINY_CONFIG), str(config)]
    process = subprocess.Popen([snakemake_executable(), *args], cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    checkpoints = workdir / "results" / "train" / "digits" / "dcgan" / "cap0.25" / "nz2"
    deadline = time.monotonic() + 300
    try:
        while not list(checkpoints.rglob("ckpt-*.pt")):
            assert process.poll() is None, "snakemake ended before the first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (workdir / target).exists()

    # A killed snakemake leaves its lock behind; users run --unlock the same way.
    run_snakemake(workdir, "--unlock", "--configfile", str(TINY_CONFIG), str(config))
    run_snakemake(workdir, "--cores", "1", "--rerun-incomplete", target, "--configfile",
                  str(TINY_CONFIG), str(config))
    log = (workdir / "logs" / "train_gan" / "digits" / "dcgan" / "cap0.25" / "nz2" /
           "seed0.log").read_text()
    assert "resumed from" in log
    assert (workdir / target).exists()


def copy_repository(destination):
    """Copy the workflow and package sources (no results, no virtual environment)."""
    ignore = shutil.ignore_patterns(".venv", ".git", "results", "logs", ".snakemake",
                                    "__pycache__", "*.egg-info")
    shutil.copytree(REPO, destination, ignore=ignore)
    return destination


def test_training_code_change_reruns_training(finished_run, tmp_path):
    copy = copy_repository(tmp_path / "repo")
    with open(copy / "noisedim" / "training.py", "a") as handle:
        handle.write("\n# An edit that changes the training code's fingerprint.\n")
    jobs = planned_jobs(finished_run, "--configfile", str(TINY_CONFIG),
                        snakefile=copy / "Snakefile")
    rules = [rule for rule, _ in jobs]
    assert rules.count("train_gan") == 6
    assert rules.count("compute_fid_kid") == 6
    assert "build_dataset" not in rules
    assert "train_feature_extractor" not in rules
    assert "extract_reference_features" not in rules
    assert not {"noise_entropy_table", "dataset_bitrates", "min_noise_dim_table",
                "solve_tradeoff"} & set(rules)


def test_plotting_code_change_reruns_only_report(finished_run, tmp_path):
    copy = copy_repository(tmp_path / "repo")
    with open(copy / "noisedim" / "plots.py", "a") as handle:
        handle.write("\n# An edit that changes the report code's fingerprint.\n")
    jobs = planned_jobs(finished_run, "--configfile", str(TINY_CONFIG),
                        snakefile=copy / "Snakefile")
    assert {rule for rule, _ in jobs} == {"aggregate_metrics", "plot_metrics", "all"}


def test_report_builds(finished_run):
    run_snakemake(finished_run, "--configfile", str(TINY_CONFIG), "--report",
                  "results/report.html")
    html = (finished_run / "results" / "report.html").read_text(errors="replace")
    assert "FID and KID against the noise dimension" in html
    assert len(html) > 100_000
