"""Pairs of columns: correlation similarity for every continuous pair and Cramer's V matrices.

:func:`synthlib.fidelity.correlation_similarity` and
:func:`synthlib.fidelity.contingency_similarity` score one pair as SDMetrics 0.32 does.
:func:`correlation_similarities` scores every pair of continuous columns with both Pearson and
Spearman coefficients at once, and :func:`cramers_v_matrices` compares the strength of
association of discrete columns, whose difference matrix the fidelity chapter draws as a heatmap.
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pandas as pd
from scipy.stats.contingency import association

from .fidelity import CORRELATION_SIMILARITY, _bin_on_real_edges, _BinningError, _check_n_bins, _discrete_values
from .metrics import (
    CONTINUOUS_TYPES,
    DISCRETE_TYPES,
    CorrelationMatrices,
    MetricInfo,
    _check_choice,
    _check_columns,
    _column_states,
    _constant_reason,
    _numeric_values,
    _warn_summary,
)

logger = logging.getLogger(__name__)

CRAMERS_V_DIFFERENCE = MetricInfo(
    "cramers_v_difference", "minimize", 0.0, 1.0,
    "Absolute difference of a pair's Cramer's V: 0 when the association is equally strong in "
    "both tables; 1 when one table has a perfect association and the other none.",
)
METRIC_INFOS = (CRAMERS_V_DIFFERENCE,)
CORRELATION_METHODS = ("pearson", "spearman")


# ---------------------------------------------------------------- correlation similarity


def _continuous_frame(table: pd.DataFrame, names) -> pd.DataFrame:
    return pd.DataFrame({name: _numeric_values(table[name]) for name in names}, index=table.index)


def correlation_similarities(
    real: pd.DataFrame, synthetic: pd.DataFrame, dictionary, methods=CORRELATION_METHODS
) -> pd.DataFrame:
    """Score every pair of continuous columns with Pearson and Spearman correlation similarity.

    For each pair and method the score is ``1 - |rho_real - rho_synthetic| / 2`` on the rows
    where both values are present, with dates as nanoseconds, as in SDMetrics 0.32
    ``CorrelationSimilarity`` (see :func:`synthlib.fidelity.correlation_similarity`). The
    coefficients come from ``pandas.DataFrame.corr``, which ranks each pair's complete rows for
    Spearman's coefficient.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing every modelled column of ``dictionary``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types; numeric, integer and date columns are paired.
    methods : sequence of {"pearson", "spearman"}
        Correlation coefficients to compute.

    Returns
    -------
    pandas.DataFrame
        One row per pair and method: ``column_1``, ``column_2``, ``method``,
        ``real_correlation``, ``synthetic_correlation``, ``score`` and ``reason`` (why the score
        is NaN, else None). A pair with a column that is constant or empty in either table, or
        with fewer than two complete rows, scores NaN, and one IncomputableMetricWarning counts
        those pairs.
    """
    methods = list(methods)
    for method in methods:
        _check_choice("method", method, CORRELATION_METHODS)
    names = [name for name in dictionary.modelled_columns if dictionary.column(name).type in CONTINUOUS_TYPES]
    _check_columns(names, real=real, synthetic=synthetic)

    real_values, synthetic_values = _continuous_frame(real, names), _continuous_frame(synthetic, names)
    matrices = {
        method: (real_values.corr(method=method), synthetic_values.corr(method=method)) for method in methods
    }
    states = (_column_states(real_values, names), _column_states(synthetic_values, names))
    rows = []
    for first, second in itertools.combinations(names, 2):
        reason = _constant_reason(*states, (first, second))
        for method in methods:
            real_correlation = float(matrices[method][0].loc[first, second])
            synthetic_correlation = float(matrices[method][1].loc[first, second])
            score = 1.0 - abs(real_correlation - synthetic_correlation) / 2.0
            pair_reason = reason
            if pair_reason is None and math.isnan(score):
                pair_reason = "fewer than two rows have both values, or a column is constant on those rows"
            rows.append({
                "column_1": first,
                "column_2": second,
                "method": method,
                "real_correlation": real_correlation,
                "synthetic_correlation": synthetic_correlation,
                "score": math.nan if pair_reason else score,
                "reason": pair_reason,
            })
    table = pd.DataFrame(rows, columns=[
        "column_1", "column_2", "method", "real_correlation", "synthetic_correlation", "score", "reason",
    ])
    labels = table["column_1"] + " / " + table["column_2"] + " (" + table["method"] + ")"
    _warn_summary(CORRELATION_SIMILARITY.name, table.set_index(labels)["reason"])
    return table


# ---------------------------------------------------------------- Cramer's V


def _category_codes(real: pd.Series, synthetic: pd.Series) -> tuple:
    """Return integer codes shared by both columns (-1 for missing) and the number of codes."""
    stacked = pd.concat([_discrete_values(real), _discrete_values(synthetic)], ignore_index=True)
    codes, uniques = pd.factorize(stacked, use_na_sentinel=True)
    return codes[: len(real)], codes[len(real):], len(uniques)


def _binned_codes(real: pd.Series, synthetic: pd.Series, n_bins: int) -> tuple:
    """Return the bins of a continuous column on the real edges (-1 for missing) and the number of bins."""
    real_bins, synthetic_bins = _bin_on_real_edges(real, synthetic, n_bins)
    codes = []
    for binned, original in ((real_bins, real), (synthetic_bins, synthetic)):
        values = binned.to_numpy().astype(np.int64) - 1
        values[original.isna().to_numpy()] = -1
        codes.append(values)
    return codes[0], codes[1], n_bins


def _cramers_v(first: np.ndarray, second: np.ndarray, n_second: int) -> float:
    """Return Cramer's V of two code arrays over the rows where both are present, or NaN."""
    present = (first >= 0) & (second >= 0)
    cells = first[present] * n_second + second[present]
    n_first = int(first.max()) + 1 if first.size else 0
    counts = np.bincount(cells, minlength=n_first * n_second).reshape(n_first, n_second)
    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    if min(counts.shape) < 2:
        return math.nan
    return float(association(counts, method="cramer", correction=False))


def _association_codes(real, synthetic, dictionary, names, n_bins: int) -> tuple:
    """Return the codes of each column per table, and the error of any continuous column that failed to bin."""
    codes, failures = {}, {}
    for name in names:
        try:
            if dictionary.column(name).type in DISCRETE_TYPES:
                codes[name] = _category_codes(real[name], synthetic[name])
            else:
                codes[name] = _binned_codes(real[name], synthetic[name], n_bins)
        except _BinningError as error:
            failures[name] = str(error)
    return codes, failures


def cramers_v_matrices(
    real: pd.DataFrame, synthetic: pd.DataFrame, dictionary, columns=None, n_bins: int = 10
) -> CorrelationMatrices:
    """Compute Cramer's V of every pair of columns in both tables, and their difference.

    Cramer's V is ``sqrt(chi2 / (n * (min(r, c) - 1)))`` of the pair's r x c contingency table,
    without continuity or bias correction (``scipy.stats.contingency.association``). It is 0
    when the two columns are independent in the sample and 1 when one determines the other.
    Each pair uses the rows where both values are present. Continuous columns, when listed
    in ``columns``, are binned on ``n_bins`` histogram edges of the real column, with the outer
    edges widened to infinity, as :func:`synthlib.fidelity.contingency_similarity` does.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types.
    columns : sequence of str, optional
        Columns to pair; default the modelled categorical and binary columns.
    n_bins : int
        Number of bins of a continuous column.

    Returns
    -------
    CorrelationMatrices
        ``(real, synthetic, difference)``, square matrices over ``columns`` with
        ``difference = synthetic - real``. The diagonal is 1 for a column with two or more
        values. A pair whose contingency table has a single row or column in either table
        (a constant or empty column) is NaN, and one IncomputableMetricWarning counts those pairs.
    """
    _check_n_bins(n_bins)
    if columns is None:
        names = [name for name in dictionary.modelled_columns if dictionary.column(name).type in DISCRETE_TYPES]
    else:
        names = list(columns)
    _check_columns(names, real=real, synthetic=synthetic)

    codes, failures = _association_codes(real, synthetic, dictionary, names, n_bins)
    states = (_column_states(real, names), _column_states(synthetic, names))
    real_matrix = pd.DataFrame(np.nan, index=names, columns=names)
    synthetic_matrix = real_matrix.copy()
    reasons = {}
    for first, second in itertools.combinations_with_replacement(names, 2):
        label = first if first == second else f"{first} / {second}"
        failed = [failures[name] for name in (first, second) if name in failures]
        if failed:
            reasons[label] = failed[0]
            continue
        values = []
        for side in (0, 1):
            values.append(_cramers_v(codes[first][side], codes[second][side], codes[second][2]))
        real_matrix.loc[first, second] = real_matrix.loc[second, first] = values[0]
        synthetic_matrix.loc[first, second] = synthetic_matrix.loc[second, first] = values[1]
        if first != second and any(math.isnan(value) for value in values):
            reason = _constant_reason(*states, (first, second), measure="Cramer's V")
            reasons[label] = reason or "no two values of each column occur together in the rows where both are present"

    for matrix in (real_matrix, synthetic_matrix):
        # A column's V with itself is 1 up to rounding; store it exactly.
        diagonal = np.diag(matrix.to_numpy())
        matrix.values[np.diag_indices(len(names))] = np.where(np.isnan(diagonal), np.nan, 1.0)
    _warn_summary(CRAMERS_V_DIFFERENCE.name, pd.Series(reasons, dtype=object))
    return CorrelationMatrices(real_matrix, synthetic_matrix, synthetic_matrix - real_matrix)
