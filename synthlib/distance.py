"""The mixed-type, range-normalised distance between rows, and a nearest-neighbour search in blocks.

Every privacy check of :mod:`synthlib.privacy` rests on this distance, the range-normalised
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
Missing values therefore count as one more value of the column: a row that lacks a value
the other row has is as far from it, on that column, as two different categories or two
numbers a whole range apart. The same rule applies to every figure built on the distance
(DCR, NNDR, the share closer to train, overfitting protection and membership inference).
:func:`synthlib.privacy.exact_match_rate` follows it too: missing matches missing.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .exceptions import ConfigError, DataValidationError

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1000
"""Rows per block on each side of the numpy engine. One block pair takes ``8 * chunk_size**2`` bytes (8 MB)."""

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


def _uniform_encoding(query: np.ndarray, reference: np.ndarray, scales: np.ndarray) -> tuple:
    """Rewrite both matrices so that every column contributes ``min(|x - y|, 1)``.

    A column compared by range is divided by its range, and its missing values become one
    value (the sentinel) at least 2 away from every observed value: one side missing then
    contributes 1 and both sides missing 0. A column compared by equality is coded 0, 2, 4,
    ... on the union of its values in both tables, missing values included as one more value,
    so that equal values contribute 0 and different ones at least 2, capped at 1.
    """
    query, reference = query.copy(), reference.copy()
    for j, scale in enumerate(scales):
        both = np.concatenate([query[:, j], reference[:, j]])
        if scale > 0:
            both = both / scale
            observed = both[~np.isnan(both)]
            sentinel = float(np.abs(observed).max()) + 2.0 if observed.size else 0.0
            both[np.isnan(both)] = sentinel
        else:
            codes, _ = pd.factorize(both, use_na_sentinel=False)
            both = 2.0 * codes
        query[:, j], reference[:, j] = both[: len(query)], both[len(query):]
    return query, reference


# --------------------------------------------------------------------------- distances


def _block_distance(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return the (len(query), len(reference)) distance matrix of uniformly encoded rows."""
    total = np.zeros((query.shape[0], reference.shape[0]))
    for j in range(query.shape[1]):
        total += np.minimum(np.abs(query[:, j, None] - reference[None, :, j]), 1.0)
    return total / query.shape[1]


@functools.lru_cache(maxsize=1)
def _compiled_search():
    """Compile the nearest-neighbour kernel with numba on first use; None when numba is missing."""
    try:
        import numba
    except ImportError:
        logger.info("numba is not installed; nearest neighbours are searched with numpy blocks")
        return None

    @numba.njit(parallel=True, cache=True)
    def two_nearest(query, reference_columns, block_size, best, second, best_index):
        # reference_columns is the reference transposed, so that the loop over reference
        # rows reads contiguous memory and is vectorized. Every pair adds its columns in
        # the same order as the numpy engine, so both give identical sums.
        n_columns, n_reference = reference_columns.shape
        for i in numba.prange(query.shape[0]):
            row_best, row_second, row_index = np.inf, np.inf, 0
            totals = np.empty(block_size)
            for start in range(0, n_reference, block_size):
                stop = min(start + block_size, n_reference)
                block = totals[: stop - start]
                block[:] = 0.0
                for j in range(n_columns):
                    value = query[i, j]
                    column = reference_columns[j, start:stop]
                    for r in range(stop - start):
                        term = abs(value - column[r])
                        block[r] += term if term < 1.0 else 1.0
                for r in range(stop - start):
                    total = block[r]
                    if total < row_best:
                        row_second, row_best, row_index = row_best, total, start + r
                    elif total < row_second:
                        row_second = total
            best[i], second[i], best_index[i] = row_best, row_second, row_index

    return two_nearest


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


def _nearest_numpy(query: np.ndarray, reference: np.ndarray, chunk_size: int):
    """Search in blocks of ``chunk_size`` rows on each side, with numpy."""
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
            block = _block_distance(query[start:stop], reference_block)
            best, runner_up, best_index = _merge_two_smallest(
                best, runner_up, best_index, block, offset
            )
        distance[start:stop] = best
        second[start:stop] = runner_up
        index[start:stop] = best_index
    return distance, second, index


def _nearest_compiled(kernel, query: np.ndarray, reference: np.ndarray, chunk_size: int):
    """Search with the compiled kernel: one query row per task, reference rows in blocks of ``chunk_size``."""
    n_query, n_columns = query.shape
    best, second = np.empty(n_query), np.empty(n_query)
    index = np.empty(n_query, dtype=np.int64)
    kernel(np.ascontiguousarray(query), np.ascontiguousarray(reference.T), chunk_size, best, second, index)
    return best / n_columns, second / n_columns, index


ENGINES = ("auto", "numba", "numpy")


def _nearest(query: np.ndarray, reference: np.ndarray, chunk_size: int, engine="auto"):
    """Return the two smallest distances and the nearest position of each uniformly encoded query row."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {ENGINES}, got {engine!r}")
    kernel = None if engine == "numpy" else _compiled_search()
    if engine == "numba" and kernel is None:
        raise ConfigError("engine='numba' needs the numba package; install numba or pass engine='numpy'")
    if kernel is None:
        distance, second, index = _nearest_numpy(query, reference, chunk_size)
    else:
        distance, second, index = _nearest_compiled(kernel, query, reference, chunk_size)

    # Distances never exceed 1, so inf only remains when the reference has a single row.
    second[np.isinf(second)] = np.nan
    return distance, second, index


def _prepare(query, reference, dictionary, columns, ranges_from):
    """Encode the query and reference tables uniformly (ranges from ``ranges_from``); return both and the names."""
    tables = {"query": query, "reference": reference}
    if ranges_from is not None:
        tables["ranges_from"] = ranges_from
    names = _resolve_columns(dictionary, columns, tables)
    if len(reference) == 0:
        raise DataValidationError(["the reference table has no rows; distances need at least one"])

    matrices = _encode_tables(tables, dictionary, names)
    scales = _column_scales(matrices.get("ranges_from", matrices["reference"]), dictionary, names)
    query_matrix, reference_matrix = _uniform_encoding(matrices["query"], matrices["reference"], scales)
    return query_matrix, reference_matrix, names


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
    query_matrix, reference_matrix, _ = _prepare(
        query, reference, dictionary, columns, ranges_from
    )
    return _block_distance(query_matrix, reference_matrix)


def nearest_neighbours(
    query,
    reference,
    dictionary,
    columns=None,
    ranges_from=None,
    chunk_size=DEFAULT_CHUNK_SIZE,
    engine="auto",
) -> NeighbourResult:
    """Find the closest and second-closest reference row of every query row.

    Rows are compared with the mixed-type distance of this module's docstring. With
    numba installed, a compiled kernel runs over the query rows in parallel threads
    (``NUMBA_NUM_THREADS``, by default one per core). It keeps only the two best
    distances of each row and stops summing a pair's columns once the pair can no longer
    be among them, so memory stays at the two encoded tables. Without numba, both tables
    are processed in numpy blocks of ``chunk_size`` rows, so memory stays near
    ``8 * chunk_size**2`` bytes. Both engines add the columns in the same order and give
    the same distances, ties and positions, whatever ``chunk_size``.

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
        Rows per block on each side of the numpy engine.
    engine : {"auto", "numba", "numpy"}, default "auto"
        ``"auto"`` takes numba when it is installed, else numpy.

    Returns
    -------
    NeighbourResult
        Distances to the closest and second-closest reference rows and the closest row's position.

    Raises
    ------
    DataValidationError
        If a table lacks one of the columns, a column cannot be read as its declared
        type, or ``reference`` is empty.
    ConfigError
        If ``chunk_size`` or ``engine`` is invalid, or ``engine="numba"`` without numba.

    References
    ----------
    SDMetrics, ``DCRBaselineProtection`` and ``DCROverfittingProtection``
    (https://docs.sdv.dev/sdmetrics), whose per-column distance this reproduces.
    """
    chunk_size = _check_chunk_size(chunk_size)
    query_matrix, reference_matrix, names = _prepare(
        query, reference, dictionary, columns, ranges_from
    )
    distance, second, index = _nearest(query_matrix, reference_matrix, chunk_size, engine)
    logger.debug(
        "nearest neighbours of %d rows among %d on %d columns",
        len(query),
        len(reference),
        len(names),
    )
    return NeighbourResult(
        distance=distance, second_distance=second, index=index, columns=tuple(names)
    )
