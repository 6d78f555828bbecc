"""Tests of synthlib.fidelity and synthlib.plots.fidelity."""

import itertools
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from synthlib import fidelity  # noqa: E402
from synthlib.exceptions import ConfigError, DataValidationError, IncomputableMetricWarning  # noqa: E402
from synthlib.plots import fidelity as fidelity_plots  # noqa: E402

from metric_tables import (  # noqa: E402
    CONTINUOUS_COLUMNS,
    DICTIONARY,
    DISCRETE_COLUMNS,
    SDMETRICS_METADATA,
    real_fixture,  # noqa: F401 (fixture)
    sdmetrics_frame,
    synthetic_fixture,  # noqa: F401 (fixture)
)

SDMETRICS_TOLERANCE = 1e-9

# ---------------------------------------------------------------- declarations


def test_metric_info_rejects_unknown_goal():
    with pytest.raises(ValueError, match="goal"):
        fidelity.MetricInfo("x", "higher", 0.0, 1.0, "")


def test_metric_infos_have_unique_names():
    names = [info.name for info in fidelity.METRIC_INFOS]
    assert len(names) == len(set(names))


# ---------------------------------------------------------------- KS and TV


def test_ks_complement_hand_computed():
    # ECDFs of {1,2,3,4} and {3,4,5,6} differ by at most 0.5 (for example at x = 2).
    real = pd.Series([1.0, 2.0, 3.0, 4.0])
    synthetic = pd.Series([3.0, 4.0, 5.0, 6.0])
    assert fidelity.ks_complement(real, synthetic) == pytest.approx(0.5)


def test_ks_complement_drops_missing():
    real = pd.Series([1.0, 2.0, np.nan])
    synthetic = pd.Series([1.0, 2.0])
    assert fidelity.ks_complement(real, synthetic) == 1.0


def test_ks_complement_disjoint_is_zero():
    assert fidelity.ks_complement(pd.Series([1.0, 2.0]), pd.Series([3.0, 4.0])) == 0.0


def test_ks_complement_int64_with_na():
    real = pd.Series([1, 2, pd.NA, 3], dtype="Int64")
    synthetic = pd.Series([1, 2, 3, pd.NA], dtype="Int64")
    assert fidelity.ks_complement(real, synthetic) == 1.0


def test_ks_complement_dates():
    dates = pd.Series(pd.to_datetime(["2020-01-01", "2020-06-01", None, "2021-01-01"]))
    later = dates + pd.Timedelta(days=1000)
    assert fidelity.ks_complement(dates, dates) == 1.0
    assert fidelity.ks_complement(dates, later) == 0.0


def test_ks_complement_dates_keep_nanoseconds():
    # 2**53 ns is about 104 days after 1970, so float64 would merge these two instants.
    instant = pd.Timestamp("2020-01-01")
    real = pd.Series([instant])
    synthetic = pd.Series([instant + pd.Timedelta(nanoseconds=1)])
    assert fidelity.ks_complement(real, synthetic) == 0.0


def test_ks_complement_rounds_float_noise():
    real = pd.Series([0.1 + 0.2, 1.0])
    synthetic = pd.Series([0.3, 1.0])
    assert fidelity.ks_complement(real, synthetic) == 1.0


def test_ks_complement_all_missing_warns_with_column():
    real = pd.Series([1.0, 2.0], name="ldl")
    synthetic = pd.Series([np.nan, np.nan], name="ldl")
    with pytest.warns(IncomputableMetricWarning, match="column 'ldl'.*synthetic column has no non-missing"):
        value = fidelity.ks_complement(real, synthetic)
    assert math.isnan(value)


def test_ks_complement_rejects_categorical():
    values = pd.Series(pd.Categorical(["a", "b"]), name="smoking")
    with pytest.raises(DataValidationError, match="smoking"):
        fidelity.ks_complement(values, values)


def test_tv_complement_hand_computed():
    # p_real = (0.5, 0.5), p_synthetic = (0.75, 0.25): TV = 0.5 * (0.25 + 0.25).
    real = pd.Series(["a", "a", "b", "b"])
    synthetic = pd.Series(["a", "a", "a", "b"])
    assert fidelity.tv_complement(real, synthetic) == pytest.approx(0.75)


def test_tv_complement_synthetic_only_category_pseudo_count():
    real = pd.Series(["a", "a"])
    synthetic = pd.Series(["a", "c"])
    real_total = 2 + 1e-6
    expected = 1 - 0.5 * (abs(0.5 - 2 / real_total) + abs(0.5 - 1e-6 / real_total))
    assert fidelity.tv_complement(real, synthetic) == pytest.approx(expected, abs=1e-15)


def test_tv_complement_ignores_unused_categories():
    real = pd.Series(pd.Categorical(["a", "b"], categories=["a", "b", "c"]))
    synthetic = pd.Series(pd.Categorical(["a", "b", None], categories=["a", "b", "c"]))
    assert fidelity.tv_complement(real, synthetic) == 1.0


def test_tv_complement_disjoint_is_near_zero():
    value = fidelity.tv_complement(pd.Series(["a", "a"]), pd.Series(["b", "b"]))
    assert value == pytest.approx(0.0, abs=1e-6)


def test_tv_complement_empty_side_warns():
    with pytest.warns(IncomputableMetricWarning, match="column 'smoking'.*real column"):
        empty = pd.Series([None, None], dtype=object)
        value = fidelity.tv_complement(empty, pd.Series(["a"]), column="smoking")
    assert math.isnan(value)


def test_ks_and_tv_match_sdmetrics():
    from sdmetrics.single_column import KSComplement, TVComplement

    rng = np.random.default_rng(3)
    real = pd.Series(np.where(rng.random(300) < 0.1, np.nan, rng.normal(0, 1, 300)))
    synthetic = pd.Series(rng.normal(0.3, 1.2, 200))
    real_levels = pd.Series(rng.choice(["a", "b", "c"], 300, p=[0.6, 0.38, 0.02]))
    synthetic_levels = pd.Series(rng.choice(["a", "b", "d"], 200, p=[0.5, 0.45, 0.05]))
    expected_ks = KSComplement.compute(real, synthetic)
    assert fidelity.ks_complement(real, synthetic) == pytest.approx(expected_ks, abs=1e-12)
    expected_tv = TVComplement.compute(real_levels, synthetic_levels)
    assert fidelity.tv_complement(real_levels, synthetic_levels) == pytest.approx(expected_tv, abs=1e-12)


@pytest.mark.parametrize("column", CONTINUOUS_COLUMNS)
def test_ks_complement_matches_sdmetrics_per_column(real, synthetic, column):
    # ldl, visits (Int64) and enrolled (dates) have missing values.
    from sdmetrics.single_column import KSComplement

    expected = KSComplement.compute(real[column], synthetic[column])
    assert fidelity.ks_complement(real[column], synthetic[column]) == pytest.approx(expected, abs=SDMETRICS_TOLERANCE)


@pytest.mark.parametrize("column", DISCRETE_COLUMNS)
def test_tv_complement_matches_sdmetrics_per_column(real, synthetic, column):
    # smoking has the rare level "rare" (3% of rows).
    from sdmetrics.single_column import TVComplement

    expected = TVComplement.compute(real[column], synthetic[column])
    assert fidelity.tv_complement(real[column], synthetic[column]) == pytest.approx(expected, abs=SDMETRICS_TOLERANCE)


# ---------------------------------------------------------------- column shapes


def test_column_shapes_identity_scores_one(real):
    shapes = fidelity.column_shapes(real, real, DICTIONARY)
    assert list(shapes["column"]) == DICTIONARY.modelled_columns
    assert (shapes["score"] == 1.0).all()
    assert (shapes["missing_rate_difference"] == 0.0).all()


def test_column_shapes_picks_metric_by_type(real):
    shapes = fidelity.column_shapes(real, real, DICTIONARY).set_index("column")
    assert shapes.loc["enrolled", "metric"] == "ks_complement"
    assert shapes.loc["visits", "metric"] == "ks_complement"
    assert shapes.loc["smoking", "metric"] == "tv_complement"
    assert shapes.loc["diabetes", "metric"] == "tv_complement"


def test_column_shapes_larger_shift_scores_lower(real):
    scores = []
    for shift in (0.0, 2.0, 8.0):
        shifted = real.assign(age=real["age"] + shift)
        shapes = fidelity.column_shapes(real, shifted, DICTIONARY).set_index("column")
        scores.append(shapes.loc["age", "score"])
    assert scores[0] == 1.0
    assert scores[0] > scores[1]
    assert scores[1] > scores[2]


def test_column_shapes_missing_rate_difference(real):
    synthetic = real.assign(ldl=np.nan)
    with pytest.warns(IncomputableMetricWarning, match="1 column shape"):
        shapes = fidelity.column_shapes(real, synthetic, DICTIONARY).set_index("column")
    assert shapes.loc["ldl", "synthetic_missing_rate"] == 1.0
    assert shapes.loc["ldl", "missing_rate_difference"] == pytest.approx(1.0 - real["ldl"].isna().mean())


def test_column_shapes_missing_rate_difference_is_absolute(real):
    fewer_missing = real.assign(ldl=real["ldl"].fillna(5.0))
    shapes = fidelity.column_shapes(real, fewer_missing, DICTIONARY).set_index("column")
    assert shapes.loc["ldl", "synthetic_missing_rate"] == 0.0
    assert shapes.loc["ldl", "missing_rate_difference"] == pytest.approx(real["ldl"].isna().mean())


def test_column_shapes_all_missing_column(real):
    synthetic = real.assign(ldl=np.nan)
    with pytest.warns(IncomputableMetricWarning, match="ldl"):
        shapes = fidelity.column_shapes(real, synthetic, DICTIONARY).set_index("column")
    assert math.isnan(shapes.loc["ldl", "score"])
    assert "no non-missing values" in shapes.loc["ldl", "reason"]
    assert shapes["score"].drop("ldl").notna().all()


def test_column_shapes_missing_column_raises(real):
    with pytest.raises(DataValidationError, match="'ldl'.*synthetic table"):
        fidelity.column_shapes(real, real.drop(columns="ldl"), DICTIONARY)


def test_column_shapes_one_row_synthetic(real):
    shapes = fidelity.column_shapes(real, real.iloc[[0]], DICTIONARY)
    assert shapes["score"].between(0.0, 1.0).all()


# ---------------------------------------------------------------- column pairs


def test_correlation_similarity_opposite_signs_is_zero():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.0, 6.0, 8.0]})
    synthetic = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [8.0, 6.0, 4.0, 2.0]})
    result = fidelity.correlation_similarity(real, synthetic)
    assert result.value == pytest.approx(0.0)
    assert result.breakdown["real_correlation"] == pytest.approx(1.0)
    assert result.breakdown["synthetic_correlation"] == pytest.approx(-1.0)


def test_correlation_similarity_identity_is_one(real):
    result = fidelity.correlation_similarity(real, real, columns=("age", "ldl"))
    assert result.value == pytest.approx(1.0)


def test_correlation_similarity_spearman_uses_ranks():
    # Pearson of (1,2,3) and (1,4,9) is below 1, but the ranks agree exactly.
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 4.0, 9.0]})
    synthetic = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
    assert fidelity.correlation_similarity(real, synthetic, method="spearman").value == pytest.approx(1.0)
    assert fidelity.correlation_similarity(real, synthetic, method="pearson").value < 1.0


def test_correlation_similarity_constant_in_synthetic_only():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 4.0]})
    synthetic = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [5.0, 5.0, 5.0]})
    with pytest.warns(IncomputableMetricWarning, match="synthetic column 'y' is constant"):
        result = fidelity.correlation_similarity(real, synthetic)
    assert math.isnan(result.value)


def test_correlation_similarity_threshold_gives_nan_without_warning():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 3.0, 2.0, 1.5]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncomputableMetricWarning)
        result = fidelity.correlation_similarity(real, real, real_correlation_threshold=0.9)
    assert math.isnan(result.value)


def test_correlation_similarity_matches_sdmetrics(real, synthetic):
    from sdmetrics.column_pairs import CorrelationSimilarity

    for method in ("Pearson", "Spearman"):
        columns = ["age", "enrolled"]
        expected = CorrelationSimilarity.compute(real[columns], synthetic[columns], method)
        result = fidelity.correlation_similarity(real, synthetic, ("age", "enrolled"), method=method.lower())
        assert result.value == pytest.approx(expected, abs=1e-12)


def test_correlation_similarity_rejects_three_columns(real):
    with pytest.raises(ConfigError, match="exactly two"):
        fidelity.correlation_similarity(real[["age", "ldl", "visits"]], real[["age", "ldl", "visits"]])


def test_contingency_similarity_hand_computed():
    # Cells: real ax .25, ay .25, bx .5; synthetic ax .5, bx .25, by .25; sum |diff| = 1.
    real = pd.DataFrame({"g": list("aabb"), "h": list("xyxx")})
    synthetic = pd.DataFrame({"g": list("aabb"), "h": list("xxxy")})
    assert fidelity.contingency_similarity(real, synthetic).value == pytest.approx(0.5)


def test_contingency_similarity_missing_is_own_cell():
    real = pd.DataFrame({"g": ["a", "a"], "h": [None, "x"]})
    synthetic = pd.DataFrame({"g": ["a", "a"], "h": ["x", "x"]})
    assert fidelity.contingency_similarity(real, synthetic).value == pytest.approx(0.5)


def test_contingency_similarity_outer_bins_are_infinite():
    # Bins come from the real range [0, 10]; -5 and 100 fall into the first and last bins.
    real = pd.DataFrame({"c": [0.0, 10.0], "g": ["a", "a"]})
    synthetic = pd.DataFrame({"c": [-5.0, 100.0], "g": ["a", "a"]})
    result = fidelity.contingency_similarity(real, synthetic, continuous_columns=["c"])
    assert result.value == pytest.approx(1.0)


def test_contingency_similarity_missing_continuous_bin():
    real = pd.DataFrame({"c": [0.0, 10.0], "g": ["a", "a"]})
    synthetic = pd.DataFrame({"c": [np.nan, 10.0], "g": ["a", "a"]})
    result = fidelity.contingency_similarity(real, synthetic, continuous_columns=["c"])
    assert result.value == pytest.approx(0.5)


@pytest.mark.parametrize("columns", list(itertools.combinations(DICTIONARY.modelled_columns, 2)))
def test_contingency_similarity_matches_sdmetrics_per_pair(real, synthetic, columns):
    # SDMetrics cannot bin datetime columns, so it gets dates converted to float nanoseconds.
    from sdmetrics.column_pairs import ContingencySimilarity

    continuous = [name for name in columns if name in CONTINUOUS_COLUMNS]
    expected = ContingencySimilarity.compute(
        sdmetrics_frame(real, columns), sdmetrics_frame(synthetic, columns), continuous_column_names=continuous
    )
    result = fidelity.contingency_similarity(real, synthetic, columns, continuous_columns=continuous)
    assert result.value == pytest.approx(expected, abs=SDMETRICS_TOLERANCE)


@pytest.mark.parametrize("columns", list(itertools.combinations(CONTINUOUS_COLUMNS, 2)))
@pytest.mark.parametrize("method", ["Pearson", "Spearman"])
def test_correlation_similarity_matches_sdmetrics_per_pair(real, synthetic, columns, method):
    from sdmetrics.column_pairs import CorrelationSimilarity

    columns = list(columns)
    expected = CorrelationSimilarity.compute(real[columns], synthetic[columns], method)
    result = fidelity.correlation_similarity(real, synthetic, columns, method=method.lower())
    assert result.value == pytest.approx(expected, abs=SDMETRICS_TOLERANCE)


def test_contingency_similarity_matches_sdmetrics(real, synthetic):
    from sdmetrics.column_pairs import ContingencySimilarity

    columns = ["ldl", "smoking"]
    real_pair = real[columns].astype({"smoking": object})
    synthetic_pair = synthetic[columns].astype({"smoking": object})
    expected = ContingencySimilarity.compute(real_pair, synthetic_pair, continuous_column_names=["ldl"])
    result = fidelity.contingency_similarity(real, synthetic, columns, continuous_columns=["ldl"])
    assert result.value == pytest.approx(expected, abs=1e-12)


def test_correlation_difference_identity_is_zero(real):
    matrices = fidelity.correlation_difference(real, real, DICTIONARY)
    assert list(matrices.difference.columns) == ["age", "ldl", "visits", "diabetes", "event"]
    assert np.allclose(matrices.difference.to_numpy(), 0.0)


def test_correlation_difference_sign(real):
    synthetic = real.assign(ldl=-real["ldl"])
    real_matrix, synthetic_matrix, difference = fidelity.correlation_difference(real, synthetic, DICTIONARY)
    assert real_matrix.loc["age", "ldl"] > 0.5
    assert difference.loc["age", "ldl"] == pytest.approx(-2 * real_matrix.loc["age", "ldl"])


def test_correlation_difference_constant_column_warns(real):
    synthetic = real.assign(visits=pd.array([2] * len(real), dtype="Int64"))
    with pytest.warns(IncomputableMetricWarning, match="'visits'"):
        matrices = fidelity.correlation_difference(real, synthetic, DICTIONARY)
    assert math.isnan(matrices.difference.loc["age", "visits"])


# ---------------------------------------------------------------- quality score


@pytest.mark.parametrize("thresholds", [(0.5, 0.3), (0.0, 0.0)])
def test_quality_score_matches_sdmetrics_report(real, synthetic, thresholds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecation of the single-table report module
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.real_correlation_threshold, report.real_association_threshold = thresholds
        report.generate(
            real.drop(columns="patient_id"),
            synthetic.drop(columns="patient_id"),
            SDMETRICS_METADATA,
            verbose=False,
        )

    result = fidelity.quality_score(real, synthetic, DICTIONARY, *thresholds)
    expected_pairs = report.get_details("Column Pair Trends")
    pairs = result.breakdown["pairs"]
    assert result.value == pytest.approx(report.get_score(), abs=1e-9)
    assert result.breakdown["column_shapes"] == pytest.approx(report.get_properties()["Score"][0], abs=1e-9)
    assert np.allclose(pairs["score"], expected_pairs["Score"], atol=1e-9, equal_nan=True)
    assert (pairs["meets_threshold"].to_numpy() == expected_pairs["Meets Threshold?"].to_numpy()).all()


def test_quality_score_thresholds_keep_strong_pairs(real, synthetic):
    pairs = fidelity.quality_score(real, synthetic, DICTIONARY).breakdown["pairs"]
    pairs = pairs.set_index(["column_1", "column_2"])
    assert pairs.loc[("age", "ldl"), "meets_threshold"]
    assert not pairs.loc[("age", "visits"), "meets_threshold"]


def test_quality_score_identity_is_one(real):
    result = fidelity.quality_score(real, real, DICTIONARY, 0.0, 0.0)
    assert result.value == pytest.approx(1.0)


def test_quality_score_larger_shift_scores_lower(real):
    values = [
        fidelity.quality_score(real, real.assign(age=real["age"] + shift), DICTIONARY, binning="real").value
        for shift in (0.0, 3.0, 15.0)
    ]
    assert values[0] > values[1]
    assert values[1] > values[2]


def test_quality_score_one_row_synthetic(real):
    with pytest.warns(IncomputableMetricWarning, match="column pair"):
        result = fidelity.quality_score(real, real.iloc[[0]], DICTIONARY)
    assert 0.0 <= result.value <= 1.0


def test_quality_score_unbinnable_date_pairs(real):
    # One synthetic date cannot be cut into 10 distinct float bins around 1e18 ns.
    with pytest.warns(IncomputableMetricWarning):
        result = fidelity.quality_score(real, real.iloc[[0]], DICTIONARY)
    pairs = result.breakdown["pairs"].set_index(["column_1", "column_2"])
    assert pairs.loc[("smoking", "enrolled"), "metric"] == "contingency_similarity"
    assert "could not be cut into 10 bins" in pairs.loc[("smoking", "enrolled"), "reason"]
    assert math.isnan(pairs.loc[("smoking", "enrolled"), "score"])


def test_quality_score_rejects_unknown_binning(real):
    with pytest.raises(ConfigError, match="binning"):
        fidelity.quality_score(real, real, DICTIONARY, binning="quantile")

# ---------------------------------------------------------------- plots


def _axis_texts(figure):
    visible = [ax for ax in figure.axes if ax.get_visible()]
    return [ax.get_title() for ax in visible], [ax.get_xlabel() + ax.get_ylabel() for ax in visible]


def test_plot_distributions_returns_figure(real, synthetic):
    figure = fidelity_plots.plot_distributions(real, synthetic, DICTIONARY, ncols=3)
    titles, labels = _axis_texts(figure)
    assert isinstance(figure, Figure)
    assert sum(ax.get_visible() for ax in figure.axes) == len(DICTIONARY.modelled_columns)
    assert all(title == "" for title in titles)
    assert all(label == label.lower() or "mmol/L" in label for label in labels)


def test_plot_distributions_handles_empty_column(real):
    empty_ldl = real.assign(ldl=np.nan)
    figure = fidelity_plots.plot_distributions(real, empty_ldl, DICTIONARY, columns=["ldl", "smoking"])
    assert isinstance(figure, Figure)


def test_plot_correlation_difference_returns_figure(real, synthetic):
    difference = fidelity.correlation_difference(real, synthetic, DICTIONARY).difference
    figure = fidelity_plots.plot_correlation_difference(difference)
    assert isinstance(figure, Figure)
    assert all(ax.get_title() == "" for ax in figure.axes)


def test_plot_column_scores_returns_figure(real):
    with pytest.warns(IncomputableMetricWarning):
        shapes = fidelity.column_shapes(real, real.assign(ldl=np.nan), DICTIONARY)
    figure = fidelity_plots.plot_column_scores(shapes)
    ax = figure.axes[0]
    assert isinstance(figure, Figure)
    assert ax.get_title() == ""
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("score", "column")


def test_plot_correlation_difference_label(real, synthetic):
    from synthlib.association import cramers_v_matrices

    difference = cramers_v_matrices(real, synthetic, DICTIONARY).difference
    figure = fidelity_plots.plot_correlation_difference(difference, label="synthetic minus real Cramér's V")
    assert figure.axes[-1].get_ylabel() == "synthetic minus real Cramér's V"


def test_plot_propensity_scores_one_panel_per_model(real, synthetic):
    from synthlib.propensity import propensity_mse

    results = {
        method: propensity_mse(real, synthetic, DICTIONARY, method=method, n_permutations=3)
        for method in ("logit", "cart")
    }
    figure = fidelity_plots.plot_propensity_scores(results)
    labels = [ax.get_xlabel() for ax in figure.axes]
    assert labels == ["propensity score (logit)", "propensity score (cart)"]
    assert all(ax.get_title() == "" for ax in figure.axes)


def test_plot_propensity_scores_model_not_fitted(real, synthetic):
    from synthlib.propensity import propensity_mse

    with pytest.warns(IncomputableMetricWarning, match="max_params"):
        result = propensity_mse(real, synthetic, DICTIONARY, method="logit", max_params=10)
    figure = fidelity_plots.plot_propensity_scores({"logit": result})
    assert figure.axes[0].texts[0].get_text() == "not computed"


def test_plot_importance_agreement_panels(real, synthetic):
    from synthlib.utility import compare_utility

    comparison = compare_utility(real.iloc[:160], synthetic, real.iloc[160:], "event", DICTIONARY, n_repeats=2)
    figure = fidelity_plots.plot_importance_agreement(comparison.importances, ncols=1)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert len(visible) == 2
    assert visible[0].get_ylabel() == "importance, trained on synthetic"


def test_plot_importance_agreement_rejects_other_table():
    with pytest.raises(ConfigError, match="importances"):
        fidelity_plots.plot_importance_agreement(pd.DataFrame({"model": ["x"]}))
