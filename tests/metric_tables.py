"""Typed toy tables shared by the metric tests (test_fidelity.py and test_utility.py)."""

import numpy as np
import pandas as pd
import pytest

from synthlib.dictionary import ColumnSpec, DataDictionary

SMOKING_LEVELS = ("never", "former", "current", "rare")

DICTIONARY = DataDictionary(
    name="toy",
    columns=(
        ColumnSpec("patient_id", "integer", role="identifier"),
        ColumnSpec("age", "numeric", unit="years"),
        ColumnSpec("ldl", "numeric", unit="mmol/L"),
        ColumnSpec("visits", "integer"),
        ColumnSpec("smoking", "categorical", levels=SMOKING_LEVELS),
        ColumnSpec("diabetes", "binary", labels={0: "no", 1: "yes"}),
        ColumnSpec("enrolled", "date"),
        ColumnSpec("event", "binary", role="outcome"),
    ),
)


def make_table(n_samples, random_state, age_shift=0.0, smoking_p=(0.5, 0.3, 0.17, 0.03)):
    """Build a typed table with missing values, a rare category, a strong correlation and an association."""
    rng = np.random.default_rng(random_state)
    age = rng.normal(60.0 + age_shift, 10.0, n_samples)
    ldl = 0.08 * age + rng.normal(0.0, 0.5, n_samples)
    ldl[rng.random(n_samples) < 0.2] = np.nan
    visits = pd.array(rng.poisson(3, n_samples), dtype="Int64")
    visits[rng.random(n_samples) < 0.1] = pd.NA
    smoking = rng.choice(SMOKING_LEVELS, n_samples, p=smoking_p)
    diabetes = (rng.random(n_samples) < np.where(smoking == "never", 0.1, 0.6)).astype(int)
    days = pd.to_timedelta(rng.integers(0, 3650, n_samples), unit="D")
    enrolled = pd.Series(pd.Timestamp("2000-01-01") + days)
    enrolled[rng.random(n_samples) < 0.1] = pd.NaT
    risk = 1.0 / (1.0 + np.exp(-(age - 60.0) / 5.0 - diabetes))
    event = (rng.random(n_samples) < risk).astype(int)
    return pd.DataFrame({
        "patient_id": pd.array(np.arange(n_samples), dtype="Int64"),
        "age": age,
        "ldl": ldl,
        "visits": visits,
        "smoking": pd.Categorical(smoking, categories=SMOKING_LEVELS),
        "diabetes": pd.array(diabetes, dtype="Int64"),
        "enrolled": enrolled.astype("datetime64[ns]"),
        "event": pd.array(event, dtype="Int64"),
    })


@pytest.fixture(scope="module", name="real")
def real_fixture():
    return make_table(240, random_state=0)


@pytest.fixture(scope="module", name="synthetic")
def synthetic_fixture():
    return make_table(180, random_state=1, age_shift=3.0)


SDMETRICS_METADATA = {
    "columns": {
        "age": {"sdtype": "numerical"},
        "ldl": {"sdtype": "numerical"},
        "visits": {"sdtype": "numerical"},
        "smoking": {"sdtype": "categorical"},
        "diabetes": {"sdtype": "boolean"},
        "enrolled": {"sdtype": "datetime"},
        "event": {"sdtype": "boolean"},
    }
}
CONTINUOUS_COLUMNS = ["age", "ldl", "visits", "enrolled"]
DISCRETE_COLUMNS = ["smoking", "diabetes", "event"]


def sdmetrics_frame(table, columns):
    """Return columns as SDMetrics takes them: categories as objects, dates as float nanoseconds (NaN for NaT)."""
    frame = {}
    for name in columns:
        values = table[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        elif pd.api.types.is_datetime64_any_dtype(values):
            nanoseconds = values.to_numpy().view("int64").astype(float)
            nanoseconds[values.isna().to_numpy()] = np.nan
            values = pd.Series(nanoseconds, index=table.index)
        frame[name] = values
    return pd.DataFrame(frame)


EDGE_CASES = (
    "all_missing_in_synthetic",
    "all_missing_in_both",
    "constant_in_synthetic_only",
    "category_absent_from_synthetic",
    "one_row_synthetic",
)


def edge_case_tables(case, real, synthetic):
    """Return ``(real, synthetic)`` changed to show one edge case of the metric tests."""
    if case == "all_missing_in_synthetic":
        return real, synthetic.assign(ldl=np.nan)
    if case == "all_missing_in_both":
        return real.assign(ldl=np.nan), synthetic.assign(ldl=np.nan)
    if case == "constant_in_synthetic_only":
        smoking = pd.Categorical(["never"] * len(synthetic), categories=SMOKING_LEVELS)
        return real, synthetic.assign(visits=pd.array([2] * len(synthetic), dtype="Int64"), smoking=smoking)
    if case == "category_absent_from_synthetic":
        return real, synthetic[synthetic["smoking"] != "rare"].reset_index(drop=True)
    if case == "one_row_synthetic":
        return real, synthetic.iloc[[0]].reset_index(drop=True)
    raise ValueError(f"unknown edge case {case!r}")
