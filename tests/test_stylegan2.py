"""The StyleGAN2-ADA family: layers, noise inputs, losses, ADA state, and training through Trainer."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from noisedim.checkpoint import load_latest_checkpoint
from noisedim.models.stylegan2 import (UPSAMPLE_FILTER, ModulatedConv2d, SynthesisLayer,
                                       minibatch_stddev, upsample_conv2d)
from noisedim.registry import MODELS
from noisedim.training import Trainer, TrainSettings, load_generator, train_cell

CAPACITY = 1 / 64  # 8 channels per resolution with the default channel_base and channel_max
FAMILY = MODELS.get("stylegan2")


pytestmark = pytest.mark.usefixtures("one_thread")


def settings(**overrides):
    values = dict(model="stylegan2", z_dim=3, capacity=CAPACITY, seed=1, total_kimg=0.032,
                  batch_size=4, tick_kimg=0.016, snapshot_ticks=1, model_options={},
                  noise={})
    values.update(overrides)
    return TrainSettings(**values)


def build(z_dim=3, resolution=32, channels=3, **options):
    return FAMILY.build(z_dim, resolution, channels, CAPACITY, FAMILY.resolve_options(options))


def make_loss(G, D, **options):
    return FAMILY.make_loss(G, D, FAMILY.resolve_options(options))


def set_noise_strength(G, value):
    with torch.no_grad():
        for layer in G.modules():
            if isinstance(layer, SynthesisLayer) and hasattr(layer, "noise_strength"):
                layer.noise_strength.fill_(value)


# Layers ---------------------------------------------------------------------------------------

def test_modulated_conv_matches_per_sample_filters():
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 6, 3, w_dim=7)
    x, w = torch.randn(3, 5, 8, 8), torch.randn(3, 7)
    styles = conv.affine(w)
    expected = []
    for n in range(3):
        weight = conv.weight * styles[n][None, :, None, None]
        weight = weight / weight.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        expected.append(F.conv2d(x[n:n + 1], weight, padding=1))
    torch.testing.assert_close(conv(x, w), torch.cat(expected), rtol=1e-4, atol=1e-5)


def test_upsample_conv_matches_zero_insertion():
    torch.manual_seed(6)
    x, weight = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3)
    zero_inserted = torch.zeros(2, 3, 9, 9)
    zero_inserted[:, :, ::2, ::2] = x
    convolved = F.conv2d(F.pad(zero_inserted, (2, 2, 2, 2)), weight.flip(2, 3))  # [2, 4, 11, 11]
    kernel = UPSAMPLE_FILTER.expand(4, 1, 4, 4)
    expected = F.conv2d(F.pad(convolved, (1, 1, 1, 1)), kernel, groups=4)
    out = upsample_conv2d(x, weight)
    assert out.shape == (2, 4, 10, 10)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_upsample_conv_keeps_constants():
    x = torch.full((1, 1, 6, 6), 2.0)
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1.0
    out = upsample_conv2d(x, weight)
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.full((1, 1, 8, 8), 2.0))


def test_demodulation_keeps_unit_variance():
    torch.manual_seed(1)
    conv = ModulatedConv2d(64, 64, 3, w_dim=16)
    out = conv(torch.randn(8, 64, 16, 16), torch.randn(8, 16))
    assert out[:, :, 1:-1, 1:-1].std().item() == pytest.approx(1.0, rel=0.1)


def test_minibatch_stddev_groups():
    x = torch.randn(4, 2, 3, 3)
    out = minibatch_stddev(x, group_size=2, num_channels=1)
    assert out.shape == (4, 3, 3, 3)
    # Samples 0 and 2 form one group, 1 and 3 the other.
    for first, second in [(0, 2), (1, 3)]:
        pair = torch.stack([x[first], x[second]])
        expected = ((pair - pair.mean(0)).square().mean(0) + 1e-8).sqrt().mean()
        torch.testing.assert_close(out[first, 2], torch.full((3, 3), expected.item()))
        torch.testing.assert_close(out[second, 2], out[first, 2])


def test_minibatch_stddev_rejects_uneven_batch():
    with pytest.raises(ValueError, match="batch size 6 is not divisible"):
        minibatch_stddev(torch.randn(6, 2, 4, 4), group_size=4, num_channels=1)


# Generator and options ------------------------------------------------------------------------

@pytest.mark.parametrize("z_dim", [1, 2, 3, 128, 512])
def test_shapes_for_z_dims(z_dim):
    G, D = build(z_dim)
    images = G(torch.randn(4, z_dim))
    assert images.shape == (4, 3, 32, 32)
    assert D(images).shape == (4,)
    assert G.eval()(torch.randn(4, z_dim)).abs().max() <= 1.0
    assert G.z_dim == z_dim


@pytest.mark.parametrize("resolution", [8, 16, 32, 64, 128, 256])
def test_all_resolutions(resolution):
    G, D = build(resolution=resolution, channels=1)
    images = G(torch.randn(4, 3))
    assert images.shape == (4, 1, resolution, resolution)
    assert D(images).shape == (4,)


@pytest.mark.parametrize("mode, extra", [("random", 16 + 2 * (64 + 256 + 1024)),
                                         ("const", 0), ("off", 0)])
def test_noise_dims_consumed(mode, extra):
    G, _ = build(z_dim=5, noise_inputs=mode)
    assert G.noise_dims_consumed == 5 + extra


def test_random_noise_varies_per_call():
    G, _ = build(noise_inputs="random")
    set_noise_strength(G, 1.0)
    z = torch.randn(2, 3)
    assert not torch.allclose(G(z), G(z))


def test_const_and_off_noise_are_deterministic():
    torch.manual_seed(2)
    G_const, _ = build(noise_inputs="const")
    torch.manual_seed(2)
    G_off, _ = build(noise_inputs="off")
    set_noise_strength(G_const, 1.0)
    assert any("noise_const" in name for name, _ in G_const.named_buffers())
    assert not any("noise" in name for name, _ in G_off.named_buffers())
    z = torch.randn(2, 3)
    torch.testing.assert_close(G_const(z), G_const(z), rtol=0, atol=0)
    torch.testing.assert_close(G_off(z), G_off(z), rtol=0, atol=0)
    assert not torch.allclose(G_const(z), G_off(z))


def test_normalize_z_keeps_only_sign_for_one_dim():
    G_norm, _ = build(z_dim=1, noise_inputs="off", normalize_z=True)
    z_small, z_large = torch.tensor([[0.5]]), torch.tensor([[2.0]])
    torch.testing.assert_close(G_norm(z_small), G_norm(z_large))
    G_raw, _ = build(z_dim=1, noise_inputs="off")
    assert not torch.allclose(G_raw(z_small), G_raw(z_large))


@pytest.mark.parametrize("options, message", [
    ({"noise_inputs": "sometimes"}, "noise_inputs='sometimes'"),
    ({"augment": "always"}, "augment='always'"),
    ({"normalize_z": "yes"}, "normalize_z='yes'"),
    ({"mapping_layers": 0}, "mapping_layers=0"),
    ({"mbstd_channels": 3}, "mbstd_channels=3"),
    ({"augment_transforms": ["cutout"]}, "cutout"),
])
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        build(**options)


def test_colour_augmentation_needs_rgb_or_grey():
    with pytest.raises(ValueError, match="1 or 3 image channels"):
        build(channels=2)
    G, D = build(channels=2, augment_transforms=["xflip"])
    assert G(torch.randn(4, 3)).shape == (4, 2, 32, 32)


@pytest.mark.parametrize("resolution", [4, 12, 512])
def test_unsupported_resolution_raises(resolution):
    with pytest.raises(ValueError, match=f"resolution {resolution}"):
        build(resolution=resolution)


# Loss -----------------------------------------------------------------------------------------

def d_grads(D):
    return [p.grad.clone() for p in D.parameters()]


def test_lazy_r1_weight_and_interval():
    torch.manual_seed(3)
    G, D = build(noise_inputs="off")
    loss = make_loss(G, D, augment="off", r1_gamma=0.5, r1_interval=4)
    real, z = torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 3)

    stats = loss.accumulate_discriminator(real, z, step=4)
    grads = d_grads(D)

    # The same loss by hand: logistic terms plus gamma / 2 * interval * E|grad D(real)|^2.
    D.zero_grad()
    real_in = real.clone().requires_grad_(True)
    logits_real, logits_fake = D(real_in), D(G(z).detach())
    (grad,) = torch.autograd.grad(logits_real.sum(), real_in, create_graph=True)
    penalty = grad.square().sum(dim=(1, 2, 3)).mean()
    total = (F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
             + penalty * 0.5 * 0.5 * 4)
    total.backward()
    for got, expected in zip(grads, d_grads(D)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert stats["r1"] == pytest.approx(penalty.item(), rel=1e-5)

    # Between intervals no new R1 is measured; the last value is reported.
    D.zero_grad()
    assert loss.accumulate_discriminator(real * 0.5, z, step=5)["r1"] == stats["r1"]


def test_loss_under_grad_scaler_matches_unscaled():
    torch.manual_seed(4)
    G, D = build(noise_inputs="off")
    real, z = torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 3)
    plain = make_loss(G, D, augment="off", r1_gamma=1.0, r1_interval=1)
    plain.accumulate_discriminator(real, z, step=0)
    expected = d_grads(D)
    D.zero_grad()
    scaled = make_loss(G, D, augment="off", r1_gamma=1.0, r1_interval=1)
    scaled.grad_scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaled.accumulate_discriminator(real, z, step=0)
    for got, want in zip(d_grads(D), expected):
        torch.testing.assert_close(got / 1024.0, want, rtol=1e-4, atol=1e-6)


def test_path_length_updates_mean_and_state():
    torch.manual_seed(5)
    G, D = build()
    loss = make_loss(G, D, pl_weight=2.0, pl_interval=2)
    stats = loss.accumulate_generator(torch.randn(4, 3), step=0)
    assert stats["pl_mean"] > 0
    first = loss.pl_mean
    loss.accumulate_generator(torch.randn(4, 3), step=1)
    assert loss.pl_mean == first  # not an evaluation step
    restored = make_loss(G, D, pl_weight=2.0, pl_interval=2)
    restored.load_state_dict(loss.state_dict())
    assert restored.pl_mean == first


def test_ada_state_in_loss():
    G, D = build()
    loss = make_loss(G, D, augment_p=0.25, ada_interval=1, ada_kimg=0.1)
    loss.accumulate_discriminator(torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 3), step=1)
    assert loss.augment_p != 0.25
    state = loss.state_dict()
    assert state["ada"]["augment_p"] == loss.augment_p
    restored = make_loss(G, D)
    restored.load_state_dict(state)
    assert restored.augment_p == loss.augment_p
    with pytest.raises(ValueError, match="other augmentation settings"):
        make_loss(G, D, augment="off").load_state_dict(state)


def test_fixed_augmentation_keeps_p():
    G, D = build()
    loss = make_loss(G, D, augment="fixed", augment_p=0.3)
    stats = loss.accumulate_discriminator(torch.rand(4, 3, 32, 32), torch.randn(4, 3), step=1)
    assert stats["augment_p"] == loss.augment_p == 0.3
    assert loss.state_dict().keys() == {"pl_mean", "last_r1"}


def test_loss_under_bf16_autocast():
    G, D = build()
    loss = make_loss(G, D, augment_p=0.5, pl_weight=2.0, pl_interval=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stats = loss.accumulate_discriminator(torch.rand(4, 3, 32, 32), torch.randn(4, 3), 0)
        stats.update(loss.accumulate_generator(torch.randn(4, 3), 0))
    assert all(np.isfinite(v) for v in stats.values())
    assert all(torch.isfinite(p.grad).all() for p in G.parameters())


# Training -------------------------------------------------------------------------------------

@pytest.mark.parametrize("z_dim", [1, 2, 3, 128, 512])
def test_trainer_steps_for_z_dims(rgb32_dir, tmp_path, z_dim):
    trainer = Trainer(settings(z_dim=z_dim, model_options={"augment_p": 0.5}), rgb32_dir,
                      tmp_path)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.run(max_steps=2)
    assert trainer.step == 2
    changed = [k for k, v in trainer.G.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    assert trainer.sample_grid(4).shape == (4, 3, 32, 32)


def test_resume_bit_identical_with_ada(rgb32_dir, tmp_path):
    cell = settings(model_options={"augment_p": 0.3, "ada_interval": 1, "ada_kimg": 0.05,
                                   "r1_interval": 3, "pl_weight": 2.0, "pl_interval": 3})
    straight = Trainer(cell, rgb32_dir, tmp_path / "straight")
    straight.run()
    interrupted = Trainer(cell, rgb32_dir, tmp_path / "resumed")
    interrupted.run(max_steps=5)  # p moves by +-0.08 per step: after 5 steps it is not 0.3
    saved, _ = load_latest_checkpoint(interrupted.checkpoint_dir)
    assert saved["loss"]["ada"]["augment_p"] == interrupted.loss.augment_p != 0.3
    resumed = Trainer(cell, rgb32_dir, tmp_path / "resumed")
    assert resumed.resume()
    assert resumed.loss.augment_p == interrupted.loss.augment_p
    resumed.run()
    assert resumed.step == straight.step == 8
    assert resumed.loss.state_dict() == straight.loss.state_dict()
    for name in ("G", "D", "G_ema"):
        expected = getattr(straight, name).state_dict()
        for key, value in getattr(resumed, name).state_dict().items():
            assert torch.equal(value, expected[key]), f"{name}.{key} differs after resume"


def test_exported_network_reloads(rgb32_dir, tmp_path):
    network, samples = tmp_path / "network.pt", tmp_path / "samples.png"
    trainer = train_cell(settings(model_options={"noise_inputs": "const"}), rgb32_dir,
                         tmp_path, network, samples, device="cpu")
    G, meta = load_generator(network)
    z = torch.randn(3, 3)
    torch.testing.assert_close(G(z), trainer.G_ema(z), rtol=0, atol=0)
    assert meta["noise_dims_consumed"] == 3


def test_amp_on_cpu_raises(rgb32_dir, tmp_path):
    with pytest.raises(ValueError, match="amp='bf16' needs a CUDA device"):
        Trainer(settings(amp="bf16"), rgb32_dir, tmp_path, device="cpu")
    with pytest.raises(ValueError, match="amp='fp8' is invalid"):
        settings(amp="fp8")
