"""Tests of synthlib.utility: detection and train-on-synthetic, test-on-real utility."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from synthlib import fidelity_report, utility
from synthlib.exceptions import ConfigError, IncomputableMetricWarning

from metric_tables import DICTIONARY, real_fixture, synthetic_fixture  # noqa: F401 (fixtures)


# ---------------------------------------------------------------- declarations


def test_utility_metrics_listed_with_fidelity_metrics():
    names = fidelity_report.describe_metrics()["name"].tolist()
    assert utility.DETECTION.name in names
    assert utility.TSTR_UTILITY.name in names
    assert utility.IMPORTANCE_RANK_AGREEMENT.name in names


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


# ---------------------------------------------------------------- feature importance agreement


def test_compare_utility_scores_equal_tstr(real, synthetic):
    train, test = real.iloc[:160], real.iloc[160:]
    comparison = utility.compare_utility(train, synthetic, test, "event", DICTIONARY, random_state=0)
    table = utility.tstr_utility(train, synthetic, test, "event", DICTIONARY, random_state=0)
    pd.testing.assert_frame_equal(comparison.scores, table)


def test_compare_utility_identity_agrees_fully(real):
    train, test = real.iloc[:160], real.iloc[160:]
    comparison = utility.compare_utility(train, train, test, "event", DICTIONARY, random_state=0)
    scores = comparison.scores.pivot(index="model", columns="trained_on", values="score")
    assert (scores["real"] == scores["synthetic"]).all()
    assert (comparison.agreement["rank_agreement"] == 1.0).all()
    importances = comparison.importances
    assert (importances["real_importance"] == importances["synthetic_importance"]).all()


def test_compare_utility_importance_finds_the_driver(real):
    # event depends on age and diabetes, so age ranks first for the real-trained logistic model.
    train, test = real.iloc[:160], real.iloc[160:]
    comparison = utility.compare_utility(train, train, test, "event", DICTIONARY, random_state=0)
    logistic = comparison.importances[comparison.importances["model"] == "logistic_regression"]
    assert logistic.set_index("feature")["real_importance"].idxmax() == "age"


def test_compare_utility_tables_shape(real, synthetic):
    train, test = real.iloc[:160], real.iloc[160:]
    comparison = utility.compare_utility(train, synthetic, test, "event", DICTIONARY, random_state=0)
    n_features = len(DICTIONARY.modelled_columns) - 1
    assert len(comparison.importances) == 2 * n_features
    assert list(comparison.agreement["model"]) == ["logistic_regression", "hist_gradient_boosting"]
    assert comparison.agreement["rank_agreement"].between(-1.0, 1.0).all()


def test_feature_blocks_match_raw_shuffle(real):
    # Shuffling a raw feature and transforming equals transforming and shuffling its block.
    train, test = real.iloc[:160], real.iloc[160:]
    inputs = utility._utility_inputs(train, train, test, "event", DICTIONARY, None)
    _, fitted = utility._fit_utility_models(inputs, "event", 0, 1)
    pipeline = fitted[("logistic_regression", "real")]
    frame = inputs["frames"]["test"]
    matrix = pipeline[:-1].transform(frame)
    order = np.random.default_rng(0).permutation(len(frame))
    blocks = utility._feature_blocks(pipeline, inputs["features"], inputs["levels"])
    assert sum(len(block) for block in blocks) == matrix.shape[1]
    for feature, block in zip(inputs["features"], blocks):
        shuffled = frame.copy()
        shuffled[feature] = frame[feature].to_numpy()[order]
        expected = matrix.copy()
        expected[:, block] = matrix[order][:, block]
        assert np.allclose(pipeline[:-1].transform(shuffled), expected), feature


def test_compare_utility_category_absent_from_synthetic(real, synthetic):
    without_rare = synthetic[synthetic["smoking"] != "rare"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        comparison = utility.compare_utility(real.iloc[:160], without_rare, real.iloc[160:], "event", DICTIONARY)
    assert comparison.scores["score"].notna().all()
    assert comparison.agreement["rank_agreement"].notna().all()


def test_compare_utility_one_row_synthetic_warns(real):
    with pytest.warns(IncomputableMetricWarning, match="importance_rank_agreement.*synthetic rows could not be trained"):
        comparison = utility.compare_utility(real.iloc[:160], real.iloc[[0]], real.iloc[160:], "age", DICTIONARY)
    assert comparison.agreement["rank_agreement"].isna().all()
    assert comparison.importances["synthetic_importance"].isna().all()
    assert comparison.importances["real_importance"].notna().all()


def test_compare_utility_subsamples_test_rows(real):
    train, test = real.iloc[:160], real.iloc[160:]
    inputs = utility._utility_inputs(train, train, test, "event", DICTIONARY, None)
    frame, outcome = utility._test_subsample(inputs, 30, random_state=0)
    assert len(frame) == 30
    assert len(outcome) == 30


def test_compare_utility_rejects_bad_repeats(real):
    with pytest.raises(ConfigError, match="n_repeats"):
        utility.compare_utility(real, real, real, "event", DICTIONARY, n_repeats=0)
