"""Tests of synthlib.utility: detection and train-on-synthetic, test-on-real utility."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from synthlib import fidelity, utility
from synthlib.exceptions import ConfigError, IncomputableMetricWarning

from metric_tables import DICTIONARY, real_fixture, synthetic_fixture  # noqa: F401 (fixtures)


# ---------------------------------------------------------------- declarations


def test_utility_metrics_listed_with_fidelity_metrics():
    names = fidelity.describe_metrics()["name"].tolist()
    assert utility.DETECTION.name in names
    assert utility.TSTR_UTILITY.name in names


# ---------------------------------------------------------------- detection


def test_detection_identical_tables_near_chance(real):
    result = utility.detection_auc(real, real, DICTIONARY, random_state=0)
    assert len(result.breakdown["fold_aucs"]) == 3
    assert result.breakdown["mean_auc"] < 0.65
    assert result.value > 0.7


def test_detection_separable_tables_score_zero(real):
    far = real.assign(age=real["age"] + 200.0)
    result = utility.detection_auc(real, far, DICTIONARY, random_state=0)
    assert result.breakdown["mean_auc"] == pytest.approx(1.0)
    assert result.value == pytest.approx(0.0)


def test_detection_score_formula(real, synthetic):
    result = utility.detection_auc(real, synthetic, DICTIONARY, random_state=0, n_splits=4)
    expected = 1 - np.mean([2 * max(0.5, auc) - 1 for auc in result.breakdown["fold_aucs"]])
    assert len(result.breakdown["fold_aucs"]) == 4
    assert result.value == pytest.approx(expected)


def test_detection_is_reproducible(real, synthetic):
    first = utility.detection_auc(real, synthetic, DICTIONARY, random_state=0)
    second = utility.detection_auc(real, synthetic, DICTIONARY, random_state=0)
    assert first.breakdown["fold_aucs"] == second.breakdown["fold_aucs"]


def test_detection_library_threads_same_result(real, synthetic):
    one_thread = utility.detection_auc(real, synthetic, DICTIONARY, random_state=0)
    library_threads = utility.detection_auc(real, synthetic, DICTIONARY, random_state=0, n_threads=None)
    assert library_threads.value == pytest.approx(one_thread.value, abs=1e-9)


def test_detection_one_row_synthetic_warns(real):
    with pytest.warns(IncomputableMetricWarning, match="fewer than n_splits"):
        result = utility.detection_auc(real, real.iloc[[0]], DICTIONARY)
    assert math.isnan(result.value)


# ---------------------------------------------------------------- TSTR


def test_tstr_binary_outcome_rows(real, synthetic):
    train, test = real.iloc[:160], real.iloc[160:]
    table = utility.tstr_utility(train, synthetic, test, "event", DICTIONARY, random_state=0)
    assert list(table["trained_on"]) == ["real", "real", "synthetic", "synthetic"]
    assert set(table["model"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert (table["metric"] == "auc").all()
    assert table["score"].between(0.0, 1.0).all()


def test_tstr_numeric_outcome_uses_r2(real, synthetic):
    train, test = real.iloc[:160], real.iloc[160:]
    table = utility.tstr_utility(train, synthetic, test, "age", DICTIONARY, random_state=0)
    assert set(table["model"]) == {"linear_regression", "hist_gradient_boosting"}
    assert (table["metric"] == "r2").all()
    assert table["score"].notna().all()


def test_tstr_category_absent_from_synthetic(real, synthetic):
    without_rare = synthetic[synthetic["smoking"] != "rare"]
    assert (real["smoking"] == "rare").any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = utility.tstr_utility(real.iloc[:160], without_rare, real.iloc[160:], "event", DICTIONARY)
    assert table["score"].notna().all()


def test_tstr_constant_synthetic_outcome(real, synthetic):
    constant = synthetic.assign(event=pd.array([0] * len(synthetic), dtype="Int64"))
    with pytest.warns(IncomputableMetricWarning, match="synthetic training outcome takes a single value"):
        table = utility.tstr_utility(real.iloc[:160], constant, real.iloc[160:], "event", DICTIONARY)
    scores = table.set_index("trained_on")["score"]
    assert scores["synthetic"].isna().all()
    assert scores["real"].notna().all()


def test_tstr_one_row_synthetic(real):
    with pytest.warns(IncomputableMetricWarning, match="1 row"):
        table = utility.tstr_utility(real.iloc[:160], real.iloc[[0]], real.iloc[160:], "age", DICTIONARY)
    assert table.set_index("trained_on")["score"]["synthetic"].isna().all()


def test_tstr_rejects_categorical_outcome(real):
    with pytest.raises(ConfigError, match="'smoking'"):
        utility.tstr_utility(real, real, real, "smoking", DICTIONARY)


def test_tstr_excludes_outcome_role_columns(real):
    # ldl is rebuilt from event, so only a model that uses event (role outcome) predicts it well.
    leaky = real.assign(ldl=real["event"].astype(float) * 5.0)
    train, test = leaky.iloc[:160], leaky.iloc[160:]
    default = utility.tstr_utility(train, train, test, "ldl", DICTIONARY, random_state=0)
    features = [*DICTIONARY.by_role("predictor"), "event"]
    with_event = utility.tstr_utility(
        train, train, test, "ldl", DICTIONARY, random_state=0, features=features
    )
    assert default["score"].max() < 0.9
    assert with_event["score"].min() > 0.99


def test_tstr_repeated_index_labels(real, synthetic):
    repeated = synthetic.set_index(np.zeros(len(synthetic), dtype=int))
    table = utility.tstr_utility(real.iloc[:160], repeated, real.iloc[160:], "event", DICTIONARY)
    assert (table.set_index("trained_on").loc["synthetic", "n_train"] == len(synthetic)).all()
