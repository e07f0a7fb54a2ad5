"""FID and KID through torch-fidelity, with reference features computed once per protocol.

Reference features of a dataset split are extracted once by their own workflow rule and saved
with the protocol and the dataset's content hash. Every cell of that dataset reuses the file.
Scores are computed by torch-fidelity's own functions (``fid_statistics_to_metric``,
``kid_featuresdict_to_metric``) from torch-fidelity feature extractors.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch_fidelity.metric_fid import (KEY_METRIC_FID, fid_featuresdict_to_statistics,
                                       fid_statistics_to_metric)
from torch_fidelity.metric_kid import (KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD,
                                       kid_featuresdict_to_metric)
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

import noisedim.extractors  # noqa: F401  (registers the classifier with torch-fidelity)
from noisedim.data.format import ImageDataset, read_metadata
from noisedim.registry import FEATURE_EXTRACTORS
from noisedim.training import float_to_images, load_generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protocol:
    """The evaluation protocol recorded next to every score."""

    extractor: str
    num_generated: int
    reference_split: str
    num_reference: int | None  # None: the whole split
    kid_subset_size: int
    kid_subsets: int
    batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_generated < 2:
            raise ValueError(f"evaluation num_generated={self.num_generated} is invalid; "
                             "FID needs at least 2 samples")
        if self.kid_subset_size < 2 or self.kid_subsets < 1:
            raise ValueError(f"KID subset size {self.kid_subset_size} and subset count "
                             f"{self.kid_subsets} are invalid; use at least 2 and 1")


class _TensorDataset(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def _extract(dataset: torch.utils.data.Dataset, fidelity_kwargs: dict[str, Any],
             feature_layer: str, batch_size: int, cuda: bool) -> torch.Tensor:
    name = fidelity_kwargs["feature_extractor"]
    extractor_kwargs = {k: v for k, v in fidelity_kwargs.items() if k != "feature_extractor"}
    extractor = create_feature_extractor(name, [feature_layer], cuda=cuda, verbose=False,
                                         **extractor_kwargs)
    features = get_featuresdict_from_dataset(dataset, extractor, batch_size, cuda,
                                             save_cpu_ram=True, verbose=False)
    return features[feature_layer]


def compute_reference_features(dataset_dir: str | os.PathLike, out_path: str | os.PathLike,
                               protocol: Protocol, weights_path: str | None = None,
                               cuda: bool | None = None) -> dict[str, Any]:
    """Extract features of the reference split and save them with the protocol and data hash."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    spec = FEATURE_EXTRACTORS.get(protocol.extractor)
    dataset = ImageDataset(dataset_dir, protocol.reference_split, protocol.num_reference)
    meta = read_metadata(dataset_dir)
    log.info("extracting %s features of %d %s images of %s", protocol.extractor, len(dataset),
             protocol.reference_split, dataset_dir)
    features = _extract(dataset, spec.fidelity_kwargs(weights_path), spec.feature_layer,
                        protocol.batch_size, cuda)
    record = {"features": features, "protocol": asdict(protocol),
              "dataset_sha256": meta["content_sha256"], "num_images": len(dataset)}
    torch.save(record, out_path)
    return record


def _effective_kid_subset_size(protocol: Protocol, num_generated: int,
                               num_reference: int) -> int:
    limit = min(num_generated, num_reference)
    if protocol.kid_subset_size <= limit:
        return protocol.kid_subset_size
    log.warning("KID subset size %d exceeds the %d samples available (generated images=%d, "
                "reference images=%d); using %d. Lower evaluation.kid_subset_size to silence "
                "this", protocol.kid_subset_size, limit, num_generated, num_reference, limit)
    return limit


@torch.no_grad()
def generate_images(network_path: str | os.PathLike, num: int, seed: int,
                    batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """Sample ``num`` uint8 images ``[num, C, H, W]`` from the EMA generator of a cell."""
    from noisedim.noise import NoiseSampler

    G, meta = load_generator(network_path, device)
    sampler = NoiseSampler(meta["settings"].z_dim, **meta["settings"].noise)
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, num, batch_size):
        z = sampler.sample(min(batch_size, num - start), generator=generator)
        batches.append(float_to_images(G(z.to(device)).cpu()))
    return torch.cat(batches)


def scores_from_features(generated: torch.Tensor, real: torch.Tensor, layer: str,
                         protocol: Protocol) -> tuple[dict[str, float], int]:
    """Compute FID and KID of two feature sets ``[N, D]`` with torch-fidelity's functions.

    Returns ``{"fid", "kid_mean", "kid_std"}`` and the KID subset size used, which is reduced
    with a warning when either set is smaller than ``protocol.kid_subset_size``.
    """
    fake, reference = {layer: generated}, {layer: real}
    fid = fid_statistics_to_metric(fid_featuresdict_to_statistics(fake, layer),
                                   fid_featuresdict_to_statistics(reference, layer),
                                   verbose=False)[KEY_METRIC_FID]
    subset_size = _effective_kid_subset_size(protocol, len(generated), len(real))
    kid = kid_featuresdict_to_metric(fake, reference, layer, kid_subsets=protocol.kid_subsets,
                                     kid_subset_size=subset_size, rng_seed=protocol.seed,
                                     verbose=False)
    scores = {"fid": float(fid), "kid_mean": kid[KEY_METRIC_KID_MEAN],
              "kid_std": kid[KEY_METRIC_KID_STD]}
    return scores, subset_size


def load_reference_features(reference_path: str | os.PathLike, protocol: Protocol,
                            dataset_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Load saved reference features and check that they match ``protocol`` and the dataset.

    The features record the protocol and the dataset's content hash, so features of another
    protocol or of a changed dataset are rejected instead of silently reused.
    """
    reference = torch.load(reference_path, map_location="cpu", weights_only=True)
    reference_fields = {key: reference["protocol"][key] for key in
                        ("extractor", "reference_split", "num_reference", "batch_size")}
    expected = {key: getattr(protocol, key) for key in reference_fields}
    if reference_fields != expected:
        raise ValueError(f"reference features {reference_path} were extracted under "
                         f"{reference_fields}, not {expected}; rerun extract_reference_features")
    if dataset_dir is not None:
        sha256 = read_metadata(dataset_dir)["content_sha256"]
        if reference["dataset_sha256"] != sha256:
            raise ValueError(f"reference features {reference_path} belong to dataset content "
                             f"{reference['dataset_sha256'][:12]}, but {dataset_dir} now has "
                             f"{sha256[:12]}; rerun extract_reference_features")
    return reference


def compute_fid_kid(network_path: str | os.PathLike, reference_path: str | os.PathLike,
                    protocol: Protocol, weights_path: str | None = None,
                    cuda: bool | None = None,
                    dataset_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score one cell's generator against saved reference features; return scores and protocol.

    With ``dataset_dir``, the reference features must come from that dataset's current content.
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    reference = load_reference_features(reference_path, protocol, dataset_dir)
    spec = FEATURE_EXTRACTORS.get(protocol.extractor)
    images = generate_images(network_path, protocol.num_generated, protocol.seed,
                             device="cuda" if cuda else "cpu")
    generated = _extract(_TensorDataset(images), spec.fidelity_kwargs(weights_path),
                         spec.feature_layer, protocol.batch_size, cuda)

    scores, subset_size = scores_from_features(generated, reference["features"],
                                               spec.feature_layer, protocol)
    return {**scores,
            "protocol": {**asdict(protocol), "kid_subset_size": subset_size,
                         "num_reference": reference["num_images"],
                         "dataset_sha256": reference["dataset_sha256"]}}


def score_cell(network_path: str | os.PathLike, reference_path: str | os.PathLike,
               protocol: Protocol, weights_path: str | None = None,
               cell: dict[str, Any] | None = None,
               dataset_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score one cell and return a flat record: cell keys, scores, protocol and training facts."""
    scores = compute_fid_kid(network_path, reference_path, protocol, weights_path,
                             dataset_dir=dataset_dir)
    network = torch.load(network_path, map_location="cpu", weights_only=True)
    training = {"kimg": network["kimg"], "training_s": network["training_s"],
                "noise_dims_consumed": network["noise_dims_consumed"],
                "noise": json.loads(network["settings"])["noise"]}
    log.info("FID %.4f KID %.6f +- %.6f (%s)", scores["fid"], scores["kid_mean"],
             scores["kid_std"], network_path)
    return {"cell": dict(cell or {}), **scores, "training": training}
