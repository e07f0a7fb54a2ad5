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
            if error.validator == "additionalProperties" and "properties" in error.schema:
                hint = f" (allowed keys: {', '.join(sorted(error.schema['properties']))})"
            else:
                description = " ".join(error.schema.get("description", "").split())
                hint = f" ({description})" if description else ""
            lines.append(f"config key {_key(error.absolute_path)}: {error.message}{hint}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    _check_names(config)
    return config


def _unknown_names(names: list[tuple[str, str]], registry, kind: str) -> list[str]:
    """List the (config key, name) pairs whose name ``registry`` does not contain."""
    return [f"config key {key}: unknown {kind} {name!r}; registered {kind}s: {registry.names()}"
            for key, name in names if name not in registry]


def _undefined_datasets(names: list[str], key: str, config: dict[str, Any]) -> list[str]:
    """List the dataset names under ``key`` that the ``datasets`` section does not define."""
    return [f"config key {key}[{i}]: dataset {name!r} is not defined under `datasets` "
            f"(defined: {sorted(config['datasets'])})"
            for i, name in enumerate(names) if name not in config["datasets"]]


def _model_option_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    for name, options in config["models"].items():
        if name not in MODELS:
            continue
        try:
            MODELS.get(name).resolve_options(options)
        except ValueError as error:
            problems.append(f"config key models.{name}: {error}")
    return problems


def _source_problems(sources: dict[str, dict[str, Any]]) -> list[str]:
    """Build every trade-off source once, so a bad parameter fails before any job runs."""
    from noisedim.sources import make_source

    problems = []
    for name, spec in sources.items():
        if spec["kind"] not in SOURCES:
            continue  # reported as an unknown source
        try:
            make_source(dict(spec))
        except (ValueError, TypeError, OSError) as error:
            problems.append(f"config key tradeoff.sources.{name}: {error}")
    return problems


def _check_names(config: dict[str, Any]) -> None:
    """Check registry names and cross-references that the schema cannot express."""
    grid, tradeoff = config["grid"], config["tradeoff"]
    problems = _undefined_datasets(grid["datasets"], "grid.datasets", config)
    problems += _undefined_datasets(config["theory"]["datasets"] or [], "theory.datasets", config)
    problems += _unknown_names(
        [(f"datasets.{name}.builder", entry["builder"])
         for name, entry in config["datasets"].items()], DATASETS, "dataset builder")
    problems += _unknown_names([(f"grid.models[{i}]", name)
                                for i, name in enumerate(grid["models"])], MODELS, "model")
    problems += _unknown_names([(f"models.{name}", name) for name in config["models"]],
                               MODELS, "model")
    problems += _model_option_problems(config)
    problems += _resolution_problems(config)
    problems += _unknown_names([(f"tradeoff.divergences[{i}]", name)
                                for i, name in enumerate(tradeoff["divergences"])],
                               DIVERGENCES, "divergence")
    problems += _unknown_names([(f"tradeoff.sources.{name}.kind", spec["kind"])
                                for name, spec in tradeoff["sources"].items()], SOURCES, "source")
    problems += _unknown_names([("evaluation.extractor", config["evaluation"]["extractor"])],
                               FEATURE_EXTRACTORS, "feature extractor")
    problems += _source_problems(tradeoff["sources"])
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
