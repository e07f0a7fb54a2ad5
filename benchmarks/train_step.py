"""Measure training-step throughput (images/s) and peak memory per model family and capacity.

Each (model, capacity) runs in a fresh Python process, so the CPU peak resident memory of one
configuration does not include another's. A configuration builds a ``Trainer`` on a temporary
dataset of random images, runs ``--warmup-steps`` steps, then times whole ``Trainer.train_step``
calls (D phase, G phase, EMA) until ``--min-seconds`` have passed or ``--max-steps`` are done.

Memory on CUDA is the peak of ``torch.cuda.max_memory_allocated`` over warm-up and timed steps.
On the CPU it is the process's peak resident set size (``ru_maxrss``), which includes the Python
and torch runtime, so the table also lists the resident set size just before the models were
built.

Example (the figures in benchmarks/README.md)::

    .venv/bin/python benchmarks/train_step.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("train_step")

FIELDS = ("model", "capacity", "params_g_m", "params_d_m", "batch_size", "steps", "sec_per_step",
          "images_per_s", "peak_gib", "baseline_gib")


def current_rss_gib() -> float:
    """Return this process's current resident set size in GiB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**30


def write_random_dataset(path: Path, resolution: int, channels: int, count: int = 256) -> None:
    import numpy as np

    from noisedim.data.format import DatasetWriter

    images = np.random.default_rng(0).integers(0, 256, size=(count, channels, resolution,
                                                             resolution), dtype=np.uint8)
    with DatasetWriter(path, "benchmark", {"kind": "uniform random pixels"}) as writer:
        writer.add_shard("train", images)
        writer.close()


def measure(config: dict) -> dict:
    """Run one configuration in this process and return its row of ``FIELDS``."""
    import torch

    from noisedim.training import Trainer, TrainSettings

    torch.set_num_threads(config["threads"])
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "data"
        write_random_dataset(dataset, config["resolution"], 3)
        settings = TrainSettings(model=config["model"], z_dim=config["z_dim"],
                                 capacity=config["capacity"], seed=0, total_kimg=1000.0,
                                 batch_size=config["batch_size"], amp=config["amp"])
        baseline_gib = current_rss_gib()
        trainer = Trainer(settings, dataset, Path(tmp) / "run", device=config["device"])
        cuda = trainer.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(trainer.device)

        def synchronize() -> None:
            if cuda:
                torch.cuda.synchronize(trainer.device)

        for _ in range(config["warmup_steps"]):
            trainer.train_step()
        synchronize()
        steps, start = 0, time.perf_counter()
        while steps < config["max_steps"]:
            trainer.train_step()
            synchronize()
            steps += 1
            if time.perf_counter() - start >= config["min_seconds"]:
                break
        seconds = time.perf_counter() - start

        if cuda:
            peak_gib = torch.cuda.max_memory_allocated(trainer.device) / 2**30
            baseline_gib = float("nan")
        else:
            peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB
        return {"model": config["model"], "capacity": config["capacity"],
                "params_g_m": sum(p.numel() for p in trainer.G.parameters()) / 1e6,
                "params_d_m": sum(p.numel() for p in trainer.D.parameters()) / 1e6,
                "batch_size": config["batch_size"], "steps": steps,
                "sec_per_step": seconds / steps,
                "images_per_s": steps * config["batch_size"] / seconds,
                "peak_gib": peak_gib, "baseline_gib": baseline_gib,
                "device": str(trainer.device)}


def run_isolated(config: dict, timeout_s: float) -> dict:
    """Run ``measure(config)`` in a fresh interpreter and return its row."""
    command = [sys.executable, __file__, "--worker", json.dumps(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark of {config['model']} at capacity {config['capacity']} "
                           f"failed (exit code {result.returncode}):\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict]) -> str:
    """Return the rows as a Markdown table."""
    header = ("| model | capacity | G params (M) | D params (M) | batch | timed steps | s/step "
              "| images/s | peak memory (GiB) | memory before build (GiB) |")
    lines = [header, "|" + " --- |" * 10]
    for row in rows:
        lines.append(f"| {row['model']} | {row['capacity']:g} | {row['params_g_m']:.2f} "
                     f"| {row['params_d_m']:.2f} | {row['batch_size']} | {row['steps']} "
                     f"| {row['sec_per_step']:.2f} | {row['images_per_s']:.2f} "
                     f"| {row['peak_gib']:.2f} | {row['baseline_gib']:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["dcgan", "biggan", "stylegan2"],
                        help="registered model families to measure")
    parser.add_argument("--capacities", nargs="+", type=float, default=[1.0, 0.25],
                        help="channel multipliers to measure")
    parser.add_argument("--resolution", type=int, default=32, help="image size in pixels")
    parser.add_argument("--z-dim", type=int, default=128, help="noise dimension")
    parser.add_argument("--batch-size", type=int, default=8, help="images per step")
    parser.add_argument("--warmup-steps", type=int, default=1, help="untimed steps first")
    parser.add_argument("--min-seconds", type=float, default=10.0,
                        help="time steps until this many seconds have passed ...")
    parser.add_argument("--max-steps", type=int, default=20, help="... or this many steps")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's default)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"],
                        help="mixed precision on CUDA")
    parser.add_argument("--timeout-s", type=float, default=1800.0,
                        help="time limit per configuration in seconds")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads is None:
        import torch
        args.threads = torch.get_num_threads()
    rows = []
    for model in args.models:
        for capacity in args.capacities:
            config = {"model": model, "capacity": capacity, "resolution": args.resolution,
                      "z_dim": args.z_dim, "batch_size": args.batch_size,
                      "warmup_steps": args.warmup_steps, "min_seconds": args.min_seconds,
                      "max_steps": args.max_steps, "threads": args.threads,
                      "device": args.device, "amp": args.amp}
            log.info("measuring %s at capacity %g ...", model, capacity)
            rows.append(run_isolated(config, args.timeout_s))
            log.info("  %.2f images/s, peak %.2f GiB", rows[-1]["images_per_s"],
                     rows[-1]["peak_gib"])
    print(f"{args.resolution}x{args.resolution}, z_dim {args.z_dim}, batch {args.batch_size}, "
          f"{args.threads} CPU threads, device {rows[0]['device']}, amp {args.amp}")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
