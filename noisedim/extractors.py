"""Feature extractors for FID/KID, registered with both noisedim and torch-fidelity.

``classifier`` is a small CNN trained on the dataset's own labelled train split (the domain
extractor used offline, where Inception weights cannot be downloaded); its penultimate layer gives
the features. ``inception`` is torch-fidelity's ``inception-v3-compat`` with weights from a local
file or the torch hub cache (see ``noisedim.inception``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from noisedim.data.format import load_split
from noisedim.registry import FEATURE_EXTRACTORS

log = logging.getLogger(__name__)

CLASSIFIER_FIDELITY_NAME = "noisedim-classifier"


class DomainClassifier(nn.Module):
    """A small CNN for uint8 images ``[N, C, R, R]``; ``features`` is its penultimate layer."""

    def __init__(self, channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(8 * width, 4 * width), nn.ReLU())
        self.head = nn.Linear(4 * width, num_classes)
        self.feature_dim = 4 * width

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features [N, feature_dim], logits [N, num_classes])`` of uint8 images."""
        x = images.to(torch.float32) / 127.5 - 1.0
        features = self.body(x)
        return features, self.head(features)


def train_classifier(dataset_dir: str | os.PathLike, out_path: str | os.PathLike, *,
                     epochs: int = 40, batch_size: int = 64, lr: float = 2e-3,
                     seed: int = 0) -> dict[str, Any]:
    """Train ``DomainClassifier`` on the train split, test it, and save weights and metadata.

    Returns the metadata, including ``test_accuracy`` on the test split.
    """
    train_x, train_y = load_split(dataset_dir, "train")
    test_x, test_y = load_split(dataset_dir, "test")
    if (train_y < 0).any():
        raise ValueError(f"dataset {dataset_dir} has unlabelled images, so a domain classifier "
                         "cannot be trained; use the 'inception' feature extractor instead")
    torch.manual_seed(seed)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    model = DomainClassifier(train_x.shape[1], num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            # Random shifts of up to one pixel make the features less sensitive to position.
            batch = torch.roll(x[index], shifts=tuple(np.random.randint(-1, 2, 2)), dims=(2, 3))
            loss = F.cross_entropy(model(batch)[1], y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        if (epoch + 1) % 10 == 0 or epoch == epochs - 1:
            log.info("classifier epoch %d/%d loss %.4f", epoch + 1, epochs, total / len(x))
    model.eval()
    with torch.no_grad():
        predictions = model(torch.from_numpy(test_x))[1].argmax(1).numpy()
    accuracy = float((predictions == test_y).mean())
    meta = {"channels": int(train_x.shape[1]), "num_classes": num_classes,
            "feature_dim": model.feature_dim, "test_accuracy": accuracy,
            "num_train": int(len(train_x)), "num_test": int(len(test_x)), "epochs": epochs}
    log.info("classifier test accuracy %.4f on %d images", accuracy, len(test_x))
    torch.save({"state_dict": model.state_dict(), **meta}, out_path)
    return meta


def load_classifier(path: str | os.PathLike) -> DomainClassifier:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier weights {path} not found; run the "
                                "train_feature_extractor rule first")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = DomainClassifier(state["channels"], state["num_classes"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity adapter for ``DomainClassifier``; takes uint8 ``[N, C, R, R]`` batches."""

    def __init__(self, name: str, features_list: list[str], **kwargs: Any):
        super().__init__(name, features_list)
        weights_path = kwargs.get("feature_extractor_weights_path")
        if weights_path is None:
            raise ValueError("the classifier feature extractor needs "
                             "feature_extractor_weights_path (the trained classifier file)")
        self.model = load_classifier(weights_path)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "features"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 1, 8, 8, dtype=torch.uint8)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, logits = self.model(images)
        provided = {"features": features, "logits": logits}
        return tuple(provided[name] for name in self.features_list)


if CLASSIFIER_FIDELITY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(CLASSIFIER_FIDELITY_NAME, ClassifierFeatureExtractor)


@dataclass(frozen=True)
class ExtractorSpec:
    """How to obtain torch-fidelity's keyword arguments for one extractor.

    ``fidelity_kwargs(weights_path)`` returns ``feature_extractor`` and its weights argument;
    ``trained`` says whether a workflow rule trains the weights on the dataset first.
    """

    name: str
    fidelity_kwargs: Callable[[str | None], dict[str, Any]]
    trained: bool
    feature_layer: str


def _classifier_kwargs(weights_path: str | None) -> dict[str, Any]:
    return {"feature_extractor": CLASSIFIER_FIDELITY_NAME,
            "feature_extractor_weights_path": weights_path}


def _inception_kwargs(weights_path: str | None) -> dict[str, Any]:
    from noisedim.inception import inception_extractor_kwargs, resolve_inception_weights

    return inception_extractor_kwargs(resolve_inception_weights(weights_path))


FEATURE_EXTRACTORS.register("classifier", ExtractorSpec("classifier", _classifier_kwargs,
                                                        trained=True, feature_layer="features"))
FEATURE_EXTRACTORS.register("inception", ExtractorSpec("inception", _inception_kwargs,
                                                       trained=False, feature_layer="2048"))
