"""Row-level conversion of raw values to the typed columns of a data dictionary.

Every invalid value gets the kind of its failure. :mod:`synthlib.validation` turns these masks
into one error that lists every problem of a table. :mod:`synthlib.sampling` drops each
generated row that has an invalid value and counts its first reason. Both paths therefore
convert values the same way.

The data dictionary fixes the typed dtypes: ``numeric`` -> float64, ``integer`` and ``binary``
-> nullable Int64, ``categorical`` -> a pandas Categorical over the declared levels, ``date`` ->
datetime64[ns]. Missing values are None, NaN, NaT, pd.NA, empty or blank strings and the
column's declared missing codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthlib.dictionary import ColumnSpec, DataDictionary, format_bound

# Kinds of invalid values, the keys of ColumnConversion.invalid.
NOT_A_NUMBER = "not a number"
NOT_A_WHOLE_NUMBER = "not a whole number"
NOT_BINARY = "not 0 or 1"
NOT_A_LEVEL = "not a declared level"
NOT_A_DATE = "not a date (expected YYYY-MM-DD)"
BELOW_MINIMUM = "below the minimum"
ABOVE_MAXIMUM = "above the maximum"


@dataclass(frozen=True)
class ColumnConversion:
    """One raw column converted to its declared type, with the masks of its invalid values.

    Attributes
    ----------
    values : pandas.Series
        Values in the typed dtype, with the index of the input. Missing values and values that
        do not convert to the type are missing; values outside the declared range are kept.
    invalid : dict
        Kind of invalid value (``NOT_A_NUMBER``, ``BELOW_MINIMUM`` and the other constants of
        this module) -> boolean mask over the rows. Only kinds that occur are present.
    missing : numpy.ndarray
        Boolean mask of the missing input values: None, NaN, empty or blank strings and the
        declared missing codes.
    text : pandas.Series
        Input values as stripped strings, for messages.
    """

    values: pd.Series
    invalid: dict
    missing: np.ndarray
    text: pd.Series

    @property
    def typed(self) -> pd.Series:
        """Converted values with every invalid value, including those outside the range, missing."""
        invalid = np.zeros(len(self.values), dtype=bool)
        for mask in self.invalid.values():
            invalid |= mask
        return self.values.mask(invalid) if invalid.any() else self.values


@dataclass(frozen=True)
class TableConversion:
    """A converted table and, per row, the first reason it is invalid.

    Attributes
    ----------
    data : pandas.DataFrame
        Typed table, same index as the input.
    reasons : pandas.Series
        ``"<reason> in column <name>"`` for invalid rows, missing for valid ones.
    """

    data: pd.DataFrame
    reasons: pd.Series


def typed_dtype(spec: ColumnSpec):
    """Return the pandas dtype of a typed column of this declaration."""
    if spec.type == "numeric":
        return np.dtype("float64")
    if spec.type in ("integer", "binary"):
        return pd.Int64Dtype()
    if spec.type == "date":
        return np.dtype("datetime64[ns]")
    return pd.CategoricalDtype(categories=[str(level) for level in spec.levels or ()])


def convert_column(raw: pd.Series, spec: ColumnSpec) -> ColumnConversion:
    """Convert the raw values of one column to its declared type and flag the invalid ones.

    The declared missing codes and empty or blank strings become missing. The other values are
    converted to the declared type, then checked against the declared levels or range.
    Whole floats match levels without their ``.0`` (1.0 is the level ``'1'``), booleans are
    valid binary values, and time-zone-aware datetimes are converted to UTC and stored without
    time zone. ``raw`` is never modified.

    Parameters
    ----------
    raw : pandas.Series
        Strings, or values already of a numeric, boolean, datetime or categorical dtype.
    spec : ColumnSpec
        Declaration of the column.

    Returns
    -------
    ColumnConversion
    """
    text = _as_text(raw)
    missing = _missing_mask(raw, text, spec.missing_codes)
    if spec.type == "categorical":
        values, invalid = _to_categorical(text, missing, spec)
    elif spec.type == "date":
        values, invalid = _to_dates(raw, text, missing)
    else:
        values, invalid = _to_numbers(raw, text, missing, spec)
    invalid.update(_range_masks(values, spec))
    invalid = {kind: mask for kind, mask in invalid.items() if mask.any()}
    return ColumnConversion(values=values.rename(spec.name), invalid=invalid, missing=missing, text=text)


def convert_values(raw: pd.DataFrame, dictionary: DataDictionary) -> TableConversion:
    """Convert every declared column of ``raw`` and give each invalid row its first reason.

    Parameters
    ----------
    raw : pandas.DataFrame
        One column per declared column, raw values as strings or numbers.
    dictionary : DataDictionary
        Declarations of the columns, in output order.

    Returns
    -------
    TableConversion
        Reasons read like ``"not a number in column age"`` or ``"above the maximum 250 in column sbp"``.
    """
    reasons = pd.Series(pd.NA, index=raw.index, dtype="object")
    columns = {}
    for spec in dictionary.columns:
        converted = convert_column(raw[spec.name], spec)
        columns[spec.name] = converted.typed
        for kind, mask in converted.invalid.items():
            unset = reasons.isna().to_numpy(bool) & mask
            reasons[unset] = f"{_row_reason(kind, spec)} in column {spec.name}"
    data = pd.DataFrame(columns, index=raw.index)
    return TableConversion(data=data, reasons=reasons)


def range_bounds(spec: ColumnSpec) -> tuple:
    """Return the declared ``(min, max)`` of a column, dates as ``pandas.Timestamp`` and None for an open bound."""
    if spec.range is None or spec.type not in ("numeric", "integer", "date"):
        return None, None
    if spec.type == "date":
        return tuple(None if bound is None else pd.Timestamp(bound) for bound in spec.range)
    return tuple(spec.range)


def _row_reason(kind: str, spec: ColumnSpec) -> str:
    low, high = range_bounds(spec)
    if kind == BELOW_MINIMUM:
        return f"{kind} {format_bound(low)}"
    if kind == ABOVE_MAXIMUM:
        return f"{kind} {format_bound(high)}"
    return kind


def _as_text(raw: pd.Series) -> pd.Series:
    """Return the values as stripped strings.

    Whole floats lose their '.0' so that 1.0 matches the level '1', and Python booleans
    become '1' and '0' so that True and False are valid binary values.
    """
    if pd.api.types.is_float_dtype(raw.dtype):
        return raw.map(lambda v: str(int(v)) if pd.notna(v) and float(v).is_integer() else str(v))
    if raw.dtype == object:
        raw = raw.map(lambda v: str(int(v)) if isinstance(v, (bool, np.bool_)) else v)
    return raw.astype(str).str.strip()


def _missing_mask(raw: pd.Series, text: pd.Series, codes) -> np.ndarray:
    missing = raw.isna().to_numpy() | (text == "").to_numpy() | text.isin(codes).to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        numeric_codes = pd.to_numeric(pd.Series(codes, dtype=object), errors="coerce").dropna()
        missing |= raw.isin(numeric_codes.tolist()).to_numpy()
    return missing


def _to_numbers(raw: pd.Series, text: pd.Series, missing: np.ndarray, spec: ColumnSpec):
    """Convert a numeric, integer or binary column; return ``(values, invalid masks)``."""
    if pd.api.types.is_numeric_dtype(raw.dtype):
        numbers = raw.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    else:
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
    numbers[missing] = np.nan

    if spec.type == "binary":
        not_binary = ~missing & ~np.isin(numbers, (0.0, 1.0))
        numbers[not_binary] = np.nan
        return pd.Series(numbers, index=raw.index).astype("Int64"), {NOT_BINARY: not_binary}

    not_a_number = ~missing & ~np.isfinite(numbers)
    numbers[not_a_number] = np.nan
    if spec.type == "numeric":
        return pd.Series(numbers, index=raw.index, dtype="float64"), {NOT_A_NUMBER: not_a_number}

    fractional = np.isfinite(numbers) & (numbers != np.round(numbers))
    numbers[fractional] = np.nan
    invalid = {NOT_A_NUMBER: not_a_number, NOT_A_WHOLE_NUMBER: fractional}
    # NOTE: values pass through float64, so integers beyond 2**53 lose precision.
    return pd.Series(numbers, index=raw.index).astype("Int64"), invalid


def _to_categorical(text: pd.Series, missing: np.ndarray, spec: ColumnSpec):
    dtype = typed_dtype(spec)
    unknown = ~missing & ~text.isin(dtype.categories).to_numpy()
    values = pd.Series(pd.Categorical(text.where(~missing & ~unknown), dtype=dtype), index=text.index)
    return values, {NOT_A_LEVEL: unknown}


def _to_dates(raw: pd.Series, text: pd.Series, missing: np.ndarray):
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        dates = raw.copy()
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        dates = pd.to_datetime(text.where(~missing), errors="coerce", format="ISO8601")
    dates = dates.astype("datetime64[ns]")
    dates[missing] = pd.NaT
    return dates, {NOT_A_DATE: ~missing & dates.isna().to_numpy()}


def _range_masks(values: pd.Series, spec: ColumnSpec) -> dict:
    low, high = range_bounds(spec)
    masks = {}
    if low is not None:
        masks[BELOW_MINIMUM] = (values < low).to_numpy(dtype=bool, na_value=False)
    if high is not None:
        masks[ABOVE_MAXIMUM] = (values > high).to_numpy(dtype=bool, na_value=False)
    return masks
