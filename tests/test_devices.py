"""GPU claiming with flock: distinct ids for parallel jobs, release on exit and on death.

No GPU exists here, so ``num_devices`` simulates the machine's device count.
"""

import multiprocessing
import os
import time

import pytest
import torch

from noisedim import devices
from noisedim.devices import VISIBLE_DEVICES_VARIABLE, claim_gpu

CONTEXT = multiprocessing.get_context("fork")


@pytest.fixture(autouse=True)
def no_visible_devices(monkeypatch):
    monkeypatch.delenv(VISIBLE_DEVICES_VARIABLE, raising=False)


def claim_and_report(lock_dir, num_devices, barrier, queue):
    with claim_gpu(lock_dir, num_devices=num_devices, timeout_s=20, poll_s=0.05) as device_id:
        queue.put((device_id, os.environ.get(VISIBLE_DEVICES_VARIABLE)))
        barrier.wait(timeout=30)  # hold the claim until every process has one


def claim_and_count_holders(lock_dir, holders, queue):
    with claim_gpu(lock_dir, num_devices=2, timeout_s=20, poll_s=0.02) as device_id:
        with holders.get_lock():
            holders[device_id] += 1
            most = holders[device_id]
        time.sleep(0.1)
        with holders.get_lock():
            holders[device_id] -= 1
    queue.put((device_id, most))


def claim_and_hold(lock_dir, ready):
    with claim_gpu(lock_dir, num_devices=1, timeout_s=20, poll_s=0.05):
        ready.set()
        while True:
            time.sleep(1)


def start_holder(lock_dir):
    ready = CONTEXT.Event()
    holder = CONTEXT.Process(target=claim_and_hold, args=(lock_dir, ready), daemon=True)
    holder.start()
    assert ready.wait(20), "the holder process did not claim the GPU"
    return holder


def test_parallel_claims_get_distinct_ids(tmp_path):
    barrier, queue = CONTEXT.Barrier(4), CONTEXT.Queue()
    workers = [CONTEXT.Process(target=claim_and_report, args=(tmp_path, 4, barrier, queue))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sorted(device_id for device_id, _ in results) == [0, 1, 2, 3]
    for device_id, visible in results:
        assert visible == str(device_id)


def test_more_jobs_than_gpus_wait_their_turn(tmp_path):
    holders, queue = CONTEXT.Array("i", 2), CONTEXT.Queue()
    workers = [CONTEXT.Process(target=claim_and_count_holders, args=(tmp_path, holders, queue))
               for _ in range(5)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert {device_id for device_id, _ in results} <= {0, 1}
    assert max(most for _, most in results) == 1, "two jobs held one GPU at the same time"


def test_killed_holder_frees_its_gpu(tmp_path):
    holder = start_holder(tmp_path)
    with pytest.raises(TimeoutError, match="all 1 GPUs stayed claimed"):
        with claim_gpu(tmp_path, num_devices=1, timeout_s=0.3, poll_s=0.05):
            pass
    holder.kill()
    holder.join(timeout=10)
    with claim_gpu(tmp_path, num_devices=1, timeout_s=5, poll_s=0.05) as device_id:
        assert device_id == 0


def test_claim_sets_and_restores_environment(tmp_path):
    with claim_gpu(tmp_path, num_devices=2) as device_id:
        assert device_id == 0
        assert os.environ[VISIBLE_DEVICES_VARIABLE] == "0"
    assert VISIBLE_DEVICES_VARIABLE not in os.environ
    with claim_gpu(tmp_path, num_devices=2) as again:
        assert again == 0


def test_claim_released_after_exception(tmp_path):
    with pytest.raises(KeyError):
        with claim_gpu(tmp_path, num_devices=1):
            raise KeyError("failure inside the claim")
    assert VISIBLE_DEVICES_VARIABLE not in os.environ
    with claim_gpu(tmp_path, num_devices=1, timeout_s=0) as device_id:
        assert device_id == 0


def test_scheduler_assignment_is_respected(tmp_path, monkeypatch):
    monkeypatch.setenv(VISIBLE_DEVICES_VARIABLE, "2")
    with claim_gpu(tmp_path / "locks", num_devices=4) as device_id:
        assert device_id is None
        assert os.environ[VISIBLE_DEVICES_VARIABLE] == "2"
    assert os.environ[VISIBLE_DEVICES_VARIABLE] == "2"
    assert not (tmp_path / "locks").exists()


def test_no_gpu_claims_nothing(tmp_path):
    with claim_gpu(tmp_path / "locks", num_devices=0) as device_id:
        assert device_id is None
        assert VISIBLE_DEVICES_VARIABLE not in os.environ
    assert not (tmp_path / "locks").exists()


@pytest.mark.skipif(any(os.path.exists(node) for node in devices.GPU_DEVICE_NODES),
                    reason="this machine has a GPU driver")
def test_count_gpus_without_driver_is_zero():
    assert devices.count_gpus() == 0


def test_claim_after_cuda_init_raises(tmp_path, monkeypatch):
    # Simulates a process that already used its GPU.
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(RuntimeError, match="already initialised"):
        with claim_gpu(tmp_path, num_devices=1):
            pass
