"""Validation of the workflow config against ``config/schema.yaml`` and the registries.

Defaults from the schema are filled in. Every error names the config key, the value and what is
allowed, and is raised before any job runs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from noisedim.registry import DATASETS, DIVERGENCES, FEATURE_EXTRACTORS, MODELS, SOURCES

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """The workflow config is invalid."""


def _with_defaults(validator_class):
    """Extend a jsonschema validator class so that validation fills in ``default`` values."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    parts = []
    for part in path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def validate_config(config: dict[str, Any], schema: dict | None = None) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled in) and return it; raise ``ConfigError``."""
    schema = load_schema() if schema is None else schema
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            description = error.schema.get("description", "")
            hint = f" ({description})" if description else ""
            lines.append(f"config key {_key(error.absolute_path)}: {error.message}{hint}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    _check_names(config)
    return config


def _check_names(config: dict[str, Any]) -> None:
    """Check registry names and cross-references that the schema cannot express."""
    problems = []
    for i, name in enumerate(config["grid"]["datasets"]):
        if name not in config["datasets"]:
            problems.append(f"config key grid.datasets[{i}]: dataset {name!r} is not defined "
                            f"under `datasets` (defined: {sorted(config['datasets'])})")
    for name, entry in config["datasets"].items():
        if entry["builder"] not in DATASETS:
            problems.append(f"config key datasets.{name}.builder: unknown dataset builder "
                            f"{entry['builder']!r}; registered builders: {DATASETS.names()}")
    for i, name in enumerate(config["grid"]["models"]):
        if name not in MODELS:
            problems.append(f"config key grid.models[{i}]: unknown model {name!r}; registered "
                            f"models: {MODELS.names()}")
    problems += _resolution_problems(config)
    for name, options in config.get("models", {}).items():
        if name not in MODELS:
            problems.append(f"config key models.{name}: unknown model {name!r}; registered "
                            f"models: {MODELS.names()}")
            continue
        try:
            MODELS.get(name).resolve_options(options)
        except ValueError as error:
            problems.append(f"config key models.{name}: {error}")
    for i, name in enumerate(config["theory"]["datasets"] or []):
        if name not in config["datasets"]:
            problems.append(f"config key theory.datasets[{i}]: dataset {name!r} is not defined "
                            f"under `datasets` (defined: {sorted(config['datasets'])})")
    for i, name in enumerate(config["tradeoff"]["divergences"]):
        if name not in DIVERGENCES:
            problems.append(f"config key tradeoff.divergences[{i}]: unknown divergence "
                            f"{name!r}; registered divergences: {DIVERGENCES.names()}")
    for name, spec in config["tradeoff"]["sources"].items():
        if spec["kind"] not in SOURCES:
            problems.append(f"config key tradeoff.sources.{name}.kind: unknown source "
                            f"{spec['kind']!r}; registered sources: {SOURCES.names()}")
    extractor = config["evaluation"]["extractor"]
    if extractor not in FEATURE_EXTRACTORS:
        problems.append(f"config key evaluation.extractor: unknown feature extractor "
                        f"{extractor!r}; registered extractors: {FEATURE_EXTRACTORS.names()}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _resolution_problems(config: dict[str, Any]) -> list[str]:
    """List (dataset, model) pairs of the grid whose resolution the model cannot generate."""
    from noisedim.data import builder_resolution

    problems = []
    for dataset in config["grid"]["datasets"]:
        entry = config["datasets"].get(dataset)
        if entry is None:
            continue
        resolution = builder_resolution(entry["builder"], entry.get("options", {}))
        for model in config["grid"]["models"]:
            if resolution is None or model not in MODELS:
                continue
            supported = MODELS.get(model).resolutions
            if resolution not in supported:
                problems.append(f"config key grid: model {model!r} cannot generate "
                                f"{resolution}x{resolution} images of dataset {dataset!r}; it "
                                f"supports resolutions {list(supported)}. Remove one of them "
                                "from the grid or change the dataset's resolution")
    return problems


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    with open(path) as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} must contain a YAML mapping, got "
                          f"{type(config).__name__}")
    return validate_config(config)
