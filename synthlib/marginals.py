"""Single-column comparisons beyond the column shapes score: distances, missing rates and tests.

:func:`synthlib.fidelity.column_shapes` scores each column as SDMetrics does. This module adds
the Wasserstein distance on standardised values, the difference in missing rate, and one
two-sample test per column (Kolmogorov-Smirnov for continuous columns, chi-square for discrete
ones) with the Benjamini-Hochberg adjustment across columns. :func:`significant_variables`
turns the tests into the table of variables whose distribution differs significantly.

Every function takes typed tables (see :func:`synthlib.validation.validate_table`) and a data
dictionary. A value that is undefined on its input (an empty column, a constant real column)
is NaN and an :class:`~synthlib.exceptions.IncomputableMetricWarning` names the column and the
reason.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, false_discovery_control, ks_2samp
from scipy.stats import wasserstein_distance as _scipy_wasserstein

from .exceptions import ConfigError
from .fidelity import _discrete_values, _empty_side, _ks_sample, _subject
from .metrics import (
    CONTINUOUS_TYPES,
    MetricInfo,
    _check_columns,
    _missing_rates,
    _numeric_values,
    _warn_incomputable,
    _warn_summary,
)

logger = logging.getLogger(__name__)

WASSERSTEIN_DISTANCE = MetricInfo(
    "wasserstein_distance", "minimize", 0.0, math.inf,
    "0 when the two distributions are equal; 1 when the synthetic column is the real one shifted "
    "by one real standard deviation. Values are standardised by the real mean and standard deviation.",
)
MISSING_RATE_DIFFERENCE = MetricInfo(
    "missing_rate_difference", "minimize", 0.0, 1.0,
    "0 when both tables miss the same share of a column's values; 1 when one column is complete "
    "and the other has no value.",
)
ADJUSTED_P_VALUE = MetricInfo(
    "adjusted_p_value", "maximize", 0.0, 1.0,
    "Benjamini-Hochberg adjusted p-value of a two-sample test of a column: near 1 when the test "
    "finds no difference; below alpha when the column differs significantly.",
)
METRIC_INFOS = (WASSERSTEIN_DISTANCE, MISSING_RATE_DIFFERENCE, ADJUSTED_P_VALUE)


# ---------------------------------------------------------------- Wasserstein distance


def _wasserstein_value(real: pd.Series, synthetic: pd.Series) -> tuple[float, str | None]:
    real_values = _numeric_values(real).dropna().to_numpy()
    synthetic_values = _numeric_values(synthetic).dropna().to_numpy()
    reason = _empty_side(len(real_values), len(synthetic_values))
    if reason:
        return math.nan, reason
    if len(real_values) < 2:
        return math.nan, "the real column has one non-missing value, so its standard deviation is undefined"

    scale = float(np.std(real_values, ddof=1))
    if scale == 0.0:
        return math.nan, "the real column is constant, so its values cannot be standardised"
    center = float(np.mean(real_values))
    distance = _scipy_wasserstein((real_values - center) / scale, (synthetic_values - center) / scale)
    return float(distance), None


def wasserstein_distance(real: pd.Series, synthetic: pd.Series, column: str | None = None) -> float:
    """Compute the Wasserstein-1 distance between a column's distributions on the real scale.

    Both columns are standardised with the mean and the sample standard deviation (``ddof=1``)
    of the real column, so the distance is in real standard deviations and comparable across
    columns. It is the area between the two empirical CDFs (``scipy.stats.wasserstein_distance``).
    Missing values are dropped and dates are taken as nanoseconds.

    Parameters
    ----------
    real, synthetic : pandas.Series
        The column in each table (float64, Int64 or datetime64).
    column : str, optional
        Name used in warnings; defaults to ``real.name``.

    Returns
    -------
    float
        Distance in [0, inf); NaN, with an IncomputableMetricWarning, when a side has no
        non-missing value or the real column has fewer than two values or is constant.
    """
    value, reason = _wasserstein_value(real, synthetic)
    if reason:
        _warn_incomputable(WASSERSTEIN_DISTANCE, _subject(column if column is not None else real.name), reason)
    return value


def missing_rate_difference(real: pd.Series, synthetic: pd.Series, column: str | None = None) -> float:
    """Compute the absolute difference between the shares of missing values of a column.

    Parameters
    ----------
    real, synthetic : pandas.Series
        The column in each table.
    column : str, optional
        Name used in warnings; defaults to ``real.name``.

    Returns
    -------
    float
        ``|missing share synthetic - missing share real|`` in [0, 1]; NaN, with an
        IncomputableMetricWarning, when a table has no rows.
    """
    real_rate, synthetic_rate = _missing_rates(real, synthetic)
    value = abs(synthetic_rate - real_rate)
    if math.isnan(value):
        subject = _subject(column if column is not None else real.name)
        _warn_incomputable(MISSING_RATE_DIFFERENCE, subject, "a table has no rows")
    return value


def marginal_differences(real: pd.DataFrame, synthetic: pd.DataFrame, dictionary) -> pd.DataFrame:
    """Tabulate the standardised Wasserstein distance and the missing rates of every modelled column.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing every modelled column of ``dictionary``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types; identifier columns are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``column``, ``type``, ``wasserstein_distance`` (see
        :func:`wasserstein_distance`; NaN for categorical and binary columns, where it is not
        defined), ``real_missing_rate``, ``synthetic_missing_rate``,
        ``missing_rate_difference`` (absolute) and ``reason`` (why a distance of a continuous
        column is NaN, else None).
    """
    _check_columns(dictionary.modelled_columns, real=real, synthetic=synthetic)
    rows = []
    for name in dictionary.modelled_columns:
        column_type = dictionary.column(name).type
        distance, reason = math.nan, None
        if column_type in CONTINUOUS_TYPES:
            distance, reason = _wasserstein_value(real[name], synthetic[name])
        real_rate, synthetic_rate = _missing_rates(real[name], synthetic[name])
        rows.append({
            "column": name,
            "type": column_type,
            "wasserstein_distance": distance,
            "real_missing_rate": real_rate,
            "synthetic_missing_rate": synthetic_rate,
            "missing_rate_difference": abs(synthetic_rate - real_rate),
            "reason": reason,
        })
    table = pd.DataFrame(rows, columns=[
        "column", "type", "wasserstein_distance", "real_missing_rate", "synthetic_missing_rate",
        "missing_rate_difference", "reason",
    ])
    _warn_summary("Wasserstein distance", table.set_index("column")["reason"])
    return table


# ---------------------------------------------------------------- per-column tests


def _ks_test(real: pd.Series, synthetic: pd.Series) -> dict:
    real_values, synthetic_values = _ks_sample(real), _ks_sample(synthetic)
    reason = _empty_side(len(real_values), len(synthetic_values))
    if reason:
        return {"reason": reason}
    result = ks_2samp(real_values, synthetic_values)
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}


def _chi_square_test(real: pd.Series, synthetic: pd.Series) -> dict:
    real_counts = _discrete_values(real).value_counts(dropna=True)
    synthetic_counts = _discrete_values(synthetic).value_counts(dropna=True)
    reason = _empty_side(int(real_counts.sum()), int(synthetic_counts.sum()))
    if reason:
        return {"reason": reason}

    counts = pd.concat([real_counts, synthetic_counts], axis=1).fillna(0)
    counts = counts[counts.sum(axis=1) > 0]
    if len(counts) < 2:
        return {"reason": "the column takes a single value in both tables, so there is nothing to test"}
    statistic, p_value, dof, _ = chi2_contingency(counts.to_numpy().T, correction=False)
    return {"statistic": float(statistic), "p_value": float(p_value), "dof": int(dof)}


def marginal_tests(real: pd.DataFrame, synthetic: pd.DataFrame, dictionary, alpha: float = 0.05) -> pd.DataFrame:
    """Test each modelled column for a difference between the real and synthetic distributions.

    Numeric, integer and date columns get the two-sample Kolmogorov-Smirnov test
    (``scipy.stats.ks_2samp``, two-sided, on the values that :func:`synthlib.fidelity.ks_complement`
    compares, so ``statistic`` is one minus that score). Categorical and binary columns get
    Pearson's chi-square test of homogeneity on the 2 x k table of level counts, over the levels
    seen in either table, without continuity correction. Missing values are left out of both
    tests; :func:`marginal_differences` compares missing rates. The p-values of the columns
    are adjusted together with the Benjamini-Hochberg procedure
    (``scipy.stats.false_discovery_control``), which keeps the false discovery rate at or below
    ``alpha`` when the tests are independent or positively dependent.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing every modelled column of ``dictionary``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types; identifier columns are skipped.
    alpha : float
        False discovery rate; a column is significant when its adjusted p-value is below it.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``column``, ``type``, ``test`` (``ks`` or ``chi_square``),
        ``statistic``, ``dof`` (chi-square degrees of freedom, NaN for KS), ``p_value``,
        ``adjusted_p_value``, ``significant`` and ``reason`` (why the test could not run, else
        None). Untestable columns have NaN p-values, are not significant and do not count in
        the adjustment.

    Notes
    -----
    With thousands of rows these tests detect differences too small to matter, so read the
    significant columns beside their effect sizes: :func:`synthlib.fidelity.column_shapes` and
    :func:`marginal_differences`. The KS test assumes continuous data, so its p-value is
    conservative on integer columns with many ties.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha is {alpha!r}; use a number between 0 and 1, for example 0.05")
    _check_columns(dictionary.modelled_columns, real=real, synthetic=synthetic)

    rows = []
    for name in dictionary.modelled_columns:
        column_type = dictionary.column(name).type
        continuous = column_type in CONTINUOUS_TYPES
        test = _ks_test if continuous else _chi_square_test
        outcome = test(real[name], synthetic[name])
        rows.append({
            "column": name,
            "type": column_type,
            "test": "ks" if continuous else "chi_square",
            "statistic": outcome.get("statistic", math.nan),
            "dof": outcome.get("dof", math.nan),
            "p_value": outcome.get("p_value", math.nan),
            "reason": outcome.get("reason"),
        })
    table = pd.DataFrame(rows, columns=["column", "type", "test", "statistic", "dof", "p_value", "reason"])

    tested = table["p_value"].notna()
    table["adjusted_p_value"] = math.nan
    if tested.any():
        table.loc[tested, "adjusted_p_value"] = false_discovery_control(table.loc[tested, "p_value"], method="bh")
    table["significant"] = (table["adjusted_p_value"] < alpha).to_numpy()
    _warn_summary("column test", table.set_index("column")["reason"])
    return table[[
        "column", "type", "test", "statistic", "dof", "p_value", "adjusted_p_value", "significant", "reason",
    ]]


def significant_variables(tests: pd.DataFrame) -> pd.DataFrame:
    """Return the columns whose distribution differs significantly, most significant first.

    Parameters
    ----------
    tests : pandas.DataFrame
        Output of :func:`marginal_tests`.

    Returns
    -------
    pandas.DataFrame
        The significant rows, indexed by column, with ``type``, ``test``, ``statistic``,
        ``p_value`` and ``adjusted_p_value``, sorted by adjusted and then by raw p-value.
        Empty when no column differs.
    """
    missing = [name for name in ("column", "significant", "adjusted_p_value") if name not in tests.columns]
    if missing:
        raise ConfigError(f"tests lacks the column(s) {missing}; pass the output of synthlib.marginals.marginal_tests")
    significant = tests[tests["significant"].astype(bool)]
    significant = significant.sort_values(["adjusted_p_value", "p_value"])
    columns = ["type", "test", "statistic", "p_value", "adjusted_p_value"]
    return significant.set_index("column")[columns]
