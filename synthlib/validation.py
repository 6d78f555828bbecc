"""Validation of whole tables against their data dictionary, and loading of data files.

The values of each column are converted by :func:`synthlib.values.convert_column`, the same
conversion that sampling applies to generated rows. This module turns its masks of invalid
values into messages that count the values, show up to five of them and suggest a fix, and
raises one error that lists every problem of the table.

No set of messages rebuilds a row of the table: the values of one row appear as examples in
the messages of at most ``MAX_COLUMNS_PER_ROW`` columns (one column when the table has two
columns or fewer). Further invalid values of that row are counted but not shown.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from synthlib.dictionary import ColumnSpec, DataDictionary, format_bound, utf8_error_message
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
# A row lends example values to the messages of at most this many columns, so that the
# messages about one table cannot be joined into a row.
MAX_COLUMNS_PER_ROW = 2

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

    Messages show up to five offending values per problem, but never values of one row in
    the messages of more than ``MAX_COLUMNS_PER_ROW`` (2) columns, or of more than one
    column when the table has at most two columns. A one-row table with invalid values in
    four columns therefore shows the values of the first two and only counts the others.

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
    budget = _ExampleBudget(n_rows=len(raw), n_columns=raw.shape[1])
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
        problems.extend(_column_problems(conversion, spec, budget))
        if len(raw) and conversion.missing.all():
            logger.warning(
                "column %r is entirely missing (%d rows); it is kept with dtype %s",
                spec.name, len(raw), conversion.values.dtype,
            )

    if problems:
        raise DataValidationError(problems)
    table = pd.DataFrame(typed)
    table.index = raw.index
    _warn_unobserved_levels(table, dictionary)
    return table


def unobserved_levels(table: pd.DataFrame, dictionary: DataDictionary) -> dict:
    """Return ``{column: declared levels that no row of the typed table takes}``, for categorical columns."""
    unobserved = {}
    for spec in dictionary.columns:
        if spec.type == "categorical" and spec.name in table:
            seen = set(table[spec.name].dropna().unique())
            absent = [level for level in spec.levels if level not in seen]
            if absent:
                unobserved[spec.name] = absent
    return unobserved


def _warn_unobserved_levels(table: pd.DataFrame, dictionary: DataDictionary) -> None:
    """Log the declared levels that the data never take: a generator cannot learn to produce them."""
    unobserved = unobserved_levels(table, dictionary)
    if not unobserved or table.empty:
        return
    listed = "; ".join(f"{name!r}: {', '.join(map(repr, levels))}" for name, levels in list(unobserved.items())[:MAX_EXAMPLES])
    more = f" and {len(unobserved) - MAX_EXAMPLES} more column(s)" if len(unobserved) > MAX_EXAMPLES else ""
    logger.warning(
        "declared levels missing from the data (%d rows): %s%s. A generator trained on these rows cannot produce "
        "them; remove a level from the dictionary if it cannot occur, or check the coding of the data",
        len(table), listed, more,
    )


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
        hint = _near_header_hint(absent, found, "in the table")
        if any(";" in str(name) for name in found):
            hint += " The file looks semicolon-separated: save it with commas as separators."
        problems.append(
            f"missing required column(s): {', '.join(map(repr, absent))}; columns found: "
            f"{', '.join(map(repr, found)) or 'none'}. Rename the headers to match the data dictionary, "
            f"or set required: false for columns that may be absent.{hint}"
        )
    # Undeclared columns are an error, not a warning: they could be identifiers (names, record
    # numbers) that would otherwise reach the generator unnoticed.
    undeclared = [name for name in dict.fromkeys(found) if name not in dictionary]
    if undeclared:
        hint = _near_header_hint(undeclared, dictionary.names, "in the dictionary")
        if any(not str(name).strip() or re.fullmatch(r"Unnamed: \d+", str(name)) for name in undeclared):
            hint += (
                " An empty header usually comes from a separator at the end of the header line: "
                "remove the trailing comma."
            )
        problems.append(
            f"column(s) not in the data dictionary: {', '.join(map(repr, undeclared))}; "
            f"add them to the dictionary or drop them from the table.{hint}"
        )
    return problems


def _near_header_hint(names, candidates, where: str) -> str:
    """Point out names that match a candidate once case and surrounding whitespace are ignored."""
    by_key = {}
    for candidate in candidates:
        by_key.setdefault(str(candidate).strip().casefold(), []).append(candidate)
    pairs = []
    for name in names:
        for candidate in by_key.get(str(name).strip().casefold(), []):
            if candidate != name:
                pairs.append(f"{candidate!r} {where} for {name!r}")
    if not pairs:
        return ""
    return (
        f" Did you mean {', '.join(pairs[:MAX_EXAMPLES])}? Headers must match the declared names exactly, "
        "including case and surrounding spaces."
    )


# --- Messages about invalid values ---------------------------------------------------------------


@dataclass(frozen=True)
class _Examples:
    """Offending values chosen for a message, and how many distinct values there were."""

    values: tuple
    n_distinct: int
    withheld: bool

    def __str__(self) -> str:
        """Return the text that follows "N value(s) are ...": a colon and the values, or a note."""
        if not self.values:
            return " (not shown: their rows already appear in the messages about other columns)"
        shown = ", ".join(repr(v) if isinstance(v, str) else format_bound(v) for v in self.values)
        if self.withheld:
            return f": {shown}, ... (other values not shown: their rows appear in the messages about other columns)"
        return f": {shown}" + (", ..." if self.n_distinct > len(self.values) else "")


class _ExampleBudget:
    """Count, per row, the column messages that show one of its values, and cap that count."""

    def __init__(self, n_rows: int, n_columns: int):
        self.shown = np.zeros(n_rows, dtype=int)
        # In a table of two columns, one value of each column is already a whole row.
        self.limit = max(1, min(MAX_COLUMNS_PER_ROW, n_columns - 1))

    def pick(self, values: pd.Series, mask: np.ndarray, sort: bool = False) -> _Examples:
        """Choose up to ``MAX_EXAMPLES`` distinct offending values whose rows are under the cap.

        A value occurring in several rows is shown only if none of them has reached the cap,
        and then counts against each of them.
        """
        positions = np.flatnonzero(mask)
        codes, distinct = pd.factorize(values.iloc[positions], sort=sort)
        at_limit = self.shown[positions] >= self.limit
        blocked = np.bincount(codes, weights=at_limit, minlength=len(distinct)) > 0
        chosen = np.flatnonzero(~blocked)[:MAX_EXAMPLES]
        self.shown[positions[np.isin(codes, chosen)]] += 1
        return _Examples(
            values=tuple(distinct[code] for code in chosen),
            n_distinct=len(distinct),
            withheld=bool(blocked.any()),
        )


def _column_problems(conversion: ColumnConversion, spec: ColumnSpec, budget: _ExampleBudget) -> list:
    """Return one message per kind of invalid value of a converted column, range last."""
    problems = []
    for kind, describe in _PROBLEM_MESSAGES.items():
        if kind in conversion.invalid:
            mask = conversion.invalid[kind]
            examples = budget.pick(conversion.text, mask)
            offending = conversion.text[mask]
            problems.append(f"column {spec.name!r} ({spec.type}): {describe(offending, examples, spec)}")
    outside = np.zeros(len(conversion.values), dtype=bool)
    for kind in (BELOW_MINIMUM, ABOVE_MAXIMUM):
        if kind in conversion.invalid:
            outside |= conversion.invalid[kind]
    if outside.any():
        problems.append(_range_problem(conversion.values, outside, budget.pick(conversion.values, outside, sort=True), spec))
    return problems


def _not_binary(offending: pd.Series, examples: _Examples, spec: ColumnSpec) -> str:
    return (
        f"{len(offending)} value(s) are not 0 or 1{examples}; recode them to 0/1 "
        "(display names go in labels), declare them in missing_codes, or declare type: categorical"
    )


# A comma between digits is a decimal comma ("3,1") or separates thousands ("1,017" or
# "1,234,567.5"); "1,017" can be either.
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+")
_THOUSANDS_COMMA = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")


def _comma_hint(offending: pd.Series) -> str:
    """Say how to rewrite numbers with commas, under every reading that their form allows."""
    decimal_comma = any(_DECIMAL_COMMA.fullmatch(value) for value in offending)
    thousands = any(_THOUSANDS_COMMA.fullmatch(value) for value in offending)
    if decimal_comma and thousands:
        return (
            "; values such as '1,017' have a comma that is either a decimal comma (write '1.017') or "
            "a thousands separator (write '1017'): check which one the export used and rewrite the values"
        )
    if decimal_comma:
        return "; values such as '1,5' use a decimal comma: write '1.5'"
    if thousands:
        return "; values such as '1,234.5' use a comma as thousands separator: remove it and write '1234.5'"
    return ""


def _not_a_number(offending: pd.Series, examples: _Examples, spec: ColumnSpec) -> str:
    return (
        f"{len(offending)} value(s) are not numbers{examples}; declare them in missing_codes "
        f"(for example missing_codes: ['NA']) or correct them{_comma_hint(offending)}"
    )


def _not_a_whole_number(offending: pd.Series, examples: _Examples, spec: ColumnSpec) -> str:
    numbers = _Examples(tuple(float(v) for v in examples.values), examples.n_distinct, examples.withheld)
    return f"{len(offending)} value(s) are not whole numbers{numbers}; round them or declare type: numeric"


def _not_a_level(offending: pd.Series, examples: _Examples, spec: ColumnSpec) -> str:
    levels = list(spec.levels or ())
    by_lowercase = {level.lower(): level for level in levels}
    near = [f"{v!r} vs {by_lowercase[v.lower()]!r}" for v in examples.values if v.lower() in by_lowercase]
    hint = f" (levels are case-sensitive: {', '.join(near)})" if near else ""
    return (
        f"{len(offending)} value(s) are not among the levels {levels}{examples}{hint}; "
        "add them to levels, declare them in missing_codes, or correct them"
    )


def _not_a_date(offending: pd.Series, examples: _Examples, spec: ColumnSpec) -> str:
    return (
        f"{len(offending)} value(s) are not dates{examples}; "
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


def _range_problem(values: pd.Series, outside: np.ndarray, examples: _Examples, spec: ColumnSpec) -> str:
    low, high = range_bounds(spec)
    unit = f" {spec.unit}" if spec.unit else ""
    bounds = f"[{'null' if low is None else format_bound(low)}, {'null' if high is None else format_bound(high)}]"
    hint = _unit_hint(values.dropna(), values[outside], spec) if spec.is_numeric else ""
    return (
        f"column {spec.name!r}: {outside.sum()} value(s) outside the range {bounds}{unit}"
        f"{examples}{hint}; correct them, declare them in missing_codes, or widen the range"
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

    CSV files must be UTF-8 (a byte order mark is allowed) with commas as separators. Cells
    are read as text with pandas' default missing-value markers switched off, so that codes
    such as ``NA`` are missing only where the dictionary declares them. Empty cells are always
    missing. Before pandas parses the file, each record's fields are counted: a row with more
    or fewer fields than the header would shift values into other columns, so it is an
    error. The file type comes from the suffix: ``.csv``, ``.parquet`` or ``.pq``.

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
        If the suffix is not supported, the file is empty, not UTF-8, semicolon-separated,
        has invalid quoting, has rows whose number of fields differs from the header, is not
        a readable Parquet file, or the table does not match. Messages about the layout of
        a CSV file give line numbers and field counts, never the content of a row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}; check the path (the working directory is {Path.cwd()})")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = _read_csv(path, dictionary)
    elif suffix in (".parquet", ".pq"):
        raw = _read_parquet(path)
    else:
        raise DataValidationError([f"unsupported file type {path.suffix!r} for {path}: save the table as .csv or .parquet"])
    logger.info("read %d rows and %d columns from %s", len(raw), raw.shape[1], path)
    return validate_table(raw, dictionary)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path)
    except pyarrow.ArrowException as exc:
        raise DataValidationError(
            [
                f"{path} could not be read as Parquet ({exc}); the file is damaged or not a Parquet file: "
                "write it again, for example with pandas.DataFrame.to_parquet, or save the table as .csv"
            ]
        ) from exc


def _read_csv(path: Path, dictionary: DataDictionary) -> pd.DataFrame:
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DataValidationError([utf8_error_message(path, exc)]) from exc
    header, header_line, rows = _scan_records(text, path)
    if header is None:
        raise DataValidationError([f"{path} is empty: write a header row and the data"])
    _check_separator(text, header, header_line, dictionary, path)
    _check_field_counts(len(header), rows, path)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    except pd.errors.ParserError as exc:
        raise DataValidationError([f"{path} could not be parsed as CSV ({exc}); {_QUOTING_FIX}"]) from exc
    # pandas renames a repeated header "a" to "a.1"; the csv module returns the headers as
    # written, so that validate_table can report the duplicates.
    if len(header) == raw.shape[1]:
        raw.columns = header
    return raw


_QUOTING_FIX = (
    "quote values that contain commas, quotes or line breaks with double quotes, write a quote "
    'inside a quoted value as two quotes (""), and close every quote'
)


def _scan_records(text: str, path: Path) -> tuple:
    """Return ``(header fields, header line, rows)`` with ``(first line, field count, last field empty)`` per row.

    Blank lines are skipped, as pandas skips them. The header is None for a file without records.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, header_line, rows = None, 0, []
    line = 1
    try:
        for fields in reader:
            if fields and not (len(fields) == 1 and not fields[0].strip()):
                if header is None:
                    header, header_line = fields, line
                else:
                    rows.append((line, len(fields), fields[-1] == ""))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataValidationError(
            [f"{path} could not be read as CSV at the record that starts on line {line} ({exc}): {_QUOTING_FIX}"]
        ) from exc
    return header, header_line, rows


def _check_separator(text: str, header: list, header_line: int, dictionary: DataDictionary, path: Path) -> None:
    """Raise when the header line splits into more fields at semicolons than at commas.

    A header that already contains every required column is taken as comma-separated, so
    that a header such as ``"a;b",c`` is not mistaken for a semicolon-separated one.
    """
    required = [spec.name for spec in dictionary.columns if spec.required]
    if all(name in header for name in required):
        return
    first_line = next(itertools.islice(io.StringIO(text, newline=""), header_line - 1, None))
    n_semicolon = len(next(csv.reader([first_line], delimiter=";")))
    if n_semicolon > len(header):
        raise DataValidationError(
            [
                f"{path} looks semicolon-separated: its header line has {n_semicolon} fields when split at "
                f"semicolons and {len(header)} when split at commas. Save it with commas as separators and "
                "points as decimal separators, for example with pandas: "
                "pandas.read_csv(path, sep=';', decimal=',').to_csv(path, index=False)"
            ]
        )


def _check_field_counts(n_header: int, rows: list, path: Path) -> None:
    """Raise when rows have more or fewer fields than the header, naming lines and counts only."""
    ragged = [(line, n_fields, last_empty) for line, n_fields, last_empty in rows if n_fields != n_header]
    if not ragged:
        return
    listed = ", ".join(f"line {line} has {n_fields}" for line, n_fields, _ in ragged[:MAX_EXAMPLES])
    if len(ragged) > MAX_EXAMPLES:
        listed += ", ..."
    if all(n_fields == n_header + 1 and last_empty for _, n_fields, last_empty in ragged):
        fix = "each of them ends with an empty field: remove the separator at the end of these lines"
    else:
        fix = (
            "check these lines for missing or extra separators, and quote values that contain commas, "
            'for example "bp, systolic"'
        )
    raise DataValidationError(
        [
            f"{path}: {len(ragged)} row(s) have a different number of fields than the header, which has "
            f"{n_header}: {listed}. Their values would shift into other columns; {fix}"
        ]
    )
