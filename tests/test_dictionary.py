"""Tests of data dictionaries: parsing, validation of tables and loading files."""

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from synthlib.dictionary import ColumnSpec, DataDictionary, read_dictionary, write_dictionary
from synthlib.exceptions import DataValidationError, DictionaryError
from synthlib.validation import load_table, validate_table
from synthlib.values import convert_values


def column(**entry):
    """Return one column entry, type numeric unless given."""
    return {"name": "x", "type": "numeric", **entry}


def parse(*columns, **top):
    return DataDictionary.from_mapping({"name": "test", "columns": list(columns), **top})


def parse_error(*columns, **top) -> str:
    with pytest.raises(DictionaryError) as info:
        parse(*columns, **top)
    return str(info.value)


@pytest.fixture
def dictionary():
    return parse(
        {"name": "id", "type": "integer", "role": "identifier"},
        {"name": "age", "type": "integer", "unit": "years", "range": [18, 100], "missing_codes": ["NA"]},
        {"name": "chol", "type": "numeric", "unit": "mmol/L", "range": [1, 20], "decimals": 1},
        {"name": "smoking", "type": "categorical", "levels": ["never", "former", "current"]},
        {"name": "diabetes", "type": "binary", "labels": {0: "no", 1: "yes"}, "missing_codes": ["missing"]},
        {"name": "visit", "type": "date", "range": ["2000-01-01", None]},
    )


@pytest.fixture
def raw():
    return pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "age": ["64", "NA", "41"],
            "chol": ["5.2", "", "3.9"],
            "smoking": ["never", "current", ""],
            "diabetes": ["0", "1", "missing"],
            "visit": ["2019-03-04", "2020-01-31", ""],
        }
    )


def validation_problems(raw, dictionary) -> list:
    with pytest.raises(DataValidationError) as info:
        validate_table(raw, dictionary)
    return info.value.problems


# --- Dictionary errors -------------------------------------------------------------------------


def test_dictionary_unknown_key():
    message = parse_error(column(unti="mmol/L"))
    assert "column 'x'" in message
    assert "unknown key 'unti'" in message
    assert "did you mean 'unit'" in message


def test_dictionary_unknown_type():
    message = parse_error(column(type="float"))
    assert "column 'x'" in message
    assert "'float'" in message
    assert "allowed types: numeric, integer, categorical, binary, date" in message


def test_dictionary_unknown_role():
    message = parse_error(column(role="target"))
    assert "column 'x'" in message
    assert "unknown role 'target'" in message
    assert "allowed roles: identifier, quasi_identifier, sensitive, outcome, predictor" in message


def test_dictionary_role_with_hyphen_normalised():
    dictionary = parse(column(role="quasi-identifier"))
    assert dictionary.column("x").role == "quasi_identifier"


def test_dictionary_range_min_above_max():
    message = parse_error(column(range=[90, 18]))
    assert "column 'x'" in message
    assert "min 90 is greater than max 18" in message
    assert "range: [18, 90]" in message


def test_dictionary_levels_on_numeric_column():
    message = parse_error(column(levels=["a", "b"]))
    assert "column 'x'" in message
    assert "remove levels or set type: categorical" in message


def test_dictionary_categorical_without_levels():
    message = parse_error(column(type="categorical"))
    assert "column 'x'" in message
    assert "needs levels" in message
    assert "levels: [never, former, current]" in message


def test_dictionary_duplicated_level():
    message = parse_error(column(type="categorical", levels=[1, "1", "2"]))
    assert "column 'x'" in message
    assert "duplicated level(s) '1'" in message
    assert "list each level once" in message


def test_dictionary_duplicated_column_names():
    message = parse_error(column(), {"name": "y", "type": "integer"}, column())
    assert "column 'x' is declared 2 times (entries #1, #3)" in message
    assert "rename or remove" in message


def test_dictionary_negative_decimals():
    message = parse_error(column(decimals=-1))
    assert "column 'x'" in message
    assert "got -1" in message
    assert "decimals must be a whole number >= 0" in message


def test_dictionary_column_without_name():
    message = parse_error({"type": "numeric"})
    assert "column #1 has no 'name'" in message
    assert "add name:" in message


def test_dictionary_without_top_level_name():
    with pytest.raises(DictionaryError, match="no top-level 'name'"):
        DataDictionary.from_mapping({"columns": [column()]})


def test_dictionary_boolean_level_rejected():
    levels = yaml.safe_load("[yes, no]")
    message = parse_error(column(type="categorical", levels=levels))
    assert "read by YAML as a boolean" in message
    assert "quote it" in message


def test_dictionary_collects_all_problems():
    with pytest.raises(DictionaryError) as info:
        parse(column(type="float"), {"name": "y", "type": "numeric", "decimals": -2}, {"type": "integer"})
    assert len(info.value.problems) == 3
    assert "3 problem(s)" in str(info.value)


def test_dictionary_values_stored_as_strings():
    dictionary = parse(column(type="categorical", levels=[1, 2, "x"], missing_codes=[-99, "NA"]))
    spec = dictionary.column("x")
    assert spec.levels == ("1", "2", "x")
    assert spec.missing_codes == ("-99", "NA")


def test_dictionary_defaults():
    spec = parse(column()).column("x")
    assert spec.role == "predictor"
    assert spec.required is True
    assert spec.missing_codes == ()


def test_dictionary_yaml_round_trip(tmp_path, dictionary):
    path = write_dictionary(dictionary, tmp_path / "dictionary.yaml")
    assert read_dictionary(path) == dictionary


def test_dictionary_date_range_parsed(dictionary):
    assert dictionary.column("visit").range == (pd.Timestamp("2000-01-01"), None)


def test_dictionary_date_range_rejects_number():
    message = parse_error(column(type="date", range=[18, None]))
    assert "column 'x'" in message
    assert "range min 18 is not an ISO date; write it as YYYY-MM-DD" in message


def test_read_dictionary_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        read_dictionary(tmp_path / "absent.yaml")


def test_read_dictionary_invalid_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match="not valid YAML"):
        read_dictionary(path)


# --- Validation of tables ------------------------------------------------------------------------


def test_validate_typed_dtypes(raw, dictionary):
    table = validate_table(raw, dictionary)
    assert table["id"].dtype == "Int64"
    assert table["chol"].dtype == np.float64
    assert isinstance(table["smoking"].dtype, pd.CategoricalDtype)
    assert list(table["smoking"].cat.categories) == ["never", "former", "current"]
    assert table["diabetes"].dtype == "Int64"
    assert table["visit"].dtype == "datetime64[ns]"


def test_validate_missing_codes_and_empty_strings(raw, dictionary):
    table = validate_table(raw, dictionary)
    assert table["age"].isna().tolist() == [False, True, False]
    assert table["chol"].isna().tolist() == [False, True, False]
    assert table["diabetes"].isna().tolist() == [False, False, True]
    assert table["visit"].isna().tolist() == [False, False, True]


def test_validate_integer_with_missing_is_int64(raw, dictionary):
    table = validate_table(raw, dictionary)
    assert table["age"].dtype == "Int64"
    assert table["age"].tolist()[0] == 64
    assert table["age"].iloc[1] is pd.NA


def test_validate_unused_levels_kept(raw, dictionary):
    table = validate_table(raw, dictionary)
    assert (table["smoking"] == "former").sum() == 0
    assert "former" in table["smoking"].cat.categories


def test_validate_raw_unchanged(raw, dictionary):
    before = raw.copy()
    validate_table(raw, dictionary)
    pd.testing.assert_frame_equal(raw, before)


def test_validate_keeps_index(raw, dictionary):
    shifted = raw.set_index(pd.Index([10, 11, 12]))
    assert validate_table(shifted, dictionary).index.tolist() == [10, 11, 12]


def test_validate_entirely_missing_column(raw, dictionary, caplog):
    raw = raw.assign(chol=["", "", ""], smoking=["", "", ""], age=["NA", "NA", "NA"])
    with caplog.at_level(logging.WARNING, logger="synthlib.validation"):
        table = validate_table(raw, dictionary)
    assert table["chol"].isna().all()
    assert table["chol"].dtype == np.float64
    assert table["age"].dtype == "Int64"
    assert isinstance(table["smoking"].dtype, pd.CategoricalDtype)
    assert "column 'chol' is entirely missing" in caplog.text


def test_validate_optional_column_absent(raw, dictionary):
    optional = DataDictionary(
        name="test", columns=(*dictionary.columns, ColumnSpec(name="note", type="numeric", required=False))
    )
    table = validate_table(raw, optional)
    assert table["note"].isna().all()


def test_validate_column_name_with_comma():
    dictionary = parse({"name": "bp, systolic", "type": "numeric", "unit": "mmHg"})
    table = validate_table(pd.DataFrame({"bp, systolic": ["120", "135.5"]}), dictionary)
    assert table["bp, systolic"].tolist() == [120.0, 135.5]


def test_validate_text_with_separators():
    level = "yes, daily; the answer is long"
    dictionary = parse({"name": "note", "type": "categorical", "levels": [level, "no"]})
    table = validate_table(pd.DataFrame({"note": [level, "no"]}), dictionary)
    assert table["note"].tolist() == [level, "no"]


def test_validate_missing_required_columns(raw, dictionary):
    problems = validation_problems(raw.drop(columns=["age", "chol"]), dictionary)
    assert len(problems) == 1
    assert "missing required column(s): 'age', 'chol'" in problems[0]
    assert "columns found: 'id', 'smoking'" in problems[0]
    assert "required: false" in problems[0]


def test_validate_duplicated_columns(raw, dictionary):
    duplicated = pd.concat([raw, raw[["chol"]]], axis=1)
    problems = validation_problems(duplicated, dictionary)
    assert "duplicated column name(s) in the table: 'chol'" in problems[0]
    assert "rename the headers" in problems[0]


def test_validate_undeclared_columns(raw, dictionary):
    problems = validation_problems(raw.assign(name=["a", "b", "c"]), dictionary)
    assert "column(s) not in the data dictionary: 'name'" in problems[0]
    assert "add them to the dictionary or drop them" in problems[0]


def test_validate_non_numeric_values(raw, dictionary):
    problems = validation_problems(raw.assign(chol=["n/a", "5.0", "n/a"]), dictionary)
    assert "column 'chol' (numeric): 2 value(s) are not numbers: 'n/a'" in problems[0]
    assert "missing_codes" in problems[0]


def test_validate_non_numeric_shows_five_values(raw, dictionary):
    data = pd.concat([raw] * 3, ignore_index=True)
    data["chol"] = list("abcdefghi")
    problems = validation_problems(data, dictionary)
    assert "9 value(s)" in problems[0]
    assert "'a', 'b', 'c', 'd', 'e', ..." in problems[0]
    assert "'f'" not in problems[0]


def test_validate_decimal_comma_hint(raw, dictionary):
    problems = validation_problems(raw.assign(chol=["5,2", "4.0", "3.9"]), dictionary)
    assert "decimal comma" in problems[0]


def test_validate_non_integer_values(raw, dictionary):
    problems = validation_problems(raw.assign(age=["64", "2.5", "41"]), dictionary)
    assert "column 'age' (integer): 1 value(s) are not whole numbers: 2.5" in problems[0]
    assert "declare type: numeric" in problems[0]


def test_validate_values_outside_range(raw, dictionary):
    problems = validation_problems(raw.assign(age=["64", "150", "12"]), dictionary)
    assert "column 'age': 2 value(s) outside the range [18, 100] years: 12, 150" in problems[0]
    assert "widen the range" in problems[0]


def test_validate_cholesterol_unit_hint(raw, dictionary):
    problems = validation_problems(raw.assign(chol=["201", "155", "174"]), dictionary)
    assert "values look like mg/dL; the dictionary declares mmol/L" in problems[0]
    assert "divide by 38.67" in problems[0]


def test_validate_creatinine_unit_hint():
    dictionary = parse({"name": "creatinine", "type": "numeric", "unit": "umol/L", "range": [20, 1500]})
    problems = validation_problems(pd.DataFrame({"creatinine": ["0.9", "1.1", "3.2"]}), dictionary)
    assert "values look like mg/dL; the dictionary declares umol/L" in problems[0]
    assert "multiply by 88.4" in problems[0]


def test_unit_hint_absent_when_no_conversion(raw, dictionary):
    problems = validation_problems(raw.assign(chol=["5000", "4.0", "3.9"]), dictionary)
    assert "mg/dL" not in problems[0]


def test_validate_unknown_category(raw, dictionary):
    problems = validation_problems(raw.assign(smoking=["Never", "sometimes", "never"]), dictionary)
    message = problems[0]
    assert "column 'smoking' (categorical): 2 value(s) are not among the levels" in message
    assert "'Never', 'sometimes'" in message
    assert "case-sensitive" in message
    assert "add them to levels" in message


def test_validate_binary_not_zero_one(raw, dictionary):
    problems = validation_problems(raw.assign(diabetes=["yes", "2", "0"]), dictionary)
    assert "column 'diabetes' (binary): 2 value(s) are not 0 or 1: 'yes', '2'" in problems[0]
    assert "recode them to 0/1" in problems[0]


def test_validate_unparseable_dates(raw, dictionary):
    problems = validation_problems(raw.assign(visit=["03/04/2019", "2019-02-30", ""]), dictionary)
    assert "column 'visit' (date): 2 value(s) are not dates: '03/04/2019', '2019-02-30'" in problems[0]
    assert "YYYY-MM-DD" in problems[0]


def test_validate_date_before_range(raw, dictionary):
    problems = validation_problems(raw.assign(visit=["1999-12-31", "2001-01-01", ""]), dictionary)
    assert "outside the range [2000-01-01, null]: 1999-12-31" in problems[0]


def test_validate_collects_all_problems(raw, dictionary):
    broken = raw.assign(age=["x", "64", "41"], chol=["5", "99", "4"], extra=["", "", ""])
    problems = validation_problems(broken, dictionary)
    assert len(problems) == 3


def test_validate_typed_input_accepted(raw, dictionary):
    table = validate_table(raw, dictionary)
    again = validate_table(table, dictionary)
    pd.testing.assert_frame_equal(again, table)


def test_validate_matches_row_conversion(raw, dictionary):
    table = validate_table(raw, dictionary)
    converted = convert_values(raw, dictionary)
    assert converted.reasons.isna().all()
    pd.testing.assert_frame_equal(converted.data, table)


def test_validate_flags_rows_that_sampling_rejects(raw, dictionary):
    broken = raw.assign(age=["64", "150", "x"])
    reasons = convert_values(broken, dictionary).reasons.tolist()
    problems = validation_problems(broken, dictionary)
    assert reasons[1:] == ["above the maximum 100 in column age", "not a number in column age"]
    assert "column 'age' (integer): 1 value(s) are not numbers: 'x'" in problems[0]
    assert "column 'age': 1 value(s) outside the range [18, 100] years: 150" in problems[1]


def test_validate_infinite_values(raw, dictionary):
    problems = validation_problems(raw.assign(chol=["inf", "4.0", "3.9"]), dictionary)
    assert "1 value(s) are not numbers: 'inf'" in problems[0]


# --- Files -------------------------------------------------------------------------------------


def test_load_table_csv_round_trip(tmp_path, raw, dictionary):
    table = validate_table(raw, dictionary)
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    pd.testing.assert_frame_equal(load_table(path, dictionary), table)


def test_load_table_parquet_round_trip(tmp_path, raw, dictionary):
    table = validate_table(raw, dictionary)
    path = tmp_path / "table.parquet"
    table.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(load_table(path, dictionary), table)


def test_load_table_csv_header_with_comma(tmp_path):
    dictionary = parse({"name": "bp, systolic", "type": "numeric"}, {"name": "note", "type": "categorical", "levels": ["a, b is c", "d"]})
    path = tmp_path / "table.csv"
    path.write_text('"bp, systolic",note\n120,"a, b is c"\n,d\n', encoding="utf-8")
    table = load_table(path, dictionary)
    assert table["bp, systolic"].isna().tolist() == [False, True]
    assert table["note"].tolist() == ["a, b is c", "d"]


def test_load_table_na_is_not_missing_by_default(tmp_path):
    dictionary = parse({"name": "x", "type": "numeric"})
    path = tmp_path / "table.csv"
    path.write_text("x\n1.5\nNA\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="'NA'"):
        load_table(path, dictionary)


def test_load_table_csv_duplicated_header(tmp_path):
    dictionary = parse({"name": "x", "type": "numeric"})
    path = tmp_path / "table.csv"
    path.write_text("x,x\n1,2\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="duplicated column name"):
        load_table(path, dictionary)


def test_load_table_missing_file(tmp_path, dictionary):
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        load_table(tmp_path / "absent.csv", dictionary)


def test_load_table_unsupported_suffix(tmp_path, dictionary):
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"")
    with pytest.raises(DataValidationError, match="save the table as .csv or .parquet"):
        load_table(path, dictionary)


# --- Text of YAML files --------------------------------------------------------------------------


def write_yaml(tmp_path, text, name="dictionary.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_error(path) -> str:
    with pytest.raises(DictionaryError) as info:
        read_dictionary(path)
    return str(info.value)


def test_read_dictionary_keeps_number_like_codes(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: lab, type: numeric, missing_codes: [-99.00, 010, 0x10, 1.50]}\n")
    assert read_dictionary(path).column("lab").missing_codes == ("-99.00", "010", "0x10", "1.50")


def test_read_dictionary_keeps_number_like_levels(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: region, type: categorical, levels: [01, 02, 10]}\n")
    assert read_dictionary(path).column("region").levels == ("01", "02", "10")


def test_read_dictionary_keeps_date_like_level(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: wave, type: categorical, levels: [2019-1-1, 2020-01-01]}\n")
    assert read_dictionary(path).column("wave").levels == ("2019-1-1", "2020-01-01")


def test_read_dictionary_numbers_elsewhere_unchanged(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: x, type: numeric, range: [0.5, 10], decimals: 1}\n")
    spec = read_dictionary(path).column("x")
    assert spec.range == (0.5, 10)
    assert spec.decimals == 1


def test_read_dictionary_codes_match_cells_as_written(tmp_path):
    path = write_yaml(
        tmp_path,
        "name: t\ncolumns:\n"
        "  - {name: lab, type: numeric, missing_codes: [-99.00, 010]}\n"
        "  - {name: region, type: categorical, levels: [01, 10]}\n",
    )
    dictionary = read_dictionary(path)
    table = validate_table(pd.DataFrame({"lab": ["-99.00", "010", "4.5"], "region": ["01", "10", "01"]}), dictionary)
    assert table["lab"].isna().tolist() == [True, True, False]
    assert table["region"].tolist() == ["01", "10", "01"]


def test_read_dictionary_number_like_levels_round_trip(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: region, type: categorical, levels: [01, 1.50]}\n")
    dictionary = read_dictionary(path)
    assert read_dictionary(write_dictionary(dictionary, tmp_path / "again.yaml")) == dictionary


def test_read_dictionary_boolean_level_still_rejected(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: answer, type: categorical, levels: [yes, no]}\n")
    assert "read by YAML as a boolean" in read_error(path)


def test_read_dictionary_duplicated_column_key(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - name: age\n    type: integer\n    type: numeric\n")
    message = read_error(path)
    assert "key 'type' appears twice in one mapping (lines 4 and 5)" in message
    assert "remove one of them" in message


def test_read_dictionary_duplicated_key_in_flow_mapping(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: age, type: integer, type: numeric}\n")
    assert "key 'type' appears twice in one mapping (line 3)" in read_error(path)


def test_read_dictionary_duplicated_top_level_key(tmp_path):
    path = write_yaml(tmp_path, "name: t\nname: u\ncolumns:\n  - {name: age, type: integer}\n")
    assert "key 'name' appears twice in one mapping (lines 1 and 2)" in read_error(path)


def test_read_dictionary_merge_key_override_allowed(tmp_path):
    text = (
        "name: t\ncolumns:\n"
        "  - &lab {name: ldl, type: numeric, unit: mmol/L}\n"
        "  - {<<: *lab, name: hdl}\n"
    )
    dictionary = read_dictionary(write_yaml(tmp_path, text))
    assert dictionary.names == ["ldl", "hdl"]
    assert dictionary.column("hdl").unit == "mmol/L"


def test_read_dictionary_latin1(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: t\ncolumns:\n  - {name: x, type: categorical, levels: [f\xe9male]}\n".encode("latin-1"))
    message = read_error(path)
    assert str(path) in message
    assert "is not UTF-8 text: byte 0xe9" in message
    assert "(line 3)" in message
    assert "save the file again as UTF-8" in message


def test_read_dictionary_impossible_date(tmp_path):
    path = write_yaml(tmp_path, "name: t\ncolumns:\n  - {name: visit, type: date, range: [2019-01-01, 2019-13-01]}\n")
    message = read_error(path)
    assert "column 'visit': range max '2019-13-01' is not a valid date" in message
    assert "YYYY-MM-DD" in message


def test_dictionary_date_bound_not_iso_rejected():
    message = parse_error(column(type="date", range=["01/02/2019", None]))
    assert "range min '01/02/2019' is not an ISO date; write it as YYYY-MM-DD" in message


# --- Levels and codes that can never match --------------------------------------------------------


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"levels": [" a", "c"]}, "column 'x': levels item ' a' has leading or trailing whitespace"),
        ({"levels": [" a", "c"]}, "so it can never match; write 'a'"),
        ({"levels": ["b\u00a0", "c"]}, "levels item 'b\\xa0' has leading or trailing whitespace"),
        ({"levels": ["a", ""]}, "column 'x': levels contain an empty or blank item"),
        ({"levels": ["a", "  "]}, "which can never match because empty cells are missing values; remove it"),
        ({"levels": ["a"], "missing_codes": ["NA ", "-99"]}, "column 'x': missing_codes item 'NA ' has leading or trailing whitespace"),
        ({"levels": ["a"], "missing_codes": ["NA ", "-99"]}, "write 'NA'"),
    ],
)
def test_dictionary_unmatchable_items_rejected(entry, expected):
    assert expected in parse_error(column(type="categorical", **entry))


def test_dictionary_inner_spaces_in_level_accepted():
    assert parse(column(type="categorical", levels=["former smoker", "never"])).column("x").levels == ("former smoker", "never")


# --- Decimals against the range ------------------------------------------------------------------


def test_dictionary_bound_finer_than_decimals():
    message = parse_error(column(range=[0.2, 0.8], decimals=0))
    assert "column 'x': range min 0.2 has 1 decimal place(s), more than decimals (0)" in message
    assert "range max 0.8" in message
    assert "set decimals: 1 or round the bound to 0 decimal place(s)" in message


def test_dictionary_bound_finer_than_default_decimals():
    message = parse_error(column(range=[0.125, 10]))
    assert "range min 0.125 has 3 decimal place(s), more than the default decimals (2)" in message


def test_dictionary_bound_matching_decimals_accepted():
    assert parse(column(range=[0.2, 100.0], decimals=1)).column("x").range == (0.2, 100.0)


def test_dictionary_integer_bound_not_checked_against_decimals():
    assert parse(column(type="integer", range=[0, 10], decimals=0)).column("x").range == (0, 10)
