"""Perturbative anonymization of numeric quasi-identifiers: MDAV microaggregation and additive noise.

Both methods work on numeric, integer and date quasi-identifiers in steps of the column's
resolution (see :mod:`synthlib.hierarchies`) and write the results back in the column's own
type, rounded to its declared precision. Missing values stay missing.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .exceptions import ConfigError
from .hierarchies import _compact, _range_units, _typed_values, _units, class_ids

logger = logging.getLogger(__name__)

RANGE_TYPES = ("numeric", "integer", "date")


def _nearest_members(points: np.ndarray, candidates: np.ndarray, anchor: np.ndarray, k: int) -> np.ndarray:
    """Return the ``k`` candidate rows nearest to ``anchor`` (squared Euclidean distance)."""
    distance = ((points[candidates] - anchor) ** 2).sum(axis=1)
    return candidates[np.argpartition(distance, k - 1)[:k]]


def _farthest(points: np.ndarray, candidates: np.ndarray, anchor: np.ndarray) -> int:
    return int(candidates[np.argmax(((points[candidates] - anchor) ** 2).sum(axis=1))])


def mdav_groups(points: np.ndarray, k: int) -> np.ndarray:
    """Partition rows into groups of ``k`` to ``2k - 1`` rows with the MDAV heuristic.

    While at least ``3k`` rows remain, the row farthest from their centroid and the row
    farthest from that one each take their ``k - 1`` nearest remaining rows into a group.
    With ``2k`` to ``3k - 1`` rows left, one more group forms around the row farthest from
    the centroid, and the rest form the last group. Fewer than ``2k`` rows form one group.

    Parameters
    ----------
    points : numpy.ndarray
        Array of shape (n_rows, n_columns) without NaN, already scaled.
    k : int
        Minimum group size; ``n_rows`` must be at least ``k``.

    Returns
    -------
    numpy.ndarray
        Group number of each row.

    References
    ----------
    Domingo-Ferrer and Torra, "Ordinal, continuous and heterogeneous k-anonymity through
    microaggregation", Data Mining and Knowledge Discovery 11, 2005; the ``mdav`` method of
    the R package sdcMicro (``microaggregation``).
    """
    if len(points) < k:
        raise ConfigError(f"MDAV needs at least k={k} rows, got {len(points)}")
    groups = np.full(len(points), -1, dtype=np.int64)
    remaining = np.arange(len(points))
    next_group = 0

    def assign(anchor_row: int) -> None:
        nonlocal remaining, next_group
        members = _nearest_members(points, remaining, points[anchor_row], k)
        groups[members] = next_group
        next_group += 1
        remaining = remaining[groups[remaining] < 0]

    while remaining.size >= 3 * k:
        centroid = points[remaining].mean(axis=0)
        first = _farthest(points, remaining, centroid)
        second = _farthest(points, remaining, points[first])
        assign(first)
        if groups[second] >= 0:
            # Only when the farthest row coincides with the first group's rows.
            second = _farthest(points, remaining, points[first])
        assign(second)
    if remaining.size >= 2 * k:
        assign(_farthest(points, remaining, points[remaining].mean(axis=0)))
    groups[remaining] = next_group
    return groups


def _stratum_ids(table: pd.DataFrame, dictionary, quasi_identifiers, numeric: list) -> np.ndarray:
    """Number the strata: equal categorical quasi-identifiers and the same missing numeric ones."""
    columns = []
    for name in quasi_identifiers:
        if name in numeric:
            columns.append(table[name].isna().to_numpy().astype(np.int64))
        else:
            labels = table[name].astype("string").fillna("\0missing").to_numpy(dtype=object)
            columns.append(_compact(pd.factorize(labels)[0]))
    return class_ids(columns)


def microaggregate(table: pd.DataFrame, dictionary, quasi_identifiers, k: int) -> tuple:
    """Replace numeric quasi-identifiers by the means of MDAV groups of at least ``k`` similar rows.

    Rows are first split into strata that agree on every categorical quasi-identifier and
    miss the same numeric ones, so that a group shares all its quasi-identifiers once its
    numeric values are replaced by the group means. Inside a stratum, MDAV groups the rows
    on the observed numeric quasi-identifiers, each scaled by its standard deviation over
    the table. A stratum of fewer than ``k`` rows is left as it is. Its rows then form a class
    of fewer than ``k`` rows, which the caller suppresses.

    Parameters
    ----------
    table : pandas.DataFrame
        Typed table.
    dictionary : DataDictionary
        Declares the column types.
    quasi_identifiers : sequence of str
        Quasi-identifiers; those of type numeric, integer or date are aggregated.
    k : int
        Minimum group size.

    Returns
    -------
    values : dict
        Column name to the aggregated column, in the column's dtype.
    ids : numpy.ndarray
        Equivalence-class id of each row (stratum and group).
    """
    numeric = [name for name in quasi_identifiers if dictionary.column(name).type in RANGE_TYPES]
    if not numeric:
        raise ConfigError(f"microaggregation needs a numeric, integer or date quasi-identifier; got {list(quasi_identifiers)}")
    steps = np.column_stack([_units(table[name], dictionary.column(name)) for name in numeric])
    scale = np.nanstd(steps, axis=0)
    scale[~(scale > 0)] = 1.0
    scaled = (steps - np.nanmean(steps, axis=0)) / scale

    strata = _stratum_ids(table, dictionary, quasi_identifiers, numeric)
    groups = np.zeros(len(table), dtype=np.int64)
    aggregated = steps.copy()
    for stratum in np.unique(strata):
        rows = np.flatnonzero(strata == stratum)
        observed = ~np.isnan(steps[rows[0]])
        if rows.size < k or not observed.any():
            continue
        members = mdav_groups(scaled[np.ix_(rows, observed)], k)
        groups[rows] = members
        for group in np.unique(members):
            in_group = rows[members == group]
            aggregated[np.ix_(in_group, observed)] = np.round(steps[np.ix_(in_group, observed)].mean(axis=0))

    values = {
        name: _typed_values(aggregated[:, j], table[name], dictionary.column(name)) for j, name in enumerate(numeric)
    }
    return values, class_ids([strata, groups])


def add_noise(table: pd.DataFrame, dictionary, columns, scale: float, random_state=0) -> dict:
    """Add Gaussian noise of ``scale`` times each column's standard deviation to numeric columns.

    The noisy values are rounded to the column's precision (whole days for dates) and
    clipped to its declared range, so that the release still validates against the data
    dictionary. Missing values stay missing.

    Parameters
    ----------
    table : pandas.DataFrame
        Typed table.
    dictionary : DataDictionary
        Declares column types, precision and ranges.
    columns : sequence of str
        Columns to perturb; those that are not numeric, integer or date are left out.
    scale : float
        Noise standard deviation as a multiple of the column's standard deviation.
    random_state : int, default 0
        Seed of the noise.

    Returns
    -------
    dict
        Column name to the perturbed column, in the column's dtype.
    """
    if not scale > 0:
        raise ConfigError(f"noise scale must be positive, got {scale!r}")
    rng = np.random.default_rng(random_state)
    values = {}
    for name in columns:
        spec = dictionary.column(name)
        if spec.type not in RANGE_TYPES:
            continue
        steps = _units(table[name], spec)
        sd = float(np.nanstd(steps)) if np.isfinite(steps).any() else 0.0
        noisy = np.round(steps + rng.normal(0.0, scale * sd, len(steps)))
        low, high = _range_units(spec)
        values[name] = _typed_values(np.clip(noisy, low, high), table[name], spec)
    if not values:
        logger.warning("no numeric, integer or date column among %s; noise changed nothing", list(columns))
    return values
