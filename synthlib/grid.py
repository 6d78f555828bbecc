"""Candidate models of a selection run: the ``selection`` section of a configuration and its grid.

A configuration with a ``selection`` section trains several candidate models on one split and lets
``notebooks/model_selection.ipynb`` rank them::

    selection:
      budget_seconds: 300          # wall-clock training budget of every candidate, or null
      n_samples: 300               # rows sampled per candidate for scoring (one synthesis)
      seeds: [0]                   # each candidate is trained once per seed
      grid:                        # optional: dotted keys -> lists, crossed with every candidate
        training.learning_rate: [5.0e-4, 1.0e-3]
      candidates:                  # a name plus overrides of the model, training and sampling sections
        - name: gpt2-2x128
          model: {kind: scratch, n_layer: 2, n_embd: 128}
      score:                       # the ranking rule, read by synthlib.selection
        weights: {quality: 0.5, utility: 0.5}
        min_overfitting_protection: 0.9
        max_membership_auc: 0.6

:func:`resolve_selection` checks the section; :func:`expand_candidates` turns it into one
:class:`Candidate` per candidate, grid point and seed, each with a complete configuration.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass

from synthlib.exceptions import ConfigError

SELECTION_DEFAULTS = {
    "budget_seconds": None,
    "n_samples": 500,
    "seeds": [0],
    "grid": {},
    "candidates": None,
    "score": None,
}
SCORE_DEFAULTS = {
    "weights": {"quality": 0.5, "utility": 0.5},
    "min_overfitting_protection": 0.9,
    "max_membership_auc": 0.6,
}
OVERRIDABLE_SECTIONS = ("model", "training", "sampling")
CANDIDATE_KEYS = ("name", *OVERRIDABLE_SECTIONS)
# Set for every candidate by the selection section itself, so a candidate may not override them.
SELECTION_OWNED = {
    "sampling.n_samples": "selection.n_samples",
    "sampling.n_syntheses": "the selection run (one synthesis per candidate)",
}


@dataclass(frozen=True)
class Candidate:
    """One model to train and score in a selection run.

    Attributes
    ----------
    id : str
        ``<name>-seed<seed>``, plus ``-<8 hex digits>`` of the grid point when a grid applies; the
        name of the candidate's run folder.
    name : str
        The candidate's name in ``selection.candidates``.
    seed : int
        The candidate's ``random_state``.
    overrides : dict
        Dotted key to value: the candidate's own settings, then the grid point.
    budget_seconds : float or None
        The wall-clock training budget (``training.max_seconds``).
    config : dict
        The complete configuration of the candidate's run folder.
    """

    id: str
    name: str
    seed: int
    overrides: dict
    budget_seconds: float | None
    config: dict

    def record(self) -> dict:
        """Return the content of the candidate's ``candidate.json``."""
        return {
            "id": self.id,
            "name": self.name,
            "seed": self.seed,
            "overrides": self.overrides,
            "budget_seconds": self.budget_seconds,
        }


def settable_keys() -> list:
    """Return the dotted keys a grid may vary: the settings of the model, training and sampling sections."""
    from synthlib.config import DEFAULTS, LORA_DEFAULTS

    keys = [f"{section}.{key}" for section in OVERRIDABLE_SECTIONS for key in DEFAULTS[section]]
    keys += [f"model.lora.{key}" for key in LORA_DEFAULTS]
    return [key for key in keys if key not in SELECTION_OWNED]


def flatten(mapping: dict, prefix: str = "") -> dict:
    """Return a nested mapping as dotted keys, ``{"model": {"n_layer": 2}}`` as ``{"model.n_layer": 2}``."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _set_dotted(mapping: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    for parent in parents:
        if not isinstance(mapping.get(parent), dict):
            mapping[parent] = {}
        mapping = mapping[parent]
    mapping[leaf] = value


def _get_dotted(mapping: dict, key: str):
    for part in key.split("."):
        mapping = mapping[part]
    return mapping


def _deep_update(target: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)


def _check_scalars(selection: dict, problems: list) -> None:
    budget = selection["budget_seconds"]
    if budget is not None and not (_is_number(budget) and float(budget) > 0):
        problems.append(f"selection.budget_seconds must be a number of seconds above 0 (or null), got {budget!r}")
    n_samples = selection["n_samples"]
    if not (_is_number(n_samples) and float(n_samples).is_integer() and float(n_samples) >= 1):
        problems.append(f"selection.n_samples must be a whole number of at least 1, got {n_samples!r}")
    seeds = selection["seeds"]
    whole = isinstance(seeds, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    if not whole or not seeds or len(set(seeds)) != len(seeds):
        problems.append(f"selection.seeds must be a non-empty list of distinct whole numbers of at least 0, got {seeds!r}")


def _check_grid(grid, problems: list) -> None:
    if not isinstance(grid, dict):
        problems.append(f"selection.grid must be a mapping of dotted keys to lists, got {grid!r}")
        return
    known = settable_keys()
    for key, values in grid.items():
        if key in SELECTION_OWNED:
            problems.append(f"selection.grid key {key!r} is set by {SELECTION_OWNED[key]}; remove it from the grid")
        elif key not in known:
            section = str(key).split(".")[0]
            hint = [k for k in known if k.startswith(f"{section}.")] if section in OVERRIDABLE_SECTIONS else known
            problems.append(
                f"selection.grid key {key!r} is not a dotted key of the model, training or sampling section; "
                f"known keys: {', '.join(hint)}"
            )
        if not isinstance(values, list) or not values:
            problems.append(
                f"selection.grid.{key} must be a non-empty list of values, got {values!r}; write one value as [value]"
            )


def _check_candidates(candidates, budget, problems: list) -> None:
    from synthlib.config import RUN_NAME

    if not isinstance(candidates, list) or not candidates:
        problems.append(
            f"selection.candidates must be a non-empty list of mappings with a name, got {candidates!r}; "
            "remove the selection section to train one model"
        )
        return
    names = set()
    for index, candidate in enumerate(candidates):
        where = f"selection.candidates[{index}]"
        if not isinstance(candidate, dict) or "name" not in candidate:
            problems.append(f"{where} must be a mapping with a name and model, training or sampling overrides, got {candidate!r}")
            continue
        name = candidate["name"]
        if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
            problems.append(
                f"{where}.name must be a folder name of letters, digits, '_', '.' and '-' that starts with a "
                f"letter or digit, got {name!r}"
            )
        elif name in names:
            problems.append(f"{where}.name {name!r} is used twice; give each candidate its own name")
        names.add(name)
        unknown = sorted(set(candidate) - set(CANDIDATE_KEYS))
        if unknown:
            problems.append(f"{where} has unknown key(s) {unknown}; known keys: {', '.join(CANDIDATE_KEYS)}")
        for section in OVERRIDABLE_SECTIONS:
            if not isinstance(candidate.get(section, {}), dict):
                problems.append(f"{where}.{section} must be a mapping of {section} settings, got {candidate[section]!r}")
                continue
            owned = [key for key in flatten({section: candidate.get(section, {})}) if key in SELECTION_OWNED]
            if budget is not None and section == "training" and "max_seconds" in candidate.get(section, {}):
                owned.append("training.max_seconds")
            for key in owned:
                setter = SELECTION_OWNED.get(key, "selection.budget_seconds")
                problems.append(f"{where} ({name}) sets {key}, which {setter} sets for every candidate; remove it")


def _check_score(score, problems: list) -> dict:
    if score is None:
        return copy.deepcopy(SCORE_DEFAULTS)
    if not isinstance(score, dict):
        problems.append(f"selection.score must be a mapping with {', '.join(SCORE_DEFAULTS)}, got {score!r}")
        return copy.deepcopy(SCORE_DEFAULTS)
    unknown = sorted(set(score) - set(SCORE_DEFAULTS))
    if unknown:
        problems.append(f"selection.score has unknown key(s) {unknown}; known keys: {', '.join(SCORE_DEFAULTS)}")
    # The given weights replace the default ones as a whole; merging would keep a weight left out on purpose.
    resolved = {**copy.deepcopy(SCORE_DEFAULTS), **{k: v for k, v in score.items() if k in SCORE_DEFAULTS}}
    weights = resolved["weights"]
    valid = isinstance(weights, dict) and weights and all(
        isinstance(name, str) and _is_number(value) and float(value) >= 0 for name, value in weights.items()
    )
    if not valid or not any(float(value) > 0 for value in weights.values()):
        problems.append(
            f"selection.score.weights must map metric names to numbers of at least 0, one of them above 0, "
            f"got {weights!r}"
        )
    else:
        resolved["weights"] = {name: float(value) for name, value in weights.items()}
    for key in ("min_overfitting_protection", "max_membership_auc"):
        value = resolved[key]
        if value is None:
            continue
        if not _is_number(value) or not 0 <= float(value) <= 1:
            problems.append(f"selection.score.{key} must be a number from 0 to 1 (or null for no threshold), got {value!r}")
        else:
            resolved[key] = float(value)
    return resolved


def resolve_selection(section, config: dict, base_dir=None) -> dict:
    """Check a ``selection`` section, fill in its defaults and check every candidate's configuration.

    Parameters
    ----------
    section : dict
        The ``selection`` section as read from YAML.
    config : dict
        The resolved configuration around it, without ``selection``: the base of every candidate.
    base_dir : path-like or None
        Directory that relative model paths of candidates and grid values are resolved against.

    Returns
    -------
    dict
        The section with defaults, numbers converted and model paths made absolute.

    Raises
    ------
    ConfigError
        Listing every invalid key and value of the section and of the candidates it expands to.
    """
    if not isinstance(section, dict):
        raise ConfigError(f"selection must be a mapping with candidates (and optionally grid, seeds, score), got {section!r}")
    problems = []
    unknown = sorted(set(section) - set(SELECTION_DEFAULTS))
    if unknown:
        listed = [f"selection.{key}" for key in unknown]
        problems.append(f"unknown key(s) {listed}; known keys here: {', '.join(SELECTION_DEFAULTS)}")
    selection = {**copy.deepcopy(SELECTION_DEFAULTS), **{k: v for k, v in section.items() if k in SELECTION_DEFAULTS}}
    _check_scalars(selection, problems)
    _check_grid(selection["grid"], problems)
    _check_candidates(selection["candidates"], selection["budget_seconds"], problems)
    selection["score"] = _check_score(selection["score"], problems)
    if problems:
        raise ConfigError("invalid selection section:\n" + "\n".join(f"- {p}" for p in problems))

    if selection["budget_seconds"] is not None:
        selection["budget_seconds"] = float(selection["budget_seconds"])
    selection["n_samples"] = int(float(selection["n_samples"]))
    if base_dir is not None:
        _absolute_model_paths(selection, base_dir)
    candidates = expand_candidates({**config, "selection": selection})
    ids = [candidate.id for candidate in candidates]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(
            f"invalid selection section: candidate ids {repeated} occur twice, because a selection.grid list "
            "repeats a value; list each value once"
        )
    # Store the grid's values as the candidates resolved them, so config.yaml shows 0.001, not the text '1e-3'.
    first = [c for c in candidates if c.name == candidates[0].name and c.seed == candidates[0].seed]
    for key in selection["grid"]:
        values = {}
        for candidate in first:
            values.setdefault(json.dumps(candidate.overrides[key], default=str), candidate.overrides[key])
        selection["grid"][key] = list(values.values())
    return selection


def _absolute_model_paths(selection: dict, base_dir) -> None:
    from pathlib import Path

    def absolute(path):
        return str((Path(base_dir) / path).resolve()) if isinstance(path, str) else path

    for candidate in selection["candidates"]:
        model = candidate.get("model") or {}
        if model.get("path"):
            model["path"] = absolute(model["path"])
    if "model.path" in selection["grid"]:
        selection["grid"]["model.path"] = [absolute(path) for path in selection["grid"]["model.path"]]


def grid_points(grid: dict) -> list:
    """Return every combination of the grid's values as a dict of dotted keys, in the grid's key order."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[key] for key in keys))]


def candidate_id(name: str, seed: int, grid_point: dict) -> str:
    """Return ``<name>-seed<seed>``, plus ``-<8 hex digits>`` of the grid point when it is not empty.

    The digits are the start of the SHA-256 of the grid point as sorted JSON, so an id stays the
    same when the grid lists its keys in another order or other values beside it.
    """
    identifier = f"{name}-seed{seed}"
    if grid_point:
        text = json.dumps(grid_point, sort_keys=True, default=str)
        identifier += "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return identifier


def expand_candidates(config: dict) -> list:
    """Return one :class:`Candidate` per candidate, grid point and seed of a resolved configuration.

    Each candidate's configuration is the base configuration (every section but ``selection``)
    with the candidate's overrides applied, then the grid point, then ``random_state`` set to the
    seed. ``run_name`` becomes the candidate id, ``sampling.n_samples`` is ``selection.n_samples``
    and ``sampling.n_syntheses`` is 1.

    With ``selection.budget_seconds``, ``training.max_seconds`` is the budget, and
    ``training.epochs`` (or ``training.max_steps``) stays the candidate's cap. The learning-rate
    schedule (linear warm-up over 5% of the planned steps, then linear decay) is planned over that
    cap. A very large cap would therefore keep a slow model in its warm-up for the whole budget.
    Set each candidate's epochs a little above what the budget allows, so that the budget ends
    training. ``results/training.json`` records ``stopped_by_budget``. The pipeline warns when a
    candidate finished its epochs before the budget.

    Raises
    ------
    ConfigError
        Listing every candidate whose configuration is invalid, with the reason.
    """
    from synthlib.config import resolve_config

    selection = config["selection"]
    base = {key: value for key, value in config.items() if key != "selection"}
    candidates, problems = [], []
    for entry in selection["candidates"]:
        own = {section: entry[section] for section in OVERRIDABLE_SECTIONS if section in entry}
        for point in grid_points(selection["grid"]):
            for seed in selection["seeds"]:
                mapping = copy.deepcopy(base)
                _deep_update(mapping, own)
                for key, value in point.items():
                    _set_dotted(mapping, key, value)
                mapping["random_state"] = seed
                mapping["run_name"] = candidate_id(entry["name"], seed, point)
                mapping["sampling"]["n_samples"] = selection["n_samples"]
                mapping["sampling"]["n_syntheses"] = 1
                if selection["budget_seconds"] is not None:
                    mapping["training"]["max_seconds"] = selection["budget_seconds"]
                try:
                    resolved = resolve_config(mapping)
                except ConfigError as error:
                    where = f"candidate {entry['name']!r}" + (f" at grid point {point}" if point else "")
                    reasons = str(error).removeprefix("invalid configuration:\n").split("\n")
                    problems.extend(f"{where}: {reason.removeprefix('- ')}" for reason in reasons)
                    continue
                # Ids and overrides use the resolved values, so `1e-3` written as text and 0.001 agree.
                resolved_point = {key: _get_dotted(resolved, key) for key in point}
                overrides = {key: _get_dotted(resolved, key) for key in flatten(own)}
                overrides.update(resolved_point)
                resolved["run_name"] = candidate_id(entry["name"], seed, resolved_point)
                candidates.append(Candidate(
                    id=resolved["run_name"], name=entry["name"], seed=seed, overrides=overrides,
                    budget_seconds=selection["budget_seconds"], config=resolved,
                ))
    if problems:
        # Every seed of a grid point repeats the same problems, so each is listed once.
        listed = "\n".join(f"- {problem}" for problem in dict.fromkeys(problems))
        raise ConfigError("invalid selection candidates:\n" + listed)
    return candidates
