"""Tests of synthlib.fidelity_report: every metric in one report, its edge cases and the run summary."""

import json
import math
import warnings

import numpy as np
import pytest
import yaml

from synthlib import fidelity_report, study
from synthlib.artifacts import RunPaths, write_json
from synthlib.dictionary import write_dictionary
from synthlib.exceptions import IncomputableMetricWarning
from synthlib.pipeline import write_summary

from metric_tables import (
    DICTIONARY,
    EDGE_CASES,
    edge_case_tables,
    make_table,
    real_fixture,  # noqa: F401 (fixture)
    synthetic_fixture,  # noqa: F401 (fixture)
)


@pytest.fixture(scope="module", name="holdout")
def holdout_fixture():
    return make_table(120, random_state=5)


def _report_with_warnings(real, synthetic, holdout):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = fidelity_report.compute_fidelity_report(real, synthetic, holdout, DICTIONARY, n_permutations=5)
    messages = [str(item.message) for item in caught if issubclass(item.category, IncomputableMetricWarning)]
    return report, messages


def _nan_columns(table, value_column):
    return list(table.loc[table[value_column].isna(), "column"])


# ---------------------------------------------------------------- declarations


def test_describe_metrics_lists_every_module():
    table = fidelity_report.describe_metrics()
    assert table["name"].is_unique
    assert set(table["goal"]) == {"maximize", "minimize"}
    assert (table["min_value"] <= table["max_value"]).all()
    for name in ("ks_complement", "wasserstein_distance", "cramers_v_difference", "pmse", "s_pmse",
                 "importance_rank_agreement", "quality_score"):
        assert name in set(table["name"]), name


def test_utility_outcomes_from_dictionary():
    assert fidelity_report.utility_outcomes(DICTIONARY) == ["event"]


# ---------------------------------------------------------------- the whole report


def test_report_identity_scores_best(real, holdout):
    report, messages = _report_with_warnings(real, real, holdout)
    figures = fidelity_report.fidelity_figures(report)
    assert messages == []
    assert figures["quality_score"] == pytest.approx(1.0)
    assert figures["n_significant_variables"] == 0
    assert figures["pmse_logit"] == pytest.approx(0.0, abs=1e-12)
    assert figures["pmse_cart"] == 0.0
    assert all(distance == 0.0 for distance in figures["wasserstein_distance"].values())
    assert figures["max_abs_cramers_v_difference"] == 0.0
    assert figures["mean_importance_rank_agreement"] == 1.0


def test_report_larger_shift_scores_worse(real, holdout):
    figures = []
    for shift in (0.0, 4.0, 12.0):
        report, _ = _report_with_warnings(real, real.assign(age=real["age"] + shift), holdout)
        figures.append(fidelity_report.fidelity_figures(report))
    for key in ("pmse_logit", "pmse_cart"):
        assert figures[0][key] < figures[1][key] < figures[2][key], key
    distances = [figure["wasserstein_distance"]["age"] for figure in figures]
    assert distances[0] < distances[1] < distances[2]
    assert figures[0]["quality_score"] > figures[1]["quality_score"] > figures[2]["quality_score"]


def test_report_figures_are_json(real, synthetic, holdout, tmp_path):
    report, _ = _report_with_warnings(real, synthetic, holdout)
    path = write_json(tmp_path / "fidelity.json", fidelity_report.fidelity_figures(report))
    figures = json.loads(path.read_text())
    assert figures["outcomes"] == ["event"]
    assert set(figures["seconds"]) >= {"quality_score", "pmse_cart", "utility_event"}
    assert {row["outcome"] for row in figures["utility"]} == {"event"}
    assert len(figures["importance_rank_agreement"]) == 2


def test_report_without_holdout_skips_utility(real, synthetic):
    report, _ = _report_with_warnings(real, synthetic, None)
    assert report.utility.empty
    assert report.outcomes == ()
    assert fidelity_report.fidelity_figures(report)["mean_importance_rank_agreement"] is None


def test_report_summary_tables(real, synthetic, holdout):
    report, _ = _report_with_warnings(real, synthetic, holdout)
    columns = fidelity_report.column_summary(report)
    assert list(columns.index) == DICTIONARY.modelled_columns
    assert len(fidelity_report.weakest_pairs(report, n_pairs=3)) == 3
    assert list(fidelity_report.propensity_summary(report).index) == [
        "pMSE (logit)", "pMSE (cart)", "detection (logistic)",
    ]
    utility_table = fidelity_report.utility_summary(report)
    assert utility_table["importance rank agreement"].notna().all()


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize("case", EDGE_CASES)
def test_report_edge_case_nan_has_warning(real, synthetic, holdout, case):
    real_case, synthetic_case = edge_case_tables(case, real, synthetic)
    report, messages = _report_with_warnings(real_case, synthetic_case, holdout)
    nan_columns = (
        _nan_columns(report.shapes, "score")
        + _nan_columns(report.marginals[report.marginals["type"].isin(["numeric", "integer", "date"])],
                       "wasserstein_distance")
        + _nan_columns(report.tests, "p_value")
    )
    for column in nan_columns:
        assert any(column in message for message in messages), (case, column)
    json.dumps(fidelity_report.fidelity_figures(report), default=str)


def test_edge_all_missing_in_synthetic(real, synthetic, holdout):
    report, messages = _report_with_warnings(*edge_case_tables("all_missing_in_synthetic", real, synthetic), holdout)
    shapes = report.shapes.set_index("column")
    assert "synthetic column has no non-missing values" in shapes.loc["ldl", "reason"]
    assert any("ldl" in message and "no non-missing" in message for message in messages)
    pairs = report.correlation_similarities
    assert pairs.loc[(pairs["column_1"] == "ldl") | (pairs["column_2"] == "ldl"), "score"].isna().all()
    assert math.isfinite(report.propensity["logit"].value)
    assert report.utility["score"].notna().all()


def test_edge_all_missing_in_both(real, synthetic, holdout):
    report, _ = _report_with_warnings(*edge_case_tables("all_missing_in_both", real, synthetic), holdout)
    assert "real column has no non-missing values" in report.shapes.set_index("column").loc["ldl", "reason"]
    assert report.propensity["cart"].breakdown["excluded_columns"] == ("ldl",)
    assert report.utility["score"].notna().all()


def test_edge_constant_in_synthetic_only(real, synthetic, holdout):
    report, messages = _report_with_warnings(*edge_case_tables("constant_in_synthetic_only", real, synthetic), holdout)
    shapes = report.shapes.set_index("column")
    assert math.isfinite(shapes.loc["visits", "score"])
    assert math.isfinite(shapes.loc["smoking", "score"])
    pairs = report.correlation_similarities
    with_visits = pairs[(pairs["column_1"] == "visits") | (pairs["column_2"] == "visits")]
    assert with_visits["score"].isna().all()
    assert (with_visits["reason"].str.contains("synthetic column 'visits' is constant")).all()
    assert math.isnan(report.cramers_v.difference.loc["smoking", "diabetes"])
    assert any("cramers_v_difference" in message and "smoking" in message for message in messages)
    assert math.isfinite(report.propensity["logit"].value)


def test_edge_category_absent_from_synthetic(real, synthetic, holdout):
    real_case, synthetic_case = edge_case_tables("category_absent_from_synthetic", real, synthetic)
    assert (real_case["smoking"] == "rare").any()
    report, messages = _report_with_warnings(real_case, synthetic_case, holdout)
    assert messages == []
    assert report.utility["score"].notna().all()
    assert report.importance_agreement["rank_agreement"].notna().all()
    assert report.shapes["score"].notna().all()
    assert np.isfinite(report.cramers_v.difference.to_numpy()).all()


def test_edge_one_row_synthetic(real, synthetic, holdout):
    report, messages = _report_with_warnings(*edge_case_tables("one_row_synthetic", real, synthetic), holdout)
    assert math.isnan(report.detection.value)
    assert any("fewer than n_splits" in message for message in messages)
    synthetic_scores = report.utility.loc[report.utility["trained_on"] == "synthetic", "score"]
    assert synthetic_scores.isna().all()
    assert report.importance_agreement["rank_agreement"].isna().all()
    assert any("importance_rank_agreement" in message for message in messages)
    assert report.correlation_similarities["score"].isna().all()
    shapes = report.shapes.set_index("column")
    present = [name for name in DICTIONARY.modelled_columns if synthetic[name].notna().iloc[0]]
    assert shapes.loc[present, "score"].notna().all()
    assert math.isfinite(report.propensity["logit"].value)


# ---------------------------------------------------------------- the study step and the run summary


def test_evaluate_fidelity_writes_summary_figures(real, synthetic, holdout, tmp_path):
    paths = RunPaths(tmp_path / "run")
    paths.train.parent.mkdir(parents=True)
    real.drop(columns="patient_id").to_parquet(paths.train)
    holdout.drop(columns="patient_id").to_parquet(paths.holdout)
    synthetic.drop(columns="patient_id").to_parquet(paths.synthetic)
    write_dictionary(DICTIONARY.subset(DICTIONARY.modelled_columns), paths.dictionary)
    config = {"run_name": "toy", "random_state": 0, "data": {"source": "toy"}, "model": {"kind": "scratch"}}
    paths.config.write_text(yaml.safe_dump(config))

    report = study.evaluate_fidelity(paths.run_dir)
    summary = write_summary(paths)
    figures = json.loads(paths.step_results("fidelity").read_text())
    assert report.outcomes == ("event",)
    assert figures["s_pmse_cart"] == pytest.approx(report.propensity["cart"].breakdown["s_pmse"])
    for key in ("s_pmse_cart", "s_pmse_logit", "n_significant_variables", "importance_rank_agreement"):
        assert summary[key] is not None, key
