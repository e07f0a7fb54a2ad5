"""Dry runs: config/paper.yaml (216 cells) plans without data, weights or GPUs.

The default config plans every stage and lints clean.
"""

from workflow_utils import REPO, planned_job_counts, run_snakemake


def test_paper_grid_dry_run(tmp_path):
    counts = planned_job_counts(tmp_path, "--configfile", str(REPO / "config" / "paper.yaml"))
    cells = 2 * 2 * 9 * 2 * 3  # datasets x models x z_dims x capacities x seeds
    assert counts["build_dataset"] == 2
    assert counts["train_gan"] == cells
    assert counts["compute_fid_kid"] == cells
    assert counts["extract_reference_features"] == 2
    assert "train_feature_extractor" not in counts  # Inception needs no training
    assert counts["dataset_bitrates"] == 2
    assert counts["aggregate_metrics"] == 1


def test_default_config_lints_clean(tmp_path):
    result = run_snakemake(tmp_path, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_default_config_plans_every_stage(tmp_path):
    counts = planned_job_counts(tmp_path)
    assert counts["train_gan"] == 7  # z_dims 1, 2, 4, 8, 16, 32, 64
    assert counts["compute_fid_kid"] == 7
    assert counts["solve_tradeoff"] == 4
    assert counts["train_known_entropy_gan"] == 6
