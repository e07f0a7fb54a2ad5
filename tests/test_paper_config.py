"""The paper's grid plans completely without data, weights or GPUs."""

from workflow_utils import REPO, planned_job_counts


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
