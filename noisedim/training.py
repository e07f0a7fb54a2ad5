"""GAN training loop for one grid cell, with ticks, snapshots and exact resumption.

All randomness of a run comes from torch's global generator, seeded with the cell's seed. Its
state is saved in every checkpoint, so a run that is stopped and resumed on the CPU produces the
same weights, bit for bit, as one that was never stopped. Checkpoints also hold the loss's state
(ADA's augmentation probability, for example) and, with fp16 mixed precision, the gradient
scaler's state.

Mixed precision (``TrainSettings.amp``) runs the loss computations under ``torch.autocast`` on
CUDA: ``bf16`` needs no loss scaling, ``fp16`` scales the losses with ``torch.amp.GradScaler``
(the family's loss must support it through a ``grad_scaler`` attribute). Weights, optimiser
states, EMA and everything exported or evaluated stay float32.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from noisedim.checkpoint import load_latest_checkpoint, save_checkpoint
from noisedim.data.format import load_split, read_metadata
from noisedim.devices import claim_gpu
from noisedim.noise import NoiseSampler
from noisedim.registry import MODELS

log = logging.getLogger(__name__)

# Seed of the sample grid's noise. All cells share it, so grids of one z_dim are comparable.
SAMPLE_GRID_SEED = 12345
SAMPLE_GRID_SIZE = 64

# Autocast dtype per TrainSettings.amp value (None: full float32).
AMP_DTYPES: dict[str, torch.dtype | None] = {"off": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}


class TrainingError(RuntimeError):
    """Training cannot continue (for example a non-finite loss)."""


@dataclass(frozen=True)
class TrainSettings:
    """Everything that determines the result of one training run."""

    model: str
    z_dim: int
    capacity: float
    seed: int
    total_kimg: float
    batch_size: int
    tick_kimg: float = 1.0
    snapshot_ticks: int = 5
    ema_kimg: float = 1.0
    keep_checkpoints: int = 2
    model_options: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, Any] = field(default_factory=dict)
    amp: str = "off"

    def __post_init__(self) -> None:
        if self.amp not in AMP_DTYPES:
            raise ValueError(f"training setting amp={self.amp!r} is invalid; use one of "
                             f"{list(AMP_DTYPES)}")
        checks = [("z_dim", self.z_dim >= 1, "at least 1"),
                  ("capacity", self.capacity > 0, "positive"),
                  ("total_kimg", self.total_kimg > 0, "positive"),
                  ("batch_size", self.batch_size >= 2, "at least 2"),
                  ("tick_kimg", self.tick_kimg > 0, "positive"),
                  ("snapshot_ticks", self.snapshot_ticks >= 1, "at least 1"),
                  ("ema_kimg", self.ema_kimg >= 0, "non-negative"),
                  ("keep_checkpoints", self.keep_checkpoints >= 1, "at least 1")]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"training setting {name}={getattr(self, name)!r} is invalid; "
                                 f"it must be {allowed}")

    def fingerprint(self) -> str:
        """Return a short hash of the settings; checkpoints of other settings are not resumed."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolve_device(requested: str = "auto") -> torch.device:
    """Return CUDA when ``requested`` is ``auto`` and a GPU is visible, else the named device."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but CUDA is not available; use "
                         "'auto' or 'cpu'")
    return device


def images_to_float(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 images ``[N, C, H, W]`` (0..255) to float32 in [-1, 1]."""
    return images.to(torch.float32) / 127.5 - 1.0


def float_to_images(x: torch.Tensor) -> torch.Tensor:
    """Map generator outputs in [-1, 1] to uint8 images (0..255), rounding to nearest."""
    return ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def peak_memory_gib(device: torch.device) -> float:
    """Return the peak GPU memory of this process, or its peak resident memory on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


class Trainer:
    """Train one cell: build the models, resume if possible, run ticks, write the results."""

    def __init__(self, settings: TrainSettings, dataset_dir: str | os.PathLike,
                 run_dir: str | os.PathLike, device: str = "auto"):
        self.settings = settings
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / "checkpoints" / settings.fingerprint()
        self.device = resolve_device(device)
        meta = read_metadata(dataset_dir)
        images, _ = load_split(dataset_dir, "train")
        self.real = torch.from_numpy(images)
        self.resolution, self.channels = meta["resolution"], meta["channels"]

        family = MODELS.get(settings.model)
        family.check_resolution(self.resolution)
        self.options = family.resolve_options(settings.model_options)
        self.noise = NoiseSampler(settings.z_dim, **settings.noise)

        # Build the networks and optimisers from the cell's seed.
        torch.manual_seed(settings.seed)
        np.random.seed(settings.seed)
        random.seed(settings.seed)
        G, D = family.build(settings.z_dim, self.resolution, self.channels, settings.capacity,
                            self.options)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        betas = tuple(self.options["betas"])
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=self.options["lr_g"], betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=self.options["lr_d"], betas=betas)
        self.loss = family.make_loss(self.G, self.D, self.options)
        self.amp_dtype, self.grad_scaler = self._setup_amp(settings.model)
        self.step = 0
        self.elapsed_s = 0.0

    def _setup_amp(self, model: str) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
        """Return the autocast dtype and, for fp16, a gradient scaler attached to the loss."""
        amp = self.settings.amp
        if amp == "off":
            return None, None
        if self.device.type != "cuda":
            raise ValueError(f"amp={amp!r} needs a CUDA device, but training runs on "
                             f"{self.device}; set amp to 'off' for CPU training")
        if amp != "fp16":
            return AMP_DTYPES[amp], None
        if not hasattr(self.loss, "grad_scaler"):
            raise ValueError(f"model {model!r} does not support fp16 loss scaling (its loss has "
                             "no grad_scaler attribute); use amp='bf16', which needs none")
        scaler = torch.amp.GradScaler("cuda")
        self.loss.grad_scaler = scaler
        return AMP_DTYPES[amp], scaler

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.grad_scaler is None:
            optimizer.step()
        else:
            self.grad_scaler.step(optimizer)  # skipped when the scaled gradients overflowed

    # Checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {"step": self.step, "elapsed_s": self.elapsed_s,
                 "settings": json.dumps(dataclasses.asdict(self.settings), sort_keys=True),
                 "G": self.G.state_dict(), "D": self.D.state_dict(),
                 "G_ema": self.G_ema.state_dict(), "opt_G": self.opt_G.state_dict(),
                 "opt_D": self.opt_D.state_dict(), "loss": self.loss.state_dict(), "rng": rng}
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.loss.load_state_dict(state["loss"])
        if self.grad_scaler is not None:
            if "grad_scaler" not in state:
                raise ValueError("the checkpoint has no grad_scaler state although these "
                                 "settings train with amp='fp16'; move the checkpoint away to "
                                 "restart the run")
            self.grad_scaler.load_state_dict(state["grad_scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.step, self.elapsed_s = int(state["step"]), float(state["elapsed_s"])

    def resume(self) -> bool:
        """Load the newest good checkpoint of these settings; return whether one was found."""
        loaded = load_latest_checkpoint(self.checkpoint_dir,
                                        required_keys=("step", "G", "D", "G_ema", "rng"))
        if loaded is None:
            return False
        state, path = loaded
        self.load_state_dict(state)
        self._drop_stats_after_step()
        log.info("resumed from %s at step %d (%.2f kimg)", path, self.step, self.kimg)
        return True

    def _drop_stats_after_step(self) -> None:
        """Remove tick records past the resumed step, which the resumed run writes again."""
        stats_path = self.checkpoint_dir / "stats.jsonl"
        if not stats_path.is_file():
            return
        lines = stats_path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= self.step]
        if len(kept) < len(lines):
            log.info("dropping %d tick records past step %d from %s", len(lines) - len(kept),
                     self.step, stats_path)
            stats_path.write_text("".join(line + "\n" for line in kept))

    def save(self) -> Path:
        return save_checkpoint(self.state_dict(), self.checkpoint_dir, self.step,
                               keep=self.settings.keep_checkpoints)

    # Training ----------------------------------------------------------------------------

    @property
    def images_per_step(self) -> int:
        """Return the real images shown to D per training step (batch_size * d_steps)."""
        return self.settings.batch_size * self.options["d_steps"]

    @property
    def total_steps(self) -> int:
        return math.ceil(self.settings.total_kimg * 1000 / self.images_per_step)

    @property
    def tick_steps(self) -> int:
        return max(1, round(self.settings.tick_kimg * 1000 / self.images_per_step))

    @property
    def kimg(self) -> float:
        return self.step * self.images_per_step / 1000

    def train_step(self) -> dict[str, float]:
        batch_size = self.settings.batch_size

        # Discriminator phase, d_steps times on fresh real batches; the last one's stats count.
        for _ in range(self.options["d_steps"]):
            index = torch.randint(len(self.real), (batch_size,))
            real = images_to_float(self.real[index]).to(self.device)
            self.opt_D.zero_grad(set_to_none=True)
            z = self.noise.sample(batch_size, device=self.device)
            with self._autocast():
                stats = self.loss.accumulate_discriminator(real, z, self.step)
            self._optimizer_step(self.opt_D)

        # Generator phase; D's gradients from this phase are discarded by the next zero_grad.
        self.opt_G.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        z = self.noise.sample(batch_size, device=self.device)
        with self._autocast():
            stats.update(self.loss.accumulate_generator(z, self.step))
        self.D.requires_grad_(True)
        self._optimizer_step(self.opt_G)
        if self.grad_scaler is not None:
            self.grad_scaler.update()
            stats["loss_scale"] = float(self.grad_scaler.get_scale())

        beta = 0.5 ** (batch_size / (self.settings.ema_kimg * 1000)) if self.settings.ema_kimg else 0.0
        update_ema(self.G_ema, self.G, beta)
        self.step += 1
        return stats

    def run(self, max_steps: int | None = None) -> None:
        """Train until ``total_kimg`` (or until ``max_steps`` more steps, for tests)."""
        settings = self.settings
        target = self.total_steps
        if max_steps is not None:
            target = min(target, self.step + max_steps)
        stats_path = self.checkpoint_dir / "stats.jsonl"
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        tick = self.step // self.tick_steps
        tick_start, tick_start_step = time.perf_counter(), self.step
        sums: dict[str, float] = {}
        while self.step < target:
            stats = self.train_step()
            bad = {k: v for k, v in stats.items() if not math.isfinite(v)}
            if bad:
                raise TrainingError(f"non-finite loss {bad} at step {self.step} "
                                    f"({self.kimg:.2f} kimg); the last good checkpoint in "
                                    f"{self.checkpoint_dir} is kept. Lower the learning rates "
                                    "or raise r1_gamma, then rerun")
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
            if self.step % self.tick_steps and self.step < target:
                continue

            # Tick: log averages, then snapshot every snapshot_ticks ticks and at the end.
            tick += 1
            tick_s = time.perf_counter() - tick_start
            self.elapsed_s += tick_s
            steps = self.step - tick_start_step
            images_per_s = steps * self.images_per_step / max(tick_s, 1e-9)
            record = {"tick": tick, "step": self.step, "kimg": round(self.kimg, 3),
                      "time_s": round(self.elapsed_s, 2),
                      "sec_per_kimg": round(1000 / max(images_per_s, 1e-9), 3),
                      "images_per_s": round(images_per_s, 1),
                      **{k: round(v / steps, 5) for k, v in sums.items()},
                      "mem_gib": round(peak_memory_gib(self.device), 3)}
            log.info("tick %-5d step %-7d kimg %-8.2f time %-8.0f sec/kimg %-7.2f img/s %-7.1f "
                     "%s mem_gib %.2f", tick, self.step, self.kimg, self.elapsed_s,
                     record["sec_per_kimg"], images_per_s, " ".join(f"{k} {v / steps:<8.4f}" for k, v in sums.items()),
                     record["mem_gib"])
            with open(stats_path, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            if tick % settings.snapshot_ticks == 0 or self.step >= target:
                self.save()
            sums, tick_start, tick_start_step = {}, time.perf_counter(), self.step

    @torch.no_grad()
    def sample_grid(self, num: int = SAMPLE_GRID_SIZE) -> torch.Tensor:
        """Return uint8 samples ``[num, C, H, W]`` of G_ema from the fixed grid noise."""
        cpu_rng = torch.get_rng_state()
        torch.manual_seed(SAMPLE_GRID_SEED)
        z = self.noise.sample(num)
        torch.set_rng_state(cpu_rng)
        return float_to_images(self.G_ema(z.to(self.device)).cpu())

    def export(self, network_path: str | os.PathLike, samples_path: str | os.PathLike) -> None:
        """Write the evaluation network (G_ema and what is needed to rebuild it) and samples."""
        import torchvision

        network = {"G_ema": {k: v.cpu() for k, v in self.G_ema.state_dict().items()},
                   "settings": json.dumps(dataclasses.asdict(self.settings), sort_keys=True),
                   "resolution": self.resolution, "channels": self.channels,
                   "step": self.step, "kimg": self.kimg, "training_s": self.elapsed_s,
                   "noise_dims_consumed": int(self.G.noise_dims_consumed)}
        tmp = Path(str(network_path) + ".tmp")
        torch.save(network, tmp)
        os.replace(tmp, network_path)
        grid = self.sample_grid().float() / 255.0
        scale = max(1, 64 // self.resolution)  # enlarge tiny images so the grid is legible
        grid = torch.nn.functional.interpolate(grid, scale_factor=scale, mode="nearest")
        torchvision.utils.save_image(grid, samples_path, nrow=8, padding=2, pad_value=1.0)


def train_cell(settings: TrainSettings, dataset_dir: str | os.PathLike,
               run_dir: str | os.PathLike, network_path: str | os.PathLike,
               samples_path: str | os.PathLike, device: str = "auto",
               gpu_lock_dir: str | os.PathLike | None = None) -> Trainer:
    """Train (or resume) one cell and write its network and sample grid.

    With ``device`` ``auto`` or ``cuda`` the cell first claims a free GPU with
    ``noisedim.devices.claim_gpu(gpu_lock_dir)``, so parallel jobs on one machine use distinct
    GPUs. The claim is released when the function returns or raises.
    """
    claim = (claim_gpu(gpu_lock_dir) if device in ("auto", "cuda")
             else contextlib.nullcontext())
    with claim:
        return _train_cell(settings, dataset_dir, run_dir, network_path, samples_path, device)


def _train_cell(settings: TrainSettings, dataset_dir: str | os.PathLike,
                run_dir: str | os.PathLike, network_path: str | os.PathLike,
                samples_path: str | os.PathLike, device: str) -> Trainer:
    trainer = Trainer(settings, dataset_dir, run_dir, device)
    log.info("training %s z_dim=%d capacity=%g seed=%d on %s (%dx%d, %d channels) for %.1f kimg "
             "(%d steps of %d real images) on %s", settings.model, settings.z_dim,
             settings.capacity, settings.seed, dataset_dir, trainer.resolution, trainer.resolution,
             trainer.channels, settings.total_kimg, trainer.total_steps, trainer.images_per_step,
             trainer.device)
    log.info("settings: %s", json.dumps(dataclasses.asdict(settings), sort_keys=True))
    if not trainer.resume():
        log.info("no checkpoint in %s; starting from scratch", trainer.checkpoint_dir)
    trainer.run()
    trainer.export(network_path, samples_path)
    return trainer


def load_generator(network_path: str | os.PathLike, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild G_ema from a network file written by ``Trainer.export``; return it and metadata."""
    network_path = Path(network_path)
    if not network_path.is_file():
        raise FileNotFoundError(f"network file {network_path} not found; train the cell first")
    try:
        network = torch.load(network_path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"network file {network_path} is corrupt ({error}); delete it and "
                         "rerun the training rule") from None
    settings = TrainSettings(**json.loads(network["settings"]))
    family = MODELS.get(settings.model)
    G, _ = family.build(settings.z_dim, network["resolution"], network["channels"],
                        settings.capacity, family.resolve_options(settings.model_options))
    G.load_state_dict(network["G_ema"])
    meta = {k: v for k, v in network.items() if k != "G_ema"}
    meta["settings"] = settings
    return G.to(device).eval().requires_grad_(False), meta
