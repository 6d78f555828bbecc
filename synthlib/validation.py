"""Validation of whole tables against their data dictionary, and loading of data files.

The values of each column are converted by :func:`synthlib.values.convert_column`, the same
conversion that sampling applies to generated rows. This module turns its masks of invalid
values into messages that count the values, show up to five of them and suggest a fix, and
raises one error that lists every problem of the table.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from synthlib.dictionary import ColumnSpec, DataDictionary, format_bound
from synthlib.exceptions import DataValidationError
from synthlib.values import (
    ABOVE_MAXIMUM,
    BELOW_MINIMUM,
    NOT_A_DATE,
    NOT_A_LEVEL,
    NOT_A_NUMBER,
    NOT_A_WHOLE_NUMBER,
    NOT_BINARY,
    ColumnConversion,
    convert_column,
    range_bounds,
    typed_dtype,
)

logger = logging.getLogger(__name__)

MAX_EXAMPLES = 5

# Common clinical unit conversions: a value in `unit` times `factor` is the value in `other_unit`.
# A column gets a unit hint when its name contains one of the fragments.
UNIT_CONVERSIONS = (
    (("chol", "hdl", "ldl"), "mmol/L", "mg/dL", 38.67),
    (("trig", "tg"), "mmol/L", "mg/dL", 88.57),
    (("gluc",), "mmol/L", "mg/dL", 18.0),
    (("creat",), "mg/dL", "umol/L", 88.4),
)


def validate_table(raw: pd.DataFrame, dictionary: DataDictionary) -> pd.DataFrame:
    """Convert a raw table to the typed table that its data dictionary declares.

    Each column is converted by :func:`synthlib.values.convert_column`: the declared missing
    codes and empty or blank strings become missing, the remaining values are converted to the
    declared type and then checked against the declared levels or range. Time-zone-aware
    datetimes are converted to UTC and stored without time zone. ``raw`` is never modified.
    Every problem of the whole table is collected and raised in one error.

    Parameters
    ----------
    raw : pandas.DataFrame
        The table as read from a file, with values as strings or already typed.
    dictionary : DataDictionary
        Declaration of the expected columns.

    Returns
    -------
    pandas.DataFrame
        The dictionary's columns, in dictionary order, with the index of ``raw`` and these
        dtypes: numeric float64, integer and binary nullable Int64, categorical a
        CategoricalDtype of the declared levels, date datetime64[ns]. An optional column
        that is absent from ``raw`` comes back with every value missing.

    Raises
    ------
    DataValidationError
        If required columns are missing, column names are duplicated, the table has
        columns that the dictionary does not declare, or values do not convert or fall
        outside the declared range or levels. Its ``problems`` list names the column,
        up to five offending values and the fix for each problem.
    """
    if not isinstance(raw, pd.DataFrame):
        raise TypeError(f"validate_table expects a pandas DataFrame; got {type(raw).__name__}")

    problems = _header_problems(list(raw.columns), dictionary)
    counts = raw.columns.value_counts()
    typed = {}
    for spec in dictionary.columns:
        if counts.get(spec.name, 0) != 1:
            if spec.name not in counts and not spec.required:
                logger.info("optional column %r is absent from the table; it is filled with missing values", spec.name)
            typed[spec.name] = pd.Series(index=range(len(raw)), dtype=typed_dtype(spec))
            continue
        # The index is reset so that repeated index labels cannot misalign the columns.
        conversion = convert_column(raw[spec.name].reset_index(drop=True), spec)
        typed[spec.name] = conversion.typed
        problems.extend(_column_problems(conversion, spec))
        if len(raw) and conversion.missing.all():
            logger.warning(
                "column %r is entirely missing (%d rows); it is kept with dtype %s",
                spec.name, len(raw), conversion.values.dtype,
            )

    if problems:
        raise DataValidationError(problems)
    table = pd.DataFrame(typed)
    table.index = raw.index
    return table


def _header_problems(found: list, dictionary: DataDictionary) -> list:
    problems = []
    duplicated = sorted({str(name) for name in found if found.count(name) > 1})
    if duplicated:
        problems.append(
            f"duplicated column name(s) in the table: {', '.join(map(repr, duplicated))}; "
            "rename the headers so that each one is unique"
        )
    absent = [spec.name for spec in dictionary.columns if spec.required and spec.name not in found]
    if absent:
        hint = ""
        if len(found) == 1 and ";" in str(found[0]):
            hint = " The file looks semicolon-separated: save it with commas as separators."
        problems.append(
            f"missing required column(s): {', '.join(map(repr, absent))}; columns found: "
            f"{', '.join(map(repr, found)) or 'none'}. Rename the headers to match the data dictionary, "
            f"or set required: false for columns that may be absent.{hint}"
        )
    # Undeclared columns are an error, not a warning: they could be identifiers (names, record
    # numbers) that would otherwise reach the generator unnoticed.
    undeclared = [name for name in dict.fromkeys(found) if name not in dictionary]
    if undeclared:
        problems.append(
            f"column(s) not in the data dictionary: {', '.join(map(repr, undeclared))}; "
            "add them to the dictionary or drop them from the table"
        )
    return problems


# --- Messages about invalid values ---------------------------------------------------------------


def _column_problems(conversion: ColumnConversion, spec: ColumnSpec) -> list:
    """Return one message per kind of invalid value of a converted column, range last."""
    problems = []
    for kind, describe in _PROBLEM_MESSAGES.items():
        if kind in conversion.invalid:
            offending = conversion.text[conversion.invalid[kind]]
            problems.append(f"column {spec.name!r} ({spec.type}): {describe(offending, spec)}")
    outside = np.zeros(len(conversion.values), dtype=bool)
    for kind in (BELOW_MINIMUM, ABOVE_MAXIMUM):
        if kind in conversion.invalid:
            outside |= conversion.invalid[kind]
    if outside.any():
        problems.append(_range_problem(conversion.values, outside, spec))
    return problems


def _examples(values) -> str:
    distinct = list(dict.fromkeys(values))
    shown = ", ".join(repr(v) if isinstance(v, str) else format_bound(v) for v in distinct[:MAX_EXAMPLES])
    return shown + (", ..." if len(distinct) > MAX_EXAMPLES else "")


def _not_binary(offending: pd.Series, spec: ColumnSpec) -> str:
    return (
        f"{len(offending)} value(s) are not 0 or 1: {_examples(offending)}; recode them to 0/1 "
        "(display names go in labels), declare them in missing_codes, or declare type: categorical"
    )


def _not_a_number(offending: pd.Series, spec: ColumnSpec) -> str:
    hint = ""
    if any(re.fullmatch(r"-?\d+,\d+", value) for value in offending):
        hint = "; values such as '1,5' use a decimal comma: write '1.5'"
    return (
        f"{len(offending)} value(s) are not numbers: {_examples(offending)}; declare them in missing_codes "
        f"(for example missing_codes: ['NA']) or correct them{hint}"
    )


def _not_a_whole_number(offending: pd.Series, spec: ColumnSpec) -> str:
    numbers = pd.to_numeric(offending).tolist()
    return f"{len(offending)} value(s) are not whole numbers: {_examples(numbers)}; round them or declare type: numeric"


def _not_a_level(offending: pd.Series, spec: ColumnSpec) -> str:
    levels = list(spec.levels or ())
    by_lowercase = {level.lower(): level for level in levels}
    near = [f"{v!r} vs {by_lowercase[v.lower()]!r}" for v in dict.fromkeys(offending) if v.lower() in by_lowercase]
    hint = f" (levels are case-sensitive: {', '.join(near[:MAX_EXAMPLES])})" if near else ""
    return (
        f"{len(offending)} value(s) are not among the levels {levels}: {_examples(offending)}{hint}; "
        "add them to levels, declare them in missing_codes, or correct them"
    )


def _not_a_date(offending: pd.Series, spec: ColumnSpec) -> str:
    return (
        f"{len(offending)} value(s) are not dates: {_examples(offending)}; "
        "write dates as YYYY-MM-DD (ISO 8601) or declare the codes in missing_codes"
    )


# Message builders by kind of invalid value, in the order the problems are listed.
_PROBLEM_MESSAGES = {
    NOT_BINARY: _not_binary,
    NOT_A_NUMBER: _not_a_number,
    NOT_A_WHOLE_NUMBER: _not_a_whole_number,
    NOT_A_LEVEL: _not_a_level,
    NOT_A_DATE: _not_a_date,
}


def _range_problem(values: pd.Series, outside: np.ndarray, spec: ColumnSpec) -> str:
    low, high = range_bounds(spec)
    unit = f" {spec.unit}" if spec.unit else ""
    bounds = f"[{'null' if low is None else format_bound(low)}, {'null' if high is None else format_bound(high)}]"
    offending = values[outside].sort_values()
    hint = _unit_hint(values.dropna(), offending, spec) if spec.is_numeric else ""
    return (
        f"column {spec.name!r}: {outside.sum()} value(s) outside the range {bounds}{unit}: "
        f"{_examples(offending.tolist())}{hint}; correct them, declare them in missing_codes, or widen the range"
    )


# --- Unit hints ----------------------------------------------------------------------------------


def _normalise_unit(unit) -> str:
    return str(unit).lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def _alternative_units(spec: ColumnSpec):
    """Yield ``(unit the data may be in, factor converting it to the declared unit)``."""
    if not spec.unit:
        return
    name = spec.name.lower()
    declared = _normalise_unit(spec.unit)
    for fragments, unit, other_unit, factor in UNIT_CONVERSIONS:
        if not any(fragment in name for fragment in fragments):
            continue
        if declared == _normalise_unit(unit):
            yield other_unit, 1.0 / factor
        elif declared == _normalise_unit(other_unit):
            yield unit, factor


def _unit_hint(present: pd.Series, offending: pd.Series, spec: ColumnSpec) -> str:
    """Suggest a unit conversion that brings all values, or those outside the range, within it."""
    low, high = range_bounds(spec)
    low = -np.inf if low is None else low
    high = np.inf if high is None else high
    for data_unit, factor in _alternative_units(spec):
        how = f"multiply by {factor:g}" if factor >= 1 else f"divide by {1 / factor:g}"
        if (present.astype(float) * factor).between(low, high).all():
            return (
                f"; values look like {data_unit}; the dictionary declares {spec.unit}: "
                f"{how} or change the unit and range"
            )
        if (offending.astype(float) * factor).between(low, high).all():
            return f"; the values outside the range would fit if they were in {data_unit} ({how}): check their unit"
    return ""


# --- Loading files -------------------------------------------------------------------------------


def load_table(path, dictionary: DataDictionary) -> pd.DataFrame:
    """Read a CSV or Parquet file and validate it against ``dictionary``.

    CSV cells are read as text with pandas' default missing-value markers switched off, so
    that codes such as ``NA`` are missing only where the dictionary declares them. Empty
    cells are always missing. The file type comes from the suffix: ``.csv``, ``.parquet``
    or ``.pq``.

    Parameters
    ----------
    path : str or pathlib.Path
        The data file.
    dictionary : DataDictionary
        Declaration of the expected columns.

    Returns
    -------
    pandas.DataFrame
        The typed table (see :func:`validate_table`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataValidationError
        If the suffix is not supported, the file is empty or the table does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}; check the path (the working directory is {Path.cwd()})")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        raw = pd.read_parquet(path)
    else:
        raise DataValidationError([f"unsupported file type {path.suffix!r} for {path}: save the table as .csv or .parquet"])
    logger.info("read %d rows and %d columns from %s", len(raw), raw.shape[1], path)
    return validate_table(raw, dictionary)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError([f"{path} is empty: write a header row and the data"]) from exc
    # pandas renames a repeated header "a" to "a.1"; the csv module returns the headers as
    # written, so that validate_table can report the duplicates.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if len(header) == raw.shape[1]:
        raw.columns = header
    return raw
