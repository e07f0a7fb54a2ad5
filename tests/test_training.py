"""The DCGAN family, training steps, checkpoints and exact resumption on the CPU."""

import json

import pytest
import torch

from noisedim.checkpoint import CheckpointError, list_checkpoints, save_checkpoint
from noisedim.registry import MODELS
from noisedim.training import (Trainer, TrainingError, TrainSettings, load_generator,
                               train_cell)


def small_settings(**overrides):
    values = dict(model="dcgan", z_dim=3, capacity=0.25, seed=1, total_kimg=0.64,
                  batch_size=32, tick_kimg=0.32, snapshot_ticks=1, model_options={},
                  noise={})
    values.update(overrides)
    return TrainSettings(**values)


@pytest.mark.parametrize("z_dim", [1, 64])
def test_dcgan_shapes(z_dim):
    family = MODELS.get("dcgan")
    G, D = family.build(z_dim, 8, 1, 1.0, family.resolve_options({}))
    images = G(torch.randn(4, z_dim))
    assert images.shape == (4, 1, 8, 8)
    assert images.abs().max() <= 1.0
    assert D(images).shape == (4,)
    assert G.noise_dims_consumed == z_dim


def test_dcgan_rejects_bad_resolution():
    with pytest.raises(ValueError, match="resolution 12"):
        MODELS.get("dcgan").check_resolution(12)


def test_settings_reject_negative_kimg():
    with pytest.raises(ValueError, match="total_kimg=-1"):
        small_settings(total_kimg=-1)


def test_training_steps_change_weights(digits_dir, tmp_path):
    trainer = Trainer(small_settings(), digits_dir, tmp_path)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    stats = trainer.train_step()
    assert {"loss_D", "loss_G", "r1"} <= set(stats)
    changed = [k for k, v in trainer.G.state_dict().items() if not torch.equal(v, before[k])]
    assert changed


def test_resume_bit_identical(digits_dir, tmp_path):
    settings = small_settings()
    straight = Trainer(settings, digits_dir, tmp_path / "straight")
    straight.run()
    interrupted = Trainer(settings, digits_dir, tmp_path / "resumed")
    interrupted.run(max_steps=10)
    resumed = Trainer(settings, digits_dir, tmp_path / "resumed")
    assert resumed.resume()
    assert resumed.step == 10
    resumed.run()
    assert resumed.step == straight.step == 20
    for name in ("G", "D", "G_ema"):
        expected = getattr(straight, name).state_dict()
        for key, value in getattr(resumed, name).state_dict().items():
            assert torch.equal(value, expected[key]), f"{name}.{key} differs after resume"


def test_corrupt_checkpoint_falls_back(digits_dir, tmp_path, caplog):
    settings = small_settings()
    trainer = Trainer(settings, digits_dir, tmp_path)
    trainer.run()
    newest, previous = list_checkpoints(trainer.checkpoint_dir)
    newest.write_bytes(newest.read_bytes()[:500])
    again = Trainer(settings, digits_dir, tmp_path)
    assert again.resume()
    assert again.step == 10
    assert newest.name in caplog.text
    # The tick record of step 20 is dropped, because the resumed run writes it again.
    stats = (again.checkpoint_dir / "stats.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in stats] == [10]


def test_all_checkpoints_corrupt_raises(digits_dir, tmp_path):
    settings = small_settings()
    trainer = Trainer(settings, digits_dir, tmp_path)
    trainer.run(max_steps=10)
    for path in list_checkpoints(trainer.checkpoint_dir):
        path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        Trainer(settings, digits_dir, tmp_path).resume()


def test_checkpoints_pruned_atomically(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint({"step": torch.tensor(step)}, tmp_path, step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-000000003.pt",
                                                             "ckpt-000000002.pt"]
    assert not list(tmp_path.glob("*.tmp"))


def test_nonfinite_loss_stops(digits_dir, tmp_path):
    settings = small_settings(model_options={"lr_g": 1e30, "lr_d": 1e30})
    trainer = Trainer(settings, digits_dir, tmp_path)
    with pytest.raises(TrainingError, match="non-finite loss .* at step"):
        trainer.run()


def test_settings_change_uses_new_checkpoints(digits_dir, tmp_path):
    Trainer(small_settings(), digits_dir, tmp_path).run(max_steps=10)
    other = Trainer(small_settings(seed=2), digits_dir, tmp_path)
    assert not other.resume()


def test_train_cell_exports_network(digits_dir, tmp_path):
    network, samples = tmp_path / "network.pt", tmp_path / "samples.png"
    train_cell(small_settings(), digits_dir, tmp_path, network, samples)
    G, meta = load_generator(network)
    assert G(torch.randn(2, 3)).shape == (2, 1, 8, 8)
    assert meta["step"] == 20
    assert samples.stat().st_size > 0
    records = [json.loads(line) for line in
               (tmp_path / "checkpoints" / small_settings().fingerprint() / "stats.jsonl")
               .read_text().splitlines()]
    assert records[-1]["kimg"] == pytest.approx(0.64)
    assert {"sec_per_kimg", "loss_G", "loss_D", "mem_gib"} <= set(records[-1])


def test_d_steps_count_real_images(digits_dir, tmp_path):
    trainer = Trainer(small_settings(model_options={"d_steps": 2}), digits_dir, tmp_path)
    assert trainer.images_per_step == 64
    assert trainer.total_steps == 10  # 0.64 kimg at 64 real images per step
    trainer.run()
    assert trainer.kimg == pytest.approx(0.64)


def test_d_steps_rejects_zero():
    with pytest.raises(ValueError, match="d_steps=0"):
        MODELS.get("dcgan").resolve_options({"d_steps": 0})
