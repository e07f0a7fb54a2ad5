"""Name-to-object registries for models, datasets, divergences, sources and feature extractors.

The config refers to these names, never to class paths. Each concept module registers its own
built-ins at import time; ``_BUILTIN_MODULES`` lists those modules so that the first lookup in a
registry imports them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator

# Modules whose import registers the built-in entries of each registry kind.
_BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "model": ("noisedim.models.dcgan", "noisedim.models.biggan", "noisedim.models.stylegan2"),
    "dataset": ("noisedim.data.digits", "noisedim.data.cifar10", "noisedim.data.lsun",
                "noisedim.data.templates"),
    "divergence": ("noisedim.divergences",),
    "source": ("noisedim.sources",),
    "feature_extractor": ("noisedim.extractors",),
}


class Registry:
    """A mapping from names to registered objects of one kind."""

    def __init__(self, kind: str, check: Callable[[Any], bool] = callable):
        self.kind = kind
        self._check = check
        self._entries: dict[str, Any] = {}
        self._builtins_loaded = False

    def register(self, name: str, obj: Any) -> Any:
        """Add ``obj`` under ``name`` and return it (usable as a decorator through ``add``)."""
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"invalid {self.kind} name {name!r}: use a non-empty string "
                             "without surrounding spaces")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered; "
                             "choose another name")
        if not self._check(obj):
            raise TypeError(f"cannot register {self.kind} {name!r}: {obj!r} has the wrong type")
        self._entries[name] = obj
        return obj

    def add(self, name: str) -> Callable[[Any], Any]:
        """Return a decorator that registers the decorated object under ``name``."""
        return lambda obj: self.register(name, obj)

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for module in _BUILTIN_MODULES.get(self.kind, ()):
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as error:
                # A built-in module that does not exist yet is skipped; any other import
                # failure (a missing dependency inside the module) propagates.
                if error.name != module:
                    raise

    def get(self, name: str) -> Any:
        """Return the entry called ``name``; an unknown name raises and lists the known ones."""
        self._load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ValueError(f"unknown {self.kind} {name!r}; registered {self.kind}s: "
                             f"{known}") from None

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


MODELS = Registry("model", check=lambda obj: callable(getattr(obj, "build", None)))
DATASETS = Registry("dataset")
DIVERGENCES = Registry("divergence", check=lambda obj: obj is not None)
SOURCES = Registry("source")
FEATURE_EXTRACTORS = Registry("feature_extractor", check=lambda obj: obj is not None)
