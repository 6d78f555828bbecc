"""Rank the candidate generators of a model-selection run and name the optimal one.

A model-selection run trains every candidate generator on the same training split, each in its
own run folder ``candidates/<candidate id>/`` holding ``candidate.json`` and the results of the
fine-tuning, sampling, fidelity and privacy steps (``results/training.json``, ``sampling.json``,
``fidelity.json``, ``privacy.json``). :func:`candidate_table` reads them into one row per
candidate, :func:`rank_candidates` applies the score rule, and :func:`select_model` does both and
writes ``results/model_selection.json`` in the main run folder.

The score rule
--------------
``score = w_quality * quality + w_utility * utility``, with the weights of the ``score`` dict
(see :func:`validate_score`). ``quality`` is the fidelity quality score (SDMetrics' mean of
column shapes and column pair trends) and ``utility`` is :func:`utility_ratio`. A candidate is
eligible only when its overfitting protection is at least ``min_overfitting_protection`` and its
membership inference AUC at most ``max_membership_auc``. A missing figure, or a missing results
file, makes it ineligible, and its ``reasons`` list which.

Candidates that differ only by their seed form one configuration. Configurations are ranked on
their mean score, and a configuration is eligible only when every one of its seed runs is.
:func:`describe_rule` states the tie-breaks and the fallback used when no configuration is
eligible.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .artifacts import RunPaths, read_json, write_json
from .exceptions import ConfigError, SynthlibWarning

logger = logging.getLogger(__name__)

RESULT_STEPS = ("training", "sampling", "fidelity", "privacy")
"""Steps whose ``results/<step>.json`` every candidate folder should contain."""

SCORE_COMPONENTS = {"quality": "quality_score", "utility": "utility"}
"""Weight names of the score, and the table column that each one multiplies."""

DEFAULT_SCORE = {
    "weights": {"quality": 0.5, "utility": 0.5},
    "min_overfitting_protection": 0.9,
    "max_membership_auc": 0.6,
}
"""Score rule used for the keys that a ``score`` dict leaves out."""

THRESHOLDS = ("min_overfitting_protection", "max_membership_auc")

CHANCE_SCORES = {"auc": 0.5, "r2": 0.0}
"""Utility score of a model that predicts no better than chance (AUC) or the mean (R^2)."""


@dataclass(frozen=True)
class SelectionResult:
    """Ranking of the candidates of a model-selection run.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, best first: the figures of :func:`candidate_table` plus ``score``,
        ``eligible``, ``reasons``, ``configuration_eligible``, ``configuration_rank`` and ``rank``.
    configurations : pandas.DataFrame
        One row per configuration, best first: seed count, eligibility, and the mean, standard
        deviation, minimum and maximum of the score over the seeds, with mean privacy figures.
    optimal : str
        Id of the optimal candidate, the one of rank 1.
    optimal_configuration : str
        Its configuration.
    fallback : bool
        True when no configuration was eligible and the optimal candidate is the one of lowest
        privacy risk.
    rule : str
        The rule in plain language (:func:`describe_rule`).
    score : dict
        The validated score dict (:func:`validate_score`).
    budget_seconds : float or None
        Wall-clock training budget per candidate; None when none was set.
    """

    table: pd.DataFrame
    configurations: pd.DataFrame
    optimal: str
    optimal_configuration: str
    fallback: bool
    rule: str
    score: dict
    budget_seconds: float | None


# --------------------------------------------------------------------------- the score dict


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _validate_weights(weights) -> dict:
    if not isinstance(weights, dict):
        raise ConfigError(f"score.weights must be a mapping such as {DEFAULT_SCORE['weights']}, got {weights!r}")
    unknown = sorted(set(weights) - set(SCORE_COMPONENTS))
    if unknown:
        raise ConfigError(f"score.weights has unknown keys {unknown}. The weights are {list(SCORE_COMPONENTS)}.")
    for name, weight in weights.items():
        if not _is_number(weight) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"score.weights.{name} must be a finite number of at least 0, got {weight!r}")
    if not any(weight > 0 for weight in weights.values()):
        raise ConfigError(f"score.weights must give at least one component a positive weight, got {weights!r}")
    return {name: float(weights.get(name, 0.0)) for name in SCORE_COMPONENTS}


def validate_score(score: dict | None) -> dict:
    """Check a score dict and fill in the keys it leaves out from :data:`DEFAULT_SCORE`.

    Parameters
    ----------
    score : dict or None
        Keys ``weights`` (a mapping of ``quality`` and ``utility`` to weights of at least 0, a
        weight left out counting as 0, at least one positive), ``min_overfitting_protection``
        and ``max_membership_auc`` (numbers in [0, 1], or None to drop that threshold). None
        takes :data:`DEFAULT_SCORE` whole.

    Returns
    -------
    dict
        The three keys, with both weights present as floats.

    Raises
    ------
    ConfigError
        For an unknown key, a negative or non-numeric weight, weights that are all 0, or a
        threshold outside [0, 1].
    """
    if score is None:
        score = {}
    if not isinstance(score, dict):
        raise ConfigError(f"score must be a mapping with keys {list(DEFAULT_SCORE)}, got {score!r}")
    unknown = sorted(set(score) - set(DEFAULT_SCORE))
    if unknown:
        raise ConfigError(f"score has unknown keys {unknown}. The keys are {list(DEFAULT_SCORE)}.")

    validated = {"weights": _validate_weights(score.get("weights", DEFAULT_SCORE["weights"]))}
    for name in THRESHOLDS:
        value = score.get(name, DEFAULT_SCORE[name])
        if value is not None and (not _is_number(value) or not 0.0 <= value <= 1.0):
            raise ConfigError(f"score.{name} must be a number in [0, 1] or null (no threshold), got {value!r}")
        validated[name] = None if value is None else float(value)
    return validated


def _format_number(value: float) -> str:
    return f"{value:g}"


def describe_rule(score: dict) -> str:
    """Return the ranking rule of a validated score dict as plain-language Markdown."""
    weights = score["weights"]
    terms = [f"{_format_number(weights[name])} × {name}" for name in SCORE_COMPONENTS if weights[name] > 0]
    conditions = []
    if score["min_overfitting_protection"] is not None:
        minimum = _format_number(score["min_overfitting_protection"])
        conditions.append(f"its overfitting protection is at least {minimum}")
    if score["max_membership_auc"] is not None:
        conditions.append(f"its membership inference AUC is at most {_format_number(score['max_membership_auc'])}")
    eligibility = (
        f"A candidate is eligible when {' and '.join(conditions)}. A missing figure makes it ineligible."
        if conditions else "No privacy threshold is set, so only a missing figure makes a candidate ineligible."
    )
    return " ".join([
        f"Score = {' + '.join(terms)}.",
        eligibility,
        "Candidates that differ only by their seed form a configuration, ranked on its mean score and eligible "
        "only when every one of its seeds is.",
        "Ties go to the lower mean membership inference AUC, then the higher mean overfitting protection, "
        "then the configuration id in alphabetical order.",
        "The optimal model is the highest-scoring seed of the best eligible configuration.",
        "When no configuration is eligible, the configuration with the lowest mean membership inference AUC "
        "is chosen instead, and within it the seed with the lowest AUC.",
    ])


# --------------------------------------------------------------------------- reading candidates


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def utility_ratio(records) -> float | None:
    """Return the chance-corrected TSTR/TRTR ratio of the utility models of ``fidelity.json``.

    For each outcome and model, the ratio is ``(TSTR - chance) / (TRTR - chance)``, clipped to
    [0, 1]. TSTR is the score on the real holdout rows of the model trained on synthetic rows,
    and TRTR that of the model trained on real rows. ``chance`` is 0.5 for an AUC and 0 for an R^2,
    so an R^2 ratio is the plain TSTR/TRTR. The ratio is 1 when the synthetic rows lose none of
    the real rows' predictive value above chance, and 0 when they lose all of it. Clipping at 1
    gives no credit for a synthetic-trained model that beats the real one by chance.

    Parameters
    ----------
    records : list of dict
        The ``utility`` block of ``fidelity.json``: keys ``model``, ``trained_on`` (``real`` or
        ``synthetic``), ``metric`` (``auc`` or ``r2``), ``score`` and, when present, ``outcome``.

    Returns
    -------
    float or None
        Mean ratio over every outcome and model. None when no pair has both scores and a TRTR
        score above chance, because there the ratio is undefined.
    """
    pairs = {}
    for record in records:
        key = (record.get("outcome"), record["model"], record["metric"])
        pairs.setdefault(key, {})[record["trained_on"]] = record["score"]

    ratios = []
    for (outcome, model, metric), scores in pairs.items():
        chance = CHANCE_SCORES.get(metric)
        real, synthetic = scores.get("real"), scores.get("synthetic")
        if chance is None or _is_missing(real) or _is_missing(synthetic) or real <= chance:
            logger.debug("utility of %s on outcome %s left out: %s scores %s", model, outcome, metric, scores)
            continue
        ratios.append(min(max((synthetic - chance) / (real - chance), 0.0), 1.0))
    return float(np.mean(ratios)) if ratios else None


def configuration_id(candidate: dict) -> str:
    """Return the candidate id without its seed part: ``<name>``, or ``<name>-<8 hex>`` under a grid.

    An id that does not start with ``<name>-seed<seed>`` is its own configuration.
    """
    prefix = f"{candidate['name']}-seed{candidate['seed']}"
    if candidate["id"].startswith(prefix):
        return candidate["name"] + candidate["id"][len(prefix):]
    return candidate["id"]


def describe_model(model: dict) -> str:
    """Return a short description of a ``model`` config section, naming a model folder without its path."""
    if model.get("kind") == "scratch":
        if model.get("n_layer") is None:
            return "GPT-2 from scratch"
        return f"GPT-2 from scratch, {model['n_layer']} layers, width {model['n_embd']}"
    name = Path(model["path"]).name if model.get("path") else "pre-trained model"
    lora = model.get("lora")
    return f"{name}, LoRA r={lora.get('r')}" if lora else f"{name}, full fine-tuning"


def _display_value(value) -> str:
    if isinstance(value, str) and "/" in value:
        return Path(value).name
    return str(value)


def describe_overrides(overrides: dict) -> str:
    """Return the overrides of a candidate as ``key=value`` pairs, with folder paths cut to their last part."""
    return ", ".join(f"{key}={_display_value(value)}" for key, value in sorted(overrides.items()))


def _read_candidate_json(folder: Path) -> dict:
    candidate = read_json(folder / "candidate.json")
    missing = [key for key in ("id", "name", "seed") if key not in candidate]
    if missing:
        raise ConfigError(
            f"{folder / 'candidate.json'} is missing the keys {missing}. Write the candidate folder again."
        )
    return candidate


def _model_section(paths: RunPaths, training: dict) -> dict:
    """Return the candidate's ``model`` config section, or what ``training.json`` records of it."""
    if paths.config.is_file():
        model = (yaml.safe_load(paths.config.read_text()) or {}).get("model")
        if model:
            return model
    return {"kind": training.get("model_kind"), "path": training.get("model_path"), "lora": training.get("lora")}


def read_candidate(folder) -> dict:
    """Read one candidate folder into a row of :func:`candidate_table`.

    Returns
    -------
    dict
        The columns listed in :func:`candidate_table`. A results file that is missing leaves
        its figures None and is named in ``missing_results``.
    """
    paths = RunPaths(folder)
    candidate = _read_candidate_json(paths.run_dir)
    results, missing = {}, []
    for step in RESULT_STEPS:
        path = paths.step_results(step)
        results[step] = read_json(path) if path.is_file() else {}
        if not path.is_file():
            missing.append(step)
    training, sampling = results["training"], results["sampling"]
    fidelity, privacy = results["fidelity"], results["privacy"]
    return {
        "id": candidate["id"],
        "name": candidate["name"],
        "seed": candidate["seed"],
        "configuration": configuration_id(candidate),
        "model": describe_model(_model_section(paths, training)),
        "overrides": describe_overrides(candidate.get("overrides") or {}),
        "n_parameters": training.get("n_parameters"),
        "training_seconds": training.get("train_seconds"),
        "epochs": training.get("epochs"),
        "stopped_by_budget": training.get("stopped_by_budget"),
        "valid_rate": sampling.get("valid_rate"),
        "quality_score": fidelity.get("quality_score"),
        "column_shapes": fidelity.get("column_shapes"),
        "column_pair_trends": fidelity.get("column_pair_trends"),
        "utility": utility_ratio(fidelity.get("utility") or []),
        "detection_auc": fidelity.get("detection_auc"),
        "overfitting_protection": privacy.get("overfitting_protection"),
        "membership_inference_auc": privacy.get("membership_inference_auc"),
        "missing_results": missing,
    }


def candidate_table(candidates_dir) -> pd.DataFrame:
    """Read every candidate folder under ``candidates_dir`` into one table.

    Returns
    -------
    pandas.DataFrame
        One row per folder holding ``candidate.json``, sorted by id. Columns: ``id``, ``name``,
        ``seed``, ``configuration`` (:func:`configuration_id`), ``model`` (a description),
        ``overrides``, ``n_parameters``, ``training_seconds``, ``epochs`` (reached),
        ``stopped_by_budget``, ``valid_rate`` (share of generated rows that were valid),
        ``quality_score``, ``column_shapes``, ``column_pair_trends``, ``utility``
        (:func:`utility_ratio`), ``detection_auc``, ``overfitting_protection``,
        ``membership_inference_auc`` and ``missing_results`` (steps whose results file is missing).

    Raises
    ------
    ConfigError
        If ``candidates_dir`` does not exist or contains no candidate folder.
    """
    candidates_dir = Path(candidates_dir)
    if not candidates_dir.is_dir():
        raise ConfigError(
            f"candidates folder not found: {candidates_dir}. Train the candidates with `synthlib run` first."
        )
    folders = sorted(path for path in candidates_dir.iterdir() if path.is_dir())
    skipped = [folder for folder in folders if not (folder / "candidate.json").is_file()]
    for folder in skipped:
        logger.debug("skipped %s because candidate.json is missing", folder)
    if skipped:
        logger.warning("skipped %d folders under %s without candidate.json", len(skipped), candidates_dir)
    rows = [read_candidate(folder) for folder in folders if folder not in skipped]
    if not rows:
        raise ConfigError(f"no candidate folder (one containing candidate.json) under {candidates_dir}")
    return pd.DataFrame(rows).sort_values("id", ignore_index=True)


# --------------------------------------------------------------------------- ranking


def candidate_score(row, weights: dict) -> float | None:
    """Return the weighted sum of a candidate's quality and utility, or None when a weighted figure is missing."""
    total = 0.0
    for name, column in SCORE_COMPONENTS.items():
        if weights[name] == 0:
            continue
        if _is_missing(row[column]):
            return None
        total += weights[name] * float(row[column])
    return total


def _threshold_reasons(row, score: dict) -> list:
    reasons = []
    protection, minimum = row["overfitting_protection"], score["min_overfitting_protection"]
    if minimum is not None and not _is_missing(protection) and protection < minimum:
        reasons.append(f"overfitting protection {protection:.3f} is below the minimum {_format_number(minimum)}")
    auc, maximum = row["membership_inference_auc"], score["max_membership_auc"]
    if maximum is not None and not _is_missing(auc) and auc > maximum:
        reasons.append(f"membership inference AUC {auc:.3f} is above the maximum {_format_number(maximum)}")
    return reasons


def ineligibility_reasons(row, score: dict) -> list:
    """Return why a candidate is ineligible (an empty list when it is eligible)."""
    reasons = [f"results/{step}.json is missing" for step in row["missing_results"]]
    needed = {column: name for name, column in SCORE_COMPONENTS.items() if score["weights"][name] > 0}
    if score["min_overfitting_protection"] is not None:
        needed["overfitting_protection"] = "overfitting protection"
    if score["max_membership_auc"] is not None:
        needed["membership_inference_auc"] = "membership inference AUC"
    files = {"quality_score": "fidelity", "utility": "fidelity"}
    for column, label in needed.items():
        if _is_missing(row[column]) and files.get(column, "privacy") not in row["missing_results"]:
            reasons.append(f"{label} is missing")
    return reasons + _threshold_reasons(row, score)


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _configuration_row(configuration: str, group: pd.DataFrame) -> dict:
    scores = group["score"].dropna()
    return {
        "configuration": configuration,
        "name": group["name"].iloc[0],
        "n_seeds": len(group),
        "eligible": bool(group["eligible"].all()),
        "score_mean": _mean(group["score"]),
        "score_sd": float(scores.std(ddof=1)) if len(scores) > 1 else None,
        "score_min": float(scores.min()) if len(scores) else None,
        "score_max": float(scores.max()) if len(scores) else None,
        "overfitting_protection_mean": _mean(group["overfitting_protection"]),
        "membership_inference_auc_mean": _mean(group["membership_inference_auc"]),
    }


CONFIGURATION_FIGURES = (
    "score_mean", "score_sd", "score_min", "score_max", "overfitting_protection_mean", "membership_inference_auc_mean",
)
"""Columns of the configuration table that summarise the seeds of a configuration."""


def _high_first(value) -> tuple:
    """Sort key that puts high values first and missing ones last."""
    return (1, 0.0) if _is_missing(value) else (0, -float(value))


def _low_first(value) -> tuple:
    """Sort key that puts low values first and missing ones last."""
    return (1, 0.0) if _is_missing(value) else (0, float(value))


def _configuration_key(row: dict, fallback: bool) -> tuple:
    score, auc = row["score_mean"], row["membership_inference_auc_mean"]
    protection = row["overfitting_protection_mean"]
    if fallback:
        return (_low_first(auc), _high_first(protection), _high_first(score), row["configuration"])
    return (not row["eligible"], _high_first(score), _low_first(auc), _high_first(protection), row["configuration"])


def _candidate_key(row: dict, fallback: bool) -> tuple:
    score, auc, protection = row["score"], row["membership_inference_auc"], row["overfitting_protection"]
    if fallback:
        return (_low_first(auc), _high_first(protection), _high_first(score), row["id"])
    return (not row["eligible"], _high_first(score), _low_first(auc), _high_first(protection), row["id"])


def _order_candidates(table: pd.DataFrame, configurations: pd.DataFrame, fallback: bool) -> pd.DataFrame:
    """Return ``table`` in ranking order: configuration by configuration, each one's seeds best first."""
    parts = []
    for configuration_rank, configuration in enumerate(configurations["configuration"], start=1):
        rows = table[table["configuration"] == configuration].to_dict("records")
        rows.sort(key=lambda row: _candidate_key(row, fallback))
        parts.extend({**row, "configuration_rank": configuration_rank} for row in rows)
    ordered = pd.DataFrame(parts)
    ordered["rank"] = np.arange(1, len(ordered) + 1)
    return ordered


def rank_candidates(table: pd.DataFrame, score: dict | None = None, budget_seconds=None) -> SelectionResult:
    """Score, check and rank the candidates of :func:`candidate_table` by the rule of :func:`describe_rule`.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`candidate_table`.
    score : dict or None
        Score rule, checked by :func:`validate_score`.
    budget_seconds : float or None
        Training budget per candidate, recorded in the result.

    Returns
    -------
    SelectionResult

    Warns
    -----
    SynthlibWarning
        When no configuration is eligible, so the optimal model is the one of lowest privacy risk.
    """
    score = validate_score(score)
    table = table.copy()
    table["score"] = [candidate_score(row, score["weights"]) for _, row in table.iterrows()]
    table["reasons"] = [ineligibility_reasons(row, score) for _, row in table.iterrows()]
    table["eligible"] = [not reasons for reasons in table["reasons"]]

    rows = [_configuration_row(name, group) for name, group in table.groupby("configuration", sort=True)]
    fallback = not any(row["eligible"] for row in rows)
    rows.sort(key=lambda row: _configuration_key(row, fallback))
    configurations = pd.DataFrame(rows).astype({column: float for column in CONFIGURATION_FIGURES})
    eligible = configurations.set_index("configuration")["eligible"]
    table["configuration_eligible"] = table["configuration"].map(eligible).astype(bool)
    ordered = _order_candidates(table, configurations, fallback)
    configurations.insert(0, "rank", np.arange(1, len(configurations) + 1))

    optimal = ordered.iloc[0]
    if fallback:
        message = (
            f"no candidate configuration meets the privacy thresholds; {optimal['id']} is chosen because it has "
            "the lowest membership inference AUC. Do not release its synthetic rows without review."
        )
        logger.warning(message)
        warnings.warn(message, SynthlibWarning, stacklevel=2)
    logger.info("ranked %d candidates in %d configurations, optimal: %s",
                len(ordered), len(configurations), optimal["id"])
    return SelectionResult(
        table=ordered,
        configurations=configurations,
        optimal=str(optimal["id"]),
        optimal_configuration=str(optimal["configuration"]),
        fallback=fallback,
        rule=describe_rule(score),
        score=score,
        budget_seconds=None if budget_seconds is None else float(budget_seconds),
    )


# --------------------------------------------------------------------------- output


RANKING_KEYS = (
    "id", "name", "configuration", "seed", "rank", "score", "eligible", "reasons",
    "configuration_rank", "configuration_eligible", "quality_score", "utility",
    "overfitting_protection", "membership_inference_auc",
)
"""Keys of each entry of the ``ranking`` list of ``model_selection.json``."""


def selection_figures(result: SelectionResult) -> dict:
    """Return the contents of ``results/model_selection.json``.

    Keys: ``optimal`` (candidate id), ``optimal_configuration``, ``fallback``, ``rule``,
    ``score``, ``budget_seconds``, ``ranking`` (one dict per candidate, best first, with the
    keys of :data:`RANKING_KEYS`), ``configurations`` (one dict per configuration, best first)
    and ``table`` (every column of :attr:`SelectionResult.table`).
    """
    table = result.table.astype(object).where(result.table.notna(), None)
    return {
        "optimal": result.optimal,
        "optimal_configuration": result.optimal_configuration,
        "fallback": result.fallback,
        "rule": result.rule,
        "score": result.score,
        "budget_seconds": result.budget_seconds,
        "ranking": table[list(RANKING_KEYS)].to_dict("records"),
        "configurations": result.configurations.astype(object).where(result.configurations.notna(), None)
        .to_dict("records"),
        "table": table.to_dict("records"),
    }


def select_model(run_dir, candidates_dir=None, score=None, budget_seconds=None) -> SelectionResult:
    """Rank the candidates of a model-selection run and write ``results/model_selection.json``.

    Parameters
    ----------
    run_dir : path-like
        The main run folder; the JSON file is written to its ``results/``.
    candidates_dir : path-like or None
        Folder of the candidate folders; default ``<run_dir>/candidates``.
    score : dict or None
        Score rule (:func:`validate_score`).
    budget_seconds : float or None
        Wall-clock training budget each candidate had.

    Returns
    -------
    SelectionResult
    """
    paths = RunPaths(run_dir)
    candidates_dir = paths.run_dir / "candidates" if candidates_dir is None else Path(candidates_dir)
    result = rank_candidates(candidate_table(candidates_dir), score, budget_seconds)
    write_json(paths.step_results("model_selection"), selection_figures(result))
    return result


# --------------------------------------------------------------------------- tables and text for the chapter


CANDIDATE_COLUMNS = {
    "name": "name",
    "seed": "seed",
    "model": "model",
    "overrides": "overrides",
    "n_parameters": "parameters",
    "training_seconds": "training (s)",
    "epochs": "epochs reached",
    "stopped_by_budget": "stopped by budget",
    "valid_rate": "valid rate",
}

RANKING_COLUMNS = {
    "rank": "rank",
    "configuration_rank": "configuration rank",
    "quality_score": "quality score",
    "column_shapes": "column shapes",
    "column_pair_trends": "pair trends",
    "utility": "utility",
    "detection_auc": "detection AUC",
    "overfitting_protection": "overfitting protection",
    "membership_inference_auc": "membership AUC",
    "score": "score",
    "eligible": "eligible",
    "reasons": "why ineligible",
}


CONFIGURATION_COLUMNS = {
    "n_seeds": "seeds",
    "score_mean": "mean score",
    "score_sd": "score SD",
    "score_min": "lowest score",
    "score_max": "highest score",
    "overfitting_protection_mean": "mean overfitting protection",
    "membership_inference_auc_mean": "mean membership AUC",
}


def candidate_summary(result: SelectionResult) -> pd.DataFrame:
    """Return what each candidate is and how its training and sampling went, indexed by id, best first."""
    return result.table.set_index("id")[list(CANDIDATE_COLUMNS)].rename(columns=CANDIDATE_COLUMNS)


def ranking_summary(result: SelectionResult) -> pd.DataFrame:
    """Return the figures, score and eligibility of each candidate, indexed by id, best first."""
    table = result.table.set_index("id")[list(RANKING_COLUMNS)].rename(columns=RANKING_COLUMNS)
    table["why ineligible"] = ["; ".join(reasons) for reasons in table["why ineligible"]]
    return table


def configuration_summary(result: SelectionResult) -> pd.DataFrame:
    """Return the score of each configuration over its seeds: mean, standard deviation and range."""
    return result.configurations.set_index("configuration").rename(columns=CONFIGURATION_COLUMNS)


def budget_sentence(result: SelectionResult) -> str:
    """Return the sentence of the chapter that states the training budget and how many candidates reached it."""
    if result.budget_seconds is None:
        return (
            "No training budget was set, so each candidate trained for its configured epochs and the "
            "training times differ."
        )
    stopped = int(result.table["stopped_by_budget"].isin([True]).sum())
    return (
        f"The candidates are compared at an equal wall-clock training budget of "
        f"{_format_number(result.budget_seconds)} s. A model that would need more epochs is judged at what "
        f"it reaches within the budget: {stopped} of {len(result.table)} candidates were stopped by it."
    )


def optimal_sentence(result: SelectionResult) -> str:
    """Return the sentence that names the optimal model, its score and why it was chosen."""
    row = result.table.iloc[0]
    score = "no score" if _is_missing(row["score"]) else f"a score of {row['score']:.3f}"
    if result.fallback:
        return (
            f"No candidate meets the privacy thresholds. The model used in the rest of the study is "
            f"**{row['id']}** ({row['model']}), {score}, chosen because its membership inference AUC is the "
            f"lowest; review its privacy figures before releasing synthetic rows."
        )
    return (
        f"The optimal model is **{row['id']}** ({row['model']}), the highest-scoring eligible candidate with "
        f"{score}. The following chapters use it."
    )
