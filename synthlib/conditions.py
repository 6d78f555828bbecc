"""Conditions of conditional sampling, checked against the data dictionary and turned into grammars.

A condition fixes what one column may take in every sampled row:

* a value, ``{"sex": "female"}``; None (or NaN) asks for a missing value;
* a list or set of values, ``{"smoking": ["former", "current"]}``; for categorical and binary
  columns a tuple is read the same way;
* for numeric, integer and date columns, a ``(min, max)`` tuple, ``{"age": (65, None)}``, with
  None for the declared bound.

A conditioned column takes the missing-value marker only when the condition allows None.
"""

from __future__ import annotations

import difflib
import logging
import math

import numpy as np
import pandas as pd

from synthlib.constraints import (
    DateGrammar,
    LevelGrammar,
    NumberGrammar,
    ValueGrammar,
    column_decimals,
    column_grammar,
)
from synthlib.dictionary import ColumnSpec, DataDictionary, format_bound
from synthlib.encoding import MISSING_MARKER, format_value
from synthlib.exceptions import ConditionError
from synthlib.values import BELOW_MINIMUM, ABOVE_MAXIMUM, NOT_A_LEVEL, convert_column, range_bounds

logger = logging.getLogger(__name__)

_RANGE_TYPES = ("numeric", "integer", "date")
_COLLECTIONS = (list, tuple, set, frozenset, np.ndarray, pd.Series, pd.Index)


def column_grammars(dictionary: DataDictionary, conditions=None, training_levels=None, allow_missing=True,
                    complete_columns=()) -> dict:
    """Return the grammar of every modelled column, with conditions and training levels applied.

    Parameters
    ----------
    dictionary : DataDictionary
        Declarations of the columns.
    conditions : dict or None
        Column -> condition (see the module documentation).
    training_levels : dict or None
        Column -> levels seen in the training data (see :func:`observed_levels`). Unconditioned
        categorical and binary columns then take only these levels, or a missing value.
    allow_missing : bool
        Whether unconditioned columns may take the missing-value marker.
    complete_columns : collection of str
        Columns without a missing value in the training data (see :func:`complete_columns`):
        they never take the missing-value marker, since a model cannot have learned a rate for it.

    Returns
    -------
    dict
        Column name -> :class:`synthlib.constraints.ValueGrammar`, in the order of the modelled columns.

    Raises
    ------
    ConditionError
        When a condition or a training level names an unknown or identifier column, a level
        that is not declared, a value of the wrong type, or a range that is empty or outside the
        declared range.
    """
    conditions = dict(conditions or {})
    training_levels = dict(training_levels or {})
    _check_columns(conditions, dictionary, "conditions")
    _check_columns(training_levels, dictionary, "training_levels")
    _check_columns(dict.fromkeys(complete_columns), dictionary, "complete_columns")
    grammars = {}
    for name in dictionary.modelled_columns:
        spec = dictionary.column(name)
        missing = allow_missing and name not in complete_columns
        if name in conditions:
            grammars[name] = condition_grammar(spec, conditions[name])
        elif name in training_levels:
            grammars[name] = column_grammar(spec, _training_texts(spec, training_levels[name]), missing)
        else:
            grammars[name] = column_grammar(spec, allow_missing=missing)
    return grammars


def complete_columns(data: pd.DataFrame) -> list:
    """Return the columns of ``data`` without a missing value, in the order of ``data``."""
    return [name for name in data.columns if data[name].notna().all()]


def observed_levels(data: pd.DataFrame, dictionary: DataDictionary) -> dict:
    """Return ``{column: levels that occur in data}`` for the categorical and binary columns of ``data``.

    Parameters
    ----------
    data : pandas.DataFrame
        Typed table, usually the training split.
    dictionary : DataDictionary
        Declarations of the columns.

    Returns
    -------
    dict
        Levels in declaration order; binary columns give a subset of ``[0, 1]``.
    """
    levels = {}
    for spec in dictionary.columns:
        if spec.name not in data or spec.role == "identifier" or not spec.is_categorical:
            continue
        present = data[spec.name].dropna()
        if spec.type == "binary":
            seen = set(present.astype(int))
            levels[spec.name] = [level for level in (0, 1) if level in seen]
        else:
            seen = set(present.astype(str))
            levels[spec.name] = [level for level in spec.levels if level in seen]
    return levels


def condition_grammar(spec: ColumnSpec, condition) -> ValueGrammar:
    """Return the grammar of the values that ``condition`` allows in column ``spec``.

    Raises
    ------
    ConditionError
        When the condition does not fit the column's declaration; the message names the column
        and the fix.
    """
    where = f"condition on column {spec.name!r}"
    if isinstance(condition, tuple) and spec.type in _RANGE_TYPES:
        if len(condition) != 2:
            raise ConditionError(
                f"{where}: a range is a (min, max) tuple with None for an open bound; got {condition!r}. "
                "Give a list to allow several values"
            )
        return _range_grammar(spec, condition, where)
    if isinstance(condition, _COLLECTIONS):
        texts = [value_text(spec, value, where) for value in condition]
        if not texts:
            raise ConditionError(f"{where}: the list of allowed values is empty; give at least one value")
        return LevelGrammar(texts)
    return LevelGrammar([value_text(spec, condition, where)])


def value_text(spec: ColumnSpec, value, where: str) -> str:
    """Check one value against the column's declaration and return it as the encoder writes it.

    None, NaN and the declared missing codes give the missing-value marker.

    Raises
    ------
    ConditionError
        When the value does not convert to the column's type, is not a declared level, lies
        outside the declared range, or is finer than the column's precision.
    """
    if _is_missing(value):
        return MISSING_MARKER
    conversion = convert_column(pd.Series([value], dtype=object), spec)
    if conversion.missing[0]:
        return MISSING_MARKER
    if conversion.invalid:
        raise ConditionError(_invalid_value_message(spec, value, next(iter(conversion.invalid)), where))
    typed = conversion.values.iloc[0]
    text = format_value(typed, spec)
    if spec.type == "numeric" and float(text) != float(typed):
        decimals = column_decimals(spec)
        raise ConditionError(
            f"{where}: {value!r} has more decimal places than the {decimals} at which column "
            f"{spec.name!r} is written; round it to {decimals} decimal place(s)"
        )
    if spec.type == "date" and pd.Timestamp(typed) != pd.Timestamp(typed).normalize():
        raise ConditionError(f"{where}: {value!r} has a time of day, but column {spec.name!r} contains dates without time; give YYYY-MM-DD")
    return text


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _invalid_value_message(spec: ColumnSpec, value, kind: str, where: str) -> str:
    if kind == NOT_A_LEVEL:
        close = difflib.get_close_matches(str(value), spec.levels, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: {value!r} is not a declared level{hint}; use one of: {', '.join(spec.levels)}"
    if kind in (BELOW_MINIMUM, ABOVE_MAXIMUM):
        return f"{where}: {value!r} is outside the declared range {_declared_range(spec)}; choose a value inside it"
    return f"{where}: {value!r} is {kind}; give a value of the column's type ({spec.type})"


def _declared_range(spec: ColumnSpec) -> str:
    low, high = range_bounds(spec)
    return "[" + ", ".join("None" if bound is None else format_bound(bound) for bound in (low, high)) + "]"


def _range_grammar(spec: ColumnSpec, condition: tuple, where: str) -> ValueGrammar:
    low, high = (_range_bound(spec, bound, label, where) for bound, label in zip(condition, ("min", "max")))
    if low is not None and high is not None and low > high:
        raise ConditionError(
            f"{where}: the range ({format_bound(low)}, {format_bound(high)}) is empty because min is greater "
            "than max; swap the bounds"
        )
    declared_low, declared_high = range_bounds(spec)
    if low is not None and declared_low is not None and low < declared_low:
        raise ConditionError(
            f"{where}: min {format_bound(low)} is below the declared range {_declared_range(spec)}; "
            f"use a min of at least {format_bound(declared_low)}, or None for the declared min"
        )
    if high is not None and declared_high is not None and high > declared_high:
        raise ConditionError(
            f"{where}: max {format_bound(high)} is above the declared range {_declared_range(spec)}; "
            f"use a max of at most {format_bound(declared_high)}, or None for the declared max"
        )
    low = declared_low if low is None else low
    high = declared_high if high is None else high
    if spec.type == "date":
        grammar = DateGrammar(low, high)
        precision = "whole days"
    else:
        decimals = column_decimals(spec)
        grammar = NumberGrammar(low, high, decimals)
        precision = f"{decimals} decimal place(s)"
    if grammar.is_empty:
        raise ConditionError(
            f"{where}: the range ({condition[0]!r}, {condition[1]!r}) contains no value at the column's "
            f"precision ({precision}); widen it"
        )
    return grammar


def _range_bound(spec: ColumnSpec, bound, label: str, where: str):
    if bound is None:
        return None
    if spec.type == "date":
        try:
            return pd.Timestamp(bound)
        except (TypeError, ValueError):
            raise ConditionError(f"{where}: range {label} {bound!r} is not a date; write it as YYYY-MM-DD or None") from None
    if isinstance(bound, (bool, np.bool_)) or not isinstance(bound, (int, float, np.integer, np.floating)):
        raise ConditionError(f"{where}: range {label} {bound!r} is not a number; give a number or None")
    if not math.isfinite(bound):
        raise ConditionError(f"{where}: range {label} {bound!r} is not finite; use None for an open bound")
    return bound


def _check_columns(mapping: dict, dictionary: DataDictionary, argument: str) -> None:
    modelled = dictionary.modelled_columns
    for name in mapping:
        if name not in dictionary:
            close = difflib.get_close_matches(str(name), modelled, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConditionError(
                f"{argument} name column {name!r}, which is not in data dictionary {dictionary.name!r}{hint}; "
                f"modelled columns: {', '.join(modelled)}"
            )
        if name not in modelled:
            raise ConditionError(
                f"{argument} name column {name!r}, an identifier, which the model does not generate; remove it"
            )
        if argument == "training_levels" and not dictionary.column(name).is_categorical:
            raise ConditionError(
                f"training_levels name column {name!r}, which is {dictionary.column(name).type}; "
                "give levels only for categorical and binary columns"
            )


def _training_texts(spec: ColumnSpec, levels) -> list:
    where = f"training_levels of column {spec.name!r}"
    if not isinstance(levels, _COLLECTIONS):
        raise ConditionError(f"{where}: give a list of levels; got {levels!r}")
    texts = [value_text(spec, level, where) for level in levels]
    return [text for text in texts if text != MISSING_MARKER]
