"""Tests of the row text encoding and of row-level value conversion."""

import numpy as np
import pandas as pd
import pytest

from synthlib.exceptions import DictionaryError

from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.encoding import (
    MISSING_MARKER,
    encode_row,
    encode_table,
    escape,
    format_value,
    parse_rows,
    split_segments,
    unescape,
)
from synthlib.values import convert_values


@pytest.fixture
def dictionary():
    return DataDictionary(
        "toy",
        (
            ColumnSpec("id", "integer", role="identifier"),
            ColumnSpec("bp, systolic", "numeric", range=(50, 250), decimals=1),
            ColumnSpec("age", "integer", range=(18, 100)),
            ColumnSpec("note", "categorical", levels=("a, b is c", "plain", "<NA>")),
            ColumnSpec("smoker", "binary"),
            ColumnSpec("visit", "date"),
        ),
    )


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "id": pd.array([1, 2, 3], dtype="Int64"),
            "bp, systolic": [120.04, np.nan, 99.96],
            "age": pd.array([40, pd.NA, 71], dtype="Int64"),
            "note": pd.Categorical(["a, b is c", "plain", "<NA>"], categories=["a, b is c", "plain", "<NA>"]),
            "smoker": pd.array([1, 0, pd.NA], dtype="Int64"),
            "visit": pd.to_datetime(["2020-01-31", None, "2021-12-01"]),
        }
    )


def test_escape_round_trip():
    for text in ["plain", "a, b", "back\\slash", "<NA>", "x is y, z\\", ""]:
        assert unescape(escape(text)) == text


def test_escaped_text_never_equals_marker():
    assert escape("<NA>") != MISSING_MARKER


def test_split_segments_keeps_escaped_commas():
    assert split_segments("bp\\, systolic is 120.0, age is 40") == ["bp\\, systolic is 120.0", "age is 40"]


def test_format_value_uses_declared_precision():
    spec = ColumnSpec("x", "numeric", decimals=1)
    assert format_value(120.04, spec) == "120.0"
    assert format_value(-0.04, spec) == "0.0"
    assert format_value(np.nan, spec) == MISSING_MARKER


def test_format_value_of_integer_binary_and_date():
    assert format_value(40, ColumnSpec("a", "integer")) == "40"
    assert format_value(pd.NA, ColumnSpec("a", "integer")) == MISSING_MARKER
    assert format_value(1, ColumnSpec("s", "binary")) == "1"
    assert format_value(pd.Timestamp("2020-01-31"), ColumnSpec("d", "date")) == "2020-01-31"


def test_encode_drops_identifiers(dictionary, table):
    texts = encode_table(table, dictionary, permute=False)
    assert not texts[0].startswith("id is")
    assert texts[0].startswith("bp\\, systolic is 120.0, age is 40, note is a\\, b is c")


def test_encode_permutation_is_seeded(dictionary, table):
    first = encode_table(table, dictionary, random_state=0)
    second = encode_table(table, dictionary, random_state=0)
    other = encode_table(table, dictionary, random_state=1)
    assert first == second
    assert first != other


def test_round_trip_restores_typed_values(dictionary, table):
    modelled = dictionary.subset(dictionary.modelled_columns)
    parsed = parse_rows(encode_table(table, dictionary, random_state=3), dictionary)
    converted = convert_values(parsed.values, modelled)
    assert converted.reasons.isna().all()
    data = converted.data
    assert data["bp, systolic"].tolist()[0] == pytest.approx(120.0)
    assert np.isnan(data["bp, systolic"].tolist()[1])
    assert str(data["age"].dtype) == "Int64"
    assert data["age"].isna().tolist() == [False, True, False]
    assert data["note"].tolist() == ["a, b is c", "plain", "<NA>"]
    assert data["smoker"].isna().tolist() == [False, False, True]
    assert data["visit"].tolist()[0] == pd.Timestamp("2020-01-31")


def test_parse_value_containing_is(dictionary):
    text = encode_row(
        {"bp, systolic": 120.0, "age": 40, "note": "a, b is c", "smoker": 0, "visit": pd.NaT},
        ["note", "age", "bp, systolic", "smoker", "visit"],
        dictionary,
    )
    parsed = parse_rows([text], dictionary)
    assert parsed.values.loc[0, "note"] == "a, b is c"
    assert parsed.values.loc[0, "visit"] is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("age is 40, age is 41", "duplicated column age"),
        ("weight is 80", "unknown column"),
        ("age is 40", "missing column bp, systolic"),
    ],
)
def test_parse_rejects_malformed_rows(dictionary, text, reason):
    parsed = parse_rows([text], dictionary)
    assert parsed.rejections == {reason: 1}
    assert parsed.values.empty


def test_convert_values_gives_first_reason(dictionary):
    modelled = dictionary.subset(dictionary.modelled_columns)
    raw = pd.DataFrame(
        {
            "bp, systolic": ["300", "12x", "120"],
            "age": ["40", "40.5", "17"],
            "note": ["plain", "other", "plain"],
            "smoker": ["1", "2", None],
            "visit": ["2020-01-01", "2020-01-01", "31/01/2020"],
        }
    )
    reasons = convert_values(raw, modelled).reasons.tolist()
    assert reasons[0] == "above the maximum 250 in column bp, systolic"
    assert reasons[1] == "not a number in column bp, systolic"
    assert reasons[2] == "below the minimum 18 in column age"


def test_convert_values_reports_each_kind():
    specs = {
        "whole": ColumnSpec("whole", "integer"),
        "level": ColumnSpec("level", "categorical", levels=("a",)),
        "flag": ColumnSpec("flag", "binary"),
        "day": ColumnSpec("day", "date"),
    }
    raw = pd.DataFrame({"whole": ["2.5"], "level": ["b"], "flag": ["yes"], "day": ["not a date"]})
    for name, reason in [
        ("whole", "not a whole number in column whole"),
        ("level", "not a declared level in column level"),
        ("flag", "not 0 or 1 in column flag"),
        ("day", "not a date (expected YYYY-MM-DD) in column day"),
    ]:
        converted = convert_values(raw[[name]], DataDictionary("t", (specs[name],)))
        assert converted.reasons.tolist() == [reason]


def test_convert_values_missing_codes_and_blanks():
    spec = ColumnSpec("ldl", "numeric", range=(0.5, 10), missing_codes=("-99", "NA"))
    raw = pd.DataFrame({"ldl": ["-99", "NA", " ", "", None, "4.2"]})
    converted = convert_values(raw, DataDictionary("t", (spec,)))
    assert converted.reasons.isna().all()
    assert converted.data["ldl"].isna().tolist() == [True, True, True, True, True, False]


def test_convert_values_rejects_infinity():
    raw = pd.DataFrame({"x": ["inf", "-inf", "1.5"]})
    converted = convert_values(raw, DataDictionary("t", (ColumnSpec("x", "numeric"),)))
    assert converted.reasons.tolist()[:2] == ["not a number in column x"] * 2
    assert pd.isna(converted.reasons.iloc[2])


def test_convert_values_typed_inputs():
    specs = (
        ColumnSpec("level", "categorical", levels=("1", "2")),
        ColumnSpec("flag", "binary"),
        ColumnSpec("count", "integer"),
    )
    raw = pd.DataFrame({"level": [1.0, 2.0], "flag": [True, False], "count": [3.0, np.nan]})
    converted = convert_values(raw, DataDictionary("t", specs))
    assert converted.reasons.isna().all()
    assert converted.data["level"].tolist() == ["1", "2"]
    assert converted.data["flag"].tolist() == [1, 0]
    assert str(converted.data["count"].dtype) == "Int64"


def test_convert_values_date_bound_in_reason():
    spec = ColumnSpec("day", "date", range=(None, pd.Timestamp("2020-12-31")))
    raw = pd.DataFrame({"day": ["2021-01-01"]})
    converted = convert_values(raw, DataDictionary("t", (spec,)))
    assert converted.reasons.tolist() == ["above the maximum 2020-12-31 in column day"]


def test_ambiguous_names_rejected():
    dictionary = DataDictionary("t", (ColumnSpec("x", "categorical", levels=("a",)), ColumnSpec("x is y", "integer")))
    table = pd.DataFrame({"x": pd.Categorical(["a"]), "x is y": pd.array([1], dtype="Int64")})
    with pytest.raises(DictionaryError, match="'x' and 'x is y' make rows ambiguous"):
        encode_table(table, dictionary)
