"""Helpers to run the real snakemake on the repository's workflow and read its plans."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY_CONFIG = REPO / "tests" / "data" / "tiny.yaml"


def snakemake_executable() -> str:
    exe = Path(sys.executable).with_name("snakemake")
    if exe.exists():
        return str(exe)
    found = shutil.which("snakemake")
    assert found, "snakemake is not installed; run `make test` to install it"
    return found


def run_snakemake(workdir: Path, *args: str, timeout_s: int = 900, check: bool = True,
                  snakefile: Path = REPO / "Snakefile") -> subprocess.CompletedProcess:
    """Run the real snakemake on ``snakefile`` with ``workdir`` as working directory."""
    command = [snakemake_executable(), "-s", str(snakefile), "-d", str(workdir), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                            cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed with exit code "
                             f"{result.returncode}:\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-8000:]}")
    return result


_RULE = re.compile(r"^(?:local)?rule (\w+):\s*$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def planned_jobs(workdir: Path, *args: str,
                 snakefile: Path = REPO / "Snakefile") -> list[tuple[str, dict[str, str]]]:
    """Return ``(rule, wildcards)`` of every job a dry run of ``args`` would execute."""
    result = run_snakemake(workdir, "--dry-run", *args, snakefile=snakefile)
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in (result.stdout + result.stderr).splitlines():
        if match := _RULE.match(line):
            jobs.append((match.group(1), {}))
        elif jobs and (match := _WILDCARDS.match(line)):
            jobs[-1][1].update(dict(item.split("=", 1) for item in match.group(1).split(", ")))
    return jobs


def write_config(workdir: Path, text: str) -> Path:
    path = workdir / "override.yaml"
    path.write_text(text)
    return path


def planned_job_counts(workdir: Path, *args: str) -> dict[str, int]:
    """Return the per-rule job counts of the "Job stats" table that a dry run prints."""
    result = run_snakemake(workdir, "--dry-run", *args)
    lines = (result.stdout + result.stderr).splitlines()
    start = lines.index("Job stats:") + 3  # skip the header and its rule line
    counts = {}
    for line in lines[start:]:
        fields = line.split()
        if len(fields) != 2 or fields[0] == "total":
            break
        counts[fields[0]] = int(fields[1])
    return counts
