"""Tests of noisedim.compression: lossless bitrates, the minimum noise dimension table, the
bitrates command line and the workflow scripts."""

from __future__ import annotations

import math
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from noisedim import cli
from noisedim.compression import (CODECS, LosslessCodec, RoundTripError, dataset_bitrates,
                                  empirical_entropy_bits, encode_exact, header_bytes,
                                  min_noise_dim_table, tile_mosaics, to_markdown)
from noisedim.entropy import float_noise_entropy

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["codec", "mode", "bits_per_dim", "bits_per_image", "header_bytes", "num_images",
           "num_files", "dims_per_image", "empirical_entropy_bits", "round_trip_exact"]


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """The first 300 scikit-learn digits as uint8 [300, 1, 8, 8], scaled from 0-16 to 0-255."""
    images = np.round(load_digits().images[:300] * 255 / 16).astype(np.uint8)
    return images[:, None]


@pytest.fixture(scope="module")
def digits_bitrates(digits) -> pd.DataFrame:
    return dataset_bitrates(digits)


# --------------------------------------------------------------------------------------------
# Bitrates.


def test_bitrates_table_layout(digits_bitrates):
    assert list(digits_bitrates.columns) == COLUMNS
    assert list(digits_bitrates["codec"]) == ["png", "png", "webp", "webp", "jpegxl", "jpegxl"]
    assert list(digits_bitrates["mode"]) == ["per_image", "mosaic"] * 3
    assert digits_bitrates["round_trip_exact"].all()
    assert (digits_bitrates["num_images"] == 300).all()
    assert (digits_bitrates["dims_per_image"] == 64).all()
    assert digits_bitrates["empirical_entropy_bits"].iloc[0] == pytest.approx(math.log2(300))
    per_image = digits_bitrates[digits_bitrates["mode"] == "per_image"]
    assert (per_image["num_files"] == 300).all()
    assert (digits_bitrates[digits_bitrates["mode"] == "mosaic"]["num_files"] == 1).all()
    assert np.allclose(digits_bitrates["bits_per_image"], 64 * digits_bitrates["bits_per_dim"])


def test_mosaics_amortise_headers(digits_bitrates):
    for codec, rows in digits_bitrates.groupby("codec"):
        per_image, mosaic = (rows.set_index("mode").loc[mode] for mode in ("per_image", "mosaic"))
        # An 8x8 digit file pays the whole header, so per-image rates exceed the header alone.
        assert per_image["bits_per_image"] >= 8 * per_image["header_bytes"] - 8, codec
        assert mosaic["bits_per_dim"] < per_image["bits_per_dim"] / 2, codec
        assert 1.0 < mosaic["bits_per_dim"] < 5.0, codec


def test_constant_images_compress_to_almost_nothing():
    table = dataset_bitrates(np.full((256, 1, 16, 16), 77, dtype=np.uint8))
    mosaic = table[table["mode"] == "mosaic"].set_index("codec")["bits_per_dim"]
    assert (mosaic < 0.1).all(), mosaic


@pytest.mark.parametrize("channels", [1, 3])
def test_uniform_noise_needs_about_8_bits(channels):
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, size=(64, channels, 8, 8), dtype=np.uint8)
    table = dataset_bitrates(images)
    mosaic = table[table["mode"] == "mosaic"].set_index("codec")["bits_per_dim"]
    # No lossless code beats the 8 bits of entropy per value by more than chance allows.
    # JPEG XL (effort 10) spends up to about 14% more than that on noise.
    assert (mosaic > 7.95).all(), mosaic
    assert (mosaic < 9.2).all(), mosaic


def test_header_bytes_follow_png_layout():
    # A PNG has an 8-byte signature, IHDR (25 bytes), IDAT (12 bytes plus a zlib stream of
    # at least 8 bytes) and IEND (12 bytes).
    assert header_bytes("png", 1) >= 8 + 25 + 12 + 8 + 12
    assert header_bytes("png", 3) >= header_bytes("png", 1)
    for codec in CODECS:
        assert 0 < header_bytes(codec, 3) < 100


def test_max_images_takes_first_images(digits):
    table = dataset_bitrates(digits, codecs=["png"], max_images=10)
    assert list(table["num_images"]) == [10, 10]
    first_ten = dataset_bitrates(digits[:10], codecs=["png"])
    assert table.equals(first_ten)


def test_round_trip_mismatch_raises(monkeypatch, digits):
    def decode_with_one_wrong_pixel(data: bytes) -> np.ndarray:
        decoded = CODECS["png"].decode(data).copy()
        decoded.flat[0] ^= 1
        return decoded

    monkeypatch.setitem(CODECS, "broken_png", LosslessCodec(
        "PNG whose decoder flips one bit", CODECS["png"].encode, decode_with_one_wrong_pixel))
    with pytest.raises(RoundTripError, match="changed 1 of 64 values"):
        encode_exact("broken_png", digits[0])
    with pytest.raises(RoundTripError):
        dataset_bitrates(digits[:4], codecs=["broken_png"])


def test_encode_exact_round_trips_rgb():
    image = np.random.default_rng(1).integers(0, 256, size=(3, 5, 7), dtype=np.uint8)
    for codec in CODECS:
        assert len(encode_exact(codec, image)) > 0


def test_tile_mosaics_layout():
    images = np.arange(10 * 2 * 3 * 4, dtype=np.uint8).reshape(10, 2, 3, 4)
    mosaics = list(tile_mosaics(images, max_tiles_per_side=2))
    assert [mosaic.shape for mosaic in mosaics] == [(2, 6, 8), (2, 6, 8), (2, 3, 8)]
    for index, image in enumerate(images):
        mosaic = mosaics[index // 4]
        row, col = divmod(index % 4, 2)
        assert np.array_equal(mosaic[:, row * 3:(row + 1) * 3, col * 4:(col + 1) * 4], image)
    single = list(tile_mosaics(images))  # 10 images: a 3 x 4 grid with 2 empty slots
    assert len(single) == 1
    assert single[0].shape == (2, 3 * 3, 4 * 4)
    assert not single[0][:, 6:9, 8:16].any()


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 1, 8, 8), dtype=np.float32), "uint8 array of shape"),
    (np.zeros((1, 8, 8), dtype=np.uint8), "uint8 array of shape"),
    (np.zeros((2, 2, 8, 8), dtype=np.uint8), "2 channels"),
    (np.zeros((0, 1, 8, 8), dtype=np.uint8), "are empty"),
])
def test_invalid_images_raise(images, message):
    with pytest.raises(ValueError, match=message):
        dataset_bitrates(images)


def test_invalid_options_raise(digits):
    with pytest.raises(ValueError, match="unknown codec 'gif'"):
        dataset_bitrates(digits, codecs=["gif"])
    with pytest.raises(ValueError, match="max_images=0"):
        dataset_bitrates(digits, max_images=0)
    with pytest.raises(ValueError, match="at least 1 image"):
        empirical_entropy_bits(0)
    assert empirical_entropy_bits(1024) == 10.0


# --------------------------------------------------------------------------------------------
# Minimum noise dimension.


def test_min_noise_dim_table():
    bitrates = pd.DataFrame({"dataset": ["toy"], "codec": ["png"], "mode": ["mosaic"],
                             "bits_per_dim": [1.0], "dims_per_image": [64]})
    formats = [("float32", "normal", None), ("float16", "normal", None),
               ("float32", "uniform", 8)]
    table = min_noise_dim_table(bitrates, formats)
    assert list(table.columns) == ["dataset", "codec", "mode", "source", "bits_per_dim",
                                   "h_x_bits_per_image", "noise_format",
                                   "h_noise_bits_per_dim", "n_min"]
    toy = table[table["dataset"] == "toy"].set_index("noise_format")
    assert toy.loc["float32 normal", "n_min"] == math.ceil(64 / float_noise_entropy("float32"))
    assert toy.loc["float16 normal", "n_min"] == 5  # 64 / 13.46
    assert toy.loc["8-bit uniform", "n_min"] == 8
    assert (toy["source"] == "measured").all()

    cifar = table[(table["dataset"] == "cifar10") & (table["noise_format"] == "float32 normal")]
    assert list(cifar["codec"]) == ["png", "webp", "bb-ans", "bit-swap"]
    assert list(cifar["bits_per_dim"]) == [5.87, 4.61, 4.19, 3.82]
    assert cifar["source"].str.contains("Bit-Swap README").all()
    assert cifar.set_index("codec").loc["png", "n_min"] == 682  # 5.87 * 3072 / 26.4637

    paper = min_noise_dim_table(bitrates, formats[:1], use_paper_constant=True)
    paper_cifar = paper[paper["dataset"] == "cifar10"].set_index("codec")
    assert paper_cifar.loc["png", "n_min"] == 680  # 5.87 * 3072 / 26.55
    assert (paper["h_noise_bits_per_dim"] == 26.55).all()
    without = min_noise_dim_table(bitrates, formats[:1], include_literature=False)
    assert list(without["dataset"]) == ["toy"]


def test_min_noise_dim_table_rejects_bad_input():
    with pytest.raises(ValueError, match="lacks column\\(s\\) dataset, dims_per_image"):
        min_noise_dim_table(pd.DataFrame({"codec": ["png"], "bits_per_dim": [1.0]}),
                            [("float32", "normal", None)])
    bitrates = pd.DataFrame({"dataset": ["toy"], "codec": ["png"], "bits_per_dim": [1.0],
                             "dims_per_image": [64]})
    with pytest.raises(ValueError, match="noise_formats is empty"):
        min_noise_dim_table(bitrates, [])


def test_to_markdown():
    table = pd.DataFrame({"name": ["a|b", "c"], "bits": [1.23456, 10.0], "count": [3, 12],
                          "ok": [True, False]})
    lines = to_markdown(table, float_digits=2).splitlines()
    assert lines == ["| name |  bits | count | ok    |",
                     "| ---- | ----: | ----: | ----- |",
                     "| a\\|b |  1.23 |     3 | True  |",
                     "| c    | 10.00 |    12 | False |"]


# --------------------------------------------------------------------------------------------
# Command line and workflow scripts on a real dataset directory.


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "noisedim", *arguments], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_cli_bitrates(digits_dir):
    result = run_cli("bitrates", str(digits_dir), "--max-images", "40", "--codecs", "png",
                     "webp")
    assert result.returncode == 0, result.stderr
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in result.stdout.splitlines()]
    header, body = rows[0], rows[2:]
    assert header[:2] == ["codec", "mode"]
    assert [row[0] for row in body] == ["png", "png", "webp", "webp"]
    assert {row[header.index("num_images")] for row in body} == {"40"}


def test_cli_reports_missing_dataset(tmp_path, capsys):
    assert cli.main(["bitrates", str(tmp_path / "absent")]) == 2
    error = capsys.readouterr().err
    assert "noisedim: error: dataset metadata" in error
    assert "not found" in error


def run_script(name: str, **snakemake) -> None:
    runpy.run_path(str(REPO / "workflow" / "scripts" / name),
                   init_globals={"snakemake": SimpleNamespace(**snakemake)})


def test_workflow_scripts(digits_dir, tmp_path):
    bitrates_csv = tmp_path / "bitrates.csv"
    run_script("dataset_bitrates.py",
               input=SimpleNamespace(dataset=str(digits_dir)),
               params=SimpleNamespace(dataset="digits", split="train", max_images=30,
                                      codecs=["png", "jpegxl"]),
               output=SimpleNamespace(table=str(bitrates_csv),
                                      markdown=str(tmp_path / "bitrates.md")),
               log=[str(tmp_path / "bitrates.log")])
    bitrates = pd.read_csv(bitrates_csv)
    assert list(bitrates.columns[:2]) == ["dataset", "split"]
    assert list(bitrates["codec"]) == ["png", "png", "jpegxl", "jpegxl"]
    assert "jpegxl mosaic" in (tmp_path / "bitrates.log").read_text()
    assert (tmp_path / "bitrates.md").read_text().startswith("| dataset")

    run_script("min_noise_dim_table.py",
               input=SimpleNamespace(bitrates=[str(bitrates_csv)]),
               params=SimpleNamespace(noise_formats=[["float32", "normal", None],
                                                     ["float32", "uniform", 4]],
                                      use_paper_constant=False),
               output=SimpleNamespace(table=str(tmp_path / "nmin.csv"),
                                      markdown=str(tmp_path / "nmin.md")),
               log=[str(tmp_path / "nmin.log")])
    table = pd.read_csv(tmp_path / "nmin.csv")
    assert set(table["dataset"]) == {"digits", "cifar10"}
    assert len(table) == 2 * (4 + 4)
    assert (tmp_path / "nmin.md").read_text().startswith("| dataset")

    run_script("noise_entropy_table.py",
               params=SimpleNamespace(dtypes=["float16", "float32"], laws=["normal"]),
               output=SimpleNamespace(table=str(tmp_path / "entropy.csv"),
                                      markdown=str(tmp_path / "entropy.md")),
               log=[str(tmp_path / "entropy.log")])
    entropy_table = pd.read_csv(tmp_path / "entropy.csv")
    assert list(entropy_table["dtype"]) == ["float16", "float32"]
    assert entropy_table["entropy_bits"].iloc[1] == pytest.approx(26.46373399, abs=1e-8)
    assert (tmp_path / "entropy.md").read_text().startswith("| dtype")
