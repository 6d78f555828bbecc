"""Model-based checks: real-versus-synthetic detection and train-on-synthetic, test-on-real utility.

A classifier that separates real from synthetic rows (detection) and models trained on synthetic
rows and tested on real ones (TSTR) complete the distribution metrics of :mod:`synthlib.fidelity`.
Both take typed tables (see :func:`synthlib.validation.validate_table`) and a data dictionary.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from .exceptions import ConfigError
from .metrics import (
    CONTINUOUS_TYPES,
    DISCRETE_TYPES,
    MetricInfo,
    MetricResult,
    _check_columns,
    _check_positive_int,
    _numeric_values,
    _warn_incomputable,
)

logger = logging.getLogger(__name__)

MISSING_LEVEL = "(missing)"
"""Category that represents a missing value in one-hot features."""
NANOSECONDS_PER_DAY = 86_400 * 10**9

DETECTION = MetricInfo(
    "detection", "maximize", 0.0, 1.0,
    "1 when a classifier cannot separate real from synthetic rows (AUC at most 0.5); "
    "0 when it separates them perfectly (AUC 1).",
)
TSTR_UTILITY = MetricInfo(
    "tstr_utility", "maximize", -math.inf, 1.0,
    "AUC (binary outcome) or R^2 (numeric outcome) on real test rows: 1 is a perfect prediction; "
    "AUC 0.5 or R^2 0 is no better than chance or the mean.",
)

IMPORTANCE_RANK_AGREEMENT = MetricInfo(
    "importance_rank_agreement", "maximize", -1.0, 1.0,
    "Spearman correlation of the permutation importances of real-trained and synthetic-trained "
    "models: 1 when both rank the features alike; 0 when the rankings are unrelated; -1 when reversed.",
)
METRIC_INFOS = (DETECTION, TSTR_UTILITY, IMPORTANCE_RANK_AGREEMENT)


def _model_frame(table: pd.DataFrame, dictionary, names) -> pd.DataFrame:
    """Return model inputs: continuous columns as float (dates in days), discrete ones as strings."""
    frame = {}
    for name in names:
        if dictionary.column(name).type not in CONTINUOUS_TYPES:
            frame[name] = table[name].astype("string").fillna(MISSING_LEVEL).astype(object)
            continue
        values = _numeric_values(table[name])
        if pd.api.types.is_datetime64_any_dtype(table[name]):
            values = values / NANOSECONDS_PER_DAY
        frame[name] = values
    return pd.DataFrame(frame, index=table.index)


def _category_levels(dictionary, names, frames) -> dict:
    """List every level of each discrete column: declared levels, then any other value seen."""
    levels = {}
    for name in names:
        spec = dictionary.column(name)
        if spec.type not in DISCRETE_TYPES:
            continue
        declared = ["0", "1"] if spec.type == "binary" else [str(level) for level in spec.levels or ()]
        seen = set().union(*(frame[name].unique() for frame in frames))
        levels[name] = declared + sorted(seen - set(declared) - {MISSING_LEVEL}) + [MISSING_LEVEL]
    return levels


def _feature_pipeline(names, levels: dict, model) -> Pipeline:
    """Build a pipeline: median imputation with missing indicators, scaling, one-hot encoding, ``model``."""
    continuous = [name for name in names if name not in levels]
    discrete = [name for name in names if name in levels]
    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
    ])
    one_hot = OneHotEncoder(
        categories=[levels[name] for name in discrete], handle_unknown="ignore", sparse_output=False
    )
    transformers = []
    if continuous:
        transformers.append(("continuous", numeric, continuous))
    if discrete:
        transformers.append(("discrete", one_hot, discrete))
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", model)])


def detection_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    dictionary,
    random_state=0,
    n_splits: int = 3,
    n_threads: int | None = 1,
) -> MetricResult:
    """Measure how well a classifier separates real rows from synthetic ones.

    A logistic regression on standardised, median-imputed continuous columns (with missing
    indicators) and one-hot categories is cross-validated over stratified folds. The score
    ``1 - mean(2 * max(0.5, AUC) - 1)`` is that of SDMetrics 0.32 ``LogisticDetection``. That
    metric builds other features (boolean columns dropped, mean imputation, robust scaling, no
    missing indicators) and shuffles its folds without a seed, so its values differ from these.

    NOTE: a linear model on single columns mostly detects differences in the marginals. A column-wise
    shuffle of SMART, with every marginal kept and every pair broken, scored 1.0 (mean AUC 0.44)
    while its column pair trends fell to 0.78, so read this score beside
    :func:`synthlib.fidelity.quality_score`.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing every modelled column of ``dictionary``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types; identifier columns are skipped.
    random_state : int, numpy.random.RandomState or None
        Seed of the fold shuffle.
    n_splits : int
        Number of folds; each table needs at least this many rows.
    n_threads : int or None
        Threads for native code (OpenMP, BLAS) while the models run; None keeps the library
        defaults. See :func:`tstr_utility` for why the default is 1.

    Returns
    -------
    MetricResult
        ``value`` is the detection score (1 is best); ``breakdown`` contains ``mean_auc`` and
        ``fold_aucs`` (a tuple), with real rows as the positive class.
    """
    if not isinstance(n_splits, int) or n_splits < 2:
        raise ConfigError(f"n_splits is {n_splits!r}; use an integer of at least 2")
    names = dictionary.modelled_columns
    _check_columns(names, real=real, synthetic=synthetic)

    smallest = min(len(real), len(synthetic))
    if smallest < n_splits:
        reason = f"a table has {smallest} row(s), fewer than n_splits={n_splits}"
        _warn_incomputable(DETECTION, "the table", reason)
        return MetricResult(DETECTION.name, math.nan, {"mean_auc": math.nan, "fold_aucs": ()})

    real_frame = _model_frame(real, dictionary, names)
    synthetic_frame = _model_frame(synthetic, dictionary, names)
    levels = _category_levels(dictionary, names, (real_frame, synthetic_frame))
    features = pd.concat([real_frame, synthetic_frame], ignore_index=True)
    labels = np.concatenate([
        np.ones(len(real_frame), dtype=int), np.zeros(len(synthetic_frame), dtype=int)
    ])

    fold_aucs = []
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    with threadpool_limits(limits=n_threads):
        for train_index, test_index in folds.split(features, labels):
            model = _feature_pipeline(names, levels, LogisticRegression(max_iter=1000))
            model.fit(features.iloc[train_index], labels[train_index])
            probability = model.predict_proba(features.iloc[test_index])[:, 1]
            fold_aucs.append(float(roc_auc_score(labels[test_index], probability)))

    score = 1.0 - float(np.mean([2.0 * max(0.5, auc) - 1.0 for auc in fold_aucs]))
    breakdown = {"mean_auc": float(np.mean(fold_aucs)), "fold_aucs": tuple(fold_aucs)}
    return MetricResult(DETECTION.name, score, breakdown)


def _utility_models(outcome_type: str, random_state) -> list:
    if outcome_type == "binary":
        return [
            ("logistic_regression", LogisticRegression(max_iter=1000)),
            ("hist_gradient_boosting", HistGradientBoostingClassifier(random_state=random_state)),
        ]
    return [
        ("linear_regression", LinearRegression()),
        ("hist_gradient_boosting", HistGradientBoostingRegressor(random_state=random_state)),
    ]


def _outcome_problem(outcome: pd.Series, label: str) -> str | None:
    if len(outcome) < 2:
        return (
            f"the {label} table has {len(outcome)} row(s) with a non-missing outcome; "
            "at least 2 are needed"
        )
    if outcome.nunique() < 2:
        return f"the {label} outcome takes a single value, so no model can learn or be scored on it"
    return None


def _utility_score(model, outcome_type: str, features: pd.DataFrame, outcome: np.ndarray) -> float:
    if outcome_type == "binary":
        positive = list(model.classes_).index(1)
        return float(roc_auc_score(outcome, model.predict_proba(features)[:, positive]))
    return float(r2_score(outcome, model.predict(features)))


class UtilityComparison(NamedTuple):
    """Models trained on real and on synthetic rows, compared on real test rows.

    Attributes
    ----------
    scores : pandas.DataFrame
        The table of :func:`tstr_utility`.
    importances : pandas.DataFrame
        One row per model and feature: ``model``, ``feature``, ``real_importance`` and
        ``synthetic_importance`` (mean permutation importance of the real-trained and the
        synthetic-trained model, NaN where a model could not be trained).
    agreement : pandas.DataFrame
        One row per model: ``model``, ``rank_agreement`` (Spearman correlation of the two
        importance vectors) and ``reason`` (why it is NaN, else None).
    """

    scores: pd.DataFrame
    importances: pd.DataFrame
    agreement: pd.DataFrame


def _utility_inputs(real_train, synthetic, real_test, outcome, dictionary, features) -> dict:
    """Check the arguments and return the model frames, outcomes and category levels per table."""
    outcome_type = dictionary.column(outcome).type
    if outcome_type not in ("binary", "numeric", "integer"):
        raise ConfigError(
            f"outcome {outcome!r} has type {outcome_type!r}; utility models support binary, "
            "numeric and integer outcomes, so recode it as one of those in the data dictionary"
        )
    if features is None:
        features = [
            name for name in dictionary.modelled_columns
            if name != outcome and dictionary.column(name).role != "outcome"
        ]
    features = list(features)
    tables = {"real_train": real_train, "synthetic": synthetic, "real_test": real_test}
    _check_columns([*features, outcome], **tables)

    # Boolean masks, not index labels, so tables with repeated index labels keep their row count.
    labelled_tables = {
        label: table[table[outcome].notna().to_numpy()]
        for label, table in zip(("real", "synthetic", "test"), tables.values())
    }
    outcomes = {label: _numeric_values(table[outcome]) for label, table in labelled_tables.items()}
    frames = {label: _model_frame(table, dictionary, features) for label, table in labelled_tables.items()}
    return {
        "outcome_type": outcome_type,
        "features": features,
        "outcomes": outcomes,
        "frames": frames,
        "levels": _category_levels(dictionary, features, frames.values()),
    }


def _fit_utility_models(inputs: dict, outcome: str, random_state, n_threads) -> tuple:
    """Fit each model family on the real and on the synthetic rows and score it on the test rows.

    Returns the score rows and a dict ``{(model, trained_on): fitted pipeline}`` of the models
    that could be trained.
    """
    outcome_type, outcomes, frames = inputs["outcome_type"], inputs["outcomes"], inputs["frames"]
    metric = "auc" if outcome_type == "binary" else "r2"
    test_problem = _outcome_problem(outcomes["test"], "real test")
    if test_problem:
        _warn_incomputable(TSTR_UTILITY, f"outcome {outcome!r}", test_problem)

    rows, fitted = [], {}
    for trained_on in ("real", "synthetic"):
        problem = test_problem or _outcome_problem(outcomes[trained_on], f"{trained_on} training")
        if problem and not test_problem:
            subject = f"outcome {outcome!r} trained on {trained_on} rows"
            _warn_incomputable(TSTR_UTILITY, subject, problem)
        for model_name, model in _utility_models(outcome_type, random_state):
            score = math.nan
            if not problem:
                pipeline = _feature_pipeline(inputs["features"], inputs["levels"], model)
                test_outcome = outcomes["test"].to_numpy()
                with threadpool_limits(limits=n_threads):
                    pipeline.fit(frames[trained_on], outcomes[trained_on].to_numpy())
                    score = _utility_score(pipeline, outcome_type, frames["test"], test_outcome)
                fitted[(model_name, trained_on)] = pipeline
            rows.append({
                "model": model_name,
                "trained_on": trained_on,
                "score": score,
                "metric": metric,
                "n_train": len(outcomes[trained_on]),
            })
    return pd.DataFrame(rows, columns=["model", "trained_on", "score", "metric", "n_train"]), fitted


def tstr_utility(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_test: pd.DataFrame,
    outcome: str,
    dictionary,
    random_state=0,
    features=None,
    n_threads: int | None = 1,
) -> pd.DataFrame:
    """Compare models trained on synthetic and on real rows, both tested on real rows.

    Train-on-synthetic, test-on-real (TSTR) is set against train-on-real, test-on-real (TRTR).
    A binary outcome is predicted by logistic regression and histogram gradient boosting and
    scored by AUC. A numeric or integer outcome is predicted by linear regression and histogram
    gradient boosting and scored by R^2. Rows with a missing outcome are dropped. Features are
    preprocessed as in :func:`detection_auc`, with the category levels of the dictionary, so a
    level absent from the synthetic table becomes an all-zero feature rather than an error.

    Parameters
    ----------
    real_train, synthetic, real_test : pandas.DataFrame
        Typed tables; ``real_test`` must not overlap the rows the generator was trained on.
    outcome : str
        Column to predict (type binary, numeric or integer).
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types and roles.
    random_state : int, numpy.random.RandomState or None
        Seed of the gradient boosting models.
    features : sequence of str, optional
        Predictors; default all modelled columns except those with role ``outcome``.
    n_threads : int or None
        Threads for native code (OpenMP, BLAS) while the models run; None keeps the library
        defaults. The default is 1 because the tables are small and idle OpenMP threads of
        histogram gradient boosting spin on a busy machine. On SMART (3,873 rows, 28 columns)
        this function took 57 s with default threads and 1.4 s with one, on a loaded 2-core
        machine.

    Returns
    -------
    pandas.DataFrame
        One row per model and training table: ``model``, ``trained_on`` (``real`` or
        ``synthetic``), ``score``, ``metric`` (``auc`` or ``r2``) and ``n_train``. A score is
        NaN, with an IncomputableMetricWarning, when its training outcome is constant or has
        fewer than two rows, or when the test outcome is.
    """
    inputs = _utility_inputs(real_train, synthetic, real_test, outcome, dictionary, features)
    return _fit_utility_models(inputs, outcome, random_state, n_threads)[0]


def _test_subsample(inputs: dict, max_rows: int, random_state) -> tuple:
    frame, outcome = inputs["frames"]["test"], inputs["outcomes"]["test"].to_numpy()
    if len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(len(frame), max_rows, replace=False))
        frame, outcome = frame.iloc[rows], outcome[rows]
    return frame, outcome


def _feature_blocks(pipeline: Pipeline, features, levels: dict) -> list:
    """Return, for each input feature, the indices of its columns in the pipeline's feature matrix.

    The matrix of :func:`_feature_pipeline` contains the continuous columns, then the missing
    indicators of those that had missing values in training, then the one-hot columns of each
    discrete feature.
    """
    continuous = [name for name in features if name not in levels]
    blocks = {name: [index] for index, name in enumerate(continuous)}
    offset = len(continuous)
    if continuous:
        imputer = pipeline.named_steps["features"].named_transformers_["continuous"].named_steps["impute"]
        flagged = imputer.indicator_.features_ if imputer.indicator_ is not None else ()
        for position, index in enumerate(flagged):
            blocks[continuous[index]].append(offset + position)
        offset += len(flagged)
    for name in features:
        if name in levels:
            blocks[name] = list(range(offset, offset + len(levels[name])))
            offset += len(levels[name])
    return [np.array(blocks[name]) for name in features]


def _permutation_importances(pipeline, inputs: dict, test: tuple, n_repeats: int, random_state) -> np.ndarray:
    """Return the mean drop of the test score when each feature's values are shuffled.

    This is permutation importance as ``sklearn.inspection.permutation_importance`` computes it,
    with the rows of a feature's transformed columns shuffled together. Every transformer of the
    pipeline works column by column, so this equals shuffling the raw feature, and the
    preprocessing runs once instead of once per shuffle.
    """
    matrix = np.array(pipeline[:-1].transform(test[0]), dtype=float)
    model, outcome_type = pipeline[-1], inputs["outcome_type"]
    baseline = _utility_score(model, outcome_type, matrix, test[1])
    rng = np.random.default_rng(random_state)
    importances = []
    for block in _feature_blocks(pipeline, inputs["features"], inputs["levels"]):
        original = matrix[:, block].copy()
        drops = []
        for _ in range(n_repeats):
            matrix[:, block] = original[rng.permutation(len(original))]
            drops.append(baseline - _utility_score(model, outcome_type, matrix, test[1]))
        matrix[:, block] = original
        importances.append(float(np.mean(drops)))
    return np.array(importances)


def _importance_vectors(fitted, inputs, model_name, test, n_repeats, random_state) -> dict:
    """Return the permutation importance per feature of the real-trained and synthetic-trained model."""
    vectors = {}
    for trained_on in ("real", "synthetic"):
        pipeline = fitted.get((model_name, trained_on))
        if pipeline is None or np.unique(test[1]).size < 2:
            vectors[trained_on] = np.full(len(inputs["features"]), math.nan)
        else:
            vectors[trained_on] = _permutation_importances(pipeline, inputs, test, n_repeats, random_state)
    return vectors


def _rank_agreement(vectors: dict) -> tuple[float, str | None]:
    for trained_on, vector in vectors.items():
        if np.isnan(vector).any():
            return math.nan, f"the model trained on {trained_on} rows could not be trained or scored"
        if np.unique(vector).size < 2:
            return math.nan, f"the features of the {trained_on}-trained model all have the same importance"
    return float(spearmanr(vectors["real"], vectors["synthetic"])[0]), None


def compare_utility(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_test: pd.DataFrame,
    outcome: str,
    dictionary,
    random_state=0,
    features=None,
    n_threads: int | None = 1,
    n_repeats: int = 5,
    max_rows: int = 2000,
) -> UtilityComparison:
    """Compare real-trained and synthetic-trained models by test score and by feature importance.

    The models and scores are those of :func:`tstr_utility`. For each model family, the
    permutation importance of every feature (the mean drop of the test AUC or R^2 when the
    feature's test values are shuffled, as ``sklearn.inspection.permutation_importance``
    defines it) is computed
    for the real-trained and the synthetic-trained model on the same real test rows. Their
    Spearman correlation across features is the rank agreement: 1 when the synthetic-trained
    model ranks the features as the real-trained one does.

    Parameters
    ----------
    real_train, synthetic, real_test, outcome, dictionary, random_state, features, n_threads
        As in :func:`tstr_utility`; ``random_state`` also seeds the shuffles and the subsample.
    n_repeats : int
        Shuffles per feature.
    max_rows : int
        Importances are computed on at most this many test rows, drawn at random, to bound the
        run time (one prediction per feature and shuffle).

    Returns
    -------
    UtilityComparison
        Scores, importances and rank agreement. A rank agreement is NaN, with an
        IncomputableMetricWarning, when a model could not be trained, when the importances of
        one model are all equal, or when there are fewer than two features.
    """
    _check_positive_int("n_repeats", n_repeats)
    _check_positive_int("max_rows", max_rows, minimum=2)
    inputs = _utility_inputs(real_train, synthetic, real_test, outcome, dictionary, features)
    scores, fitted = _fit_utility_models(inputs, outcome, random_state, n_threads)
    test = _test_subsample(inputs, max_rows, random_state)

    importance_rows, agreement_rows = [], []
    for model_name, _ in _utility_models(inputs["outcome_type"], random_state):
        with threadpool_limits(limits=n_threads):
            vectors = _importance_vectors(fitted, inputs, model_name, test, n_repeats, random_state)
        for index, feature in enumerate(inputs["features"]):
            importance_rows.append({
                "model": model_name,
                "feature": feature,
                "real_importance": float(vectors["real"][index]),
                "synthetic_importance": float(vectors["synthetic"][index]),
            })
        agreement, reason = _rank_agreement(vectors)
        if reason is None and len(inputs["features"]) < 2:
            agreement, reason = math.nan, "there are fewer than two features to rank"
        if reason:
            _warn_incomputable(IMPORTANCE_RANK_AGREEMENT, f"outcome {outcome!r} ({model_name})", reason)
        agreement_rows.append({"model": model_name, "rank_agreement": agreement, "reason": reason})

    importances = pd.DataFrame(
        importance_rows, columns=["model", "feature", "real_importance", "synthetic_importance"]
    )
    agreement = pd.DataFrame(agreement_rows, columns=["model", "rank_agreement", "reason"])
    return UtilityComparison(scores, importances, agreement)
