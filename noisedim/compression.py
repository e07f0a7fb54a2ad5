"""Lossless bitrates of image datasets, and the minimum noise dimension they imply.

A deterministic generator g cannot output more entropy than its noise holds,
H(g(Z)) <= H(Z), so matching a data distribution X needs H(Z) >= H(X). A lossless codec's
bitrate is an upper bound on H(X) per image, and dividing by the entropy of one noise
dimension gives a lower bound on the number of noise dimensions:
n_min = ceil(H(X) / h_noise).

Bitrates are measured two ways. ``per_image`` encodes each image as its own file, which
charges every image a full container header. ``mosaic`` tiles up to 64 x 64 images into one
large image per file, which spreads the header over thousands of images and lets the codec
exploit similarity between neighbouring images. Every encoding is decoded and compared with
its input bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import imagecodecs
import numpy as np
import pandas as pd

from noisedim.entropy import PAPER_FLOAT32_NORMAL_BITS, float_noise_entropy

logger = logging.getLogger(__name__)

SUPPORTED_CHANNELS = (1, 3)
# Mosaics hold at most this many images per side (64 x 64 = 4096 images per file).
MAX_TILES_PER_SIDE = 64


class RoundTripError(RuntimeError):
    """A codec's decoded image differs from the image it encoded."""


# --------------------------------------------------------------------------------------------
# Codecs. Each works on one uint8 image of shape [C, H, W], C = 1 or 3.


def _to_codec_layout(image: np.ndarray) -> np.ndarray:
    """[C, H, W] -> [H, W] for C = 1, [H, W, C] otherwise, as a C-ordered copy."""
    # A copy, not np.ascontiguousarray: that keeps odd strides on length-1 axes, which the
    # imagecodecs encoders reject.
    return (image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).copy(order="C")


def _from_codec_layout(decoded: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of ``_to_codec_layout``."""
    if decoded.ndim == 2:
        return decoded[None]
    if channels == 1 and decoded.shape[2] == 3:  # WebP returns grey as RGB
        if not (np.array_equal(decoded[..., 0], decoded[..., 1])
                and np.array_equal(decoded[..., 0], decoded[..., 2])):
            raise RoundTripError("WebP returned a colour image for a grey input")
        return decoded[None, :, :, 0]
    return decoded.transpose(2, 0, 1)


def _png_encode(image: np.ndarray) -> bytes:
    # zlib level 9 with libpng's default adaptive filter choice.
    return imagecodecs.png_encode(_to_codec_layout(image), level=9)


def _webp_encode(image: np.ndarray) -> bytes:
    # WebP stores RGB(A) only, so grey images are sent as three equal channels.
    pixels = _to_codec_layout(image)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    # level=100 with method=6 is libwebp's slowest, smallest lossless setting (cwebp -z 9).
    return imagecodecs.webp_encode(pixels, level=100, lossless=True, method=6)


def _jpegxl_encode(image: np.ndarray) -> bytes:
    # effort 10 is libjxl's maximum (libjxl 0.11 in imagecodecs 2026.3.6).
    return imagecodecs.jpegxl_encode(_to_codec_layout(image), lossless=True, effort=10)


@dataclass(frozen=True)
class LosslessCodec:
    """A lossless image codec. ``encode`` takes a uint8 [C, H, W] image and returns the file
    bytes, and ``decode`` takes the bytes and returns the codec's array layout."""

    description: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]


CODECS: dict[str, LosslessCodec] = {
    "png": LosslessCodec("PNG, zlib level 9 (imagecodecs/libpng)", _png_encode,
                         imagecodecs.png_decode),
    "webp": LosslessCodec("WebP lossless, level 100, method 6 (imagecodecs/libwebp)",
                          _webp_encode, imagecodecs.webp_decode),
    "jpegxl": LosslessCodec("JPEG XL lossless, effort 10 (imagecodecs/libjxl)",
                            _jpegxl_encode, imagecodecs.jpegxl_decode),
}


def get_codec(name: str) -> LosslessCodec:
    """Return the codec called ``name``, or raise ValueError for an unknown name."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; known codecs: {', '.join(CODECS)}") from None


def encode_exact(codec_name: str, image: np.ndarray) -> bytes:
    """Encode one uint8 [C, H, W] image with ``codec_name`` and check that it decodes back
    bit for bit. Returns the encoded bytes and raises RoundTripError on any difference."""
    codec = get_codec(codec_name)
    encoded = codec.encode(image)
    decoded = _from_codec_layout(np.asarray(codec.decode(encoded)), image.shape[0])
    if decoded.shape != image.shape or decoded.dtype != image.dtype:
        raise RoundTripError(f"{codec_name} decoded a {decoded.dtype} image of shape "
                             f"{decoded.shape} from a {image.dtype} image of shape {image.shape}")
    if not np.array_equal(decoded, image):
        mismatches = int(np.count_nonzero(decoded != image))
        raise RoundTripError(f"{codec_name} round trip changed {mismatches} of {image.size} "
                             f"values of a {image.shape} image")
    return encoded


def header_bytes(codec_name: str, channels: int) -> int:
    """Return the size in bytes of a 1 x 1 black image with ``channels`` channels encoded by
    ``codec_name``: the container and header overhead plus about one byte of pixel data."""
    return len(encode_exact(codec_name, np.zeros((channels, 1, 1), dtype=np.uint8)))


# --------------------------------------------------------------------------------------------
# Dataset bitrates.


def empirical_entropy_bits(num_images: int) -> float:
    """Return log2(num_images): the entropy in bits of the uniform distribution over a
    dataset's images (its empirical distribution, assuming the images are distinct)."""
    if num_images < 1:
        raise ValueError(f"invalid num_images={num_images}: a dataset needs at least 1 image")
    return math.log2(num_images)


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        description = (f"{images.dtype} array of shape {images.shape}"
                       if isinstance(images, np.ndarray) else type(images).__name__)
        raise ValueError(f"images must be a uint8 array of shape [N, C, H, W], got a "
                         f"{description}")
    if images.shape[0] < 1 or images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"images of shape {images.shape} are empty; need N, H, W >= 1")
    if images.shape[1] not in SUPPORTED_CHANNELS:
        raise ValueError(f"images have {images.shape[1]} channels; the codecs here take "
                         f"{' or '.join(map(str, SUPPORTED_CHANNELS))} (grey or RGB)")


def tile_mosaics(images: np.ndarray,
                 max_tiles_per_side: int = MAX_TILES_PER_SIDE) -> Iterable[np.ndarray]:
    """Yield mosaics [C, rows H, cols W] of consecutive images, row by row.

    Each mosaic has up to max_tiles_per_side^2 images on a near-square grid. Slots past the
    last image are zero, which the bitrates count as part of the encoding.
    """
    count, channels, height, width = images.shape
    per_mosaic = max_tiles_per_side ** 2
    for start in range(0, count, per_mosaic):
        chunk = images[start:start + per_mosaic]
        cols = min(max_tiles_per_side, math.ceil(math.sqrt(len(chunk))))
        rows = math.ceil(len(chunk) / cols)
        grid = np.zeros((rows * cols, channels, height, width), dtype=np.uint8)
        grid[:len(chunk)] = chunk
        yield (grid.reshape(rows, cols, channels, height, width)
               .transpose(2, 0, 3, 1, 4)
               .reshape(channels, rows * height, cols * width))


def _encoded_sizes(codec_name: str, images: Iterable[np.ndarray]) -> list[int]:
    return [len(encode_exact(codec_name, image)) for image in images]


_MODES: dict[str, Callable[[str, np.ndarray], list[int]]] = {
    "per_image": lambda codec, images: _encoded_sizes(codec, images),
    "mosaic": lambda codec, images: _encoded_sizes(codec, tile_mosaics(images)),
}


def dataset_bitrates(images: np.ndarray, codecs: Sequence[str] | None = None,
                     max_images: int | None = None) -> pd.DataFrame:
    """Measure lossless bitrates of ``images`` (uint8 [N, C, H, W], values 0-255, C = 1 or 3).

    codecs: names in ``CODECS`` (default: all). max_images: use only the first max_images
    images (default: all).

    Returns one row per codec and mode (``per_image``, ``mosaic``). The columns are ``codec``,
    ``mode``, ``bits_per_dim`` (total encoded bits / (N C H W)),
    ``bits_per_image`` (total encoded bits / N), ``header_bytes`` (``header_bytes(codec, C)``,
    paid once per file), ``num_images``, ``num_files`` (N per image, else the number of
    mosaics), ``dims_per_image`` (C H W), ``empirical_entropy_bits`` (log2 N) and
    ``round_trip_exact`` (always True: a mismatch raises RoundTripError).
    """
    _check_images(images)
    codec_names = list(CODECS) if codecs is None else list(codecs)
    for name in codec_names:
        get_codec(name)
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"invalid max_images={max_images}: use None or at least 1")
        images = images[:max_images]
    count, channels, height, width = images.shape
    dims = channels * height * width

    rows = []
    for codec_name in codec_names:
        overhead = header_bytes(codec_name, channels)
        for mode, measure in _MODES.items():
            started = time.perf_counter()
            sizes = measure(codec_name, images)
            total_bits = 8.0 * sum(sizes)
            rows.append({
                "codec": codec_name, "mode": mode,
                "bits_per_dim": total_bits / (count * dims),
                "bits_per_image": total_bits / count,
                "header_bytes": overhead, "num_images": count, "num_files": len(sizes),
                "dims_per_image": dims, "empirical_entropy_bits": empirical_entropy_bits(count),
                "round_trip_exact": True,
            })
            logger.info("%s %s: %.4f bits/dim over %d images in %d files (%.1f s)", codec_name,
                        mode, rows[-1]["bits_per_dim"], count, len(sizes),
                        time.perf_counter() - started)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Minimum noise dimension.

BITSWAP_README = ("Bit-Swap README, github.com/fhkingma/bitswap (Kingma, Abbeel and Ho, "
                  "ICML 2019), CIFAR-10")
# Published lossless bitrates of CIFAR-10 (3 x 32 x 32) in bits per dimension.
LITERATURE_BITRATES: list[dict] = [
    {"dataset": "cifar10", "codec": codec, "bits_per_dim": bits, "dims_per_image": 3 * 32 * 32,
     "source": f"literature: {BITSWAP_README}"}
    for codec, bits in [("png", 5.87), ("webp", 4.61), ("bb-ans", 4.19), ("bit-swap", 3.82)]
]


def _noise_entropy_per_dim(dtype: str, law: str, bits: int | None,
                           use_paper_constant: bool) -> tuple[str, float]:
    """Return (label, bits per dimension) of one noise format."""
    if bits is not None:
        # Imported here so that this module, and the command line through it, loads without
        # torch.
        from noisedim.noise import quantized_noise_entropy


        return f"{bits}-bit {law}", quantized_noise_entropy(bits, law)
    if use_paper_constant and (dtype, law) == ("float32", "normal"):
        return "float32 normal (paper's 26.55)", PAPER_FLOAT32_NORMAL_BITS
    return f"{dtype} {law}", float_noise_entropy(dtype, law)


def min_noise_dim_table(bitrates: pd.DataFrame,
                        noise_formats: Sequence[tuple[str, str, int | None]],
                        use_paper_constant: bool = False,
                        include_literature: bool = True) -> pd.DataFrame:
    """Compute n_min = ceil(H(X) / h_noise) for every bitrate and noise format.

    bitrates: rows with ``dataset``, ``codec``, ``bits_per_dim`` and ``dims_per_image``
    (``dataset_bitrates`` output with a ``dataset`` column added, keeping ``mode`` if
    present). noise_formats: (dtype, law, bits) triples. With bits None the noise is
    ``law`` rounded to ``dtype`` (``float_noise_entropy``), otherwise ``bits`` bits of
    quantised noise with level set ``law``. use_paper_constant: use 26.55 bits for float32
    normal noise instead of the exact value. include_literature: add the published CIFAR-10
    bitrates of ``LITERATURE_BITRATES``.

    Returns columns ``dataset``, ``codec``, ``mode``, ``source``, ``bits_per_dim``,
    ``h_x_bits_per_image`` (bits_per_dim * dims_per_image), ``noise_format``,
    ``h_noise_bits_per_dim`` and ``n_min``.
    """
    missing = {"dataset", "codec", "bits_per_dim", "dims_per_image"} - set(bitrates.columns)
    if missing:
        raise ValueError(f"bitrates lacks column(s) {', '.join(sorted(missing))}; pass "
                         "dataset_bitrates output with a 'dataset' column added")
    if not noise_formats:
        raise ValueError("noise_formats is empty; give at least one (dtype, law, bits) triple")
    measured = bitrates.assign(source="measured")
    if "mode" not in measured.columns:
        measured["mode"] = ""
    sources = [measured]
    if include_literature:
        sources.append(pd.DataFrame(LITERATURE_BITRATES).assign(mode="published"))
    data = pd.concat(sources, ignore_index=True)

    rows = []
    for dtype, law, bits in noise_formats:
        label, noise_bits = _noise_entropy_per_dim(dtype, law, bits, use_paper_constant)
        for record in data.itertuples(index=False):
            h_x_bits = float(record.bits_per_dim) * int(record.dims_per_image)
            rows.append({"dataset": record.dataset, "codec": record.codec, "mode": record.mode,
                         "source": record.source, "bits_per_dim": float(record.bits_per_dim),
                         "h_x_bits_per_image": h_x_bits, "noise_format": label,
                         "h_noise_bits_per_dim": noise_bits,
                         "n_min": math.ceil(h_x_bits / noise_bits)})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, float_digits: int = 4) -> str:
    """Render ``table`` as a GitHub Markdown table. Floats get ``float_digits`` decimals and
    numeric columns are right-aligned."""
    def render(value) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{value:.{float_digits}f}"
        return str(value).replace("|", "\\|")

    header = [str(column) for column in table.columns]
    body = [[render(value) for value in row] for row in table.itertuples(index=False)]
    numeric = [pd.api.types.is_numeric_dtype(table[column])
               and not pd.api.types.is_bool_dtype(table[column]) for column in table.columns]
    widths = [max([3, len(header[i])] + [len(row[i]) for row in body])
              for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
                  for i, cell in enumerate(cells)]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (width - 1) + ":" if is_numeric else "-" * width
            for width, is_numeric in zip(widths, numeric)]
    return "\n".join([line(header), "| " + " | ".join(rule) + " |"] + [line(r) for r in body])
