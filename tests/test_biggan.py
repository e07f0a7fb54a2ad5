"""The BigGAN family: latent split, shapes, options, hinge loss, and training through Trainer."""

import logging

import numpy as np
import pytest
import torch

from noisedim.models.biggan import latent_slices, orthogonal_penalty
from noisedim.registry import MODELS
from noisedim.training import Trainer, TrainSettings, load_generator, train_cell

CAPACITY = 1 / 16  # base width 4, so 16 channels per block


pytestmark = pytest.mark.usefixtures("one_thread")


def settings(**overrides):
    values = dict(model="biggan", z_dim=3, capacity=CAPACITY, seed=1, total_kimg=0.032,
                  batch_size=4, tick_kimg=0.016, snapshot_ticks=1, model_options={},
                  noise={})
    values.update(overrides)
    return TrainSettings(**values)


def build(z_dim=3, resolution=32, channels=3, **options):
    family = MODELS.get("biggan")
    return family.build(z_dim, resolution, channels, CAPACITY, family.resolve_options(options))


@pytest.mark.parametrize("z_dim, sizes", [(128, [32, 32, 32, 32]), (10, [3, 3, 2, 2]),
                                          (4, [1, 1, 1, 1]), (7, [2, 2, 2, 1])])
def test_latent_chunks_differ_by_at_most_one(z_dim, sizes):
    slices = latent_slices(z_dim, 4)
    assert [stop - start for start, stop in slices] == sizes
    assert slices[0][0] == 0
    assert slices[-1][1] == z_dim
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))


def test_latent_small_z_feeds_whole_z():
    assert latent_slices(3, 4) == [(0, 3)] * 4
    assert latent_slices(128, 4, hierarchical=False) == [(0, 128)] * 4


def test_build_logs_chunk_sizes(caplog):
    with caplog.at_level(logging.INFO, logger="noisedim.models.biggan"):
        build(z_dim=10)
        build(z_dim=2)
    assert "z_dim 10 split into chunks [3, 3, 2, 2]" in caplog.text
    assert "z_dim 2 is smaller than the 4 latent chunks, so the whole z" in caplog.text


@pytest.mark.parametrize("z_dim", [1, 2, 3, 128, 512])
def test_shapes_for_z_dims(z_dim):
    G, D = build(z_dim)
    images = G(torch.randn(4, z_dim))
    assert images.shape == (4, 3, 32, 32)
    assert images.abs().max() <= 1.0
    assert D(images).shape == (4,)
    assert G.z_dim == G.noise_dims_consumed == z_dim
    expected = (z_dim + 3) // 4 if z_dim >= 4 else z_dim
    assert G.linear.in_features == expected


def test_every_latent_chunk_changes_output():
    G, _ = build(z_dim=8)
    G.eval()
    z = torch.randn(2, 8)
    reference = G(z)
    for start, stop in G.slices:
        changed = z.clone()
        changed[:, start:stop] += 1.0
        assert not torch.allclose(G(changed), reference), f"chunk {start}:{stop} is unused"


@pytest.mark.parametrize("resolution", [8, 16, 32, 64, 128, 256])
def test_all_resolutions(resolution):
    G, D = build(resolution=resolution, channels=1)
    images = G(torch.randn(2, 3))
    assert images.shape == (2, 1, resolution, resolution)
    assert D(images).shape == (2,)


@pytest.mark.parametrize("resolution", [4, 12, 512])
def test_unsupported_resolution_raises(resolution):
    with pytest.raises(ValueError, match=f"resolution {resolution}"):
        build(resolution=resolution)


def test_bad_attention_resolution_raises():
    with pytest.raises(ValueError, match=r"g_attention_resolutions=\[64\]"):
        build(g_attention_resolutions=[64])
    with pytest.raises(ValueError, match=r"d_attention_resolutions=\[32\].*\[16, 8\]"):
        build(d_attention_resolutions=[32])


def test_weight_init_options():
    G, _ = build(init="ortho")
    weight = G.blocks[0].conv0.parametrizations.weight.original.flatten(1)  # [16, 144]
    torch.testing.assert_close(weight @ weight.t(), torch.eye(16), atol=1e-5, rtol=0)
    G, D = build(init="N02")
    weight = D.blocks[1].conv0.parametrizations.weight.original
    assert weight.std().item() == pytest.approx(0.02, rel=0.1)
    with pytest.raises(ValueError, match="init='kaiming'"):
        build(init="kaiming")


def test_unknown_option_raises():
    with pytest.raises(ValueError, match="unknown option"):
        build(attention=True)


def test_attention_is_trained():
    G, D = build(g_attention_resolutions=[16], d_attention_resolutions=[8])
    assert len(G.attention) == 1
    assert len(D.attention) == 1
    family = MODELS.get("biggan")
    loss = family.make_loss(G, D, family.resolve_options({}))
    with torch.no_grad():
        G.attention["1"].gamma.fill_(0.5)
    loss.accumulate_generator(torch.randn(4, 3), step=0)
    assert G.attention["1"].gamma.grad.abs() > 0


def test_orthogonal_penalty_value():
    layer = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    # W W^T = [[2, 1], [1, 1]]: the off-diagonal entries give 1^2 + 1^2.
    assert orthogonal_penalty(layer).item() == pytest.approx(2.0)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    assert orthogonal_penalty(layer).item() == 0.0


def test_hinge_loss_stats_and_ortho():
    G, D = build()
    family = MODELS.get("biggan")
    loss = family.make_loss(G, D, family.resolve_options({"ortho_reg": 1e-4}))
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    d_stats = loss.accumulate_discriminator(real, torch.randn(4, 3), step=0)
    assert {"loss_D", "D_real", "D_fake"} <= set(d_stats)
    # Hinge: loss_D >= 0, and it equals 2 when both logit means sit at 0 inside the margin.
    assert d_stats["loss_D"] >= 0
    g_stats = loss.accumulate_generator(torch.randn(4, 3), step=0)
    assert g_stats["ortho"] == pytest.approx(orthogonal_penalty(G).item(), rel=1e-5)
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)


def test_loss_under_bf16_autocast():
    G, D = build()
    family = MODELS.get("biggan")
    loss = family.make_loss(G, D, family.resolve_options({}))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stats = loss.accumulate_discriminator(torch.rand(4, 3, 32, 32), torch.randn(4, 3), 0)
        stats.update(loss.accumulate_generator(torch.randn(4, 3), 0))
    assert all(np.isfinite(v) for v in stats.values())
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())


@pytest.mark.parametrize("z_dim", [1, 2, 3, 128, 512])
def test_trainer_steps_for_z_dims(rgb32_dir, tmp_path, z_dim):
    trainer = Trainer(settings(z_dim=z_dim), rgb32_dir, tmp_path)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.run(max_steps=2)
    assert trainer.step == 2
    changed = [k for k, v in trainer.G.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    assert trainer.sample_grid(4).shape == (4, 3, 32, 32)


def test_resume_bit_identical(rgb32_dir, tmp_path):
    cell = settings(z_dim=10, model_options={"ortho_reg": 1e-4, "g_attention_resolutions": [16],
                                             "d_attention_resolutions": [8]})
    straight = Trainer(cell, rgb32_dir, tmp_path / "straight")
    straight.run()
    interrupted = Trainer(cell, rgb32_dir, tmp_path / "resumed")
    interrupted.run(max_steps=4)
    resumed = Trainer(cell, rgb32_dir, tmp_path / "resumed")
    assert resumed.resume()
    assert resumed.step == 4
    resumed.run()
    assert resumed.step == straight.step == 8
    for name in ("G", "D", "G_ema"):
        expected = getattr(straight, name).state_dict()
        for key, value in getattr(resumed, name).state_dict().items():
            assert torch.equal(value, expected[key]), f"{name}.{key} differs after resume"


def test_exported_network_reloads(rgb32_dir, tmp_path):
    network, samples = tmp_path / "network.pt", tmp_path / "samples.png"
    trainer = train_cell(settings(), rgb32_dir, tmp_path, network, samples, device="cpu")
    G, meta = load_generator(network)
    z = torch.randn(3, 3)
    torch.testing.assert_close(G(z), trainer.G_ema(z), rtol=0, atol=0)
    assert meta["noise_dims_consumed"] == 3
