"""Model-based privacy attacks on a released table: attribute inference and Anonymeter's three risks.

A released table is a synthetic table or an anonymized copy of the training rows. Each attack
holds the released table and targets the real rows: train rows are the people whose data went
into the release, holdout rows are real people who stayed out and serve as the control. An
attack that succeeds as often on the control as on the targets learned something about the
population, not about the people in the release, so the risks below count only the excess.

Missing values are one more value of a column, as in :mod:`synthlib.distance`: a missing
sensitive value is a class the attacker can guess, and a missing quasi-identifier is a feature
value the attack models see.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from threadpoolctl import threadpool_limits

from .exceptions import ConfigError, DataValidationError, PrivacyAttackError

logger = logging.getLogger(__name__)

MISSING_LABEL = "(missing)"
"""Class label of a missing categorical value, for the attack models and for Anonymeter."""
NUMERIC_TOLERANCE = 0.05
"""A numeric guess succeeds when ``|guess - secret| <= NUMERIC_TOLERANCE * |secret|`` (as Anonymeter, 5 %)."""
ANONYMETER_VERSION = "1.1.0"
"""The Anonymeter release whose API and log messages :func:`anonymeter_risks` follows."""
_SECONDS_PER_DAY = 86_400.0


def _roles(dictionary, quasi_identifiers, sensitive) -> tuple:
    """Return the quasi-identifiers and sensitive columns, defaulting to the dictionary's roles."""
    quasi_identifiers = list(
        dictionary.by_role("quasi_identifier") if quasi_identifiers is None else quasi_identifiers
    )
    sensitive = list(dictionary.by_role("sensitive") if sensitive is None else sensitive)
    if not quasi_identifiers:
        raise ConfigError(
            f"data dictionary {dictionary.name!r} declares no quasi_identifier column; give the "
            "columns an attacker could know role: quasi_identifier, or pass quasi_identifiers"
        )
    if not sensitive:
        raise ConfigError(
            f"data dictionary {dictionary.name!r} declares no sensitive column; give the columns "
            "an attacker should not learn role: sensitive, or pass sensitive"
        )
    for name in quasi_identifiers + sensitive:
        dictionary.column(name)  # raises KeyError naming the known columns
    overlap = sorted(set(quasi_identifiers) & set(sensitive))
    if overlap:
        raise ConfigError(f"column(s) {overlap} are both quasi-identifier and sensitive; choose one role")
    return quasi_identifiers, sensitive


def _check_tables(columns, **tables) -> None:
    problems = []
    for label, table in tables.items():
        if len(table) == 0:
            problems.append(f"the {label} table has no rows; the attack needs at least one {label} row")
        missing = [name for name in columns if name not in table.columns]
        if missing:
            problems.append(f"the {label} table lacks column(s) {', '.join(map(repr, missing))}")
    if problems:
        raise DataValidationError(problems)


def _as_float(series: pd.Series, spec) -> np.ndarray:
    """Return a numeric, integer or date column as float64; dates become days since 1970-01-01."""
    if spec.type == "date":
        stamps = pd.to_datetime(series).to_numpy(dtype="datetime64[ns]")
        days = stamps.astype("int64").astype(np.float64) / 1e9 / _SECONDS_PER_DAY
        days[np.isnat(stamps)] = np.nan
        return days
    return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)


def _as_labels(series: pd.Series) -> np.ndarray:
    """Return a categorical or binary column as text labels, missing values as :data:`MISSING_LABEL`."""
    return series.astype("string").fillna(MISSING_LABEL).to_numpy(dtype=object)


# --------------------------------------------------------------------------- attribute inference


@dataclass(frozen=True, eq=False)
class AttributeInferenceResult:
    """Outcome of the attribute inference attack on every sensitive column.

    Attributes
    ----------
    risk : float
        Largest per-column risk: the most exposed sensitive column sets the table's risk.
    columns : pandas.DataFrame
        One row per sensitive column with ``column``, ``task`` (``classification`` or
        ``regression``), ``accuracy_members`` (on train rows), ``accuracy_non_members``
        (on holdout rows, the control), ``accuracy_baseline`` (the release's most frequent
        value, or its median, guessed for every train row), ``n_members``,
        ``n_non_members`` and ``risk``.
    quasi_identifiers : tuple of str
        Columns known to the attacker.
    """

    risk: float
    columns: pd.DataFrame
    quasi_identifiers: tuple


def _feature_matrix(table: pd.DataFrame, dictionary, quasi_identifiers, levels: dict) -> np.ndarray:
    """Encode quasi-identifiers as floats: numbers as they are, categories as codes, missing as NaN."""
    features = np.empty((len(table), len(quasi_identifiers)))
    for j, name in enumerate(quasi_identifiers):
        spec = dictionary.column(name)
        if spec.is_categorical:
            labels = table[name].astype("string")
            codes = pd.Categorical(labels, categories=levels[name]).codes.astype(np.float64)
            codes[codes < 0] = np.nan
            features[:, j] = codes
        else:
            features[:, j] = _as_float(table[name], spec)
    return features


def _category_levels(tables, dictionary, quasi_identifiers) -> dict:
    """Return the union of the values of each categorical quasi-identifier over all tables."""
    levels = {}
    for name in quasi_identifiers:
        if dictionary.column(name).is_categorical:
            values = pd.concat([t[name].astype("string") for t in tables], ignore_index=True)
            levels[name] = sorted(values.dropna().unique())
    return levels


def _success(guesses: np.ndarray, secrets: np.ndarray, regression: bool) -> np.ndarray:
    if regression:
        return np.abs(guesses - secrets) <= NUMERIC_TOLERANCE * np.abs(secrets)
    return guesses == secrets


def _excess_risk(rate_members: float, rate_non_members: float) -> float:
    """Return ``(members - non-members) / (1 - non-members)`` clipped to [0, 1]; NaN when the control is perfect."""
    if rate_non_members >= 1.0:
        return float("nan")
    return float(np.clip((rate_members - rate_non_members) / (1.0 - rate_non_members), 0.0, 1.0))


def _attack_column(name, synthetic, targets: dict, features: dict, dictionary, random_state) -> dict:
    """Train the attack model on the release for one sensitive column and score it on the targets."""
    spec = dictionary.column(name)
    regression = spec.is_numeric
    if spec.type == "date":
        raise ConfigError(f"sensitive column {name!r} is a date; attribute inference supports other types only")

    if regression:
        secrets = {label: _as_float(table[name], spec) for label, table in targets.items()}
        release_secret = _as_float(synthetic[name], spec)
        model = RandomForestRegressor(n_estimators=100, random_state=random_state, n_jobs=1)
    else:
        secrets = {label: _as_labels(table[name]) for label, table in targets.items()}
        release_secret = _as_labels(synthetic[name])
        model = RandomForestClassifier(n_estimators=100, random_state=random_state, n_jobs=1)

    known = ~pd.isna(release_secret) if regression else np.ones(len(release_secret), dtype=bool)
    if not known.any():
        raise DataValidationError([f"the released table has no value of sensitive column {name!r} to learn from"])
    model.fit(features["synthetic"][known], release_secret[known])
    baseline_guess = np.nanmedian(release_secret) if regression else pd.Series(release_secret).mode().iloc[0]

    row = {"column": name, "task": "regression" if regression else "classification"}
    for label in ("members", "non_members"):
        scored = ~pd.isna(secrets[label]) if regression else np.ones(len(secrets[label]), dtype=bool)
        guesses = model.predict(features[label][scored])
        row[f"accuracy_{label}"] = float(np.mean(_success(guesses, secrets[label][scored], regression)))
        row[f"n_{label}"] = int(scored.sum())
        if label == "members":
            baseline = np.full(int(scored.sum()), baseline_guess)
            row["accuracy_baseline"] = float(np.mean(_success(baseline, secrets[label][scored], regression)))
    row["risk"] = _excess_risk(row["accuracy_members"], row["accuracy_non_members"])
    return row


def attribute_inference(
    synthetic,
    train,
    holdout,
    dictionary,
    quasi_identifiers=None,
    sensitive=None,
    random_state=0,
    n_threads=1,
) -> AttributeInferenceResult:
    """Attack each sensitive column from the quasi-identifiers with a model trained on the release.

    The attacker trains a random forest on the released table to predict a sensitive column
    from the quasi-identifiers, then guesses the sensitive value of every train row (the
    targets) and of every holdout row (the control) from their true quasi-identifiers. A
    categorical guess succeeds when it equals the value; a numeric one when it lies within
    :data:`NUMERIC_TOLERANCE` of it (rows with a missing numeric secret are left out).
    The risk of a column is the success on the targets in excess of the success on the
    control, ``(a_members - a_control) / (1 - a_control)`` clipped to [0, 1], the residual
    risk formula of Anonymeter (Giomi et al., "A Unified Framework for Quantifying Privacy
    Risk in Synthetic Data", PoPETs 2023). The release's most frequent value (median for
    numbers) guessed for every target is the naive baseline reported beside it.

    Parameters
    ----------
    synthetic : pandas.DataFrame
        Released table typed by ``dictionary``: synthetic rows or an anonymized ``train``.
    train, holdout : pandas.DataFrame
        Targets and control, typed by ``dictionary``.
    dictionary : DataDictionary
        Declares column types and roles.
    quasi_identifiers, sensitive : sequence of str, optional
        Default to the columns with role ``quasi_identifier`` and ``sensitive``.
    random_state : int, default 0
        Seed of the random forests.
    n_threads : int or None, default 1
        Threads for native code while the forests run; None keeps the library defaults.

    Returns
    -------
    AttributeInferenceResult
        The table's risk and one row per sensitive column.

    Raises
    ------
    ConfigError
        If no quasi-identifier or no sensitive column is declared, a column has both roles,
        or a sensitive column is a date.
    DataValidationError
        If a table is empty or lacks a column.
    """
    quasi_identifiers, sensitive = _roles(dictionary, quasi_identifiers, sensitive)
    _check_tables(quasi_identifiers + sensitive, synthetic=synthetic, train=train, holdout=holdout)

    tables = {"synthetic": synthetic, "members": train, "non_members": holdout}
    levels = _category_levels(tables.values(), dictionary, quasi_identifiers)
    features = {
        label: _feature_matrix(table, dictionary, quasi_identifiers, levels) for label, table in tables.items()
    }
    targets = {"members": train, "non_members": holdout}
    with threadpool_limits(limits=n_threads):
        rows = [
            _attack_column(name, synthetic, targets, features, dictionary, random_state) for name in sensitive
        ]
    columns = pd.DataFrame(rows)
    risks = columns["risk"].dropna()
    risk = float(risks.max()) if len(risks) else float("nan")
    logger.info("attribute inference risk %.3f over %d sensitive column(s)", risk, len(sensitive))
    return AttributeInferenceResult(risk=risk, columns=columns, quasi_identifiers=tuple(quasi_identifiers))


# --------------------------------------------------------------------------- Anonymeter


def anonymeter_available() -> bool:
    """Return whether the ``anonymeter`` package can be imported."""
    return importlib.util.find_spec("anonymeter") is not None


def _require_anonymeter():
    if not anonymeter_available():
        raise PrivacyAttackError(
            f"the anonymeter package is not installed; install anonymeter=={ANONYMETER_VERSION} to compute "
            "singling-out, linkability and inference risks. Version 1.1.0 declares numpy<1.27 and "
            "pyarrow<22, so it needs an environment with those versions."
        )


def safe_column_names(columns) -> dict:
    """Map each column name to a plain identifier (``c0``, ``c1``, ...) that any query syntax accepts.

    Anonymeter builds queries from column names, so names such as ``"sbp (mmHg)"`` or
    ``"ldl-c"`` are replaced before the data reach it and restored in the results.
    """
    return {name: f"c{position}" for position, name in enumerate(columns)}


def _anonymeter_frame(table: pd.DataFrame, dictionary, columns, names: dict) -> pd.DataFrame:
    """Return plain dtypes under safe names: floats for numbers and dates (days), text for categories."""
    frame = {}
    for name in columns:
        spec = dictionary.column(name)
        if spec.is_categorical:
            frame[names[name]] = _as_labels(table[name])
        else:
            frame[names[name]] = _as_float(table[name], spec)
    return pd.DataFrame(frame, index=pd.RangeIndex(len(table)))


@contextlib.contextmanager
def _numpy_global_seed(seed: int):
    """Seed numpy's global generator, which pandas' ``DataFrame.sample`` uses, and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class _QueryShortfall(logging.Handler):
    """Collect Anonymeter's messages that fewer singling-out queries were generated than requested."""

    # Messages of anonymeter 1.1.0, evaluators/singling_out_evaluator.py.
    PATTERN = re.compile(r"could generate only (\d+) singling out queries out of the requested (\d+)")

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.shortfalls = []

    def emit(self, record):
        match = self.PATTERN.search(record.getMessage())
        if match:
            self.shortfalls.append((int(match.group(1)), int(match.group(2))))


@contextlib.contextmanager
def _fail_on_query_shortfall(mode: str):
    handler = _QueryShortfall()
    source = logging.getLogger("anonymeter.evaluators.singling_out_evaluator")
    source.addHandler(handler)
    try:
        yield
    finally:
        source.removeHandler(handler)
    if handler.shortfalls:
        generated, requested = handler.shortfalls[0]
        raise PrivacyAttackError(
            f"Anonymeter generated only {generated} of the {requested} requested {mode} singling-out "
            "queries, so the risk would be underestimated; lower n_attacks, or n_cols for the "
            "multivariate attack"
        )


def _risk_row(evaluator, attack: str, secret, seed: int, confidence_level: float) -> dict:
    """Collect the risk and success rates of one evaluated Anonymeter evaluator as a flat row."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = evaluator.results(confidence_level=confidence_level)
        risk = results.risk()
    untrusted = any("cannot be trusted" in str(w.message) for w in caught)
    if untrusted:
        logger.debug("Anonymeter %s (seed %d): attack rate not above the baseline rate", attack, seed)
    return {
        "attack": attack,
        "secret": secret,
        "seed": seed,
        "risk": float(risk.value),
        "ci_low": float(risk.ci[0]),
        "ci_high": float(risk.ci[1]),
        "attack_rate": float(results.attack_rate.value),
        "baseline_rate": float(results.baseline_rate.value),
        "control_rate": float(results.control_rate.value) if results.control_rate is not None else np.nan,
        "attack_beats_baseline": not untrusted,
    }


def _run_seed(frames, names, quasi_identifiers, sensitive, linkability_columns, seed, settings) -> list:
    """Run the singling-out, linkability and inference evaluators once with one seed."""
    from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator

    ori, syn, control = frames["train"], frames["synthetic"], frames["holdout"]
    n_attacks, level = settings["n_attacks"], settings["confidence_level"]
    rows = []
    with _numpy_global_seed(seed):
        for mode in settings["singling_out_modes"]:
            evaluator = SinglingOutEvaluator(
                ori=ori, syn=syn, control=control, n_attacks=n_attacks, n_cols=settings["n_cols"], seed=seed
            )
            with _fail_on_query_shortfall(mode):
                evaluator.evaluate(mode=mode)
            rows.append(_risk_row(evaluator, f"singling_out_{mode}", None, seed, level))

        aux = tuple([names[name] for name in side] for side in linkability_columns)
        evaluator = LinkabilityEvaluator(
            ori=ori, syn=syn, control=control, aux_cols=aux, n_attacks=min(n_attacks, len(control)),
            n_neighbors=settings["n_neighbors"],
        )
        rows.append(_risk_row(evaluator.evaluate(n_jobs=1), "linkability", None, seed, level))

        for name in sensitive:
            evaluator = InferenceEvaluator(
                ori=ori, syn=syn, control=control, aux_cols=[names[q] for q in quasi_identifiers],
                secret=names[name], regression=syn[names[name]].dtype.kind == "f",
                n_attacks=min(n_attacks, len(control)),
            )
            rows.append(_risk_row(evaluator.evaluate(n_jobs=1), "inference", name, seed, level))
    return rows


def _default_linkability_columns(quasi_identifiers) -> tuple:
    if len(quasi_identifiers) < 2:
        raise ConfigError(
            "the linkability attack splits the quasi-identifiers into two groups, so it needs at least "
            f"two; got {quasi_identifiers}. Pass linkability_columns=(group_1, group_2)"
        )
    half = len(quasi_identifiers) // 2
    return (list(quasi_identifiers[:half]), list(quasi_identifiers[half:]))


def anonymeter_risks(
    synthetic,
    train,
    holdout,
    dictionary,
    quasi_identifiers=None,
    sensitive=None,
    seeds=(0, 1, 2),
    n_attacks=500,
    n_cols=3,
    n_neighbors=1,
    singling_out_modes=("multivariate",),
    linkability_columns=None,
    confidence_level=0.95,
) -> pd.DataFrame:
    """Run Anonymeter's singling-out, linkability and inference attacks once per seed.

    Anonymeter (Giomi et al., PoPETs 2023; package ``anonymeter``) attacks the training rows
    with the released table and reports each risk in excess of the same attack on the
    holdout rows (the control), with a Wilson confidence interval. This wrapper:

    * renames every column to a plain identifier (:func:`safe_column_names`) before the data
      reach Anonymeter, so names with spaces, brackets or hyphens work, and reports the
      original names;
    * seeds what Anonymeter lets a caller seed: the singling-out queries (its ``seed``
      argument) and the choice of target rows, which Anonymeter draws with
      ``DataFrame.sample`` from numpy's global generator, seeded here per run and restored
      afterwards. The linkability baseline draws from an unseeded ``default_rng()`` inside
      Anonymeter, so only its baseline rate varies between runs with the same seed;
    * raises when Anonymeter generates fewer singling-out queries than ``n_attacks``, where
      Anonymeter itself only logs a warning and reports a lower risk.

    Repeat over several ``seeds`` and read the spread with :func:`summarise_anonymeter`.

    Parameters
    ----------
    synthetic : pandas.DataFrame
        Released table typed by ``dictionary``.
    train, holdout : pandas.DataFrame
        Targets and control.
    dictionary : DataDictionary
        Declares column types and roles.
    quasi_identifiers, sensitive : sequence of str, optional
        Auxiliary columns of the inference attack and its secrets; default to the roles
        ``quasi_identifier`` and ``sensitive``.
    seeds : sequence of int, default (0, 1, 2)
        One full run per seed.
    n_attacks : int, default 500
        Attacks per evaluator; linkability and inference use at most ``len(holdout)``.
    n_cols : int, default 3
        Columns per multivariate singling-out query.
    n_neighbors : int, default 1
        Neighbours per side of the linkability attack.
    singling_out_modes : sequence of {"multivariate", "univariate"}
        Singling-out attacks to run. Univariate queries come from rare values, so small
        tables often yield fewer than ``n_attacks`` of them, which raises.
    linkability_columns : pair of sequences of str, optional
        The attacker's two auxiliary tables; defaults to the quasi-identifiers split in two.
    confidence_level : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per seed and attack: ``attack`` (``singling_out_multivariate``,
        ``singling_out_univariate``, ``linkability`` or ``inference``), ``secret`` (the
        sensitive column of an inference attack), ``seed``, ``risk``, ``ci_low``,
        ``ci_high``, ``attack_rate``, ``baseline_rate``, ``control_rate`` and
        ``attack_beats_baseline`` (False where Anonymeter warns that the result cannot be
        trusted).

    Raises
    ------
    PrivacyAttackError
        If ``anonymeter`` is not installed, or fewer singling-out queries than
        ``n_attacks`` were generated.
    """
    _require_anonymeter()
    quasi_identifiers, sensitive = _roles(dictionary, quasi_identifiers, sensitive)
    if linkability_columns is None:
        linkability_columns = _default_linkability_columns(quasi_identifiers)
    columns = list(dictionary.modelled_columns)
    _check_tables(columns, synthetic=synthetic, train=train, holdout=holdout)
    names = safe_column_names(columns)
    frames = {
        label: _anonymeter_frame(table, dictionary, columns, names)
        for label, table in (("synthetic", synthetic), ("train", train), ("holdout", holdout))
    }
    settings = {
        "n_attacks": n_attacks,
        "n_cols": n_cols,
        "n_neighbors": n_neighbors,
        "singling_out_modes": tuple(singling_out_modes),
        "confidence_level": confidence_level,
    }
    rows = []
    for seed in seeds:
        rows.extend(_run_seed(frames, names, quasi_identifiers, sensitive, linkability_columns, seed, settings))
    table = pd.DataFrame(rows)
    untrusted = int((~table["attack_beats_baseline"]).sum())
    if untrusted:
        logger.warning("%d of %d Anonymeter runs did no better than their baseline", untrusted, len(table))
    return table


def summarise_anonymeter(runs: pd.DataFrame) -> pd.DataFrame:
    """Summarise :func:`anonymeter_risks` over seeds: mean risk, its spread and the mean interval.

    Returns
    -------
    pandas.DataFrame
        One row per attack and secret with ``risk_mean``, ``risk_sd`` (0 with one seed),
        ``risk_min``, ``risk_max``, ``ci_low_mean``, ``ci_high_mean`` and ``n_seeds``.
    """
    grouped = runs.fillna({"secret": ""}).groupby(["attack", "secret"], sort=False)
    summary = grouped.agg(
        risk_mean=("risk", "mean"),
        risk_sd=("risk", lambda values: float(np.std(values, ddof=1)) if len(values) > 1 else 0.0),
        risk_min=("risk", "min"),
        risk_max=("risk", "max"),
        ci_low_mean=("ci_low", "mean"),
        ci_high_mean=("ci_high", "mean"),
        n_seeds=("seed", "nunique"),
    )
    return summary.reset_index()
