"""The ``templates`` dataset: K fixed images drawn i.i.d. from a known source, so H(X) is exact.

Each image is one of K templates, and template k is drawn with probability p_k, where p is a
source of the ``SOURCES`` registry (``noisedim.sources``). An image therefore carries exactly
H(p) bits, and the distribution a generator should reproduce is known outcome by outcome. Labels
are template indices.

Template sets (``TEMPLATE_SETS``), each uint8 ``[K, 1, 8, 8]`` with values 0..255:

- ``digit_means``: the mean image of each digit class 0..K-1 of scikit-learn's copy of the UCI
  handwritten digits (K <= 10), mapped from 0..16 to 0..255 and rounded.
- ``random_binary``: K random black-and-white 8x8 patterns drawn from ``template_seed`` (any
  K >= 1).

``dataset.json`` records under ``source`` the source spec, its probabilities, H(p) in bits, the
templates themselves and the smallest L2 distance between two templates. ``read_template_source``
reads them back.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from noisedim.data.format import DatasetError, DatasetWriter, read_metadata
from noisedim.registry import DATASETS
from noisedim.sources import entropy_bits, make_source, validate_distribution

log = logging.getLogger(__name__)

SOURCE_KIND = "templates"
DEFAULT_SOURCE: dict[str, Any] = {"kind": "zipf", "K": 8, "s": 1.2}
TEMPLATE_RESOLUTION = 8
DIGIT_CLASSES = 10


def _digit_means(num_templates: int, seed: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    from noisedim.data.digits import digits_to_uint8

    if num_templates > DIGIT_CLASSES:
        raise ValueError(f"template set 'digit_means' has {DIGIT_CLASSES} templates, but the "
                         f"source has K = {num_templates} outcomes; use a source with K <= "
                         f"{DIGIT_CLASSES} or the template set 'random_binary'")
    bunch = load_digits()
    means = np.stack([bunch.images[bunch.target == digit].mean(axis=0)
                      for digit in range(num_templates)])
    return digits_to_uint8(means)[:, None, :, :]


def _random_binary(num_templates: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (num_templates, 1, TEMPLATE_RESOLUTION, TEMPLATE_RESOLUTION)
    return (rng.integers(0, 2, size=shape) * 255).astype(np.uint8)


# Template set name -> builder(K, template_seed) returning uint8 [K, 1, 8, 8].
TEMPLATE_SETS: dict[str, Callable[[int, int], np.ndarray]] = {
    "digit_means": _digit_means,
    "random_binary": _random_binary,
}


def make_templates(template_set: str, num_templates: int, seed: int = 0) -> np.ndarray:
    """Return ``num_templates`` distinct templates, uint8 ``[K, 1, 8, 8]`` (0..255)."""
    if template_set not in TEMPLATE_SETS:
        raise ValueError(f"unknown template set {template_set!r}; known template sets: "
                         f"{', '.join(sorted(TEMPLATE_SETS))}")
    templates = TEMPLATE_SETS[template_set](num_templates, seed)
    if num_templates > 1 and min_template_distance(templates) == 0:
        raise ValueError(f"template set {template_set!r} with K = {num_templates} and "
                         f"template_seed = {seed} contains two identical templates, so H(X) "
                         "would not be H(p); choose another template_seed")
    return templates


def min_template_distance(templates: np.ndarray) -> float:
    """Return the smallest L2 distance between two templates ``[K, C, H, W]`` (uint8 units).

    Returns inf for a single template.
    """
    flat = np.asarray(templates, dtype=np.float64).reshape(len(templates), -1)
    if len(flat) < 2:
        return float("inf")
    squared = (flat**2).sum(1)
    distances = squared[:, None] + squared[None, :] - 2.0 * flat @ flat.T
    np.fill_diagonal(distances, np.inf)
    return float(np.sqrt(max(distances.min(), 0.0)))


@DATASETS.add("templates")
def build_templates(path: str | os.PathLike, *, source: dict[str, Any] | None = None,
                    template_set: str = "digit_means", template_seed: int = 0,
                    num_train: int = 4096, num_test: int = 1024, seed: int = 0) -> dict:
    """Write a templates dataset to ``path`` and return its metadata.

    Args:
        source: a ``make_source`` spec (default ``DEFAULT_SOURCE``, Zipf with K = 8, s = 1.2).
            Its K is the number of templates.
        template_set: a name in ``TEMPLATE_SETS``.
        template_seed: seed of template sets that draw their templates at random.
        num_train, num_test: images per split, each >= 1.
        seed: seed of ``numpy.random.default_rng`` that draws the train labels, then the test
            labels, i.i.d. from the source.
    """
    spec = dict(DEFAULT_SOURCE if source is None else source)
    for name, value in (("num_train", num_train), ("num_test", num_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"templates dataset option {name}={value!r} is invalid; use an "
                             "integer >= 1")
    p = make_source(spec)
    templates = make_templates(template_set, len(p), template_seed)

    # Draw labels i.i.d. from p; the image of label k is template k.
    rng = np.random.default_rng(seed)
    train_labels = rng.choice(len(p), size=num_train, p=p)
    test_labels = rng.choice(len(p), size=num_test, p=p)
    source_entropy_bits = entropy_bits(p)
    meta_source = {
        "kind": SOURCE_KIND, "distribution": spec, "probabilities": p.tolist(),
        "entropy_bits": source_entropy_bits, "template_set": template_set,
        "template_seed": template_seed, "templates": templates.tolist(),
        "min_template_distance": min_template_distance(templates), "seed": seed,
    }
    log.info("templates dataset: %d templates (%s), source %s with H(X) = %.6f bits",
             len(p), template_set, spec, source_entropy_bits)
    with DatasetWriter(path, "templates", meta_source) as writer:
        writer.add_shard("train", templates[train_labels], train_labels)
        writer.add_shard("test", templates[test_labels], test_labels)
        return writer.close()


@dataclass(frozen=True)
class TemplateSource:
    """The known distribution of a templates dataset.

    Attributes:
        probabilities: p, float64 ``[K]``; outcome k is template k.
        templates: uint8 ``[K, C, H, W]`` (0..255).
        entropy_bits: H(p) = H(X) in bits.
        spec: the ``make_source`` spec the dataset was built from.
    """

    probabilities: np.ndarray
    templates: np.ndarray
    entropy_bits: float
    spec: dict[str, Any]

    @property
    def min_distance(self) -> float:
        """Smallest L2 distance between two templates, in uint8 units."""
        return min_template_distance(self.templates)


def read_template_source(path: str | os.PathLike) -> TemplateSource:
    """Read the source distribution and templates of the templates dataset at ``path``."""
    meta = read_metadata(path)
    source = meta.get("source", {})
    if source.get("kind") != SOURCE_KIND:
        raise DatasetError(f"dataset {path} is not a templates dataset (its source kind is "
                           f"{source.get('kind')!r}); build one with the 'templates' builder")
    p = validate_distribution(source["probabilities"], name=f"source probabilities of {path}")
    templates = np.asarray(source["templates"], dtype=np.uint8)
    if templates.shape[0] != len(p) or templates.shape[1:] != (
            meta["channels"], meta["resolution"], meta["resolution"]):
        raise DatasetError(f"dataset {path} has templates of shape {templates.shape} for "
                           f"{len(p)} outcomes at {meta['channels']}x{meta['resolution']}x"
                           f"{meta['resolution']}; the metadata is corrupt, rebuild the dataset")
    return TemplateSource(p, templates, entropy_bits(p), dict(source["distribution"]))
