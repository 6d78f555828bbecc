"""Run configurations: one YAML file describes a whole study run.

A configuration has the sections ``data``, ``model``, ``training``, ``sampling``, ``fidelity``,
``privacy`` and ``replication``, plus ``run_name`` and ``random_state``. Every key has a default
(:data:`DEFAULTS`), so a configuration only states what differs. Unknown keys are rejected with the
list of known ones, because a misspelt key would otherwise be ignored silently.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import yaml

from synthlib.exceptions import ConfigError

logger = logging.getLogger(__name__)

DEFAULTS = {
    "run_name": "default",
    "random_state": 0,
    "data": {
        # "smart" loads the SMART cohort from the survset package; otherwise a CSV or Parquet path.
        "source": "smart",
        "dictionary": "data_templates/smart.yaml",
        "holdout_fraction": 0.2,
        "stratify": None,
    },
    "model": {
        # "scratch": GPT-2 from random weights with a tokenizer trained on the rows;
        # "pretrained": any local Hugging Face directory given in `path`.
        "kind": "scratch",
        "path": None,
        "lora": None,
        "n_layer": 4,
        "n_embd": 256,
        "n_head": 4,
        "vocab_size": 2048,
        "n_positions": None,
    },
    "training": {
        "epochs": 5,
        "max_steps": None,
        "max_seconds": None,
        "batch_size": 16,
        "learning_rate": 5e-4,
    },
    "sampling": {
        # None samples as many rows as the training split holds.
        "n_samples": None,
        "batch_size": 256,
        "temperature": 1.0,
        "top_k": 0,
        "max_batches": None,
    },
    "fidelity": {"outcome": None},
    "privacy": {"max_rows": None},
    "replication": {"family": "logistic", "formula": None},
}

LORA_DEFAULTS = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}


def _merge(defaults: dict, given: dict, where: str, problems: list) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            problems.append(f"unknown key {where}{key!r}; known keys here: {known}")
            continue
        if isinstance(defaults[key], dict) and isinstance(value, dict):
            merged[key] = _merge(defaults[key], value, f"{where}{key}.", problems)
        elif isinstance(defaults[key], dict):
            problems.append(f"{where}{key} must be a mapping, got {value!r}")
        else:
            merged[key] = value
    return merged


def resolve_config(mapping: dict, base_dir=None) -> dict:
    """Fill in defaults, check keys and values, and make data paths absolute.

    Parameters
    ----------
    mapping : dict
        Configuration as read from YAML.
    base_dir : path-like or None
        Directory that relative data paths are resolved against (the repository root when the
        config lives in ``configs/``); None leaves them as given.

    Returns
    -------
    dict
        The complete configuration.

    Raises
    ------
    ConfigError
        Listing every unknown key and invalid value.
    """
    if not isinstance(mapping, dict):
        raise ConfigError(f"a configuration must be a YAML mapping, got {type(mapping).__name__}")
    problems = []
    config = _merge(DEFAULTS, mapping, "", problems)
    lora = config["model"]["lora"]
    if lora is not None:
        config["model"]["lora"] = _merge(LORA_DEFAULTS, lora if isinstance(lora, dict) else {}, "model.lora.", problems)
    if config["model"]["kind"] not in ("scratch", "pretrained"):
        problems.append(f"model.kind must be 'scratch' or 'pretrained', got {config['model']['kind']!r}")
    if config["model"]["kind"] == "pretrained" and not config["model"]["path"]:
        problems.append("model.path must name a local Hugging Face directory when model.kind is 'pretrained'")
    if config["replication"]["family"] not in ("logistic", "linear"):
        problems.append(f"replication.family must be 'logistic' or 'linear', got {config['replication']['family']!r}")
    fraction = config["data"]["holdout_fraction"]
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        problems.append(f"data.holdout_fraction must be between 0 and 1, got {fraction!r}")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))
    if base_dir is not None:
        _absolute_paths(config, Path(base_dir))
    return config


def _absolute_paths(config: dict, base_dir: Path) -> None:
    data, model = config["data"], config["model"]
    if data["source"] != "smart":
        data["source"] = str((base_dir / data["source"]).resolve())
    data["dictionary"] = str((base_dir / data["dictionary"]).resolve())
    if model["path"]:
        model["path"] = str((base_dir / model["path"]).resolve())


def load_config(path, base_dir=None) -> dict:
    """Read and resolve a configuration file.

    Relative data and model paths are resolved against ``base_dir``, by default the parent of
    the ``configs/`` folder holding the file (or the file's own folder elsewhere).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    mapping = yaml.safe_load(path.read_text()) or {}
    if base_dir is None:
        folder = path.resolve().parent
        base_dir = folder.parent if folder.name == "configs" else folder
    return resolve_config(mapping, base_dir=base_dir)
