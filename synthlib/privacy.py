"""Distance-based privacy checks: distance to closest record, exact copies and NNDR.

Every check rests on one mixed-type distance between rows, the range-normalised
distance that SDMetrics uses for its DCR metrics (``sdmetrics.single_table.privacy``,
version 0.32). For each column:

* numeric, integer and date columns contribute ``min(|x - y| / range, 1)``, where
  ``range`` is ``max - min`` of that column in the reference data. A column whose
  range is zero (or that is entirely missing) contributes 0 when ``x == y`` and 1
  otherwise.
* categorical and binary columns contribute 0 when the values are equal, else 1.
* missing values: exactly one side missing contributes 1, both sides missing 0,
  whatever the column type.

The distance between two rows is the mean over the columns, so it lies in [0, 1],
and it is 0 exactly when the two rows agree on every column (missing equal to missing).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .artifacts import json_number
from .exceptions import ConfigError, DataValidationError, IncomputableMetricWarning

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1000
"""Rows per block on each side. One block pair takes ``8 * chunk_size**2`` bytes (8 MB)."""

_RANGE_TYPES = ("numeric", "integer", "date")


@dataclass(frozen=True, eq=False)
class NeighbourResult:
    """Nearest reference rows of each query row under the mixed-type distance.

    Attributes
    ----------
    distance : numpy.ndarray
        Distance from each query row to its closest reference row (the DCR).
    second_distance : numpy.ndarray
        Distance to the second-closest reference row, NaN when the reference has one row.
    index : numpy.ndarray
        Position (not label) of the closest reference row. Ties go to the lowest position,
        so ``reference.index[result.index]`` gives the labels.
    columns : tuple of str
        Columns the distance was computed on.
    """

    distance: np.ndarray
    second_distance: np.ndarray
    index: np.ndarray
    columns: tuple


@dataclass(frozen=True, eq=False)
class DCRResult:
    """Distances to closest record of synthetic and holdout rows, with their summaries.

    The holdout rows are real rows the generator never saw, so ``holdout_to_train`` is
    the baseline. Synthetic rows that are much closer to train than holdout rows are
    suggest that the generator copied training rows.

    Attributes
    ----------
    synthetic_to_train, holdout_to_train, synthetic_to_holdout : numpy.ndarray
        Distance of each row to its closest row of the second table.
    median_synthetic_to_train, median_holdout_to_train : float
        Medians of the distances (lower means closer to the training rows).
    p05_synthetic_to_train, p05_holdout_to_train : float
        5th percentiles (linear interpolation), which show the closest few rows.
    share_closer_to_train : float
        Share of synthetic rows strictly closer to train than to holdout. Ties count as
        not closer.
    expected_share_closer_to_train : float
        ``n_train / (n_train + n_holdout)``: the share expected of rows drawn from the
        real distribution independently of the training rows. Compare the share with
        this figure, not with 0.5, unless train and holdout have equal size.
    n_synthetic, n_train, n_holdout : int
        Row counts.
    """

    synthetic_to_train: np.ndarray
    holdout_to_train: np.ndarray
    synthetic_to_holdout: np.ndarray
    median_synthetic_to_train: float
    median_holdout_to_train: float
    p05_synthetic_to_train: float
    p05_holdout_to_train: float
    share_closer_to_train: float
    expected_share_closer_to_train: float
    n_synthetic: int
    n_train: int
    n_holdout: int


# --------------------------------------------------------------------------- encoding


def _resolve_columns(dictionary, columns, tables: dict) -> list:
    """Return the columns to compare and check that every table contains them."""
    names = list(dictionary.modelled_columns if columns is None else columns)
    if not names:
        raise ConfigError("no columns to compare: the data dictionary declares no modelled column")
    for name in names:
        dictionary.column(name)  # raises KeyError naming the known columns

    problems = []
    for label, table in tables.items():
        missing = [name for name in names if name not in table.columns]
        if missing:
            problems.append(
                f"the {label} table lacks column(s) {', '.join(map(repr, missing))}; "
                "pass tables validated against the same data dictionary"
            )
    if problems:
        raise DataValidationError(problems)
    return names


def _numeric_values(series: pd.Series, spec, label: str) -> np.ndarray:
    """Convert a numeric, integer or date column to float64 with NaN for missing values.

    Dates become seconds since 1970-01-01, so ranges and differences are in seconds.
    """
    try:
        if spec.type == "date":
            stamps = pd.to_datetime(series).to_numpy(dtype="datetime64[ns]")
            values = stamps.astype("int64").astype(np.float64) / 1e9
            values[np.isnat(stamps)] = np.nan
            return values
        return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise DataValidationError(
            [
                f"column {spec.name!r} of the {label} table is declared {spec.type} but "
                f"could not be read as one ({error}); validate the table against its dictionary"
            ]
        ) from None


def _category_codes(series_list: list) -> list:
    """Encode categorical columns of several tables as float codes on the union of their values.

    Equal values get equal codes in every table, and missing values become NaN.
    """
    combined = pd.concat([s.astype(object) for s in series_list], ignore_index=True)
    codes, _ = pd.factorize(combined, use_na_sentinel=True)
    codes = codes.astype(np.float64)
    codes[codes < 0] = np.nan
    bounds = np.cumsum([0] + [len(s) for s in series_list])
    return [codes[bounds[i] : bounds[i + 1]] for i in range(len(series_list))]


def _encode_tables(tables: dict, dictionary, names: list) -> dict:
    """Encode each table once as a float matrix whose columns follow ``names``."""
    matrices = {label: np.empty((len(t), len(names))) for label, t in tables.items()}
    for j, name in enumerate(names):
        spec = dictionary.column(name)
        if spec.type in _RANGE_TYPES:
            for label, table in tables.items():
                matrices[label][:, j] = _numeric_values(table[name], spec, label)
        else:
            coded = _category_codes([table[name] for table in tables.values()])
            for label, codes in zip(tables, coded):
                matrices[label][:, j] = codes

    for matrix in matrices.values():
        # Data exported from R mark missing values with a signalling NaN (0x7FF00000000007A2),
        # which makes numpy warn on every subtraction, so store the quiet NaN instead.
        matrix[np.isnan(matrix)] = np.nan
    return matrices


def _column_scales(ranges_from: np.ndarray, dictionary, names: list) -> np.ndarray:
    """Return each column's range, where 0 marks a column compared by equality."""
    scales = np.zeros(len(names))
    for j, name in enumerate(names):
        if dictionary.column(name).type not in _RANGE_TYPES:
            continue
        observed = ranges_from[:, j][~np.isnan(ranges_from[:, j])]
        if observed.size:
            width = float(observed.max() - observed.min())
            scales[j] = width if np.isfinite(width) else 0.0
    return scales


# --------------------------------------------------------------------------- distances


def _block_distance(query: np.ndarray, reference: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Return the (len(query), len(reference)) matrix of mixed-type row distances."""
    total = np.zeros((query.shape[0], reference.shape[0]))
    for j, scale in enumerate(scales):
        diff = np.abs(query[:, j, None] - reference[None, :, j])
        if scale > 0:
            # fmin returns the non-NaN argument, so one missing side contributes 1.
            total += np.fmin(diff / scale, 1.0)
        else:
            # NaN != 0 is True, so one missing side contributes 1 here too.
            total += diff != 0
        query_missing = np.isnan(query[:, j])
        reference_missing = np.isnan(reference[:, j])
        if query_missing.any() and reference_missing.any():
            # Both sides missing added 1 above, but the rule gives 0.
            total -= query_missing[:, None] & reference_missing[None, :]
    return total / len(scales)


def _merge_two_smallest(best, second, best_index, block: np.ndarray, offset: int):
    """Fold one block of distances into the running two smallest distances per query row.

    Ties keep the earlier reference row: ``argmin`` picks the first position inside a
    block and a later block replaces the best only when strictly smaller.
    """
    rows = np.arange(block.shape[0])
    block_index = block.argmin(axis=1)
    block_best = block[rows, block_index]
    block[rows, block_index] = np.inf
    block_second = block.min(axis=1)

    improves = block_best < best
    new_second = np.where(improves, np.minimum(best, block_second), np.minimum(second, block_best))
    new_best = np.where(improves, block_best, best)
    new_index = np.where(improves, block_index + offset, best_index)
    return new_best, new_second, new_index


def _check_chunk_size(chunk_size) -> int:
    is_integer = isinstance(chunk_size, (int, np.integer)) and not isinstance(chunk_size, bool)
    if not is_integer or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


def _nearest(query: np.ndarray, reference: np.ndarray, scales: np.ndarray, chunk_size: int):
    """Return the two smallest distances and the nearest position for each query row."""
    n_query = query.shape[0]
    distance = np.empty(n_query)
    second = np.empty(n_query)
    index = np.empty(n_query, dtype=np.int64)

    for start in range(0, n_query, chunk_size):
        stop = min(start + chunk_size, n_query)
        best = np.full(stop - start, np.inf)
        runner_up = np.full(stop - start, np.inf)
        best_index = np.zeros(stop - start, dtype=np.int64)
        for offset in range(0, reference.shape[0], chunk_size):
            reference_block = reference[offset : offset + chunk_size]
            block = _block_distance(query[start:stop], reference_block, scales)
            best, runner_up, best_index = _merge_two_smallest(
                best, runner_up, best_index, block, offset
            )
        distance[start:stop] = best
        second[start:stop] = runner_up
        index[start:stop] = best_index

    # Distances never exceed 1, so inf only remains when the reference has a single row.
    second[np.isinf(second)] = np.nan
    return distance, second, index


def _prepare(query, reference, dictionary, columns, ranges_from):
    """Encode the query, reference and range tables and return matrices, scales and names."""
    tables = {"query": query, "reference": reference}
    if ranges_from is not None:
        tables["ranges_from"] = ranges_from
    names = _resolve_columns(dictionary, columns, tables)
    if len(reference) == 0:
        raise DataValidationError(["the reference table has no rows; distances need at least one"])

    matrices = _encode_tables(tables, dictionary, names)
    scales = _column_scales(matrices.get("ranges_from", matrices["reference"]), dictionary, names)
    return matrices["query"], matrices["reference"], scales, names


def distance_matrix(query, reference, dictionary, columns=None, ranges_from=None) -> np.ndarray:
    """Compute all mixed-type distances between the rows of two tables.

    The distance is defined in this module's docstring. The full matrix takes
    ``8 * len(query) * len(reference)`` bytes: use :func:`nearest_neighbours` on large tables.

    Parameters
    ----------
    query, reference : pandas.DataFrame
        Tables typed by ``dictionary``.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    ranges_from : pandas.DataFrame, optional
        Table whose column ranges scale the numeric differences; defaults to ``reference``.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(len(query), len(reference))`` with values in [0, 1].
    """
    query_matrix, reference_matrix, scales, _ = _prepare(
        query, reference, dictionary, columns, ranges_from
    )
    return _block_distance(query_matrix, reference_matrix, scales)


def nearest_neighbours(
    query, reference, dictionary, columns=None, ranges_from=None, chunk_size=DEFAULT_CHUNK_SIZE
) -> NeighbourResult:
    """Find the closest and second-closest reference row of every query row.

    Rows are compared with the mixed-type distance of this module's docstring. Both
    tables are processed in blocks of ``chunk_size`` rows, so memory stays near
    ``8 * chunk_size**2`` bytes whatever the table sizes, and the results do not depend
    on ``chunk_size``.

    Parameters
    ----------
    query, reference : pandas.DataFrame
        Tables typed by ``dictionary``; ``reference`` needs at least one row.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    ranges_from : pandas.DataFrame, optional
        Table whose column ranges scale the numeric differences; defaults to ``reference``.
    chunk_size : int, default 1000
        Rows per block on each side.

    Returns
    -------
    NeighbourResult
        Distances to the closest and second-closest reference rows and the closest row's position.

    Raises
    ------
    DataValidationError
        If a table lacks one of the columns, a column cannot be read as its declared
        type, or ``reference`` is empty.

    References
    ----------
    SDMetrics, ``DCRBaselineProtection`` and ``DCROverfittingProtection``
    (https://docs.sdv.dev/sdmetrics), whose per-column distance this reproduces.
    """
    chunk_size = _check_chunk_size(chunk_size)
    query_matrix, reference_matrix, scales, names = _prepare(
        query, reference, dictionary, columns, ranges_from
    )
    distance, second, index = _nearest(query_matrix, reference_matrix, scales, chunk_size)
    logger.debug(
        "nearest neighbours of %d rows among %d on %d columns",
        len(query),
        len(reference),
        len(names),
    )
    return NeighbourResult(
        distance=distance, second_distance=second, index=index, columns=tuple(names)
    )


# --------------------------------------------------------------------------- metrics


def _summarise(values: np.ndarray, statistic: str) -> float:
    """Return the median or the 5th percentile of ``values``, NaN when empty."""
    if values.size == 0:
        return float("nan")
    if statistic == "median":
        return float(np.median(values))
    return float(np.percentile(values, 5))


def _dcr_result(neighbours: dict, n_train: int, n_holdout: int) -> DCRResult:
    """Build a DCRResult from the three nearest-neighbour searches."""
    synthetic_to_train = neighbours["synthetic_to_train"].distance
    synthetic_to_holdout = neighbours["synthetic_to_holdout"].distance
    holdout_to_train = neighbours["holdout_to_train"].distance

    if synthetic_to_train.size:
        share = float(np.mean(synthetic_to_train < synthetic_to_holdout))
    else:
        warnings.warn(
            "the synthetic table has no rows, so its DCR figures are NaN",
            IncomputableMetricWarning,
            stacklevel=3,
        )
        share = float("nan")

    return DCRResult(
        synthetic_to_train=synthetic_to_train,
        holdout_to_train=holdout_to_train,
        synthetic_to_holdout=synthetic_to_holdout,
        median_synthetic_to_train=_summarise(synthetic_to_train, "median"),
        median_holdout_to_train=_summarise(holdout_to_train, "median"),
        p05_synthetic_to_train=_summarise(synthetic_to_train, "5th percentile"),
        p05_holdout_to_train=_summarise(holdout_to_train, "5th percentile"),
        share_closer_to_train=share,
        expected_share_closer_to_train=n_train / (n_train + n_holdout),
        n_synthetic=int(synthetic_to_train.size),
        n_train=n_train,
        n_holdout=n_holdout,
    )


def _search_all(synthetic, train, holdout, dictionary, columns, chunk_size) -> dict:
    """Run the three searches behind the DCR figures, all scaled by the train ranges."""
    for label, table in (("train", train), ("holdout", holdout)):
        if len(table) == 0:
            raise DataValidationError(
                [f"the {label} table has no rows; DCR figures need at least one {label} row"]
            )
    search = {
        "synthetic_to_train": (synthetic, train),
        "synthetic_to_holdout": (synthetic, holdout),
        "holdout_to_train": (holdout, train),
    }
    return {
        key: nearest_neighbours(
            query, reference, dictionary, columns=columns, ranges_from=train, chunk_size=chunk_size
        )
        for key, (query, reference) in search.items()
    }


def distance_to_closest_record(
    synthetic, train, holdout, dictionary, columns=None, chunk_size=DEFAULT_CHUNK_SIZE
) -> DCRResult:
    """Compute distances to closest record (DCR) of synthetic and holdout rows.

    Each synthetic row is compared with its closest train row and its closest holdout
    row. Holdout rows are compared with their closest train row as the baseline of
    real data the generator never saw. All distances scale numeric columns by the
    ranges of ``train``. SDMetrics instead scales the synthetic-to-holdout distance by
    the holdout's ranges, so shares can differ slightly from its DCROverfittingProtection.

    Parameters
    ----------
    synthetic, train, holdout : pandas.DataFrame
        Tables typed by ``dictionary``; ``train`` and ``holdout`` need at least one row.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    DCRResult
        The three distance arrays, their medians and 5th percentiles, and the share of
        synthetic rows closer to train than to holdout beside its expected value.

    Notes
    -----
    With an 80/20 split, synthetic rows that are independent of the training rows are
    closer to train about 80 % of the time, because train contains 80 % of the real rows.
    SDMetrics' ``DCROverfittingProtection`` assumes an equal split, so read the share
    against ``expected_share_closer_to_train``.
    """
    neighbours = _search_all(synthetic, train, holdout, dictionary, columns, chunk_size)
    result = _dcr_result(neighbours, n_train=len(train), n_holdout=len(holdout))
    logger.info(
        "DCR median synthetic->train %.4f, holdout->train %.4f; %.3f of synthetic rows closer "
        "to train (expected %.3f)",
        result.median_synthetic_to_train,
        result.median_holdout_to_train,
        result.share_closer_to_train,
        result.expected_share_closer_to_train,
    )
    return result


def _distance_ratio(distance: np.ndarray, second_distance: np.ndarray) -> np.ndarray:
    """Return ``distance / second_distance``, 1 where both are 0, NaN where the second is NaN."""
    ratio = np.full(distance.shape, np.nan)
    positive = second_distance > 0
    ratio[positive] = distance[positive] / second_distance[positive]
    ratio[second_distance == 0] = 1.0
    return ratio


def nndr(
    synthetic, train, dictionary, columns=None, ranges_from=None, chunk_size=DEFAULT_CHUNK_SIZE
):
    """Compute the nearest-neighbour distance ratio of each synthetic row.

    NNDR is ``d1 / d2``, the distance to the closest train row divided by the distance
    to the second-closest. Values near 0 mean the row sits much closer to one training
    record than to any other, so it can single that record out. Values near 1 mean the
    row lies in a dense region. When ``d2 == 0``, the row equals two identical training
    rows and ``d1 == 0`` too. The ratio is then set to 1, the limit of ``d1 / d2`` for
    equal distances, because the row does not single out one record. Exact copies are
    counted by :func:`exact_match_rate` instead. With a one-row ``train`` the ratio is NaN.

    Parameters
    ----------
    synthetic, train : pandas.DataFrame
        Tables typed by ``dictionary``; ``train`` needs at least one row.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    ranges_from : pandas.DataFrame, optional
        Table whose column ranges scale the numeric differences; defaults to ``train``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    numpy.ndarray
        One ratio in [0, 1] per synthetic row.
    """
    neighbours = nearest_neighbours(
        synthetic,
        train,
        dictionary,
        columns=columns,
        ranges_from=ranges_from,
        chunk_size=chunk_size,
    )
    return _distance_ratio(neighbours.distance, neighbours.second_distance)


def _row_keys(matrix: np.ndarray) -> list:
    """Return one hashable key per row; NaN equals NaN and -0.0 equals 0.0."""
    canonical = np.where(np.isnan(matrix), np.nan, matrix + 0.0)
    canonical = np.ascontiguousarray(canonical)
    return [row.tobytes() for row in canonical]


def exact_match_rate(synthetic, train, dictionary, columns=None, round_numeric=True) -> float:
    """Compute the share of synthetic rows that equal some train row on every column.

    Missing values match missing values. With ``round_numeric`` (the default), numeric
    columns are first rounded to the dictionary's ``decimals`` (2 when unset), which is
    the precision at which the generator writes them. A copied row then still matches
    when the real value has more digits than the text encoding keeps. Integer, date,
    categorical and binary columns are compared as they are.

    Parameters
    ----------
    synthetic, train : pandas.DataFrame
        Tables typed by ``dictionary``.
    dictionary : DataDictionary
        Declares each column's type and precision.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    round_numeric : bool, default True
        Whether to round numeric columns to the declared decimals before comparing.

    Returns
    -------
    float
        Share in [0, 1]; 0 means no copies. NaN with a warning when ``synthetic`` is empty.
    """
    tables = {"synthetic": synthetic, "train": train}
    names = _resolve_columns(dictionary, columns, tables)
    if len(synthetic) == 0:
        warnings.warn(
            "cannot compute the exact-match rate of an empty synthetic table; reporting NaN",
            IncomputableMetricWarning,
            stacklevel=2,
        )
        return float("nan")

    matrices = _encode_tables(tables, dictionary, names)
    if round_numeric:
        for j, name in enumerate(names):
            spec = dictionary.column(name)
            if spec.type == "numeric":
                decimals = 2 if spec.decimals is None else spec.decimals
                for matrix in matrices.values():
                    matrix[:, j] = np.round(matrix[:, j], decimals)

    train_keys = set(_row_keys(matrices["train"]))
    matches = sum(key in train_keys for key in _row_keys(matrices["synthetic"]))
    rate = matches / len(synthetic)
    logger.info("%d of %d synthetic rows copy a train row exactly", matches, len(synthetic))
    return rate


def _median_or_nan(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def privacy_summary(
    synthetic, train, holdout, dictionary, columns=None, chunk_size=DEFAULT_CHUNK_SIZE
) -> dict:
    """Compute the headline distance-based privacy figures, ready for ``json.dump``.

    Holdout figures sit beside the synthetic ones as the baseline of real rows the
    generator never saw. NaN and infinite figures are written as None.

    Parameters
    ----------
    synthetic, train, holdout : pandas.DataFrame
        Tables typed by ``dictionary``.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    dict
        Keys ``dcr_synthetic_train_median``, ``dcr_synthetic_train_p05``,
        ``dcr_holdout_train_median``, ``dcr_holdout_train_p05``,
        ``share_closer_to_train``, ``expected_share_closer_to_train``,
        ``exact_match_rate``, ``exact_match_rate_holdout``, ``nndr_synthetic_median``,
        ``nndr_holdout_median``, ``n_synthetic``, ``n_train``, ``n_holdout``.
    """
    neighbours = _search_all(synthetic, train, holdout, dictionary, columns, chunk_size)
    dcr = _dcr_result(neighbours, n_train=len(train), n_holdout=len(holdout))

    nndr_synthetic = _distance_ratio(
        neighbours["synthetic_to_train"].distance, neighbours["synthetic_to_train"].second_distance
    )
    nndr_holdout = _distance_ratio(
        neighbours["holdout_to_train"].distance, neighbours["holdout_to_train"].second_distance
    )

    figures = {
        "dcr_synthetic_train_median": dcr.median_synthetic_to_train,
        "dcr_synthetic_train_p05": dcr.p05_synthetic_to_train,
        "dcr_holdout_train_median": dcr.median_holdout_to_train,
        "dcr_holdout_train_p05": dcr.p05_holdout_to_train,
        "share_closer_to_train": dcr.share_closer_to_train,
        "expected_share_closer_to_train": dcr.expected_share_closer_to_train,
        "exact_match_rate": exact_match_rate(synthetic, train, dictionary, columns=columns),
        "exact_match_rate_holdout": exact_match_rate(holdout, train, dictionary, columns=columns),
        "nndr_synthetic_median": _median_or_nan(nndr_synthetic),
        "nndr_holdout_median": _median_or_nan(nndr_holdout),
    }
    summary = {key: json_number(value) for key, value in figures.items()}
    summary.update(n_synthetic=len(synthetic), n_train=len(train), n_holdout=len(holdout))
    return summary
