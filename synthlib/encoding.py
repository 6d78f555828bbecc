"""Textual encoding of table rows: ``"column is value, column is value"``.

A row is written as one segment per column, ``<name> is <value>``, with segments joined by
``", "``. Column order is permuted per row (and per epoch during training) so that the model
learns every conditional, as in GReaT (Borisov et al., 2023, "Language models are realistic
tabular data generators", ICLR).

Escaping keeps the text unambiguous whatever the names and values contain: a backslash, a comma
and ``<`` are written with a leading backslash, so ``"bp, systolic"`` becomes ``"bp\\, systolic"``.
A segment ends at the first unescaped comma, and the column name is the longest declared name
that the segment starts with followed by ``" is "``, so values may contain ``" is "``. Names where
one name followed by ``" is "`` starts another (``x`` and ``x is y``) would make that ambiguous,
so they are rejected.
Missing values are written as the unescaped marker ``<NA>``, which no escaped value can equal.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.exceptions import DictionaryError

logger = logging.getLogger(__name__)

SEPARATOR = ", "
IS = " is "
MISSING_MARKER = "<NA>"
DEFAULT_DECIMALS = 2
_ESCAPED = ("\\", ",", "<")


def escape(text: str) -> str:
    """Escape backslashes, commas and ``<`` with a backslash."""
    out = []
    for char in text:
        if char in _ESCAPED:
            out.append("\\")
        out.append(char)
    return "".join(out)


def unescape(text: str) -> str:
    """Undo :func:`escape`; a trailing lone backslash is kept as it is."""
    out = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
        out.append(char)
    return "".join(out)


def format_value(value, spec: ColumnSpec) -> str:
    """Write one typed value as text, at the column's precision.

    Parameters
    ----------
    value : object
        A value of a typed table (see :mod:`synthlib.dictionary`); missing values give
        :data:`MISSING_MARKER`.
    spec : ColumnSpec
        Declaration of the column.

    Returns
    -------
    str
    """
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return MISSING_MARKER
    if spec.type == "numeric":
        decimals = DEFAULT_DECIMALS if spec.decimals is None else spec.decimals
        text = f"{float(value):.{decimals}f}"
        return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text
    if spec.type in ("integer", "binary"):
        return str(int(value))
    if spec.type == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return escape(str(value))


def encode_row(row: dict, order, dictionary: DataDictionary) -> str:
    """Encode one row as ``"name is value, ..."`` with columns in ``order``."""
    return SEPARATOR.join(
        f"{escape(name)}{IS}{format_value(row[name], dictionary.column(name))}" for name in order
    )


def encode_table(
    data: pd.DataFrame,
    dictionary: DataDictionary,
    permute: bool = True,
    random_state=0,
) -> list:
    """Encode every row of a typed table as text.

    Parameters
    ----------
    data : pandas.DataFrame
        Typed table holding the dictionary's modelled columns.
    dictionary : DataDictionary
        Declarations of the columns.
    permute : bool, default True
        Shuffle the column order of each row independently.
    random_state : int, numpy.random.Generator or None
        Seed of the permutations.

    Returns
    -------
    list of str
    """
    columns = [name for name in dictionary.modelled_columns if name in data.columns]
    check_unambiguous_names(columns)
    rng = np.random.default_rng(random_state)
    texts = []
    for row in data[columns].to_dict("records"):
        order = list(rng.permutation(columns)) if permute else columns
        texts.append(encode_row(row, order, dictionary))
    return texts


def split_segments(text: str) -> list:
    """Split an encoded row at every unescaped comma followed by a space."""
    segments, current = [], []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if text.startswith(SEPARATOR, i):
            segments.append("".join(current))
            current = []
            i += len(SEPARATOR)
            continue
        current.append(char)
        i += 1
    segments.append("".join(current))
    return segments


@dataclass(frozen=True)
class ParsedRows:
    """Raw values parsed from generated text, before type conversion.

    Attributes
    ----------
    values : pandas.DataFrame
        One row per well-formed text, one string column per modelled column; missing values
        are None.
    rejections : collections.Counter
        Number of texts rejected, by reason.
    n_texts : int
        Number of texts parsed.
    """

    values: pd.DataFrame
    rejections: Counter = field(default_factory=Counter)
    n_texts: int = 0


def check_unambiguous_names(names) -> None:
    """Raise DictionaryError when one column name followed by ``" is "`` starts another one."""
    for short in names:
        for long in names:
            if long != short and escape(long).startswith(escape(short) + IS):
                raise DictionaryError(
                    f"column names {short!r} and {long!r} make rows ambiguous as text, because "
                    f"'{short} is ...' can be read as either; rename one of them"
                )


class _ColumnMatcher:
    """Find which declared column an encoded segment belongs to, longest name first."""

    def __init__(self, names):
        check_unambiguous_names(names)
        self._prefixes = sorted(((escape(n) + IS, n) for n in names), key=lambda p: -len(p[0]))

    def match(self, segment: str):
        for prefix, name in self._prefixes:
            if segment.startswith(prefix):
                return name, segment[len(prefix) :]
        return None, None


def parse_rows(texts, dictionary: DataDictionary) -> ParsedRows:
    """Parse encoded rows back into raw string values, one column per modelled column.

    A text is rejected, with its reason counted, when a segment names no declared column
    (``unknown column``), a column appears twice (``duplicated column <name>``) or a column is
    absent (``missing column <name>``). Values are not checked here: see
    :func:`synthlib.sampling.typed_rows`.

    Parameters
    ----------
    texts : iterable of str
        Generated texts, without special tokens.
    dictionary : DataDictionary
        Declarations of the modelled columns.

    Returns
    -------
    ParsedRows
    """
    names = dictionary.modelled_columns
    matcher = _ColumnMatcher(names)
    records, rejections, n_texts = [], Counter(), 0
    for text in texts:
        n_texts += 1
        record, reason = _parse_one(text.strip(), names, matcher)
        if reason is None:
            records.append(record)
        else:
            rejections[reason] += 1
    values = pd.DataFrame.from_records(records, columns=names) if records else pd.DataFrame(columns=names)
    return ParsedRows(values=values, rejections=rejections, n_texts=n_texts)


def _parse_one(text: str, names, matcher: _ColumnMatcher):
    record = {}
    for segment in split_segments(text):
        name, raw = matcher.match(segment)
        if name is None:
            return None, "unknown column"
        if name in record:
            return None, f"duplicated column {name}"
        record[name] = None if raw == MISSING_MARKER else unescape(raw)
    for name in names:
        if name not in record:
            return None, f"missing column {name}"
    return record, None
