"""ADA's augmentation pipe (exact geometric and colour transforms, gradients) and its p control."""

import math

import pytest
import torch

from noisedim.augment import (GEOMETRIC_TRANSFORMS, TRANSFORMS, XINT_MAX, AdaController,
                              AugmentPipe, apply_color, apply_geometric)


def images(n=6, channels=3, size=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=generator) * 2 - 1


def test_p_zero_is_identity_without_draws():
    x = images()
    rng = torch.get_rng_state()
    assert AugmentPipe(TRANSFORMS, p=0.0)(x) is x
    assert torch.equal(torch.get_rng_state(), rng)


def test_xflip_mirrors_or_keeps():
    torch.manual_seed(0)
    x = images(n=32)
    out = AugmentPipe(["xflip"], p=1.0)(x)
    flipped = [torch.allclose(a, b.flip(2), atol=1e-5) for a, b in zip(out, x)]
    kept = [torch.allclose(a, b, atol=1e-5) for a, b in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept)), "output is neither the input nor its mirror"
    assert any(flipped)
    assert any(kept)


def test_rotate90_gives_quarter_turns():
    torch.manual_seed(0)
    x = images(n=32)
    out = AugmentPipe(["rotate90"], p=1.0)(x)
    turns = []
    for original, rotated in zip(x, out):
        matches = [k for k in range(4)
                   if torch.allclose(rotated, torch.rot90(original, k, dims=(1, 2)), atol=1e-5)]
        assert len(matches) == 1, "output is not a quarter turn of its input"
        turns.append(matches[0])
    assert set(turns) == {0, 1, 2, 3}


def test_integer_translation_moves_pixels_exactly():
    x = images(n=1)
    shift_x, shift_y, size = 3, -2, x.shape[-1]
    matrix = torch.eye(3)[None].clone()
    matrix[0, 0, 2], matrix[0, 1, 2] = -shift_x * 2 / size, -shift_y * 2 / size
    out = apply_geometric(x, matrix)
    # Interior: output pixel (y, x) shows input pixel (y - shift_y, x - shift_x).
    torch.testing.assert_close(out[..., 0:size + shift_y, shift_x:],
                               x[..., -shift_y:, 0:size - shift_x], atol=1e-5, rtol=0)


def test_random_xint_shifts_are_bounded_integers():
    torch.manual_seed(1)
    x = images(n=12, size=32)
    out = AugmentPipe(["xint"], p=1.0)(x)
    limit = round(XINT_MAX * 32)
    for original, shifted in zip(x, out):
        found = [(dx, dy) for dx in range(-limit, limit + 1) for dy in range(-limit, limit + 1)
                 if torch.allclose(shifted[:, limit:32 - limit, limit:32 - limit],
                                   original[:, limit - dy:32 - limit - dy,
                                            limit - dx:32 - limit - dx], atol=1e-5)]
        assert len(found) == 1, "output is not an integer translation within the limit"


def test_scale_factor_spread():
    torch.manual_seed(2)
    mask = torch.ones(4000, dtype=torch.bool)
    matrices = GEOMETRIC_TRANSFORMS["scale"](mask, 32, 32)
    log2_factors = -torch.log2(matrices[:, 0, 0])
    assert torch.equal(matrices[:, 0, 0], matrices[:, 1, 1])
    assert log2_factors.std().item() == pytest.approx(0.2, rel=0.1)
    assert abs(log2_factors.mean().item()) < 0.02


def test_geometric_keeps_constant_images():
    torch.manual_seed(3)
    x = torch.full((8, 3, 16, 16), 0.3)
    out = AugmentPipe(list(GEOMETRIC_TRANSFORMS), p=1.0)(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_brightness_adds_one_offset_per_image():
    torch.manual_seed(4)
    x = images()
    difference = AugmentPipe(["brightness"], p=1.0)(x) - x
    per_image = difference.flatten(1)
    torch.testing.assert_close(per_image, per_image[:, :1].expand_as(per_image), atol=1e-5,
                               rtol=0)
    assert per_image[:, 0].abs().min() > 0


def test_contrast_scales_each_image():
    torch.manual_seed(5)
    x = images()
    ratio = (AugmentPipe(["contrast"], p=1.0)(x) / x).flatten(1)
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4, rtol=1e-4)


def test_saturation_keeps_grey_level():
    torch.manual_seed(6)
    x = images()
    out = AugmentPipe(["saturation"], p=1.0)(x)
    torch.testing.assert_close(out.mean(dim=1), x.mean(dim=1), atol=1e-5, rtol=0)
    assert not torch.allclose(out, x, atol=1e-3)
    grey = x[:, :1].expand(-1, 3, -1, -1)
    torch.testing.assert_close(AugmentPipe(["saturation"], p=1.0)(grey), grey, atol=1e-5,
                               rtol=0)


def test_grey_scale_images_get_colour_transforms():
    torch.manual_seed(7)
    x = images(channels=1)
    out = AugmentPipe(["brightness", "contrast", "saturation"], p=1.0)(x)
    assert out.shape == x.shape
    assert not torch.allclose(out, x)


def test_probability_applies_per_image():
    torch.manual_seed(8)
    x = images(n=2000, size=4)
    out = AugmentPipe(["brightness"], p=0.3)(x)
    changed = ~torch.isclose(out, x, atol=1e-6).flatten(1).all(dim=1)
    assert changed.float().mean().item() == pytest.approx(0.3, abs=0.04)


def test_transforms_are_differentiable():
    x = images(n=2, size=6).double().requires_grad_(True)
    matrix = torch.eye(3, dtype=torch.float64)[None].repeat(2, 1, 1)
    matrix[:, 0, 0] = matrix[:, 1, 1] = 0.8
    assert torch.autograd.gradcheck(lambda t: apply_geometric(t, matrix), (x,))
    colour = torch.eye(4, dtype=torch.float64)[None].repeat(2, 1, 1) * 1.3
    colour[:, :3, 3] = 0.1
    assert torch.autograd.gradcheck(lambda t: apply_color(t, colour), (x,))


def test_full_pipe_passes_gradients():
    torch.manual_seed(9)
    x = images().requires_grad_(True)
    AugmentPipe(TRANSFORMS, p=1.0)(x).square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_pipe_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown augmentation transform"):
        AugmentPipe(["cutout"])
    with pytest.raises(ValueError, match="p=1.5"):
        AugmentPipe(["xflip"], p=1.5)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        AugmentPipe(["brightness"], p=1.0)(images(channels=2))


def test_ada_raises_p_when_d_overfits():
    pipe = AugmentPipe(TRANSFORMS, p=0.1)
    ada = AdaController(pipe, target=0.6, interval=3, kimg=0.5)
    confident = torch.ones(8)  # sign(D(real)) = 1 > target: D overfits
    ada.observe(confident)
    ada.observe(confident)
    assert pipe.p == 0.1
    ada.observe(confident)
    assert pipe.p == pytest.approx(0.1 + 24 / 500)
    assert ada.last_rt == 1.0


def test_ada_lowers_p_and_clips_at_zero():
    pipe = AugmentPipe(TRANSFORMS, p=0.01)
    ada = AdaController(pipe, target=0.6, interval=1, kimg=0.5)
    ada.observe(torch.tensor([1.0, -1.0, -1.0, 1.0]))  # r_t = 0 < target
    assert pipe.p == pytest.approx(0.01 - 4 / 500)
    ada.observe(torch.tensor([1.0, -1.0, -1.0, 1.0]))
    assert pipe.p == 0.0
    ada.observe(torch.tensor([1.0, -1.0, -1.0, 1.0]))
    assert pipe.p == 0.0


def test_ada_clips_at_one():
    pipe = AugmentPipe(TRANSFORMS, p=0.99)
    AdaController(pipe, interval=1, kimg=0.001).observe(torch.ones(4))
    assert pipe.p == 1.0


def test_ada_state_round_trip_mid_interval():
    pipe = AugmentPipe(TRANSFORMS, p=0.2)
    ada = AdaController(pipe, interval=4, kimg=1.0)
    logits = [torch.tensor([2.0, -1.0, 3.0, 0.5]), torch.tensor([1.0, 1.0, -2.0, 1.0])]
    ada.observe(logits[0])
    state = ada.state_dict()
    restored_pipe = AugmentPipe(TRANSFORMS, p=0.0)
    restored = AdaController(restored_pipe, interval=4, kimg=1.0)
    restored.load_state_dict(state)
    assert restored_pipe.p == 0.2
    for _ in range(3):
        ada.observe(logits[1])
        restored.observe(logits[1])
    assert restored_pipe.p == pipe.p
    assert pipe.p != 0.2


@pytest.mark.parametrize("kwargs, message", [
    ({"target": 1.5}, "target 1.5"),
    ({"interval": 0}, "interval 0"),
    ({"kimg": 0}, "ada_kimg=0"),
])
def test_ada_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaController(AugmentPipe(TRANSFORMS), **kwargs)


def test_transform_names_are_unique():
    assert len(set(TRANSFORMS)) == len(TRANSFORMS) == 7
    assert math.isclose(XINT_MAX, 0.125)
