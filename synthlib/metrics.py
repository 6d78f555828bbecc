"""Metric declarations and input checks shared by :mod:`synthlib.fidelity` and :mod:`synthlib.utility`.

Every metric declares a :class:`MetricInfo` (name, direction, range, meaning of the extremes)
and returns its value in a :class:`MetricResult`. A metric that is undefined on its input gives
NaN and an :class:`~synthlib.exceptions.IncomputableMetricWarning` naming the reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .exceptions import DataValidationError, IncomputableMetricWarning

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
