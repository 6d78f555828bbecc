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
