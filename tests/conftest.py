"""Shared fixtures: a small simulated cohort written as CSV with its data dictionary."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")

TOY_DICTIONARY = {
    "name": "toy_cohort",
    "description": "Simulated lipid-clinic cohort for tests.",
    "source": "tests/conftest.py (simulated, seeded)",
    "columns": [
        {"name": "patient_id", "type": "integer", "role": "identifier"},
        {"name": "age", "type": "integer", "unit": "years", "range": [18, 100], "role": "quasi_identifier"},
        {"name": "sex", "type": "categorical", "levels": ["male", "female"], "role": "quasi_identifier"},
        {"name": "ldl_c", "type": "numeric", "unit": "mmol/L", "range": [0.5, 10], "decimals": 1,
         "missing_codes": ["NA"], "role": "predictor"},
        {"name": "bmi", "type": "numeric", "unit": "kg/m2", "range": [12, 70], "decimals": 1,
         "role": "quasi_identifier"},
        {"name": "sbp", "type": "integer", "unit": "mmHg", "range": [60, 260], "role": "predictor"},
        {"name": "smoker", "type": "binary", "role": "sensitive"},
        {"name": "event", "type": "binary", "role": "outcome"},
    ],
}


def simulate_toy_cohort(n_rows=400, random_state=0) -> pd.DataFrame:
    """Return a raw table (strings allowed) with a logistic event model on age and LDL-C."""
    rng = np.random.default_rng(random_state)
    age = rng.integers(40, 80, n_rows)
    sex = rng.choice(["male", "female"], n_rows, p=[0.7, 0.3])
    ldl = np.clip(rng.normal(3.2, 0.8, n_rows), 0.6, 9.0).round(1)
    bmi = np.clip(rng.normal(27, 4, n_rows), 16, 50).round(1)
    sbp = np.clip(rng.normal(140, 18, n_rows), 90, 220).round().astype(int)
    smoker = rng.binomial(1, 0.25, n_rows)
    logit = -6.0 + 0.06 * age + 0.5 * ldl + 0.6 * smoker
    event = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    ldl_text = np.where(rng.random(n_rows) < 0.1, "NA", ldl.astype(str))
    return pd.DataFrame(
        {"patient_id": np.arange(n_rows), "age": age, "sex": sex, "ldl_c": ldl_text, "bmi": bmi, "sbp": sbp, "smoker": smoker, "event": event}
    )


@pytest.fixture(scope="session")
def toy_study_files(tmp_path_factory):
    """Write the toy cohort, its dictionary and a small run configuration; return their paths."""
    folder = tmp_path_factory.mktemp("toy_study")
    csv = folder / "toy.csv"
    simulate_toy_cohort().to_csv(csv, index=False)
    dictionary = folder / "toy.yaml"
    dictionary.write_text(yaml.safe_dump(TOY_DICTIONARY, sort_keys=False))
    config = folder / "toy_run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "run_name": "toy",
                "data": {"source": str(csv), "dictionary": str(dictionary), "holdout_fraction": 0.25},
                "model": {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 512},
                "training": {"epochs": 25, "batch_size": 16, "learning_rate": 3.0e-3},
                "sampling": {"n_samples": 150, "batch_size": 128, "temperature": 0.9, "max_batches": 20},
                "fidelity": {"outcome": "event"},
                "replication": {"formula": "event ~ age + C(sex) + ldl_c + bmi + smoker"},
            }
        )
    )
    return {"csv": csv, "dictionary": dictionary, "config": config, "dir": folder}
