"""Clinical replication: fit the same regression on real and synthetic data and compare.

A synthetic table is useful for analysis when a model fitted to it reaches the
conclusions of the same model fitted to the real data: similar coefficients, the same
signs and significance, and overlapping confidence intervals (Karr et al., 2006).
Logistic, linear and Cox proportional hazards models are supported. Combining the fits
of several syntheses is in :mod:`synthlib.synthetic_inference`, and the verdicts over
syntheses and anonymized tables in :mod:`synthlib.replication_verdict`.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from patsy import PatsyError
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    MissingDataError,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from .artifacts import json_number
from .exceptions import ConfigError, IncomputableMetricWarning, SynthlibError, SynthlibWarning

logger = logging.getLogger(__name__)

FAMILIES = ("logistic", "linear", "cox")
COEFFICIENT_COLUMNS = ("term", "estimate", "std_error", "ci_low", "ci_high", "p_value")

# Fitted log-odds beyond +-15 (a probability within 3e-7 of 0 or 1) are read as
# estimates drifting to infinity under separation.
_SEPARATION_LOGIT = 15.0
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_QUOTED_NAME = re.compile(r"""Q\(\s*(['"])(.+?)\1\s*\)""")


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted regression reduced to what a comparison needs.

    Attributes
    ----------
    formula : str
        Model formula in patsy syntax, for example ``"event ~ age + C(smoking)"``.
    family : str
        ``"logistic"``, ``"linear"`` or ``"cox"``.
    outcome : str
        Name of the outcome column. For a Cox model it is the time to event or censoring.
    coefficients : pandas.DataFrame
        One row per term with columns ``term``, ``estimate``, ``std_error``, ``ci_low``,
        ``ci_high`` and ``p_value``; logistic estimates are log odds ratios and Cox
        estimates log hazard ratios (a Cox model has no intercept).
    n : int
        Rows used in the fit.
    n_dropped : int
        Rows dropped because a model column was missing.
    converged : bool
        Whether the fitting algorithm converged (always True for ordinary least squares).
    ci_level : float
        Confidence level of ``ci_low`` and ``ci_high``.
    event : str or None
        Event indicator column of a Cox model (1 event, 0 censored); None otherwise.
    """

    formula: str
    family: str
    outcome: str
    coefficients: pd.DataFrame
    n: int
    n_dropped: int
    converged: bool
    ci_level: float
    event: str | None = None


# --------------------------------------------------------------------------- fitting


def _formula_columns(formula: str, columns) -> tuple:
    """Return the outcome and the predictor columns that ``formula`` refers to.

    Columns are found by name: bare identifiers and ``Q("name")`` quoting, kept in
    order of first appearance when they are columns of the data.
    """
    if formula.count("~") != 1:
        raise ConfigError(f"formula must contain exactly one '~', got {formula!r}")
    lhs, rhs = formula.split("~")

    def referenced(text):
        found = [m.group(2) for m in _QUOTED_NAME.finditer(text)]
        found += _NAME.findall(_QUOTED_NAME.sub(" ", text))
        return list(dict.fromkeys(name for name in found if name in columns))

    outcomes = referenced(lhs)
    if len(outcomes) != 1:
        raise ConfigError(
            f"the left side of formula {formula!r} must name one column of the data, "
            f"found {outcomes or 'none'}"
        )
    predictors = [name for name in referenced(rhs) if name != outcomes[0]]
    return outcomes[0], predictors


# Names a formula may use that are not columns: patsy's helpers and common transforms.
FORMULA_FUNCTIONS = frozenset(
    {"C", "Q", "I", "np", "log", "exp", "sqrt", "center", "standardize", "scale", "bs", "cr", "cc", "te",
     "Treatment", "Sum", "Poly", "Diff", "Helmert", "Reference", "levels"}
)


def check_formula_columns(formula: str, columns) -> None:
    """Raise ConfigError when ``formula`` names a column that ``columns`` does not contain.

    Bare identifiers and ``Q("name")`` quoting are checked; patsy's helpers (``C``, ``Q``, ``I``,
    ``np.``, ``center`` ...) and attribute names after a dot are allowed. Used before a run starts,
    so that a misspelt column fails at once instead of after training.
    """
    columns = list(columns)
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ConfigError(f"formula must be a string with exactly one '~', got {formula!r}")
    quoted = [m.group(2) for m in _QUOTED_NAME.finditer(formula)]
    bare = re.findall(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*", _QUOTED_NAME.sub(" ", formula))
    unknown = [name for name in dict.fromkeys(quoted + bare) if name not in columns and name not in FORMULA_FUNCTIONS]
    if unknown:
        raise ConfigError(
            f"formula {formula!r} names unknown column(s) {unknown}; columns of the data: {columns}. "
            'Correct the names, and quote names that are not Python identifiers as Q("bp, systolic").'
        )


def _is_nullable_number(dtype) -> bool:
    numeric = pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    return numeric and pd.api.types.is_extension_array_dtype(dtype)


def _model_frame(data: pd.DataFrame, names: list) -> tuple:
    """Keep the model columns, drop incomplete rows and convert dtypes for statsmodels."""
    frame = data[names].dropna()
    n_dropped = len(data) - len(frame)
    if n_dropped:
        logger.info(
            "dropped %d of %d rows with a missing value in a model column", n_dropped, len(data)
        )

    converted = {}
    for name in names:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            # An unused level would add an all-zero column and make the design singular.
            converted[name] = column.cat.remove_unused_categories()
        elif _is_nullable_number(column.dtype):
            # Int64 and boolean columns hold pd.NA-aware arrays that patsy does not read.
            converted[name] = column.astype(np.float64)
        else:
            converted[name] = column
    return pd.DataFrame(converted, index=frame.index), n_dropped


def _check_frame(frame: pd.DataFrame, outcome: str, predictors: list, family: str, formula: str, event=None):
    """Raise SynthlibError when the complete rows cannot support the model."""
    if frame.empty:
        raise SynthlibError(
            f"no complete rows to fit {formula!r}: every row has a missing value in a model column; "
            "check the missing-value share of each column or drop a sparse column from the formula"
        )
    if family == "cox":
        _check_survival(frame, outcome, event, formula)
    else:
        _check_outcome(frame, outcome, family, formula)

    for name in predictors:
        if frame[name].nunique() < 2:
            raise SynthlibError(
                f"predictor {name!r} takes a single value in the {len(frame)} complete rows, so "
                f"its coefficient in {formula!r} cannot be estimated; drop it from the formula "
                "or check why the data do not vary"
            )


def _check_outcome(frame: pd.DataFrame, outcome: str, family: str, formula: str):
    outcome_values = frame[outcome].unique()
    if len(outcome_values) < 2:
        raise SynthlibError(
            f"outcome {outcome!r} is constant in the {len(frame)} complete rows, so {formula!r} "
            "cannot be fitted; check that the synthetic data contain every outcome value "
            "(for a rare outcome, sample more rows)"
        )
    coded = pd.to_numeric(pd.Series(np.asarray(outcome_values, dtype=object)), errors="coerce")
    if family == "logistic" and not coded.isin([0.0, 1.0]).all():
        raise SynthlibError(
            f"outcome {outcome!r} of a logistic model must be coded 0/1; declare it as a binary "
            "column in the data dictionary"
        )


def _check_survival(frame: pd.DataFrame, time: str, event: str, formula: str):
    """Raise SynthlibError unless times are non-negative numbers and events are 0/1 with one event."""
    times = pd.to_numeric(pd.Series(np.asarray(frame[time], dtype=object)), errors="coerce")
    if times.isna().any() or (times < 0).any():
        raise SynthlibError(
            f"the time column {time!r} of the Cox model {formula!r} must hold non-negative numbers; "
            "check its type and range in the data dictionary"
        )
    events = pd.to_numeric(pd.Series(np.asarray(frame[event], dtype=object)), errors="coerce")
    if not events.isin([0.0, 1.0]).all():
        raise SynthlibError(
            f"event column {event!r} of the Cox model {formula!r} must be coded 0/1 "
            "(1 event, 0 censored); declare it as a binary column in the data dictionary"
        )
    if events.sum() == 0:
        raise SynthlibError(
            f"event column {event!r} records no event in the {len(frame)} complete rows, so "
            f"{formula!r} cannot be fitted; check that the data contain events (for a rare event, "
            "sample more rows)"
        )


def _check_rank(model, formula: str):
    """Raise SynthlibError naming the terms that are linear combinations of earlier terms."""
    exog = np.asarray(model.exog, dtype=float)
    if np.linalg.matrix_rank(exog) == exog.shape[1]:
        return
    redundant = []
    rank = 0
    for j, name in enumerate(model.exog_names):
        new_rank = np.linalg.matrix_rank(exog[:, : j + 1])
        if new_rank == rank:
            redundant.append(name)
        rank = new_rank
    raise SynthlibError(
        f"the design matrix of {formula!r} is rank deficient: term(s) {', '.join(redundant)} "
        "are linear combinations of earlier terms (collinear predictors, or a category level "
        "that always coincides with another); drop or merge them"
    )


def _is_discrete(column: pd.Series) -> bool:
    """Return True when a predictor enters as levels (categorical, text or two-valued)."""
    if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object:
        return True
    return column.nunique() <= 2


def _separated_levels(frame: pd.DataFrame, outcome: str, predictors: list) -> list:
    """Name the levels of discrete predictors whose rows all share one outcome value.

    The coefficient of such a level grows without bound as the likelihood rises
    (quasi-complete separation), whatever the other predictors are.
    """
    return _level_hints(frame, predictors, frame[outcome].astype(float), "nunique", 1)


def _level_hints(frame: pd.DataFrame, predictors: list, values: pd.Series, aggregate: str, flagged) -> list:
    """Name the levels of discrete predictors whose ``values`` aggregate to ``flagged``."""
    hints = []
    for name in predictors:
        if not _is_discrete(frame[name]):
            continue
        per_level = values.groupby(frame[name], observed=True).agg(aggregate)
        levels = [str(level) for level in per_level.index[per_level == flagged]]
        if levels:
            hints.append(f"{name} level(s) {', '.join(levels)}")
    return hints


def _separating_thresholds(frame: pd.DataFrame, outcome: str, predictors: list) -> list:
    """Name the continuous predictors for which a threshold splits the outcome values."""
    y = frame[outcome].astype(float)
    hints = []
    for name in predictors:
        if _is_discrete(frame[name]):
            continue
        x = frame[name].astype(float)
        negatives, positives = x[y == 0], x[y == 1]
        if negatives.max() < positives.min() or positives.max() < negatives.min():
            hints.append(f"{name} (a threshold splits the outcome values)")
    return hints


def _levels_without_events(frame: pd.DataFrame, event: str, predictors: list) -> list:
    """Name the levels of discrete predictors whose rows record no event.

    The log hazard ratio of such a level drifts to minus infinity (monotone likelihood),
    the survival analogue of separation.
    """
    return _level_hints(frame, predictors, frame[event].astype(float), "sum", 0)


def _separation_error(formula: str, n_rows: int, hints: list, family: str = "logistic") -> SynthlibError:
    named = ", ".join(hints) or "a combination of predictors"
    if family == "cox":
        return SynthlibError(
            f"monotone likelihood in the Cox model {formula!r} on {n_rows} rows: {named} record(s) no "
            "event, so the log hazard ratio drifts to minus infinity and its estimate does not exist; "
            "merge or drop those levels, or fit on more rows"
        )
    return SynthlibError(
        f"perfect separation in the logistic model {formula!r} on {n_rows} rows: {named} "
        "predict(s) the outcome exactly, so the maximum-likelihood estimates do not exist; "
        "merge or drop those levels or predictors, or fit on more rows"
    )


def _fit(model, family: str, frame, outcome, predictors, formula):
    """Fit the model, turning separation into SynthlibError and re-issuing other warnings."""

    def separation():
        hints = _separated_levels(frame, outcome, predictors) + _separating_thresholds(
            frame, outcome, predictors
        )
        return _separation_error(formula, len(frame), hints)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit()
        except PerfectSeparationError:
            raise separation() from None
        except np.linalg.LinAlgError as error:
            raise SynthlibError(
                f"fitting {formula!r} failed ({error}); check for collinear predictors"
            ) from None

    if family == "logistic":
        complete = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
        # NOTE: heuristic for quasi-complete separation by a combination of predictors,
        # which statsmodels does not flag. It also rejects a sound fit in which some row
        # has a probability within 3e-7 of 0 or 1.
        linear_predictor = model.exog @ np.asarray(result.params, dtype=float)
        if complete or np.max(np.abs(linear_predictor)) > _SEPARATION_LOGIT:
            raise separation()

    converged = bool(getattr(result, "converged", True))
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            converged = False
        elif not issubclass(w.category, PerfectSeparationWarning):
            warnings.warn(w.message, w.category, stacklevel=3)
    if not converged:
        warnings.warn(
            f"{formula!r} did not converge; its estimates may be unreliable",
            SynthlibWarning,
            stacklevel=3,
        )
    return result, converged


def _coefficient_table(result, ci_level: float) -> pd.DataFrame:
    bounds = np.asarray(result.conf_int(alpha=1 - ci_level))
    return pd.DataFrame(
        {
            # PHReg returns arrays without names, so the names come from the model.
            "term": list(result.model.exog_names),
            "estimate": np.asarray(result.params, dtype=float),
            "std_error": np.asarray(result.bse, dtype=float),
            "ci_low": bounds[:, 0],
            "ci_high": bounds[:, 1],
            "p_value": np.asarray(result.pvalues, dtype=float),
        }
    )


def fit_model(
    data: pd.DataFrame, formula: str, family: str, ci_level: float = 0.95, event: str | None = None
) -> FitResult:
    """Fit a logistic, linear or Cox proportional hazards regression with a statsmodels formula.

    Rows with a missing value in any column the formula names (and in ``event``) are
    dropped first; the count is logged and stored in ``n_dropped``. Integer, binary and
    boolean columns enter as numbers and categorical columns as treatment-coded levels
    (unused levels removed). Logistic models use a binomial GLM with logit link and Wald
    intervals from the normal distribution; linear models use ordinary least squares with
    t-based intervals. Cox models use statsmodels ``PHReg`` with Efron's method for tied
    times and Wald intervals from the normal distribution. The left side of a Cox formula
    is the time to event or censoring, and ``event`` names the 0/1 event column.

    Parameters
    ----------
    data : pandas.DataFrame
        Table typed by its data dictionary.
    formula : str
        patsy formula, for example ``"event ~ age + sex + C(smoking)"``, or for a Cox
        model ``"time_days ~ age + sex"``.
    family : {"logistic", "linear", "cox"}
        Regression family.
    ci_level : float, default 0.95
        Confidence level of the intervals.
    event : str, optional
        Event indicator column (1 event, 0 censored); required for ``"cox"`` and
        rejected otherwise.

    Returns
    -------
    FitResult
        Coefficient table, row counts and convergence flag.

    Raises
    ------
    ConfigError
        If ``family``, ``ci_level`` or ``event`` is invalid, or the formula does not name
        one outcome column.
    SynthlibError
        If the model cannot be estimated on these rows: no complete rows, a constant
        outcome or predictor, a logistic outcome not coded 0/1, negative times or no
        event for a Cox model, collinear terms, perfect separation (or, for a Cox model,
        a level without events), or a formula that fails to evaluate. The message names
        the column or term and the fix.
    """
    if family not in FAMILIES:
        raise ConfigError(f"family must be one of {FAMILIES}, got {family!r}")
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level must lie strictly between 0 and 1, got {ci_level!r}")
    _check_event_argument(family, event, data.columns)

    outcome, predictors = _formula_columns(formula, data.columns)
    if event in predictors:
        raise ConfigError(
            f"the event column {event!r} is also a predictor in {formula!r}; remove it from the right side"
        )
    frame, n_dropped = _model_frame(data, [outcome, *predictors, *([event] if event else [])])
    _check_frame(frame, outcome, predictors, family, formula, event)

    model = _build_model(formula, family, frame, event)
    _check_rank(model, formula)
    separated = []
    if family == "logistic":
        separated = _separated_levels(frame, outcome, predictors)
    elif family == "cox":
        separated = _levels_without_events(frame, event, predictors)
    if separated:
        raise _separation_error(formula, len(frame), separated, family)

    result, converged = _fit(model, family, frame, outcome, predictors, formula)
    fit = FitResult(
        formula=formula,
        family=family,
        outcome=outcome,
        coefficients=_coefficient_table(result, ci_level),
        n=int(model.nobs),
        n_dropped=n_dropped,
        converged=converged,
        ci_level=ci_level,
        event=event,
    )
    logger.info("fitted %s model %r on %d rows", family, formula, fit.n)
    return fit


def _check_event_argument(family: str, event, columns) -> None:
    if family != "cox":
        if event is not None:
            raise ConfigError(f"event applies to Cox models only; remove it or set family='cox', got {event!r}")
        return
    if event is None:
        raise ConfigError("a Cox model needs event: the name of the 0/1 event column (1 event, 0 censored)")
    if event not in columns:
        raise ConfigError(f"event column {event!r} is not a column of the data; columns: {list(columns)}")


def _build_model(formula: str, family: str, frame: pd.DataFrame, event):
    """Create the statsmodels model, turning formula evaluation errors into SynthlibError."""
    try:
        if family == "logistic":
            return smf.glm(formula, frame, family=sm.families.Binomial(), missing="raise")
        if family == "cox":
            status = frame[event].astype(np.float64)
            return PHReg.from_formula(formula, frame, status=status, ties="efron", missing="raise")
        return smf.ols(formula, frame, missing="raise")
    except (PatsyError, MissingDataError, ValueError, TypeError) as error:
        raise SynthlibError(
            f"formula {formula!r} could not be evaluated on the data ({error}); check the column "
            "names and that transformed values stay finite"
        ) from None


# --------------------------------------------------------------------------- comparison


def ci_overlap(low_a, high_a, low_b, high_b, clip: bool = True):
    """Compute the confidence-interval overlap of Karr et al. (2006).

    The overlap is the mean, over the two intervals, of the length of their
    intersection divided by that interval's length::

        J = ((min(high) - max(low)) / (high_a - low_a)
             + (min(high) - max(low)) / (high_b - low_b)) / 2

    Identical intervals give 1, and an interval nested in one twice as long gives
    0.75. For disjoint intervals the signed formula turns negative, growing with the
    gap. With ``clip`` (the default) disjoint intervals are reported as 0, so the
    value lies in [0, 1]. ``clip=False`` returns the signed value, as synthpop's
    ``compare.fit.synds`` reports it. An interval of zero length gives NaN with an
    IncomputableMetricWarning, and NaN inputs give NaN.

    Parameters
    ----------
    low_a, high_a, low_b, high_b : float or array_like
        Interval bounds; arrays broadcast against each other.
    clip : bool, default True
        Whether to report disjoint intervals as 0 instead of a negative value.

    Returns
    -------
    float or numpy.ndarray
        Overlap per interval pair; a float when every input is a scalar.

    Raises
    ------
    SynthlibError
        If an upper bound lies below its lower bound.

    References
    ----------
    Karr, A. F., Kohnen, C. N., Oganian, A., Reiter, J. P. and Sanil, A. P. (2006).
    A framework for evaluating the utility of data altered to protect confidentiality.
    The American Statistician, 60(3), 224-232. https://doi.org/10.1198/000313006X124640
    """
    low_a, high_a, low_b, high_b = (
        np.asarray(bound, dtype=float) for bound in (low_a, high_a, low_b, high_b)
    )
    width_a = high_a - low_a
    width_b = high_b - low_b
    if np.any(width_a < 0) or np.any(width_b < 0):
        raise SynthlibError(
            "invalid confidence interval: an upper bound lies below its lower bound"
        )

    common = np.minimum(high_a, high_b) - np.maximum(low_a, low_b)
    degenerate = (width_a == 0) | (width_b == 0)
    if np.any(degenerate):
        warnings.warn(
            f"{int(np.sum(degenerate))} interval pair(s) include an interval of zero length; "
            "their overlap is NaN",
            IncomputableMetricWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = 0.5 * (common / width_a + common / width_b)
    overlap = np.where(degenerate, np.nan, overlap)
    if clip:
        overlap = np.where(overlap < 0, 0.0, overlap)
    return float(overlap) if overlap.ndim == 0 else overlap


def _sign_agreement(real: pd.Series, synthetic: pd.Series, known: pd.Series) -> pd.Series:
    agree = pd.Series(np.sign(real) == np.sign(synthetic), index=real.index, dtype="boolean")
    return agree.mask(~known)


def compare_fits(
    real_fit: FitResult, synthetic_fit: FitResult, alpha: float = 0.05
) -> pd.DataFrame:
    """Compare the coefficients of one model fitted to real and to synthetic data.

    Terms follow the real fit. A term that the synthetic fit lacks (for example a
    category level absent from the synthetic rows) keeps its row with missing
    synthetic values and missing comparisons, and triggers a SynthlibWarning. Terms
    only in the synthetic fit are left out.

    Parameters
    ----------
    real_fit, synthetic_fit : FitResult
        Fits of the same formula and family at the same confidence level.
    alpha : float, default 0.05
        Significance level for ``significance_agreement``.

    Returns
    -------
    pandas.DataFrame
        One row per term with the real and synthetic ``estimate``, ``std_error``,
        ``ci_low``, ``ci_high`` and ``p_value`` (suffixes ``_real`` and
        ``_synthetic``), and:

        * ``ci_overlap``: Karr et al. (2006) overlap, 0 for disjoint intervals;
        * ``ci_overlap_signed``: the same without clipping, negative when disjoint;
        * ``std_difference``: ``(estimate_synthetic - estimate_real) / std_error_real``;
        * ``sign_agreement``: whether the estimates share a sign;
        * ``significance_agreement``: whether both or neither p-value is below ``alpha``;
        * ``attenuation_ratio``: ``estimate_synthetic / estimate_real`` (NaN when the
          real estimate is 0); values below 1 mean the synthetic effect is weaker.

        ``attrs`` stores ``family``, ``formula``, ``ci_level`` and ``alpha``.

    Raises
    ------
    SynthlibError
        If the fits differ in family or confidence level.
    """
    if real_fit.family != synthetic_fit.family:
        raise SynthlibError(
            f"cannot compare a {real_fit.family} fit with a {synthetic_fit.family} fit; "
            "fit both with the same family"
        )
    if real_fit.ci_level != synthetic_fit.ci_level:
        raise SynthlibError(
            f"cannot compare intervals at levels {real_fit.ci_level} and {synthetic_fit.ci_level}; "
            "fit both with the same ci_level"
        )
    if real_fit.formula != synthetic_fit.formula:
        warnings.warn(
            f"comparing different formulas {real_fit.formula!r} and {synthetic_fit.formula!r}; "
            "terms are matched by name",
            SynthlibWarning,
            stacklevel=2,
        )

    columns = list(COEFFICIENT_COLUMNS)
    table = real_fit.coefficients[columns].merge(
        synthetic_fit.coefficients[columns], on="term", how="left", suffixes=("_real", "_synthetic")
    )
    known = table["estimate_synthetic"].notna()
    if not known.all():
        missing = ", ".join(table.loc[~known, "term"])
        warnings.warn(
            f"the synthetic fit lacks term(s) {missing}; their comparisons are missing",
            SynthlibWarning,
            stacklevel=2,
        )

    bound_columns = ("ci_low_real", "ci_high_real", "ci_low_synthetic", "ci_high_synthetic")
    bounds = [table[column] for column in bound_columns]
    table["ci_overlap"] = ci_overlap(*bounds)
    table["ci_overlap_signed"] = ci_overlap(*bounds, clip=False)
    difference = table["estimate_synthetic"] - table["estimate_real"]
    table["std_difference"] = difference / table["std_error_real"]
    table["sign_agreement"] = _sign_agreement(
        table["estimate_real"], table["estimate_synthetic"], known
    )
    significant_real = pd.Series(table["p_value_real"] < alpha, dtype="boolean")
    significant_synthetic = pd.Series(table["p_value_synthetic"] < alpha, dtype="boolean")
    table["significance_agreement"] = (significant_real == significant_synthetic).mask(~known)
    real_estimate = table["estimate_real"].where(table["estimate_real"] != 0)
    table["attenuation_ratio"] = table["estimate_synthetic"] / real_estimate

    table.attrs.update(
        family=real_fit.family, formula=real_fit.formula, ci_level=real_fit.ci_level, alpha=alpha
    )
    return table


def replication_summary(comparison: pd.DataFrame, include_intercept: bool = True) -> dict:
    """Summarise a :func:`compare_fits` table in a few figures, ready for ``json.dump``.

    Means and shares are taken over the terms estimated in both fits, and
    ``n_terms_missing`` counts the others. A term whose overlap is NaN (an interval of
    zero length) is left out of ``mean_ci_overlap``. Means that are NaN (no terms) or
    infinite are written as None.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`compare_fits`.
    include_intercept : bool, default True
        Whether the ``Intercept`` term counts.

    Returns
    -------
    dict
        Term counts ``n_terms`` and ``n_terms_missing``. ``mean_ci_overlap`` is the mean
        clipped overlap (1 is best) and ``mean_abs_std_difference`` the mean absolute
        standardized difference (0 is best). ``sign_agreement`` and
        ``significance_agreement`` are the shares of terms that agree (1 is best).
    """
    rows = comparison if include_intercept else comparison[comparison["term"] != "Intercept"]
    known = rows[rows["estimate_synthetic"].notna()]
    figures = {
        "mean_ci_overlap": known["ci_overlap"].mean(),
        "mean_abs_std_difference": known["std_difference"].abs().mean(),
        "sign_agreement": known["sign_agreement"].astype(float).mean(),
        "significance_agreement": known["significance_agreement"].astype(float).mean(),
    }
    summary = {"n_terms": int(len(rows)), "n_terms_missing": int(len(rows) - len(known))}
    summary.update((key, json_number(value)) for key, value in figures.items())
    return summary
