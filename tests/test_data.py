"""Tests of the SMART loader, train/holdout splits and Table 1."""

import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthlib.data import load_smart, table_one, train_holdout_split
from synthlib.dictionary import DataDictionary, read_dictionary
from synthlib.validation import validate_table
from synthlib.exceptions import ConfigError, DataValidationError

SMART_YAML = Path(__file__).resolve().parents[1] / "data_templates" / "smart.yaml"


@pytest.fixture(scope="module")
def smart_dictionary():
    return read_dictionary(SMART_YAML)


@pytest.fixture(scope="module")
def smart(smart_dictionary):
    return validate_table(load_smart(), smart_dictionary)


@pytest.fixture
def tiny_dictionary():
    return DataDictionary.from_mapping(
        {
            "name": "tiny",
            "columns": [
                {"name": "id", "type": "integer", "role": "identifier"},
                {"name": "age", "type": "integer", "decimals": 0},
                {"name": "ldl", "type": "numeric", "decimals": 1},
                {"name": "sex", "type": "categorical", "levels": ["female", "male", "other"]},
                {"name": "diabetes", "type": "binary", "labels": {0: "no", 1: "yes"}},
                {"name": "visit", "type": "date"},
            ],
        }
    )


@pytest.fixture
def tiny(tiny_dictionary):
    raw = pd.DataFrame(
        {
            "id": ["101", "102", "103", "104"],
            "age": ["40", "50", "60", ""],
            "ldl": ["2.0", "3.0", "", "5.0"],
            "sex": ["female", "male", "male", ""],
            "diabetes": ["1", "0", "1", ""],
            "visit": ["2020-01-01", "2020-01-05", "2020-01-09", "2020-01-13"],
        }
    )
    return validate_table(raw, tiny_dictionary)


def cell(table, variable, statistic, level="", column="overall"):
    row = table[(table["variable"] == variable) & (table["statistic"] == statistic) & (table["level"] == level)]
    assert len(row) == 1, f"expected one row for {variable} {level} {statistic}"
    return row[column].iloc[0]


# --- SMART -------------------------------------------------------------------------------------


def test_smart_validates_against_dictionary(smart):
    assert smart.shape == (3873, 29)


def test_smart_dictionary_roles(smart_dictionary):
    assert smart_dictionary.by_role("identifier") == ["patient_id"]
    assert smart_dictionary.by_role("outcome") == ["event"]
    assert set(smart_dictionary.by_role("quasi_identifier")) == {"age", "sex", "height", "weight", "bmi"}
    assert set(smart_dictionary.by_role("sensitive")) == {"diabetes", "albuminuria"}


def test_smart_documented_facts(smart):
    assert smart["sex"].eq("male").mean() == pytest.approx(0.748, abs=0.001)
    assert smart["age"].mean() == pytest.approx(59.6, abs=0.05)
    assert smart["ldl_c"].mean() == pytest.approx(3.14, abs=0.005)
    assert smart["glucose"].mean() == pytest.approx(6.3, abs=0.05)


def test_smart_missing_code_becomes_missing(smart):
    assert smart["albuminuria"].isna().sum() == 207
    assert smart["diabetes"].isna().sum() == 40
    assert set(smart["smoking"].dropna().unique()) == {"never", "former", "current"}


def test_smart_split_sizes(smart):
    train, holdout = train_holdout_split(smart, holdout_fraction=0.2, random_state=0)
    assert len(train) == 3098
    assert len(holdout) == 775


def test_load_smart_without_survset(monkeypatch):
    monkeypatch.setitem(sys.modules, "SurvSet", None)
    monkeypatch.setitem(sys.modules, "SurvSet.data", None)
    with pytest.raises(ImportError, match="pip install survset"):
        load_smart()


def test_data_module_does_not_import_survset():
    code = "import sys, synthlib.data, synthlib.dictionary; print('SurvSet' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- Train/holdout split -----------------------------------------------------------------------


def test_split_fresh_indexes_and_dtypes(tiny):
    train, holdout = train_holdout_split(tiny, holdout_fraction=0.25, random_state=0)
    assert train.index.tolist() == [0, 1, 2]
    assert holdout.index.tolist() == [0]
    assert train.dtypes.equals(tiny.dtypes)


def test_split_is_a_partition(tiny):
    train, holdout = train_holdout_split(tiny, holdout_fraction=0.5, random_state=3)
    assert sorted(pd.concat([train, holdout])["id"].tolist()) == [101, 102, 103, 104]


def test_split_reproducible():
    data = pd.DataFrame({"x": np.arange(100)})
    first = train_holdout_split(data, random_state=0)[1]
    again = train_holdout_split(data, random_state=0)[1]
    other = train_holdout_split(data, random_state=1)[1]
    assert first["x"].tolist() == again["x"].tolist()
    assert first["x"].tolist() != other["x"].tolist()


def test_split_stratified_keeps_shares():
    data = pd.DataFrame({"event": [1] * 20 + [0] * 80, "x": np.arange(100)})
    train, holdout = train_holdout_split(data, holdout_fraction=0.25, random_state=0, stratify="event")
    assert holdout["event"].sum() == 5
    assert train["event"].sum() == 15


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, True, "0.2"])
def test_split_invalid_fraction(fraction):
    with pytest.raises(ConfigError, match="holdout_fraction"):
        train_holdout_split(pd.DataFrame({"x": range(10)}), holdout_fraction=fraction)


def test_split_table_too_small():
    with pytest.raises(DataValidationError, match="1 row"):
        train_holdout_split(pd.DataFrame({"x": [1]}), holdout_fraction=0.5)


def test_split_stratify_single_row_value():
    data = pd.DataFrame({"group": ["a"] * 9 + ["b"], "x": range(10)})
    with pytest.raises(DataValidationError, match="single row"):
        train_holdout_split(data, stratify="group")


def test_split_stratify_unknown_column():
    with pytest.raises(ConfigError, match="'group' is not in the table"):
        train_holdout_split(pd.DataFrame({"x": range(10)}), stratify="group")


def test_split_stratify_error_quotes_names():
    data = pd.DataFrame({"bp, systolic": range(10), "age": range(10)})
    with pytest.raises(ConfigError) as info:
        train_holdout_split(data, stratify="group")
    assert "columns: 'bp, systolic', 'age'" in str(info.value)


# --- Table 1 ----------------------------------------------------------------------------------

AGGREGATE = re.compile(
    r"^(\d+"  # n
    r"|\d+ \((\d+\.\d%|–)\)"  # n (%)
    r"|-?[\d.]+ \((-?[\d.]+|–)\)"  # mean (SD)
    r"|[\d.-]+ \[[\d.-]+, [\d.-]+\]"  # median [IQR], numbers or ISO dates
    r"|–)$"
)


def test_table_one_counts(tiny, tiny_dictionary):
    table = table_one(tiny, tiny_dictionary, min_group_size=1)
    assert cell(table, "n", "n") == "4"
    assert cell(table, "sex", "n (%)", "male") == "2 (66.7%)"
    assert cell(table, "sex", "n (%)", "other") == "0 (0.0%)"
    assert cell(table, "sex", "missing, n (%)") == "1 (25.0%)"
    assert cell(table, "diabetes", "n (%)", "yes") == "2 (66.7%)"


def test_table_one_numeric_summaries(tiny, tiny_dictionary):
    table = table_one(tiny, tiny_dictionary, min_group_size=1)
    assert cell(table, "age", "mean (SD)") == "50.0 (10.0)"
    assert cell(table, "age", "median [IQR]") == "50.0 [45.0, 55.0]"
    assert cell(table, "ldl", "mean (SD)") == "3.33 (1.53)"
    assert cell(table, "ldl", "missing, n (%)") == "1 (25.0%)"
    assert cell(table, "visit", "median [IQR]") == "2020-01-07 [2020-01-04, 2020-01-10]"


def test_table_one_cells_are_aggregates(tiny, tiny_dictionary):
    table = table_one(tiny, tiny_dictionary, by="sex", min_group_size=1)
    cells = table.drop(columns=["variable", "level", "statistic"]).to_numpy().ravel()
    offending = [value for value in cells if not AGGREGATE.match(value)]
    assert offending == []


def test_table_one_skips_identifiers(tiny, tiny_dictionary):
    table = table_one(tiny, tiny_dictionary)
    assert "id" not in table["variable"].tolist()
    assert not table.drop(columns=["variable", "level", "statistic"]).isin(["101", "102", "103", "104"]).any().any()


def test_table_one_stratified(tiny, tiny_dictionary):
    table = table_one(tiny, tiny_dictionary, by="diabetes", min_group_size=1)
    assert list(table.columns[3:]) == ["overall", "diabetes=no", "diabetes=yes"]
    assert cell(table, "n", "n", column="diabetes=yes") == "2"
    assert cell(table, "age", "mean (SD)", column="diabetes=no") == "50.0 (–)"
    assert "diabetes" not in table["variable"].tolist()


def test_table_one_rejects_numeric_by(tiny, tiny_dictionary):
    with pytest.raises(ConfigError, match="categorical or binary"):
        table_one(tiny, tiny_dictionary, by="age")


def test_table_one_smart(smart, smart_dictionary):
    table = table_one(smart, smart_dictionary, by="sex")
    assert cell(table, "n", "n", column="sex=male") == "2897"
    assert cell(table, "age", "mean (SD)") == "59.6 (10.5)"


# --- Table 1 suppression of small groups ---------------------------------------------------------

SUPPRESSED = "suppressed (n < 10)"
PROTECTING = "suppressed (protects a group with n < 10)"


def binary_table(n_yes, n_no, n_unknown=0):
    dictionary = DataDictionary.from_mapping(
        {
            "name": "small",
            "columns": [
                {"name": "age", "type": "integer"},
                {"name": "sex", "type": "categorical", "levels": ["female", "male"]},
                {"name": "diabetes", "type": "binary", "labels": {0: "no", 1: "yes"}},
            ],
        }
    )
    n_rows = n_yes + n_no + n_unknown
    raw = pd.DataFrame(
        {
            "age": [str(40 + i) for i in range(n_rows)],
            "sex": ["female" if i % 2 else "male" for i in range(n_rows)],
            "diabetes": ["1"] * n_yes + ["0"] * n_no + [""] * n_unknown,
        }
    )
    return validate_table(raw, dictionary), dictionary


def group_cells(table, column):
    return set(table[column])


def test_table_one_three_rows_suppressed():
    data, dictionary = binary_table(n_yes=1, n_no=2)
    table = table_one(data, dictionary, by="diabetes")
    assert group_cells(table, "diabetes=yes") == {SUPPRESSED}
    assert group_cells(table, "diabetes=no") == {SUPPRESSED}
    assert group_cells(table, "overall") == {SUPPRESSED}


def test_table_one_three_rows_show_no_value():
    data, dictionary = binary_table(n_yes=1, n_no=2)
    table = table_one(data, dictionary, by="diabetes")
    cells = table.drop(columns=["variable", "level", "statistic"]).to_numpy().ravel()
    assert not any(re.search(r"\d", cell.replace("n < 10", "")) for cell in cells)


def test_table_one_small_stratum_and_its_complement_suppressed():
    data, dictionary = binary_table(n_yes=1, n_no=11)
    table = table_one(data, dictionary, by="diabetes")
    assert group_cells(table, "diabetes=yes") == {SUPPRESSED}
    # Shown, overall minus diabetes=no would give the patient with diabetes.
    assert group_cells(table, "diabetes=no") == {PROTECTING}
    assert cell(table, "n", "n") == "12"
    assert cell(table, "age", "mean (SD)") == "45.5 (3.6)"


def test_table_one_missing_stratum_value_protected():
    data, dictionary = binary_table(n_yes=12, n_no=11, n_unknown=1)
    table = table_one(data, dictionary, by="diabetes")
    # Shown, overall minus both strata would give the patient without a diabetes value.
    assert group_cells(table, "diabetes=no") == {PROTECTING}
    assert cell(table, "n", "n", column="diabetes=yes") == "12"
    assert cell(table, "n", "n") == "24"


def test_table_one_large_strata_shown():
    data, dictionary = binary_table(n_yes=10, n_no=12)
    table = table_one(data, dictionary, by="diabetes")
    assert cell(table, "n", "n", column="diabetes=yes") == "10"
    assert cell(table, "age", "mean (SD)", column="diabetes=yes") == "44.5 (3.0)"
    assert cell(table, "n", "n", column="diabetes=no") == "12"


def test_table_one_complement_is_smallest_shown_stratum():
    dictionary = DataDictionary.from_mapping(
        {"name": "g", "columns": [{"name": "x", "type": "integer"}, {"name": "g", "type": "categorical", "levels": ["a", "b", "c"]}]}
    )
    raw = pd.DataFrame({"x": ["1"] * 29, "g": ["a"] * 15 + ["b"] * 12 + ["c"] * 2})
    table = table_one(validate_table(raw, dictionary), dictionary, by="g")
    assert cell(table, "n", "n", column="g=a") == "15"
    assert group_cells(table, "g=b") == {PROTECTING}
    assert group_cells(table, "g=c") == {SUPPRESSED}


def test_table_one_min_group_size_in_note():
    data, dictionary = binary_table(n_yes=3, n_no=30)
    table = table_one(data, dictionary, by="diabetes", min_group_size=5)
    assert group_cells(table, "diabetes=yes") == {"suppressed (n < 5)"}
    assert group_cells(table, "diabetes=no") == {"suppressed (protects a group with n < 5)"}


def test_table_one_suppression_logged(caplog):
    data, dictionary = binary_table(n_yes=1, n_no=11)
    with caplog.at_level(logging.WARNING, logger="synthlib.data"):
        table_one(data, dictionary, by="diabetes")
    assert "'diabetes=yes', 'diabetes=no' are suppressed" in caplog.text


@pytest.mark.parametrize("size", [-1, 2.5, True, "10"])
def test_table_one_invalid_min_group_size(size):
    data, dictionary = binary_table(n_yes=1, n_no=2)
    with pytest.raises(ConfigError, match="min_group_size"):
        table_one(data, dictionary, min_group_size=size)
