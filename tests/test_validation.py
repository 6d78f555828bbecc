"""Tests of loading data files and of the messages of table validation."""

import pandas as pd
import pytest

from synthlib.dictionary import DataDictionary
from synthlib.exceptions import DataValidationError
from synthlib.validation import load_table, unobserved_levels, validate_table


def parse(*columns):
    return DataDictionary.from_mapping({"name": "test", "columns": list(columns)})


@pytest.fixture
def numbers():
    return parse(
        {"name": "id", "type": "integer", "role": "identifier"},
        {"name": "a", "type": "integer"},
        {"name": "b", "type": "integer"},
        {"name": "c", "type": "integer", "required": False},
    )


def write(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def load_problems(path, dictionary) -> list:
    with pytest.raises(DataValidationError) as info:
        load_table(path, dictionary)
    return info.value.problems


def validation_problems(raw, dictionary) -> list:
    with pytest.raises(DataValidationError) as info:
        validate_table(raw, dictionary)
    return info.value.problems


# --- Rows with the wrong number of fields --------------------------------------------------------


def test_load_trailing_comma_rows_rejected(tmp_path, numbers):
    path = write(tmp_path, "id,a,b,c\n1,10,20,30,\n2,11,21,31,\n")
    problems = load_problems(path, numbers)
    assert len(problems) == 1
    assert "2 row(s) have a different number of fields than the header, which has 4" in problems[0]
    assert "line 2 has 5, line 3 has 5" in problems[0]
    assert "remove the separator at the end of these lines" in problems[0]


def test_load_ragged_rows_show_no_values(tmp_path, numbers):
    path = write(tmp_path, "id,a,b,c\n1,10,20,30,\n2,11,21,31,\n")
    message = load_problems(path, numbers)[0]
    for value in ("10", "20", "30", "11", "21", "31"):
        assert value not in message.replace(str(path), "")


@pytest.mark.parametrize(
    "text, count",
    [
        ("id,a,b,c\n1,10,20,30,x,y\n2,11,21,31\n", "1 row(s) have a different number of fields than the header, which has 4: line 2 has 6."),
        ("id,a,b,c\n1,10,20,30\n2,11\n", "1 row(s) have a different number of fields than the header, which has 4: line 3 has 2."),
        ("id,a,b,c\n1,10,20,30,\n2,11,21\n", "2 row(s) have a different number of fields than the header, which has 4: line 2 has 5, line 3 has 3."),
    ],
)
def test_load_ragged_rows_other_than_trailing_comma(tmp_path, numbers, text, count):
    message = load_problems(write(tmp_path, text), numbers)[0]
    assert count in message
    assert "missing or extra separators" in message


def test_load_ragged_rows_listed_up_to_five(tmp_path, numbers):
    path = write(tmp_path, "id,a,b,c\n" + "".join(f"{i},1,2,3,\n" for i in range(7)))
    message = load_problems(path, numbers)[0]
    assert "7 row(s)" in message
    assert "line 6 has 5, ..." in message
    assert "line 7 has" not in message


def test_load_line_numbers_count_quoted_line_breaks(tmp_path):
    dictionary = parse({"name": "note", "type": "categorical", "levels": ["a\nb", "c"]}, {"name": "x", "type": "integer"})
    path = write(tmp_path, 'note,x\n"a\nb",1\nc,2,\n')
    assert "line 4 has 3" in load_problems(path, dictionary)[0]


def test_load_blank_lines_are_not_rows(tmp_path, numbers):
    path = write(tmp_path, "id,a,b,c\n1,10,20,30\n\n   \n2,11,21,31\n")
    table = load_table(path, numbers)
    assert table["a"].tolist() == [10, 11]


def test_load_first_column_stays_a_column(tmp_path, numbers):
    path = write(tmp_path, "id,a,b,c\n1,10,20,30\n2,11,21,31\n")
    table = load_table(path, numbers)
    assert table["id"].tolist() == [1, 2]
    assert table.index.tolist() == [0, 1]


def test_load_trailing_comma_in_header_hint(tmp_path, numbers):
    path = write(tmp_path, "id,a,b,c,\n1,10,20,30,\n")
    message = load_problems(path, numbers)[0]
    assert "column(s) not in the data dictionary: ''" in message
    assert "remove the trailing comma" in message


# --- Files that are not UTF-8 CSV or valid Parquet -----------------------------------------------


def test_load_latin1_csv(tmp_path):
    dictionary = parse({"name": "sex", "type": "categorical", "levels": ["f\u00e9male", "male"]})
    path = tmp_path / "latin1.csv"
    path.write_bytes("sex\nmale\nf\u00e9male\n".encode("latin-1"))
    message = load_problems(path, dictionary)[0]
    assert str(path) in message
    assert "is not UTF-8 text: byte 0xe9 at offset 10 (line 3)" in message
    assert "save the file again as UTF-8" in message


@pytest.mark.parametrize(
    "text, line",
    [
        ('id,a,b,c\n1,"10,20,30\n2,11,21,31\n', 2),  # unclosed quote
        ('id,a,b,c\n1,10,20,30\n2,"11"1,21,31\n', 3),  # text after the closing quote
    ],
)
def test_load_invalid_quoting(tmp_path, numbers, text, line):
    path = write(tmp_path, text)
    message = load_problems(path, numbers)[0]
    assert f"{path} could not be read as CSV at the record that starts on line {line}" in message
    assert "close every quote" in message


def test_load_corrupt_parquet(tmp_path, numbers):
    path = tmp_path / "table.parquet"
    path.write_bytes(b"not parquet")
    message = load_problems(path, numbers)[0]
    assert f"{path} could not be read as Parquet" in message
    assert "write it again" in message


def test_load_truncated_parquet(tmp_path, numbers):
    path = tmp_path / "table.parquet"
    pd.DataFrame({"id": [1, 2], "a": [3, 4], "b": [5, 6]}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:100])
    assert "could not be read as Parquet" in load_problems(path, numbers)[0]


# --- Separators and headers ----------------------------------------------------------------------


def test_load_semicolon_file_with_comma_in_header(tmp_path):
    dictionary = parse({"name": "id", "type": "integer"}, {"name": "bp, systolic", "type": "numeric"}, {"name": "ldl", "type": "numeric"})
    path = write(tmp_path, "id;bp, systolic;ldl\n1;142;3,1\n2;130;2,7\n")
    problems = load_problems(path, dictionary)
    assert len(problems) == 1
    assert "looks semicolon-separated: its header line has 3 fields when split at semicolons and 2" in problems[0]
    assert "commas as separators" in problems[0]


def test_load_semicolon_inside_quoted_header_accepted(tmp_path):
    dictionary = parse({"name": "a;b;c", "type": "integer"}, {"name": "d", "type": "integer"})
    path = write(tmp_path, '"a;b;c",d\n1,2\n')
    assert load_table(path, dictionary)["a;b;c"].tolist() == [1]


def test_validate_header_case_and_space_hint():
    dictionary = parse({"name": "age", "type": "integer"}, {"name": "sex", "type": "categorical", "levels": ["f", "m"]})
    problems = validation_problems(pd.DataFrame({" age": ["60"], "Sex": ["f"]}), dictionary)
    assert "Did you mean ' age' in the table for 'age', 'Sex' in the table for 'sex'?" in problems[0]
    assert "Did you mean 'age' in the dictionary for ' age', 'sex' in the dictionary for 'Sex'?" in problems[1]


def test_validate_no_header_hint_for_other_names():
    dictionary = parse({"name": "age", "type": "integer"})
    problems = validation_problems(pd.DataFrame({"years": ["60"]}), dictionary)
    assert "Did you mean" not in " ".join(problems)


# --- Hints for numbers with commas ---------------------------------------------------------------


def comma_message(*values) -> str:
    dictionary = parse({"name": "x", "type": "numeric"})
    return validation_problems(pd.DataFrame({"x": list(values)}), dictionary)[0]


def test_comma_hint_names_both_readings():
    message = comma_message("1,017", "2.0")
    assert "either a decimal comma (write '1.017') or a thousands separator (write '1017')" in message


def test_comma_hint_decimal_comma_only():
    message = comma_message("3,1", "2.0")
    assert "use a decimal comma: write '1.5'" in message
    assert "thousands" not in message


def test_comma_hint_thousands_separator_only():
    message = comma_message("1,234.5", "1,234,567")
    assert "comma as thousands separator" in message
    assert "decimal comma" not in message


# --- No whole row in the messages ----------------------------------------------------------------


@pytest.fixture
def four_columns():
    return parse(
        {"name": "age", "type": "integer"},
        {"name": "ldl", "type": "numeric", "range": [0.1, 15]},
        {"name": "smoking", "type": "categorical", "levels": ["never", "current"]},
        {"name": "visit", "type": "date"},
    )


def test_messages_show_values_of_two_columns_per_row(four_columns):
    raw = pd.DataFrame({"age": ["female"], "ldl": ["142"], "smoking": ["2019-03-04"], "visit": ["former"]})
    problems = validation_problems(raw, four_columns)
    text = "\n".join(problems)
    shown = [value for value in ("female", "142", "2019-03-04", "former") if value in text]
    assert shown == ["female", "142"]


def test_messages_count_withheld_values(four_columns):
    raw = pd.DataFrame({"age": ["female"], "ldl": ["142"], "smoking": ["2019-03-04"], "visit": ["former"]})
    problems = validation_problems(raw, four_columns)
    assert len(problems) == 4
    assert problems[2].startswith("column 'smoking' (categorical): 1 value(s) are not among the levels")
    assert "(not shown: their rows already appear in the messages about other columns)" in problems[2]


def test_messages_two_column_table_show_one_column():
    dictionary = parse({"name": "age", "type": "integer"}, {"name": "sex", "type": "categorical", "levels": ["f", "m"]})
    problems = validation_problems(pd.DataFrame({"age": ["x"], "sex": ["q"]}), dictionary)
    assert "'x'" in problems[0]
    assert "'q'" not in problems[1]


def test_messages_other_rows_still_shown(four_columns):
    raw = pd.DataFrame(
        {
            "age": ["female", "60", "61"],
            "ldl": ["142", "3.1", "3.2"],
            "smoking": ["2019-03-04", "daily", "never"],
            "visit": ["former", "2019-01-01", "2019-01-02"],
        }
    )
    problems = validation_problems(raw, four_columns)
    assert "'daily'" in problems[2]
    assert "'2019-03-04'" not in problems[2]
    assert "other values not shown" in problems[2]


def test_messages_shared_value_charges_each_row():
    dictionary = parse(*({"name": name, "type": "integer"} for name in ("a", "b", "c")))
    raw = pd.DataFrame({"a": ["x", "1"], "b": ["y", "1"], "c": ["z", "z"]})
    problems = validation_problems(raw, dictionary)
    # 'z' also occurs in the first row, which already shows 'x' and 'y'.
    assert "2 value(s) are not numbers (not shown" in problems[2]


def test_messages_large_table_shows_five_examples():
    dictionary = parse({"name": "x", "type": "numeric"}, {"name": "y", "type": "numeric"}, {"name": "z", "type": "numeric"})
    raw = pd.DataFrame({"x": list("abcdefg"), "y": ["1"] * 7, "z": ["1"] * 7})
    message = validation_problems(raw, dictionary)[0]
    assert "7 value(s) are not numbers: 'a', 'b', 'c', 'd', 'e', ..." in message


def test_messages_range_examples_sorted():
    dictionary = parse({"name": "x", "type": "numeric", "range": [0, 10]}, {"name": "y", "type": "numeric"})
    raw = pd.DataFrame({"x": ["50", "-3", "20"], "y": ["1", "2", "3"]})
    problems = validation_problems(raw, dictionary)
    assert "3 value(s) outside the range [0, 10]: -3, 20, 50;" in problems[0]


def test_load_latin1_offset_counts_byte_order_mark(tmp_path):
    dictionary = parse({"name": "sex", "type": "categorical", "levels": ["male"]})
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfsex\nf\xe9male\n")
    assert "byte 0xe9 at offset 8 (line 2)" in load_problems(path, dictionary)[0]


def test_load_byte_order_mark_accepted(tmp_path):
    dictionary = parse({"name": "sex", "type": "categorical", "levels": ["male"]})
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfsex\nmale\n")
    assert load_table(path, dictionary)["sex"].tolist() == ["male"]


# --- Declared levels missing from the data -------------------------------------------------------


def test_unobserved_levels_are_reported_per_column():
    dictionary = parse(
        {"name": "smoking", "type": "categorical", "levels": ["never", "former", "current"]},
        {"name": "sex", "type": "categorical", "levels": ["female", "male"]},
    )
    table = validate_table(pd.DataFrame({"smoking": ["never", "never", None], "sex": ["male", "female", "male"]}), dictionary)
    assert unobserved_levels(table, dictionary) == {"smoking": ["former", "current"]}


def test_unobserved_levels_warning_names_column_levels_and_fix(caplog):
    dictionary = parse({"name": "statin", "type": "categorical", "levels": ["atorvastatin", "pitavastatin"]})
    with caplog.at_level("WARNING", logger="synthlib.validation"):
        validate_table(pd.DataFrame({"statin": ["atorvastatin"] * 4}), dictionary)
    message = caplog.text
    assert "declared levels missing from the data (4 rows): 'statin': 'pitavastatin'" in message
    assert "remove a level from the dictionary if it cannot occur" in message


def test_no_unobserved_levels_warning_when_every_level_occurs(caplog):
    dictionary = parse({"name": "sex", "type": "categorical", "levels": ["female", "male"]})
    with caplog.at_level("WARNING", logger="synthlib.validation"):
        validate_table(pd.DataFrame({"sex": ["female", "male"]}), dictionary)
    assert "levels missing" not in caplog.text
