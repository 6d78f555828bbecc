"""Fidelity: how closely synthetic rows reproduce the distributions of the real table.

Column and pair metrics follow the definitions of SDMetrics 0.32 (``KSComplement``,
``TVComplement``, ``CorrelationSimilarity``, ``ContingencySimilarity`` and the single-table
``QualityReport``), so scores can be set beside published SDMetrics numbers. Where a function
departs from SDMetrics, its docstring describes the difference. The other metrics of the
fidelity report are in :mod:`synthlib.marginals` (distances and tests per column),
:mod:`synthlib.association` (pairs of columns), :mod:`synthlib.propensity` (pMSE) and
:mod:`synthlib.utility` (detection and train-on-synthetic, test-on-real utility).
:func:`synthlib.fidelity_report.describe_metrics` lists the declarations of all of them.

Every function takes typed tables (see :func:`synthlib.validation.validate_table`) and a data
dictionary. Inputs on which a score is undefined (an empty column, a constant column) give NaN
and an :class:`~synthlib.exceptions.IncomputableMetricWarning` naming the column and the reason.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
from collections import Counter

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, pearsonr, spearmanr
from scipy.stats.contingency import association

from .exceptions import ConfigError
from .metrics import (
    CONTINUOUS_TYPES,
    DISCRETE_TYPES,
    CorrelationMatrices,
    MetricInfo,
    MetricResult,
    _check_choice,
    _check_columns,
    _column_states,
    _constant_reason,
    _datetime_ns,
    _missing_rates,
    _numeric_values,
    _warn_incomputable,
    _warn_summary,
)

logger = logging.getLogger(__name__)

KS_DECIMALS = sys.float_info.dig - 1
"""Decimals kept before the KS test (14 on IEEE doubles), as SDMetrics does to absorb float noise."""
TV_PSEUDO_COUNT = 1e-6
"""Real count given to a category seen only in the synthetic column (SDMetrics ``get_frequencies``)."""


KS_COMPLEMENT = MetricInfo(
    "ks_complement", "maximize", 0.0, 1.0,
    "1 when the two empirical CDFs are equal; 0 when the samples do not overlap (KS statistic 1).",
)
TV_COMPLEMENT = MetricInfo(
    "tv_complement", "maximize", 0.0, 1.0,
    "1 when every category has the same frequency; 0 when the two columns share no category.",
)
COLUMN_SHAPES = MetricInfo(
    "column_shapes", "maximize", 0.0, 1.0,
    "Per column, KS complement (numeric, integer, date) or TV complement (categorical, binary).",
)
CORRELATION_SIMILARITY = MetricInfo(
    "correlation_similarity", "maximize", 0.0, 1.0,
    "1 when the two correlations are equal; 0 when one is +1 and the other -1.",
)
CONTINGENCY_SIMILARITY = MetricInfo(
    "contingency_similarity", "maximize", 0.0, 1.0,
    "1 when the joint frequency tables are equal; 0 when they share no cell.",
)
CORRELATION_DIFFERENCE = MetricInfo(
    "correlation_difference", "minimize", 0.0, 2.0,
    "Absolute difference of a pair's correlations: 0 when equal, 2 when one is +1 and the other -1.",
)
QUALITY_SCORE = MetricInfo(
    "quality_score", "maximize", 0.0, 1.0,
    "Mean of column shapes and column pair trends; 1 when both match the real table exactly.",
)
METRIC_INFOS = (
    KS_COMPLEMENT, TV_COMPLEMENT, COLUMN_SHAPES, CORRELATION_SIMILARITY, CONTINGENCY_SIMILARITY,
    CORRELATION_DIFFERENCE, QUALITY_SCORE,
)


# ---------------------------------------------------------------- helpers


def _check_threshold(parameter: str, value) -> None:
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{parameter} is {value!r}; use a number between 0 and 1")


def _check_n_bins(n_bins) -> None:
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ConfigError(f"n_bins is {n_bins!r}; use a positive integer")


def _discrete_values(series: pd.Series) -> pd.Series:
    """Return a discrete column with plain values (object or float64) and NaN for missing values."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    return series


def _subject(column) -> str:
    return f"column {column!r}" if column is not None else "an unnamed column"


# ---------------------------------------------------------------- single columns


def _ks_sample(series: pd.Series) -> np.ndarray:
    observed = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(observed):
        # Integer nanoseconds, as SDMetrics compares dates; float64 would round them above 2**53.
        return _datetime_ns(observed).to_numpy().view("int64")
    return _numeric_values(observed).round(KS_DECIMALS).to_numpy()


def _empty_side(real_size: int, synthetic_size: int) -> str | None:
    for side, size in (("real", real_size), ("synthetic", synthetic_size)):
        if size == 0:
            return (
                f"the {side} column has no non-missing values; check the {side} table for this column"
            )
    return None


def _ks_value(real: pd.Series, synthetic: pd.Series) -> tuple[float, str | None]:
    real_values, synthetic_values = _ks_sample(real), _ks_sample(synthetic)
    reason = _empty_side(len(real_values), len(synthetic_values))
    if reason:
        return math.nan, reason
    return 1.0 - float(ks_2samp(real_values, synthetic_values).statistic), None


def _tv_value(real: pd.Series, synthetic: pd.Series) -> tuple[float, str | None]:
    real_counts = Counter(real.dropna().tolist())
    synthetic_counts = Counter(synthetic.dropna().tolist())
    reason = _empty_side(len(real_counts), len(synthetic_counts))
    if reason:
        return math.nan, reason

    real_counts = {value: float(count) for value, count in real_counts.items()}
    for value in synthetic_counts:
        real_counts.setdefault(value, TV_PSEUDO_COUNT)
    real_total = sum(real_counts.values())
    synthetic_total = sum(synthetic_counts.values())
    distance = sum(
        abs(synthetic_counts.get(value, 0) / synthetic_total - count / real_total)
        for value, count in real_counts.items()
    )
    return 1.0 - 0.5 * distance, None


def ks_complement(real: pd.Series, synthetic: pd.Series, column: str | None = None) -> float:
    """Compute one minus the two-sample Kolmogorov-Smirnov statistic of a numeric or date column.

    Missing values are dropped, dates compared as integer nanoseconds and numbers rounded to
    14 decimals before ``scipy.stats.ks_2samp``, as in SDMetrics 0.32 ``KSComplement``.

    Parameters
    ----------
    real, synthetic : pandas.Series
        The column in each table (float64, Int64 or datetime64).
    column : str, optional
        Name used in warnings; defaults to ``real.name``.

    Returns
    -------
    float
        ``1 - D`` in [0, 1]; NaN, with an IncomputableMetricWarning, when a side has no
        non-missing value.
    """
    value, reason = _ks_value(real, synthetic)
    if reason:
        subject = _subject(column if column is not None else real.name)
        _warn_incomputable(KS_COMPLEMENT, subject, reason)
    return value


def tv_complement(real: pd.Series, synthetic: pd.Series, column: str | None = None) -> float:
    """Compute one minus the total variation distance between the category frequencies of a column.

    Follows SDMetrics 0.32 ``TVComplement``: missing values are dropped, and a category present
    only in the synthetic column gets a real count of ``1e-6`` before the frequencies are taken.
    The score is ``1 - 0.5 * sum_c |p_synthetic(c) - p_real(c)|``.

    Parameters
    ----------
    real, synthetic : pandas.Series
        The column in each table (categorical, Int64 binary or any hashable values).
    column : str, optional
        Name used in warnings; defaults to ``real.name``.

    Returns
    -------
    float
        Score in [0, 1]; NaN, with an IncomputableMetricWarning, when a side has no
        non-missing value.
    """
    value, reason = _tv_value(real, synthetic)
    if reason:
        subject = _subject(column if column is not None else real.name)
        _warn_incomputable(TV_COMPLEMENT, subject, reason)
    return value


def _column_shapes_frame(real: pd.DataFrame, synthetic: pd.DataFrame, dictionary) -> pd.DataFrame:
    rows = []
    for name in dictionary.modelled_columns:
        spec = dictionary.column(name)
        if spec.type in CONTINUOUS_TYPES:
            metric, compute = KS_COMPLEMENT, _ks_value
        else:
            metric, compute = TV_COMPLEMENT, _tv_value
        score, reason = compute(real[name], synthetic[name])
        real_missing, synthetic_missing = _missing_rates(real[name], synthetic[name])
        rows.append({
            "column": name,
            "type": spec.type,
            "metric": metric.name,
            "score": score,
            "real_missing_rate": real_missing,
            "synthetic_missing_rate": synthetic_missing,
            "missing_rate_difference": abs(synthetic_missing - real_missing),
            "reason": reason,
        })
    return pd.DataFrame(rows, columns=[
        "column", "type", "metric", "score", "real_missing_rate", "synthetic_missing_rate",
        "missing_rate_difference", "reason",
    ])


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, dictionary) -> pd.DataFrame:
    """Score how well each modelled column's distribution is reproduced.

    Numeric, integer and date columns use :func:`ks_complement`; categorical and binary columns
    use :func:`tv_complement`, as the Column Shapes property of SDMetrics 0.32 does.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing every modelled column of ``dictionary``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the type of each column; identifier columns are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``column``, ``type``, ``metric``, ``score``, ``real_missing_rate``,
        ``synthetic_missing_rate``, ``missing_rate_difference`` (their absolute difference, see
        :func:`synthlib.marginals.missing_rate_difference`) and ``reason`` (why the score is NaN,
        else None).
    """
    _check_columns(dictionary.modelled_columns, real=real, synthetic=synthetic)
    shapes = _column_shapes_frame(real, synthetic, dictionary)
    _warn_summary("column shape", shapes.set_index("column")["reason"])
    return shapes


# ---------------------------------------------------------------- column pairs


def _pair_columns(real: pd.DataFrame, synthetic: pd.DataFrame, columns) -> list:
    columns = list(real.columns if columns is None else columns)
    if len(columns) != 2:
        raise ConfigError(
            f"a column pair metric needs exactly two columns, got {columns}; pass columns=(first, second)"
        )
    _check_columns(columns, real=real, synthetic=synthetic)
    return columns


def _float_arrays(table: pd.DataFrame, names) -> dict:
    """Return each column as a float64 array with NaN for missing values (dates in nanoseconds)."""
    return {name: _numeric_values(table[name]).to_numpy() for name in names}


def _correlation_pair(real: dict, synthetic: dict, columns, method: str, threshold: float, reason=None) -> dict:
    """Correlate two columns in each table, given as :func:`_float_arrays`, and score the pair.

    ``reason``, from :func:`synthlib.metrics._constant_reason`, makes the pair NaN when a whole
    column is constant or empty.
    """
    result = {"score": math.nan, "real_correlation": math.nan, "synthetic_correlation": math.nan}
    result["reason"] = reason
    if reason:
        return result

    correlate = pearsonr if method == "pearson" else spearmanr
    for side, arrays in (("real", real), ("synthetic", synthetic)):
        first, second = arrays[columns[0]], arrays[columns[1]]
        present = ~np.isnan(first) & ~np.isnan(second)
        first, second = first[present], second[present]
        if first.size < 2 or first.min() == first.max() or second.min() == second.max():
            result["reason"] = (
                f"the {side} rows where both columns are present are fewer than two "
                "or constant in one column"
            )
            return result
        result[f"{side}_correlation"] = float(correlate(first, second)[0])

    real_correlation = result["real_correlation"]
    if threshold > 0 and abs(real_correlation) <= threshold:
        return result
    result["score"] = 1.0 - abs(real_correlation - result["synthetic_correlation"]) / 2.0
    return result


def correlation_similarity(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns=None,
    method: str = "pearson",
    real_correlation_threshold: float = 0.0,
) -> MetricResult:
    """Compare the correlation of two continuous columns in the real and synthetic tables.

    The score is ``1 - |rho_real - rho_synthetic| / 2`` with rows missing either value dropped
    per table and dates taken as nanoseconds, as in SDMetrics 0.32 ``CorrelationSimilarity``.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Tables containing the two columns (numeric, integer or date).
    columns : sequence of two str, optional
        The pair; defaults to the columns of ``real``, which must then be exactly two.
    method : {"pearson", "spearman"}
        Correlation coefficient.
    real_correlation_threshold : float
        When above 0, a pair whose real ``|rho|`` is at most this value scores NaN without a
        warning, because it is too weakly correlated to judge.

    Returns
    -------
    MetricResult
        ``value`` is the score; ``breakdown`` contains ``real_correlation`` and
        ``synthetic_correlation``.

    Notes
    -----
    A column with a single distinct value (or none) in either table gives NaN and an
    IncomputableMetricWarning, where SDMetrics raises ``ConstantInputError``. SDMetrics also
    returns NaN when the real correlation is exactly 0 and no threshold is set. This function
    applies the threshold test only when the threshold is above 0.
    """
    columns = _pair_columns(real, synthetic, columns)
    _check_choice("method", method, ("pearson", "spearman"))
    _check_threshold("real_correlation_threshold", real_correlation_threshold)

    reason = _constant_reason(_column_states(real, columns), _column_states(synthetic, columns), columns)
    arrays = (_float_arrays(real, columns), _float_arrays(synthetic, columns))
    pair = _correlation_pair(*arrays, columns, method, real_correlation_threshold, reason)
    if pair["reason"]:
        subject = f"columns {columns[0]!r} and {columns[1]!r}"
        _warn_incomputable(CORRELATION_SIMILARITY, subject, pair["reason"])
    breakdown = {key: pair[key] for key in ("real_correlation", "synthetic_correlation")}
    return MetricResult(CORRELATION_SIMILARITY.name, pair["score"], breakdown)


class _BinningError(ValueError):
    """Failure to bin a continuous column for contingency similarity."""


def _histogram_edges(values: pd.Series, n_bins: int) -> np.ndarray:
    """Return ``n_bins + 1`` equal-width edges over the observed values, by ``np.histogram_bin_edges``."""
    try:
        return np.histogram_bin_edges(values.dropna(), bins=n_bins)
    except ValueError as error:
        # numpy fails when the range is too narrow for distinct float edges, e.g. a constant date.
        message = f"column {values.name!r} could not be cut into {n_bins} bins ({error})"
        raise _BinningError(message) from error


def _bin_on_real_edges(real: pd.Series, synthetic: pd.Series, n_bins: int) -> tuple:
    """Bin both columns on the real column's histogram edges, the outer edges widened to infinity.

    ``np.digitize`` puts NaN above the last edge, so missing values form their own bin.
    """
    real_values, synthetic_values = _numeric_values(real), _numeric_values(synthetic)
    edges = _histogram_edges(real_values, n_bins)
    edges[0], edges[-1] = -np.inf, np.inf
    return (
        pd.Series(np.digitize(real_values, edges), index=real.index, name=real.name),
        pd.Series(np.digitize(synthetic_values, edges), index=synthetic.index, name=synthetic.name),
    )


def _shared_codes(real: pd.Series, synthetic: pd.Series) -> tuple:
    """Return integer codes of a discrete column shared by both tables, missing values as one more code.

    The result is ``(real_codes, synthetic_codes, n_codes)``.
    """
    stacked = pd.concat([real, synthetic], ignore_index=True)
    codes, uniques = pd.factorize(stacked, use_na_sentinel=False)
    return codes[: len(real)], codes[len(real):], len(uniques)


def _joint_counts(first: np.ndarray, second: np.ndarray, n_first: int, n_second: int) -> np.ndarray:
    return np.bincount(first * n_second + second, minlength=n_first * n_second).reshape(n_first, n_second)


def _contingency_pair(first: tuple, second: tuple, threshold: float) -> dict:
    """Score two discrete columns, given as :func:`_shared_codes`, from their joint relative frequencies.

    Missing values form their own cell. The sum over the cells of either table equals SDMetrics'
    sum over the union of observed cells, because a cell seen in neither table adds 0.
    """
    result = {"score": math.nan, "real_association": math.nan, "reason": None}
    for side, size in (("real", len(first[0])), ("synthetic", len(first[1]))):
        if size == 0:
            result["reason"] = f"the {side} table has no rows"
            return result

    shape = (first[2], second[2])
    real_counts = _joint_counts(first[0], second[0], *shape)
    if threshold > 0:
        table = real_counts[real_counts.sum(axis=1) > 0][:, real_counts.sum(axis=0) > 0]
        if min(table.shape) < 2:
            result["reason"] = "a real column takes a single value, so Cramer's V is undefined"
            return result
        result["real_association"] = float(association(table, method="cramer"))
        if result["real_association"] <= threshold:
            return result

    synthetic_counts = _joint_counts(first[1], second[1], *shape)
    distance = float(np.abs(real_counts / len(first[0]) - synthetic_counts / len(first[1])).sum())
    result["score"] = 1.0 - distance / 2.0
    return result


def contingency_similarity(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns=None,
    continuous_columns=(),
    n_bins: int = 10,
    real_association_threshold: float = 0.0,
) -> MetricResult:
    """Compare the joint distribution of two columns through their contingency tables.

    As in SDMetrics 0.32 ``ContingencySimilarity``, continuous columns are first binned on
    ``n_bins`` histogram edges of the real column, with the outer edges replaced by -inf and
    +inf. Missing values form their own cell. The score is
    ``1 - 0.5 * sum |p_real - p_synthetic|`` over the union of cells.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Tables containing the two columns.
    columns : sequence of two str, optional
        The pair; defaults to the columns of ``real``, which must then be exactly two.
    continuous_columns : sequence of str
        Which of the two columns to bin (numeric, integer or date).
    n_bins : int
        Number of histogram bins for continuous columns.
    real_association_threshold : float
        When above 0, a pair whose real Cramer's V is at most this value scores NaN without a
        warning.

    Returns
    -------
    MetricResult
        ``value`` is the score; ``breakdown`` contains ``real_association`` (Cramer's V,
        computed only when a threshold is set, else NaN).

    Notes
    -----
    SDMetrics can also subsample rows (unseeded); this function always uses every row.
    """
    columns = _pair_columns(real, synthetic, columns)
    _check_threshold("real_association_threshold", real_association_threshold)
    _check_n_bins(n_bins)
    unknown = [name for name in continuous_columns if name not in columns]
    if unknown:
        raise ConfigError(f"continuous_columns {unknown} are not in the pair {columns}")

    codes = []
    try:
        for name in columns:
            if name in continuous_columns:
                codes.append(_shared_codes(*_bin_on_real_edges(real[name], synthetic[name], n_bins)))
            else:
                codes.append(_shared_codes(_discrete_values(real[name]), _discrete_values(synthetic[name])))
    except _BinningError as error:
        pair = {"score": math.nan, "real_association": math.nan, "reason": str(error)}
    else:
        pair = _contingency_pair(*codes, real_association_threshold)

    if pair["reason"]:
        subject = f"columns {columns[0]!r} and {columns[1]!r}"
        _warn_incomputable(CONTINGENCY_SIMILARITY, subject, pair["reason"])
    breakdown = {"real_association": pair["real_association"]}
    return MetricResult(CONTINGENCY_SIMILARITY.name, pair["score"], breakdown)


def correlation_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, dictionary, method: str = "pearson"
) -> CorrelationMatrices:
    """Compute the correlation matrices of both tables and their difference.

    Covers the modelled numeric, integer and binary columns, with pairwise-complete rows
    (``pandas.DataFrame.corr``).

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types.
    method : {"pearson", "spearman"}
        Correlation coefficient.

    Returns
    -------
    CorrelationMatrices
        ``(real, synthetic, difference)``, with ``difference = synthetic - real``. Entries of a
        column constant or empty in either table are NaN, and an IncomputableMetricWarning names
        those columns.
    """
    _check_choice("method", method, ("pearson", "spearman"))
    names = [
        name for name in dictionary.modelled_columns
        if dictionary.column(name).type in ("numeric", "integer", "binary")
    ]
    _check_columns(names, real=real, synthetic=synthetic)

    real_values = pd.DataFrame({name: _numeric_values(real[name]) for name in names}, index=real.index)
    synthetic_values = pd.DataFrame(
        {name: _numeric_values(synthetic[name]) for name in names}, index=synthetic.index
    )
    real_matrix = real_values.corr(method=method)
    synthetic_matrix = synthetic_values.corr(method=method)

    undefined = [
        name for name in names if real_values[name].nunique() < 2 or synthetic_values[name].nunique() < 2
    ]
    if undefined:
        _warn_incomputable(
            CORRELATION_DIFFERENCE,
            f"column(s) {', '.join(map(repr, undefined))}",
            "they are constant or empty in the real or synthetic table",
        )
    return CorrelationMatrices(real_matrix, synthetic_matrix, synthetic_matrix - real_matrix)


# ---------------------------------------------------------------- quality report


def _bin_on_own_edges(values: pd.Series, n_bins: int) -> pd.Series:
    """Bin a column on its own histogram edges, as SDMetrics 0.32 ``ColumnPairTrends`` does.

    NOTE: these edges are finite, so ``np.digitize`` puts the column maximum and NaN in the same
    bin (index ``n_bins + 1``). This is kept for agreement with the SDMetrics report.
    """
    edges = _histogram_edges(values, n_bins)
    return pd.Series(np.digitize(values, edges), index=values.index, name=values.name)


def _discretised_columns(real, synthetic, dictionary, binning: str, n_bins: int) -> tuple:
    """Return each modelled column as :func:`_shared_codes`, and the error of any that failed to bin.

    The result is ``(codes, failures)``, two dicts keyed by column.
    """
    codes, failures = {}, {}
    for name in dictionary.modelled_columns:
        try:
            if dictionary.column(name).type in DISCRETE_TYPES:
                pair = _discrete_values(real[name]), _discrete_values(synthetic[name])
            elif binning == "per_table":
                pair = (
                    _bin_on_own_edges(_numeric_values(real[name]), n_bins),
                    _bin_on_own_edges(_numeric_values(synthetic[name]), n_bins),
                )
            else:
                pair = _bin_on_real_edges(real[name], synthetic[name], n_bins)
        except _BinningError as error:
            failures[name] = str(error)
        else:
            codes[name] = _shared_codes(*pair)
    return codes, failures


def _correlation_trend_row(pair_columns, continuous: tuple, threshold: float) -> dict:
    """Score a pair of continuous columns; ``continuous`` is ``(real arrays, synthetic arrays, states)``."""
    real_arrays, synthetic_arrays, states = continuous
    reason = _constant_reason(states[0], states[1], pair_columns)
    row = {"metric": CORRELATION_SIMILARITY.name, "real_association": math.nan}
    row.update(_correlation_pair(real_arrays, synthetic_arrays, pair_columns, "pearson", threshold, reason))
    # Comparisons with NaN are False, so a pair whose real correlation is undefined never counts.
    strong = threshold <= 0 or abs(row["real_correlation"]) > threshold
    row["meets_threshold"] = bool(strong) and row["reason"] is None
    return row


def _contingency_trend_row(pair_columns, discrete: tuple, threshold: float) -> dict:
    codes, failures = discrete
    row = {
        "metric": CONTINGENCY_SIMILARITY.name,
        "real_correlation": math.nan,
        "synthetic_correlation": math.nan,
    }
    failed = [failures[name] for name in pair_columns if name in failures]
    if failed:
        row.update(score=math.nan, real_association=math.nan, reason=failed[0])
    else:
        row.update(_contingency_pair(codes[pair_columns[0]], codes[pair_columns[1]], threshold))
    strong = threshold <= 0 or row["real_association"] > threshold
    row["meets_threshold"] = bool(strong) and row["reason"] is None
    return row


def _pair_trends_frame(real, synthetic, dictionary, thresholds: tuple, binning: str, n_bins: int):
    correlation_threshold, association_threshold = thresholds
    names = dictionary.modelled_columns
    continuous_names = [name for name in names if dictionary.column(name).type in CONTINUOUS_TYPES]
    states = (_column_states(real, continuous_names), _column_states(synthetic, continuous_names))
    continuous = (_float_arrays(real, continuous_names), _float_arrays(synthetic, continuous_names), states)
    discrete = _discretised_columns(real, synthetic, dictionary, binning, n_bins)

    rows = []
    for pair_columns in itertools.combinations(names, 2):
        if set(pair_columns) <= set(continuous_names):
            row = _correlation_trend_row(pair_columns, continuous, correlation_threshold)
        else:
            row = _contingency_trend_row(pair_columns, discrete, association_threshold)
        rows.append({"column_1": pair_columns[0], "column_2": pair_columns[1], **row})
    return pd.DataFrame(rows, columns=[
        "column_1", "column_2", "metric", "score", "real_correlation", "synthetic_correlation",
        "real_association", "meets_threshold", "reason",
    ])


def quality_score(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    dictionary,
    real_correlation_threshold: float = 0.5,
    real_association_threshold: float = 0.3,
    binning: str = "per_table",
    n_bins: int = 10,
) -> MetricResult:
    """Score overall fidelity as the SDMetrics 0.32 single-table ``QualityReport`` does.

    Column shapes is the mean of :func:`column_shapes` scores. Column pair trends scores every
    pair of modelled columns: correlation similarity (Pearson) when both are continuous, else
    contingency similarity with continuous columns binned. It averages only the pairs whose
    real association is strong enough: ``|rho_real|`` above ``real_correlation_threshold`` or
    Cramer's V above ``real_association_threshold``. The overall score is the mean of the two
    property scores, ignoring a NaN one.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing every modelled column of ``dictionary``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types; identifier columns are skipped.
    real_correlation_threshold, real_association_threshold : float
        Minimum real association for a pair to count (SDMetrics 0.32 defaults 0.5 and 0.3).
        With 0 every pair counts, as in SDMetrics releases before these thresholds.
    binning : {"per_table", "real"}
        How continuous columns are binned for contingency similarity. ``"per_table"`` bins each
        table on its own histogram edges, as the SDMetrics report does. A synthetic column
        shifted as a whole then keeps the same bins, and the column maximum shares a bin with
        NaN. ``"real"`` bins both tables on the real edges with infinite outer edges, as
        :func:`contingency_similarity` does.
    n_bins : int
        Number of histogram bins (SDMetrics uses 10).

    Returns
    -------
    MetricResult
        ``value`` is the overall score. ``breakdown`` is a dict with ``column_shapes`` and
        ``column_pair_trends`` (the property scores), ``columns`` (the :func:`column_shapes`
        table) and ``pairs`` (one row per pair: ``column_1``, ``column_2``, ``metric``,
        ``score``, ``real_correlation``, ``synthetic_correlation``, ``real_association``,
        ``meets_threshold``, ``reason``).

    Notes
    -----
    SDMetrics groups categorical columns with ``observed=False``. A declared level that never
    occurs in the real table then adds an empty row to the contingency table, which makes its
    Cramer's V and the pair score NaN. This function uses observed levels only.
    """
    _check_threshold("real_correlation_threshold", real_correlation_threshold)
    _check_threshold("real_association_threshold", real_association_threshold)
    _check_choice("binning", binning, ("per_table", "real"))
    _check_n_bins(n_bins)
    _check_columns(dictionary.modelled_columns, real=real, synthetic=synthetic)

    shapes = _column_shapes_frame(real, synthetic, dictionary)
    thresholds = (real_correlation_threshold, real_association_threshold)
    pairs = _pair_trends_frame(real, synthetic, dictionary, thresholds, binning, n_bins)
    _warn_summary("column shape", shapes.set_index("column")["reason"])
    pair_names = pairs["column_1"] + " / " + pairs["column_2"]
    _warn_summary("column pair", pairs.set_index(pair_names)["reason"])

    shapes_score = float(shapes["score"].mean())
    trends_score = float(pairs.loc[pairs["meets_threshold"].astype(bool), "score"].mean())
    properties = [value for value in (shapes_score, trends_score) if not math.isnan(value)]
    overall = float(np.mean(properties)) if properties else math.nan
    if not properties:
        reason = "no column shape and no column pair could be scored"
        _warn_incomputable(QUALITY_SCORE, "the table", reason)

    breakdown = {
        "column_shapes": shapes_score,
        "column_pair_trends": trends_score,
        "columns": shapes,
        "pairs": pairs,
    }
    return MetricResult(QUALITY_SCORE.name, overall, breakdown)
