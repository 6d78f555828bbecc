"""Run configurations: one YAML file describes a whole study run.

A configuration has the sections ``data``, ``model``, ``training``, ``sampling``, ``fidelity``,
``privacy`` and ``replication``, plus ``run_name`` and ``random_state``. An optional ``selection``
section trains several candidate models and keeps the best one (:mod:`synthlib.grid`). Every key has
a default (:data:`DEFAULTS`), so a configuration only states what differs. Unknown keys are rejected
with the list of known ones, because a misspelt key would otherwise be ignored silently.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

import yaml

from synthlib.exceptions import ConfigError

logger = logging.getLogger(__name__)

DEFAULTS = {
    "run_name": "default",
    "random_state": 0,
    "data": {
        # "smart" loads the SMART cohort from the survset package. "sams_cohort" and "ldl_response"
        # simulate a cohort with known ground truth (synthlib.cohorts). Anything else is a CSV or
        # Parquet path.
        "source": "smart",
        "dictionary": "data_templates/smart.yaml",
        "holdout_fraction": 0.2,
        "stratify": None,
        # Rows of a simulated cohort; None keeps the simulator's default (1,700).
        "n_rows": None,
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
        # Early stopping and checkpoints; synthlib.training.TrainingSettings documents each key.
        # Validation rows come out of the training split: 0 trains on every row and keeps the last epoch.
        "validation_fraction": 0.0,
        "patience": 3,
        "memorisation_check": False,
        "memorisation_check_from_epoch": 2,
        "memorisation_check_n_samples": 200,
        "memorisation_check_alpha": 0.01,
        "save_total_limit": 2,
        "keep_checkpoints": False,
        # "auto": bfloat16 mixed precision where the hardware computes it natively, else float32.
        "precision": "auto",
    },
    "sampling": {
        # None samples as many rows as the training split holds.
        "n_samples": None,
        "batch_size": 256,
        "temperature": 1.0,
        "top_k": 0,
        "max_batches": None,
        # Hold each column's share of missing values at its training rate (synthlib.missing_rates).
        "calibrate_missing": True,
        # m: independent synthetic tables sampled from the one trained model, for combined inference.
        "n_syntheses": 5,
    },
    "fidelity": {"outcome": None},
    # Anonymeter: attacks per seed (capped at the train and holdout sizes) and the seeds repeated.
    "privacy": {"max_rows": None, "anonymeter_attacks": 500, "anonymeter_seeds": [0, 1, 2]},
    # A null family or formula takes the simulator's true model for simulated cohorts, else a logistic
    # model of the first outcome on all predictors. `event` is the 0/1 event column of a Cox model.
    # `analyses` lists more models, each {name, family, formula, event}.
    "replication": {"family": None, "formula": None, "event": None, "analyses": []},
}

# The values of training.precision (synthlib.training.TrainingSettings documents them).
PRECISIONS = ("auto", "bf16", "fp32")
BUILT_IN_SOURCES = ("smart", "sams_cohort", "ldl_response")
LORA_DEFAULTS = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}

# Numeric settings: (key path, type, lower bound, whether the bound is included, whether None is allowed).
# Strings that parse as numbers are accepted, because YAML 1.1 reads `1e-3` (no decimal point) as a string.
NUMBERS = (
    ("random_state", int, 0, True, False),
    ("model.n_layer", int, 1, True, False),
    ("model.n_embd", int, 1, True, False),
    ("model.n_head", int, 1, True, False),
    ("model.vocab_size", int, 260, True, False),
    ("model.n_positions", int, 8, True, True),
    ("model.lora.r", int, 1, True, False),
    ("model.lora.alpha", float, 0, False, False),
    ("model.lora.dropout", float, 0, True, False),
    ("training.epochs", float, 0, False, False),
    ("training.max_steps", int, 1, True, True),
    ("training.max_seconds", float, 0, False, True),
    ("training.batch_size", int, 1, True, False),
    ("training.learning_rate", float, 0, False, False),
    ("training.validation_fraction", float, 0, True, False),
    ("training.patience", int, 0, True, True),
    ("training.memorisation_check_from_epoch", int, 1, True, False),
    ("training.memorisation_check_n_samples", int, 1, True, False),
    ("training.memorisation_check_alpha", float, 0, False, False),
    ("training.save_total_limit", int, 1, True, False),
    ("sampling.n_samples", int, 1, True, True),
    ("sampling.batch_size", int, 1, True, False),
    ("sampling.temperature", float, 0, False, False),
    ("sampling.top_k", int, 0, True, False),
    ("sampling.max_batches", int, 1, True, True),
    ("sampling.n_syntheses", int, 1, True, False),
    ("privacy.max_rows", int, 1, True, True),
    ("privacy.anonymeter_attacks", int, 1, True, False),
    ("data.n_rows", int, 10, True, True),
)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _merge(defaults: dict, given: dict, where: str, problems: list) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            problems.append(f"unknown key '{where}{key}'; known keys here: {known}")
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
    selection = mapping.get("selection")
    config = _merge(DEFAULTS, {key: value for key, value in mapping.items() if key != "selection"}, "", problems)
    lora = config["model"]["lora"]
    if lora is not None:
        config["model"]["lora"] = _merge(LORA_DEFAULTS, lora if isinstance(lora, dict) else {}, "model.lora.", problems)
    if config["model"]["kind"] not in ("scratch", "pretrained"):
        problems.append(f"model.kind must be 'scratch' or 'pretrained', got {config['model']['kind']!r}")
    if config["model"]["kind"] == "pretrained" and not config["model"]["path"]:
        problems.append("model.path must name a local Hugging Face directory when model.kind is 'pretrained'")
    _check_replication(config["replication"], problems)
    fraction = config["data"]["holdout_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        problems.append(f"data.holdout_fraction must be a number between 0 and 1, got {fraction!r}")
    if config["model"]["kind"] == "scratch" and config["model"]["lora"] is not None:
        problems.append("model.lora applies to pre-trained models only: remove it or set model.kind: pretrained")
    name = config["run_name"]
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        problems.append(
            f"run_name must be a folder name of letters, digits, '_', '.' and '-' that starts with a letter "
            f"or digit, got {name!r}"
        )
    for key, kind, low, inclusive, optional in NUMBERS:
        _check_number(config, key, kind, low, inclusive, optional, problems)
    dropout = (config["model"]["lora"] or {}).get("dropout", 0.0)
    if isinstance(dropout, float) and dropout >= 1:
        problems.append(f"model.lora.dropout must be below 1, got {dropout!r}")
    _check_training(config["training"], problems)
    seeds = config["privacy"]["anonymeter_seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
        problems.append(f"privacy.anonymeter_seeds must be a non-empty list of whole numbers, got {seeds!r}")
    if not isinstance(config["sampling"]["calibrate_missing"], bool):
        problems.append(f"sampling.calibrate_missing must be true or false, got {config['sampling']['calibrate_missing']!r}")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))
    if base_dir is not None:
        _absolute_paths(config, Path(base_dir))
    if selection is not None:
        from synthlib.grid import resolve_selection

        config["selection"] = resolve_selection(selection, config, base_dir)
    return config


def _check_replication(replication: dict, problems: list) -> None:
    """Record invalid replication settings: the default model's family and each listed analysis."""
    families = ("logistic", "linear", "cox")
    if replication["family"] not in (None, *families):
        problems.append(f"replication.family must be 'logistic', 'linear', 'cox' or null, got {replication['family']!r}")
    if replication["family"] == "cox" and not replication["event"]:
        problems.append("replication.event must name the 0/1 event column when replication.family is 'cox'")
    analyses = replication["analyses"]
    if not isinstance(analyses, list):
        problems.append(f"replication.analyses must be a list of mappings, got {analyses!r}")
        return
    names = {"default"}
    for index, analysis in enumerate(analyses):
        where = f"replication.analyses[{index}]"
        if not isinstance(analysis, dict) or not {"name", "family", "formula"} <= set(analysis):
            problems.append(f"{where} must be a mapping with name, family, formula (and event for cox), got {analysis!r}")
            continue
        unknown = set(analysis) - {"name", "family", "formula", "event"}
        if unknown:
            problems.append(f"{where} has unknown key(s) {sorted(unknown)}; known keys: name, family, formula, event")
        if analysis["name"] in names:
            problems.append(f"{where}.name {analysis['name']!r} is used twice (or is 'default'); give each analysis its own name")
        names.add(analysis["name"])
        if analysis["family"] not in families:
            problems.append(f"{where}.family must be one of {families}, got {analysis['family']!r}")
        if (analysis["family"] == "cox") != bool(analysis.get("event")):
            problems.append(f"{where}.event must name the 0/1 event column for a cox model, and only then")


def _check_training(training: dict, problems: list) -> None:
    """Record the training settings that the numeric bounds of NUMBERS cannot express."""
    for key in ("validation_fraction", "memorisation_check_alpha"):
        if isinstance(training[key], float) and training[key] >= 1:
            problems.append(f"training.{key} must be below 1, got {training[key]!r}")
    for key in ("memorisation_check", "keep_checkpoints"):
        if not isinstance(training[key], bool):
            problems.append(f"training.{key} must be true or false, got {training[key]!r}")
    if training["precision"] not in PRECISIONS:
        problems.append(f"training.precision must be one of {', '.join(PRECISIONS)}, got {training['precision']!r}")
    if training["memorisation_check"] is True and training["validation_fraction"] == 0:
        problems.append(
            "training.memorisation_check compares synthetic rows with held-out rows, so it needs validation "
            "rows: set training.validation_fraction above 0 (for example 0.1)"
        )


def _number(value, kind):
    """Return ``value`` as ``kind``, or None when it is not a number of that kind."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if kind is int:
        return int(number) if number.is_integer() else None
    return number


def _check_number(config, key, kind, low, inclusive, optional, problems) -> None:
    """Convert ``config[key]`` (a dotted path) to ``kind`` in place, or record why it is invalid."""
    *parents, leaf = key.split(".")
    section = config
    for parent in parents:
        section = section.get(parent)
        if not isinstance(section, dict):
            return
    value = section[leaf]
    if value is None and optional:
        return
    number = _number(value, kind)
    valid = number is not None and (number >= low if inclusive else number > low)
    if not valid:
        kind_name = "a whole number" if kind is int else "a number"
        bound = f"{'at least' if inclusive else 'greater than'} {low}"
        allowed = " (or null)" if optional else ""
        problems.append(f"{key} must be {kind_name} {bound}{allowed}, got {value!r}")
        return
    section[leaf] = number


def _absolute_paths(config: dict, base_dir: Path) -> None:
    data, model = config["data"], config["model"]
    if data["source"] not in BUILT_IN_SOURCES:
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
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not a valid UTF-8 YAML file: {error}") from None
    if base_dir is None:
        folder = path.resolve().parent
        base_dir = folder.parent if folder.name == "configs" else folder
    return resolve_config(mapping, base_dir=base_dir)
