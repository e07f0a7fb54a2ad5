"""Claim one GPU per training job on a machine that runs several jobs at once.

``snakemake --cores all --resources gpu=4`` on one machine only limits how many GPU jobs run at
the same time. It assigns no GPU ids, so every job would use GPU 0. ``claim_gpu`` makes each job
take a distinct GPU itself: it holds an exclusive ``fcntl.flock`` lock on one file per device id
in a shared lock directory and sets ``CUDA_VISIBLE_DEVICES`` to that id. The kernel releases a
flock when its file is closed, including when the process dies, so a killed job never leaves a
GPU claimed. Under a scheduler that assigns GPUs itself (SLURM sets ``CUDA_VISIBLE_DEVICES``),
nothing is claimed.

``CUDA_VISIBLE_DEVICES`` takes effect only if CUDA has not been initialised in the process yet,
so claim the GPU before any CUDA call, ``torch.cuda.is_available()`` included.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

VISIBLE_DEVICES_VARIABLE = "CUDA_VISIBLE_DEVICES"

# Device nodes of the NVIDIA driver and of AMD's ROCm driver; without either no GPU is usable.
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/kfd")


def default_lock_dir() -> Path:
    """Return the per-user lock directory used when none is given, in the system temp dir."""
    return Path(tempfile.gettempdir()) / f"noisedim-gpu-locks-{os.getuid()}"


def count_gpus() -> int:
    """Return the number of CUDA devices, counted in a child process.

    Without a GPU driver's device node (``GPU_DEVICE_NODES``) it returns 0 at once.
    Otherwise counting in this process could initialise CUDA (``torch.cuda.is_available`` calls
    ``cuInit``), after which ``CUDA_VISIBLE_DEVICES`` no longer has any effect, so a short-lived
    Python process counts them instead. It inherits this environment, so it counts the devices
    that ``CUDA_VISIBLE_DEVICES`` leaves visible.
    """
    if not any(os.path.exists(node) for node in GPU_DEVICE_NODES):
        return 0
    script = "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"counting CUDA devices failed (exit code {result.returncode}): "
                           f"{result.stderr.strip()[-500:]}")
    return int(result.stdout.strip().splitlines()[-1])


def _try_lock(path: Path):
    """Return an open file holding an exclusive flock on ``path``, or None if another holds it."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")  # for people who look at the lock file; not read back
    handle.flush()
    return handle


def _lock_free_device(lock_dir: Path, num_devices: int):
    """Return ``(id, locked file)`` for the lowest free device id, or ``(-1, None)``."""
    for device_id in range(num_devices):
        handle = _try_lock(lock_dir / f"gpu-{device_id}.lock")
        if handle is not None:
            return device_id, handle
    return -1, None


@contextlib.contextmanager
def claim_gpu(lock_dir: str | os.PathLike | None = None, num_devices: int | None = None,
              timeout_s: float = 600.0, poll_s: float = 1.0) -> Iterator[int | None]:
    """Claim a free GPU for the duration of the ``with`` block; yield its id or None.

    * ``CUDA_VISIBLE_DEVICES`` already set (by SLURM, say): claim nothing, yield None.
    * No GPU (``num_devices`` 0, or ``count_gpus()`` returns 0): claim nothing, yield None.
    * Otherwise lock ``gpu-<id>.lock`` in ``lock_dir`` (default ``default_lock_dir()``) for the
      first free id in 0..num_devices-1, set ``CUDA_VISIBLE_DEVICES=<id>``, and yield the id.
      While all ids are taken, retry every ``poll_s`` seconds; after ``timeout_s`` seconds
      raise ``TimeoutError``. On exit the lock is released and the variable is removed.

    ``num_devices`` defaults to ``count_gpus()``; tests pass it to simulate a machine.
    """
    if os.environ.get(VISIBLE_DEVICES_VARIABLE) is not None:
        log.info("%s=%r is already set (by a scheduler or the user); claiming no GPU",
                 VISIBLE_DEVICES_VARIABLE, os.environ[VISIBLE_DEVICES_VARIABLE])
        yield None
        return
    if num_devices is None:
        num_devices = count_gpus()
    if num_devices < 0:
        raise ValueError(f"num_devices={num_devices} is invalid; use 0 or more")
    if num_devices == 0:
        log.debug("no GPU found; claiming none")
        yield None
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("CUDA is already initialised in this process, so setting "
                           f"{VISIBLE_DEVICES_VARIABLE} would have no effect; claim the GPU "
                           "before any CUDA call")

    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    device_id, handle = _lock_free_device(lock_dir, num_devices)
    while handle is None:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"all {num_devices} GPUs stayed claimed for {timeout_s:.0f} s "
                               f"(lock files in {lock_dir}); run fewer GPU jobs at once "
                               "(snakemake --resources gpu=N with N at most the number of "
                               "GPUs) or raise the wait time")
        time.sleep(poll_s)
        device_id, handle = _lock_free_device(lock_dir, num_devices)

    os.environ[VISIBLE_DEVICES_VARIABLE] = str(device_id)
    log.info("claimed GPU %d (lock %s); %s=%d", device_id, handle.name,
             VISIBLE_DEVICES_VARIABLE, device_id)
    try:
        yield device_id
    finally:
        os.environ.pop(VISIBLE_DEVICES_VARIABLE, None)
        handle.close()  # closing the file releases the flock
        log.info("released GPU %d", device_id)
