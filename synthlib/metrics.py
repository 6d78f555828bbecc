"""Metric declarations and input checks shared by the fidelity and utility modules.

The modules are :mod:`synthlib.fidelity`, :mod:`synthlib.marginals`, :mod:`synthlib.association`,
:mod:`synthlib.propensity` and :mod:`synthlib.utility`.

Every metric declares a :class:`MetricInfo` (name, direction, range, meaning of the extremes)
and returns its value in a :class:`MetricResult`. A metric that is undefined on its input gives
NaN and an :class:`~synthlib.exceptions.IncomputableMetricWarning` naming the reason.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from .exceptions import ConfigError, DataValidationError, IncomputableMetricWarning

logger = logging.getLogger(__name__)

CONTINUOUS_TYPES = ("numeric", "integer", "date")
DISCRETE_TYPES = ("categorical", "binary")


@dataclass(frozen=True)
class MetricInfo:
    """Declaration of a metric: its name, direction, range and the meaning of its extremes.

    Attributes
    ----------
    name : str
        Identifier used in result tables.
    goal : str
        ``"maximize"`` when higher is better, ``"minimize"`` when lower is better.
    min_value, max_value : float
        Range of the metric (``-inf`` or ``inf`` when unbounded).
    extremes : str
        Meaning of the best and worst values for the data.
    """

    name: str
    goal: str
    min_value: float
    max_value: float
    extremes: str

    def __post_init__(self):
        if self.goal not in ("maximize", "minimize"):
            raise ValueError(
                f"goal of metric {self.name!r} is {self.goal!r}; use 'maximize' or 'minimize'"
            )
        if not self.min_value <= self.max_value:
            raise ValueError(
                f"metric {self.name!r} has min_value {self.min_value} above max_value {self.max_value}"
            )


@dataclass(frozen=True, eq=False)
class MetricResult:
    """Value of a metric with the components it was computed from.

    Attributes
    ----------
    name : str
        Name of the metric, as in its :class:`MetricInfo`.
    value : float
        The score; NaN when it could not be computed.
    breakdown : pandas.DataFrame or dict
        Components of the score (per column, per pair or per fold); the producing
        function documents the keys.
    """

    name: str
    value: float
    breakdown: pd.DataFrame | dict


class CorrelationMatrices(NamedTuple):
    """Pairwise association matrices (correlation or Cramer's V) of both tables, and synthetic minus real."""

    real: pd.DataFrame
    synthetic: pd.DataFrame
    difference: pd.DataFrame


def _warn_incomputable(info: MetricInfo, subject: str, reason: str) -> None:
    message = f"{info.name} of {subject} is NaN because {reason}"
    warnings.warn(message, IncomputableMetricWarning, stacklevel=3)


def _check_columns(names, **tables) -> None:
    problems = [
        f"column {name!r} of the data dictionary is missing from the {label} table; "
        "pass tables validated against the same dictionary"
        for label, table in tables.items()
        for name in names
        if name not in table.columns
    ]
    if problems:
        raise DataValidationError(problems)


def _datetime_ns(series: pd.Series) -> pd.Series:
    """Return a date column as naive datetime64[ns]."""
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert(None)
    return series.astype("datetime64[ns]")


def _numeric_values(series: pd.Series) -> pd.Series:
    """Return a column as float64 with NaN for missing values; dates become nanoseconds since 1970."""
    if pd.api.types.is_datetime64_any_dtype(series):
        dates = _datetime_ns(series)
        values = dates.to_numpy().view("int64").astype("float64")
        values[dates.isna().to_numpy()] = np.nan
        return pd.Series(values, index=series.index, name=series.name)
    if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(series):
        raise DataValidationError([
            f"column {series.name!r} has dtype {series.dtype}, but a numeric or date column was "
            "expected; load the table with its data dictionary so numbers are float64 or Int64 "
            "and dates datetime64"
        ])
    return series.astype("float64")


def _warn_summary(item_kind: str, reasons: pd.Series) -> None:
    """Log each NaN score at DEBUG and emit one warning with their count and the first five reasons."""
    failed = reasons.dropna()
    for item, reason in failed.items():
        logger.debug("%s score of %s is NaN because %s", item_kind, item, reason)
    if failed.empty:
        return

    listed = "; ".join(f"{item} because {reason}" for item, reason in failed.iloc[:5].items())
    if len(failed) > 5:
        listed += f"; and {len(failed) - 5} more"
    warnings.warn(
        f"{len(failed)} {item_kind} score(s) are NaN: {listed}. "
        "The 'reason' column of the result explains each.",
        IncomputableMetricWarning,
        stacklevel=3,
    )


def _check_choice(parameter: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{parameter} is {value!r}; use one of {', '.join(map(repr, allowed))}")


def _check_positive_int(parameter: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{parameter} is {value!r}; use an integer of at least {minimum}")


def _column_states(table: pd.DataFrame, names) -> dict:
    """Return the number of distinct non-missing values of each column, capped at 2."""
    return {name: min(int(table[name].nunique()), 2) for name in names}


def _constant_reason(real_states: dict, synthetic_states: dict, columns, measure: str = "correlation") -> str | None:
    """Explain why ``measure`` of these columns is undefined, or return None.

    The states are :func:`_column_states` of each table. A column without non-missing values, or
    with a single distinct value, in either table makes a correlation or Cramer's V undefined.
    """
    for side, states in (("real", real_states), ("synthetic", synthetic_states)):
        for name in columns:
            if states[name] == 0:
                return f"the {side} column {name!r} has no non-missing values"
            if states[name] == 1:
                return f"the {side} column {name!r} is constant, so its {measure} is undefined"
    return None


def _missing_rates(real: pd.Series, synthetic: pd.Series) -> tuple:
    """Return the share of missing values in each column (NaN for a column of no rows)."""
    rates = []
    for values in (real, synthetic):
        rates.append(float(values.isna().mean()) if len(values) else float("nan"))
    return tuple(rates)
