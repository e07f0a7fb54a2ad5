"""Run Snakemake with profiles/slurm against a real single-node SLURM cluster.

The cluster (tests/slurm_cluster.py) needs root and Debian's SLURM packages, which it
installs with apt-get when they are missing. Without root these tests are skipped,
unless CI=true is set: then a missing prerequisite fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from slurm_cluster import LocalSlurm, LocalSlurmUnavailable, is_process_alive

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_DIR = REPO_ROOT / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
IN_CI = os.environ.get("CI", "").lower() == "true"

# Hard limit on one Snakemake run in seconds. `timeout -s KILL` ends a run that hangs,
# for example when the status command never reports a job as finished, and SIGKILL
# cannot be caught.
SNAKEMAKE_TIMEOUT_S = 600

# Executor settings for the test cluster, which has no accounting database: sacct
# fails there, so jobs are polled with squeue. The first status check after 2 s in
# place of the default 40 s keeps a run short. Plugin 2.8.0 accepts --slurm-no-account
# but never reads it. Without slurm_account the plugin guesses with sacct, fails and
# submits without an account. Status rounds every 2 s in place of 10 s keep chained
# jobs from waiting on each other.
TEST_EXECUTOR_ARGS = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
    "--slurm-no-account",
]


# ------------------------------------------------------------------------------------
# Helpers, also meant for a test that runs the real workflow on the same cluster.


def start_or_skip(cluster: LocalSlurm) -> LocalSlurm:
    """Start `cluster`, or skip the test if a prerequisite is missing (fail it under CI=true)."""
    try:
        return cluster.start()
    except LocalSlurmUnavailable as error:
        if IN_CI:
            pytest.fail(f"SLURM test cluster unavailable under CI=true: {error}")
        pytest.skip(f"SLURM test cluster unavailable: {error}")


def load_profile() -> dict:
    with open(PROFILE_DIR / "config.yaml") as profile_file:
        return yaml.safe_load(profile_file)


def write_test_profile(
    cluster: LocalSlurm, destination: Path, edit_profile: Callable[[dict], None] | None = None
) -> Path:
    """Write a copy of profiles/slurm adapted to `cluster` and return its folder.

    The copy makes the edit a user makes, setting every slurm_partition to the cluster's
    partition, and lowers every mem_mb above half the node's memory to that value so that
    SLURM can place the job. `edit_profile`, if given, changes the loaded profile further
    in place. All other settings are tested as written.
    """
    profile = load_profile()
    max_mem_mb = cluster.real_memory_mb // 2
    resource_sets = [profile["default-resources"], *profile.get("set-resources", {}).values()]
    for resources in resource_sets:
        if "slurm_partition" in resources or resources is profile["default-resources"]:
            resources["slurm_partition"] = cluster.partition
        if "mem_mb" in resources and int(resources["mem_mb"]) > max_mem_mb:
            resources["mem_mb"] = max_mem_mb
    if edit_profile is not None:
        edit_profile(profile)

    destination.mkdir(parents=True, exist_ok=True)
    with open(destination / "config.yaml", "w") as profile_file:
        yaml.safe_dump(profile, profile_file, sort_keys=False)
    return destination


def run_snakemake_on_slurm(
    cluster: LocalSlurm,
    workdir: Path,
    args: list[str],
    timeout_s: int = SNAKEMAKE_TIMEOUT_S,
    edit_profile: Callable[[dict], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run Snakemake in `workdir` with profiles/slurm, adapted to `cluster`, plus `args`.

    For the real workflow, pass for example
    `["-s", str(REPO_ROOT / "Snakefile"), "--configfile", str(REPO_ROOT / "tests/data/tiny.yaml")]`.
    The run is killed with SIGKILL after `timeout_s` seconds. `timeout` then kills itself
    with the same signal, so the returned returncode is -9.
    Where util-linux setpriv exists, Snakemake also gets SIGKILL when the test process
    dies. SLURM jobs that a killed run leaves behind are cancelled when the cluster stops.
    """
    profile = write_test_profile(cluster, workdir / ".test-profile", edit_profile)
    # Each setpriv sets a parent-death signal and then runs the next command in its place:
    # timeout dies with this process, and Snakemake dies with timeout.
    die_with_parent = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
    command = [
        *die_with_parent,
        "timeout", "-s", "KILL", str(timeout_s),
        *die_with_parent,
        str(SNAKEMAKE),
        "--profile", str(profile),
        "--directory", str(workdir),
        *TEST_EXECUTOR_ARGS,
        *args,
    ]
    env = cluster.client_env()
    # Jobs inherit the submitting environment, so a GPU id set here would leak into jobs
    # that requested no GPU.
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)


def describe_run(result: subprocess.CompletedProcess) -> str:
    output = (result.stdout + result.stderr)[-6000:]
    return f"snakemake exited with {result.returncode}. Last output:\n{output}"


def parse_slurm_minutes(time_limit: str) -> int:
    """Convert a SLURM time limit such as `1-00:00:00`, `12:00:00` or `30:00` to minutes."""
    days, _, clock = time_limit.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    return (int(days or 0) * 24 + hours) * 60 + minutes + (1 if seconds else 0)


def evaluate_runtime(expression: str | int, attempt: int) -> int:
    """Evaluate a profile runtime such as "720 * attempt" the way Snakemake does."""
    if isinstance(expression, int):
        return expression
    return int(eval(expression, {"attempt": attempt}))


def read_key_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def list_cluster_jobs(cluster: LocalSlurm) -> dict[str, tuple[str, str]]:
    """Return {job id: (partition, state)} for every job that slurmctld still lists (MinJobAge=300 s)."""
    result = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i %P %T"],
        env=cluster.client_env(), capture_output=True, text=True, check=True,
    )
    jobs = {}
    for line in result.stdout.splitlines():
        job_id, partition, state = line.split()
        jobs[job_id] = (partition, state)
    return jobs


def show_job(cluster: LocalSlurm, job_id: str) -> dict[str, str]:
    """Return the fields of `scontrol show job` for a job that slurmctld still lists."""
    result = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job_id],
        env=cluster.client_env(), capture_output=True, text=True, check=True,
    )
    return dict(field.split("=", 1) for field in result.stdout.split() if "=" in field)


def list_live_pids() -> set[int]:
    """Return every PID that `ps` lists."""
    output = subprocess.run(["ps", "-eo", "pid="], capture_output=True, text=True, check=True).stdout
    return {int(pid) for pid in output.split()}


# ------------------------------------------------------------------------------------
# Fixtures and tests.

# train_gan fails its first attempt on purpose, so that the test can check the retry and
# the runtime that grows with the attempt. Neither rule declares resources: the GPU, runtime and
# memory come from the profile's default-resources and set-resources.
TINY_WORKFLOW = '''
rule all:
    input:
        "results/metrics.txt",


rule train_gan:
    output:
        "results/train_gan.txt",
    params:
        first_attempt="results/train_gan.first-attempt.txt",
    shell:
        """
        describe_job() {{
            echo "slurm_job_id=$SLURM_JOB_ID"
            echo "cuda_visible_devices=${{CUDA_VISIBLE_DEVICES-unset}}"
            echo "time_limit=$(squeue --noheader --jobs "$SLURM_JOB_ID" --format=%l)"
            echo "snakemake_runtime={resources.runtime}"
        }}
        if [ ! -e {params.first_attempt} ]; then
            describe_job > {params.first_attempt}
            echo "train_gan fails its first attempt on purpose" >&2
            exit 1
        fi
        describe_job > {output}
        """


rule aggregate_metrics:
    input:
        "results/train_gan.txt",
    output:
        "results/metrics.txt",
    shell:
        """
        echo "slurm_job_id=$SLURM_JOB_ID" > {output}
        echo "cuda_visible_devices=${{CUDA_VISIBLE_DEVICES-unset}}" >> {output}
        """
'''


@pytest.fixture(scope="module")
def slurm_cluster():
    cluster = start_or_skip(LocalSlurm())
    daemon_pids = dict(cluster.pids)
    try:
        yield cluster
    finally:
        cluster.stop()
        survivors = {name: pid for name, pid in daemon_pids.items() if pid in list_live_pids()}
        assert not survivors, f"SLURM daemons still running after stop: {survivors}"


def test_local_slurm_recovers_killed_run():
    # A run killed before stop() leaves its daemons and its /etc/slurm backup behind.
    # The next start must stop those daemons and restore the original files. Both
    # clusters use the default state folder, as a rerun of the tests would.
    abandoned = start_or_skip(LocalSlurm())
    abandoned_pids = dict(abandoned.pids)
    saved_conf = abandoned.backup_dir / "slurm.conf"
    original_conf = saved_conf.read_text() if saved_conf.exists() else None
    successor = LocalSlurm()
    successor_pids = {}
    try:
        successor.start()
        successor_pids = dict(successor.pids)
        still_running = [pid for pid in abandoned_pids.values() if is_process_alive(pid)]
        assert not still_running, f"daemons of the abandoned cluster survived: {abandoned_pids}"
    finally:
        successor.stop()
        abandoned.stop()

    assert successor_pids
    assert not set(successor_pids.values()) & list_live_pids()
    assert not set(abandoned_pids.values()) & list_live_pids()
    slurm_conf = Path("/etc/slurm/slurm.conf")
    restored_conf = slurm_conf.read_text() if slurm_conf.exists() else None
    assert restored_conf == original_conf
    assert not successor.state_dir.exists()


@pytest.mark.slow
def test_profile_runs_workflow_on_slurm(slurm_cluster, tmp_path):
    profile = load_profile()
    train_gan_runtime = profile["set-resources"]["train_gan"]["runtime"]
    (tmp_path / "Snakefile").write_text(TINY_WORKFLOW)

    result = run_snakemake_on_slurm(slurm_cluster, tmp_path, [])

    assert result.returncode == 0, describe_run(result)
    first_attempt = read_key_values(tmp_path / "results/train_gan.first-attempt.txt")
    second_attempt = read_key_values(tmp_path / "results/train_gan.txt")
    aggregate = read_key_values(tmp_path / "results/metrics.txt")

    # Each job ran in its own SLURM job, on the test partition.
    job_ids = [first_attempt["slurm_job_id"], second_attempt["slurm_job_id"], aggregate["slurm_job_id"]]
    assert all(job_id.isdigit() for job_id in job_ids), job_ids
    assert len(set(job_ids)) == 3, job_ids
    cluster_jobs = list_cluster_jobs(slurm_cluster)
    assert cluster_jobs.get(first_attempt["slurm_job_id"]) == (slurm_cluster.partition, "FAILED")
    assert cluster_jobs.get(second_attempt["slurm_job_id"]) == (slurm_cluster.partition, "COMPLETED")
    assert cluster_jobs.get(aggregate["slurm_job_id"]) == (slurm_cluster.partition, "COMPLETED")

    # train_gan got the fake GPU from the profile's `gpu: 1` (sbatch --gpus=1, recorded
    # per job); aggregate_metrics got none.
    assert show_job(slurm_cluster, second_attempt["slurm_job_id"]).get("TresPerJob") == "gres:gpu:1"
    assert first_attempt["cuda_visible_devices"] == "0"
    assert second_attempt["cuda_visible_devices"] == "0"
    assert aggregate["cuda_visible_devices"] == "unset"

    # The retry got the runtime of attempt 2, both in Snakemake and as the SLURM time limit.
    assert parse_slurm_minutes(first_attempt["time_limit"]) == evaluate_runtime(train_gan_runtime, 1)
    assert parse_slurm_minutes(second_attempt["time_limit"]) == evaluate_runtime(train_gan_runtime, 2)
    assert int(second_attempt["snakemake_runtime"]) == evaluate_runtime(train_gan_runtime, 2)


GPU_PROBE_WORKFLOW = '''
rule train_gan:
    output:
        "results/train_gan.txt",
    shell:
        """
        echo "slurm_job_id=$SLURM_JOB_ID" > {output}
        echo "cuda_visible_devices=${{CUDA_VISIBLE_DEVICES-unset}}" >> {output}
        """
'''


def request_gpu_as_gres(profile: dict) -> None:
    """Make the GRES edit that docs/slurm.md describes: replace `gpu: 1` with `gres: "gpu:1"`."""
    train_gan = profile["set-resources"]["train_gan"]
    del train_gan["gpu"]
    train_gan["gres"] = "gpu:1"


@pytest.mark.slow
def test_gres_alternative_gets_gpu(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(GPU_PROBE_WORKFLOW)

    result = run_snakemake_on_slurm(slurm_cluster, tmp_path, [], edit_profile=request_gpu_as_gres)

    assert result.returncode == 0, describe_run(result)
    job = read_key_values(tmp_path / "results/train_gan.txt")
    assert job["slurm_job_id"].isdigit(), job
    assert job["cuda_visible_devices"] == "0"
    # SLURM records a --gres request as TresPerNode and a --gpus request as TresPerJob.
    job_record = show_job(slurm_cluster, job["slurm_job_id"])
    assert job_record.get("TresPerNode") == "gres:gpu:1", job_record
    assert "TresPerJob" not in job_record, job_record


@pytest.mark.slow
def test_pipeline_runs_on_slurm(slurm_cluster, tmp_path):
    """The real workflow on the tiny config, every non-local job submitted through the profile."""
    tiny_config = REPO_ROOT / "tests" / "data" / "tiny.yaml"
    one_cell = tmp_path / "one-cell.yaml"
    one_cell.write_text("grid: {z_dims: [2], models: [dcgan]}\n")
    # The GAN part of the workflow: five SLURM jobs (dataset, feature extractor, training,
    # reference features, FID/KID) and the local aggregation. Each job starts Python and torch,
    # and status polling adds waits between them; the theory jobs are left to other tests.
    result = run_snakemake_on_slurm(
        slurm_cluster, tmp_path,
        ["-s", str(REPO_ROOT / "Snakefile"), "results/tables/metrics.csv",
         "--configfile", str(tiny_config), str(one_cell)],
        timeout_s=1200)

    assert result.returncode == 0, describe_run(result)
    table = (tmp_path / "results" / "tables" / "metrics.csv").read_text().splitlines()
    assert len(table) == 2  # header and the single cell
    # Training ran as SLURM jobs: the executor names each job's SLURM id in its output.
    output = result.stdout + result.stderr
    assert "train_gan" in output
    submitted = [line for line in output.splitlines() if "SLURM" in line and "jobid" in line.lower()]
    assert submitted, describe_run(result)
