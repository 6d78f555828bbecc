"""Generalization hierarchies of quasi-identifiers and the search for the least generalization that reaches k.

Each quasi-identifier gets a hierarchy of levels, from the exact value (level 0) to the coarsest:

* numeric, integer and date columns: intervals of growing width, aligned on multiples of the
  width (ages 40-44, 45-49, ...). Widths are "nice" numbers (1, 2 or 5 times a power of 10, in
  the column's resolution: ``10 ** -decimals`` for numeric columns, 1 for integers, one day for
  dates) picked near 1/32, 1/16, 1/8, 1/4 and 1/2 of the column's observed span, and the top
  level covers the whole span with one or two intervals. A numeric column is never blanked, so
  fidelity metrics still see its values;
* categorical and binary columns: the exact value, then ``*`` (the value is withheld).

A generalized value is written back in the column's own type, so that the release can be scored
and analysed like the original: an interval becomes its middle value rounded to the column's
resolution and clipped to its declared range, and ``*`` becomes missing. Distinct intervals keep
distinct values, so the equivalence classes of the release are those of the generalization.

Missing values are their own category: a missing quasi-identifier matches only missing values
of that column when rows are grouped into equivalence classes.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dictionary import DEFAULT_DECIMALS
from .exceptions import ConfigError

logger = logging.getLogger(__name__)

MAX_LATTICE_NODES = 10_000
"""Lattices with more nodes than this are searched greedily instead of exhaustively."""
_SPAN_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)
_NANOSECONDS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True, eq=False)
class Level:
    """One level of a column's hierarchy, applied to the column's values.

    Attributes
    ----------
    label : str
        Description of the level, for example ``"exact"``, ``"5 years"`` or ``"*"``.
    codes : numpy.ndarray
        Compact integer code of each row's generalized value (0 .. n_values - 1); equal
        codes mean equal generalized values, and missing values have a code of their own.
    blank : numpy.ndarray
        Whether each row's generalized value is written as missing.
    loss : numpy.ndarray
        Information lost in each cell, in [0, 1]: the interval width over the column's span,
        1 for ``*`` and 0 for exact and missing values.
    values : pandas.Series
        The generalized column in the column's own dtype.
    """

    label: str
    codes: np.ndarray
    blank: np.ndarray
    loss: np.ndarray
    values: pd.Series


def _compact(codes: np.ndarray) -> np.ndarray:
    return np.unique(codes, return_inverse=True)[1].astype(np.int64)


def _resolution(spec) -> float:
    if spec.type == "numeric":
        return 10.0 ** -(DEFAULT_DECIMALS if spec.decimals is None else spec.decimals)
    return 1.0


def _units(series: pd.Series, spec) -> np.ndarray:
    """Return the column in integer steps of its resolution (days for dates), NaN where missing."""
    if spec.type == "date":
        stamps = pd.to_datetime(series).to_numpy(dtype="datetime64[ns]")
        days = np.floor(stamps.astype("int64") / _NANOSECONDS_PER_DAY)
        days[np.isnat(stamps)] = np.nan
        return days
    values = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.round(values / _resolution(spec))


def _range_units(spec) -> tuple:
    """Return the declared range in integer steps; an open bound is infinite."""
    low, high = (None, None) if spec.range is None else spec.range
    if spec.type == "date":
        to_days = lambda bound: math.floor(pd.Timestamp(bound).value / _NANOSECONDS_PER_DAY)  # noqa: E731
    else:
        to_days = lambda bound: bound / _resolution(spec)  # noqa: E731
    return (
        -math.inf if low is None else math.ceil(to_days(low) - 1e-9),
        math.inf if high is None else math.floor(to_days(high) + 1e-9),
    )


def nice_widths(span: float) -> list:
    """Return interval widths (in resolution steps) for a column whose observed span is ``span`` steps.

    The widths are 1, 2 or 5 times a power of ten, at least 2, nearest (on a log scale) to the
    fractions 1/32 ... 1/2 of the span, and end with the first such width that covers the span.
    """
    if span < 1:
        return [2]
    candidates = [m * 10**e for e in range(0, int(math.log10(span)) + 2) for m in (1, 2, 5)]
    candidates = [c for c in candidates if c >= 2]
    widths = set()
    for fraction in _SPAN_FRACTIONS:
        target = fraction * span
        if target >= 1.5:
            widths.add(min(candidates, key=lambda c: abs(math.log(c / target))))
    widths.add(next(c for c in candidates if c >= span))
    return sorted(widths)


def _format_width(width: int, spec) -> str:
    if spec.type == "date":
        return f"{width} days"
    value = width * _resolution(spec)
    text = f"{value:g}"
    return f"{text} {spec.unit}" if spec.unit else f"width {text}"


def _interval_values(units: np.ndarray, width: int, spec, bounds: tuple) -> tuple:
    """Return the interval index and the in-range middle value (in steps) of each row."""
    index = np.floor(units / width)
    low = index * width
    middle = low + (width - 1) // 2
    # Clip into the part of the interval that lies in the declared range (never empty,
    # because the observed value itself lies in both).
    middle = np.clip(middle, np.maximum(low, bounds[0]), np.minimum(low + width - 1, bounds[1]))
    return index, middle


def _typed_values(steps: np.ndarray, series: pd.Series, spec) -> pd.Series:
    """Convert values in resolution steps back to the column's dtype."""
    if spec.type == "date":
        return pd.Series(pd.to_datetime(steps, unit="D"), index=series.index).astype(series.dtype)
    values = steps * _resolution(spec)
    if spec.type == "numeric":
        decimals = DEFAULT_DECIMALS if spec.decimals is None else spec.decimals
        return pd.Series(np.round(values, decimals), index=series.index, dtype=series.dtype)
    return pd.Series(pd.array(np.round(values), dtype="Float64"), index=series.index).astype(series.dtype)


def _range_levels(series: pd.Series, spec, widths) -> list:
    units = _units(series, spec)
    missing = np.isnan(units)
    observed = units[~missing]
    span = float(observed.max() - observed.min()) + 1 if observed.size else 1.0
    widths = nice_widths(span) if widths is None else sorted(int(round(w / _resolution(spec))) for w in widths)
    bounds = _range_units(spec)

    levels = [Level("exact", _compact(np.where(missing, -1, units)), missing, np.zeros(len(units)), series)]
    for width in widths:
        if width < 2:
            raise ConfigError(f"hierarchy width of column {spec.name!r} is below two steps of its resolution")
        index, middle = _interval_values(np.where(missing, 0, units), width, spec, bounds)
        codes = _compact(np.where(missing, -1, index))
        loss = np.where(missing, 0.0, min(width / span, 1.0))
        values = _typed_values(np.where(missing, np.nan, middle), series, spec)
        levels.append(Level(_format_width(width, spec), codes, missing, loss, values))
    return levels


def _category_levels(series: pd.Series) -> list:
    labels = series.astype("string").fillna("\0missing").to_numpy(dtype=object)
    missing = series.isna().to_numpy()
    n_rows = len(series)
    star = series.where(np.zeros(n_rows, dtype=bool))
    return [
        Level("exact", _compact(pd.factorize(labels)[0]), missing, np.zeros(n_rows), series),
        Level("*", np.zeros(n_rows, dtype=np.int64), np.ones(n_rows, dtype=bool), np.where(missing, 0.0, 1.0), star),
    ]


def build_hierarchy(series: pd.Series, spec, widths=None) -> list:
    """Return the levels of one quasi-identifier's hierarchy, from exact to coarsest.

    Parameters
    ----------
    series : pandas.Series
        The typed column.
    spec : ColumnSpec
        Its declaration.
    widths : sequence of float, optional
        Interval widths in the column's unit (days for dates) for a numeric, integer or date
        column; by default :func:`nice_widths` of the observed span.

    Returns
    -------
    list of Level
    """
    if spec.is_categorical:
        if widths is not None:
            raise ConfigError(f"column {spec.name!r} is {spec.type}: its hierarchy is exact then '*', without widths")
        return _category_levels(series)
    return _range_levels(series, spec, widths)


# --------------------------------------------------------------------------- lattice search


def class_ids(code_columns) -> np.ndarray:
    """Combine per-column codes into one compact equivalence-class id per row."""
    code_columns = list(code_columns)
    key = np.zeros(len(code_columns[0]) if code_columns else 0, dtype=np.int64)
    for codes in code_columns:
        key = _compact(key * (int(codes.max(initial=0)) + 1) + codes)
    return key


def failing_rows(ids: np.ndarray, k: int, sensitive_codes=(), l_value=None) -> np.ndarray:
    """Return the rows whose class has fewer than ``k`` rows or fewer than ``l`` distinct sensitive values."""
    sizes = np.bincount(ids)
    failing = sizes[ids] < k
    if l_value is not None:
        for codes in sensitive_codes:
            pairs = np.unique(ids * (int(codes.max(initial=0)) + 1) + codes)
            distinct = np.bincount(pairs // (int(codes.max(initial=0)) + 1), minlength=sizes.size)
            failing |= distinct[ids] < l_value
    return failing


@dataclass(frozen=True)
class NodeScore:
    """Generalization levels of one lattice node, with the rows it suppresses and its information loss."""

    levels: tuple
    suppressed: np.ndarray
    loss: float

    @property
    def suppression_rate(self) -> float:
        return float(self.suppressed.mean()) if self.suppressed.size else 0.0


def score_node(hierarchies: list, levels: tuple, k: int, sensitive_codes=(), l_value=None) -> NodeScore:
    """Suppress the rows of classes that fail k (or l) at ``levels`` and measure the information loss.

    The loss is the mean over all quasi-identifier cells of :attr:`Level.loss`, with every
    cell of a suppressed row counting 1.
    """
    chosen = [hierarchy[level] for hierarchy, level in zip(hierarchies, levels)]
    ids = class_ids(level.codes for level in chosen)
    suppressed = failing_rows(ids, k, sensitive_codes, l_value)
    kept_loss = sum(float(level.loss[~suppressed].sum()) for level in chosen)
    n_cells = max(len(ids) * len(chosen), 1)
    loss = (kept_loss + float(suppressed.sum()) * len(chosen)) / n_cells
    return NodeScore(tuple(levels), suppressed, loss)


def _better(candidate: NodeScore, best: NodeScore | None) -> bool:
    if best is None:
        return True
    return (candidate.loss, candidate.suppression_rate, sum(candidate.levels)) < (
        best.loss, best.suppression_rate, sum(best.levels)
    )


def _exhaustive(hierarchies, k, sensitive_codes, l_value, max_suppression):
    best_feasible, least_suppressed = None, None
    for levels in itertools.product(*(range(len(h)) for h in hierarchies)):
        score = score_node(hierarchies, levels, k, sensitive_codes, l_value)
        if score.suppression_rate <= max_suppression and _better(score, best_feasible):
            best_feasible = score
        if least_suppressed is None or (score.suppression_rate, score.loss) < (
            least_suppressed.suppression_rate, least_suppressed.loss
        ):
            least_suppressed = score
    return best_feasible, least_suppressed


def _greedy(hierarchies, k, sensitive_codes, l_value, max_suppression):
    current = score_node(hierarchies, tuple(0 for _ in hierarchies), k, sensitive_codes, l_value)
    while current.suppression_rate > max_suppression:
        steps = []
        for j, hierarchy in enumerate(hierarchies):
            if current.levels[j] + 1 < len(hierarchy):
                levels = current.levels[:j] + (current.levels[j] + 1,) + current.levels[j + 1:]
                steps.append(score_node(hierarchies, levels, k, sensitive_codes, l_value))
        if not steps:
            return None, current
        current = min(steps, key=lambda s: (s.loss, s.suppression_rate))
    return current, current


def search_lattice(hierarchies: list, k: int, max_suppression: float, sensitive_codes=(), l_value=None) -> NodeScore:
    """Find the generalization levels of least information loss that suppress at most ``max_suppression``.

    Every combination of levels is scored when the lattice has at most
    :data:`MAX_LATTICE_NODES` nodes; larger lattices are climbed greedily, one level of one
    column at a time, always taking the step of least loss. When no node meets
    ``max_suppression``, the node that suppresses the fewest rows is returned and a warning
    is logged.
    """
    n_nodes = math.prod(len(h) for h in hierarchies)
    search = _exhaustive if n_nodes <= MAX_LATTICE_NODES else _greedy
    logger.debug("searching %d generalization nodes (%s)", n_nodes, search.__name__.strip("_"))
    feasible, fallback = search(hierarchies, k, sensitive_codes, l_value, max_suppression)
    if feasible is not None:
        return feasible
    logger.warning(
        "no generalization reaches k=%d%s with at most %.1f%% of rows suppressed; "
        "suppressing %.1f%% of rows instead",
        k, "" if l_value is None else f" and l={l_value}", 100 * max_suppression, 100 * fallback.suppression_rate,
    )
    return fallback
