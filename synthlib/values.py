"""Row-level conversion of text values to typed columns, with the reason each invalid value fails.

The data dictionary fixes the typed dtypes: ``numeric`` -> float64, ``integer`` and ``binary``
-> nullable Int64, ``categorical`` -> a pandas Categorical over the declared levels, ``date`` ->
datetime64[ns]. Missing values are None or NaN in the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthlib.dictionary import ColumnSpec, DataDictionary


@dataclass(frozen=True)
class ColumnConversion:
    """A converted column and the masks of its invalid values.

    Attributes
    ----------
    typed : pandas.Series
        Converted values; invalid entries are missing.
    invalid : dict
        Reason (a short phrase) -> boolean mask over the rows.
    """

    typed: pd.Series
    invalid: dict


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
    """Return the pandas dtype of a typed column."""
    if spec.type == "numeric":
        return "float64"
    if spec.type in ("integer", "binary"):
        return "Int64"
    if spec.type == "date":
        return "datetime64[ns]"
    return pd.CategoricalDtype(categories=list(spec.levels or ()))


def _as_text(raw: pd.Series) -> pd.Series:
    text = raw.astype("object").where(raw.notna(), None)
    return text.map(lambda v: v.strip() if isinstance(v, str) else v)


def _range_masks(values: pd.Series, spec: ColumnSpec) -> dict:
    low, high = spec.range if spec.range is not None else (None, None)
    masks = {}
    if low is not None:
        masks[f"below the minimum {low}"] = (values < low).fillna(False).to_numpy(bool)
    if high is not None:
        masks[f"above the maximum {high}"] = (values > high).fillna(False).to_numpy(bool)
    return masks


def convert_column(raw: pd.Series, spec: ColumnSpec) -> ColumnConversion:
    """Convert raw values of one column to its declared type and flag invalid ones.

    Parameters
    ----------
    raw : pandas.Series
        Strings or numbers; None and NaN mean missing. Missing codes must already be replaced.
    spec : ColumnSpec
        Declaration of the column.

    Returns
    -------
    ColumnConversion
    """
    text = _as_text(raw)
    present = text.notna().to_numpy(bool)
    invalid = {}
    if spec.type in ("numeric", "integer"):
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        invalid["not a number"] = present & numbers.isna().to_numpy(bool)
        if spec.type == "integer":
            fractional = (numbers.notna() & (numbers != np.round(numbers))).to_numpy(bool)
            invalid["not a whole number"] = fractional
            numbers = numbers.where(~fractional)
        invalid.update(_range_masks(numbers, spec))
        typed = numbers if spec.type == "numeric" else numbers.round().astype("Int64")
    elif spec.type == "binary":
        codes = text.map(lambda v: {"0": 0, "1": 1, "0.0": 0, "1.0": 1}.get(str(v)) if v is not None else None)
        invalid["not 0 or 1"] = present & codes.isna().to_numpy(bool)
        typed = pd.array(codes.tolist(), dtype="Int64")
        typed = pd.Series(typed, index=raw.index)
    elif spec.type == "date":
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
        invalid["not a date (expected YYYY-MM-DD)"] = present & dates.isna().to_numpy(bool)
        low, high = spec.range if spec.range is not None else (None, None)
        bounds = (pd.Timestamp(low) if low is not None else None, pd.Timestamp(high) if high is not None else None)
        invalid.update(_range_masks(dates, ColumnSpec(spec.name, "date", range=bounds)))
        typed = dates.astype("datetime64[ns]")
    else:
        levels = [str(level) for level in (spec.levels or ())]
        strings = text.map(lambda v: str(v) if v is not None else None)
        invalid["not a declared level"] = present & ~strings.isin(levels).to_numpy(bool)
        typed = pd.Series(pd.Categorical(strings.where(strings.isin(levels)), categories=levels), index=raw.index)
    invalid = {reason: mask for reason, mask in invalid.items() if mask.any()}
    typed = typed.copy()
    bad = np.zeros(len(typed), dtype=bool)
    for mask in invalid.values():
        bad |= mask
    if bad.any():
        typed[bad] = None if spec.type == "categorical" else pd.NA if typed.dtype == "Int64" else np.nan
    return ColumnConversion(typed=typed.rename(spec.name), invalid=invalid)


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
    """
    reasons = pd.Series(pd.NA, index=raw.index, dtype="object")
    columns = {}
    for spec in dictionary.columns:
        converted = convert_column(raw[spec.name], spec)
        columns[spec.name] = converted.typed
        for reason, mask in converted.invalid.items():
            unset = reasons.isna().to_numpy(bool) & mask
            reasons[unset] = f"{reason} in column {spec.name}"
    data = pd.DataFrame(columns, index=raw.index)
    return TableConversion(data=data, reasons=reasons)
