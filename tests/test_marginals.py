"""Tests of synthlib.marginals: Wasserstein distance, missing rates and per-column tests."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from synthlib import fidelity, marginals
from synthlib.exceptions import ConfigError, IncomputableMetricWarning

from metric_tables import DICTIONARY, real_fixture, synthetic_fixture  # noqa: F401 (fixtures)


# ---------------------------------------------------------------- Wasserstein distance


def test_wasserstein_hand_computed():
    # Real sample sd of (0, 1, 2, 3) is sqrt(5/3); a shift by 1 moves every value by 1 / sd.
    real = pd.Series([0.0, 1.0, 2.0, 3.0])
    assert marginals.wasserstein_distance(real, real + 1.0) == pytest.approx(1.0 / math.sqrt(5.0 / 3.0))


def test_wasserstein_identity_is_zero(real):
    assert marginals.wasserstein_distance(real["age"], real["age"]) == 0.0


def test_wasserstein_larger_shift_scores_worse(real):
    distances = [marginals.wasserstein_distance(real["age"], real["age"] + shift) for shift in (0.0, 2.0, 8.0)]
    assert distances[0] < distances[1]
    assert distances[1] < distances[2]


def test_wasserstein_unit_free(real):
    scaled = marginals.wasserstein_distance(real["age"] * 10.0, real["age"] * 10.0 + 20.0)
    assert scaled == pytest.approx(marginals.wasserstein_distance(real["age"], real["age"] + 2.0))


def test_wasserstein_dates_and_missing(real, synthetic):
    later = real["enrolled"] + pd.Timedelta(days=365)
    assert marginals.wasserstein_distance(real["enrolled"], real["enrolled"]) == 0.0
    assert marginals.wasserstein_distance(real["enrolled"], later) > 0.0
    assert math.isfinite(marginals.wasserstein_distance(real["ldl"], synthetic["ldl"]))


def test_wasserstein_all_missing_warns_with_column():
    real = pd.Series([1.0, 2.0], name="ldl")
    with pytest.warns(IncomputableMetricWarning, match="column 'ldl'.*synthetic column has no non-missing"):
        value = marginals.wasserstein_distance(real, pd.Series([np.nan, np.nan], name="ldl"))
    assert math.isnan(value)


def test_wasserstein_constant_real_warns():
    with pytest.warns(IncomputableMetricWarning, match="real column is constant"):
        value = marginals.wasserstein_distance(pd.Series([3.0, 3.0]), pd.Series([1.0, 2.0]), column="x")
    assert math.isnan(value)


def test_wasserstein_constant_synthetic_is_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncomputableMetricWarning)
        value = marginals.wasserstein_distance(pd.Series([0.0, 2.0]), pd.Series([1.0, 1.0]))
    # Standardised real values are -0.707 and 0.707, both 0.707 away from the synthetic 0.
    assert value == pytest.approx(1.0 / math.sqrt(2.0))


# ---------------------------------------------------------------- missing rates


def test_missing_rate_difference_hand_computed():
    real = pd.Series([1.0, np.nan, 3.0, np.nan])
    synthetic = pd.Series([1.0, 2.0, 3.0, np.nan])
    assert marginals.missing_rate_difference(real, synthetic) == 0.25
    assert marginals.missing_rate_difference(synthetic, real) == 0.25


def test_missing_rate_difference_empty_table_warns():
    with pytest.warns(IncomputableMetricWarning, match="column 'x'.*no rows"):
        value = marginals.missing_rate_difference(pd.Series([1.0]), pd.Series([], dtype=float), column="x")
    assert math.isnan(value)


def test_marginal_differences_identity(real):
    table = marginals.marginal_differences(real, real, DICTIONARY).set_index("column")
    continuous = table[table["type"].isin(["numeric", "integer", "date"])]
    assert (continuous["wasserstein_distance"] == 0.0).all()
    assert (table["missing_rate_difference"] == 0.0).all()


def test_marginal_differences_discrete_has_no_distance(real):
    table = marginals.marginal_differences(real, real, DICTIONARY).set_index("column")
    assert math.isnan(table.loc["smoking", "wasserstein_distance"])
    assert table.loc["smoking", "reason"] is None


def test_marginal_differences_all_missing_column(real):
    with pytest.warns(IncomputableMetricWarning, match="1 Wasserstein distance score.*ldl"):
        table = marginals.marginal_differences(real, real.assign(ldl=np.nan), DICTIONARY).set_index("column")
    assert math.isnan(table.loc["ldl", "wasserstein_distance"])
    assert "no non-missing values" in table.loc["ldl", "reason"]
    assert table.loc["ldl", "missing_rate_difference"] == pytest.approx(1.0 - real["ldl"].isna().mean())


# ---------------------------------------------------------------- tests per column


def test_marginal_tests_chi_square_hand_computed():
    # Counts a: 2 real, 3 synthetic; b: 2 and 1. Expected 2.5/1.5 per table, so
    # chi2 = 2 * (0.5^2 / 2.5 + 0.5^2 / 1.5) = 0.5333 on 1 degree of freedom.
    from synthlib.dictionary import ColumnSpec, DataDictionary

    dictionary = DataDictionary(name="tiny", columns=(ColumnSpec("g", "categorical", levels=("a", "b")),))
    real = pd.DataFrame({"g": pd.Categorical(list("aabb"), categories=["a", "b"])})
    synthetic = pd.DataFrame({"g": pd.Categorical(list("aaab"), categories=["a", "b"])})
    row = marginals.marginal_tests(real, synthetic, dictionary).iloc[0]
    expected = 2 * (0.25 / 2.5 + 0.25 / 1.5)
    assert row["test"] == "chi_square"
    assert row["statistic"] == pytest.approx(expected)
    assert row["dof"] == 1
    assert row["p_value"] == pytest.approx(chi2.sf(expected, 1))
    assert row["adjusted_p_value"] == pytest.approx(row["p_value"])


def test_marginal_tests_ks_statistic_is_one_minus_complement(real, synthetic):
    tests = marginals.marginal_tests(real, synthetic, DICTIONARY).set_index("column")
    for column in ("age", "ldl", "visits", "enrolled"):
        complement = fidelity.ks_complement(real[column], synthetic[column])
        assert tests.loc[column, "test"] == "ks"
        assert tests.loc[column, "statistic"] == pytest.approx(1.0 - complement)


def _benjamini_hochberg(p_values):
    """Adjust p-values by hand: p_(i) * m / i, then the running minimum from the largest down."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values)
    ranked = p_values[order] * len(p_values) / np.arange(1, len(p_values) + 1)
    adjusted = np.empty_like(p_values)
    adjusted[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return adjusted


def test_benjamini_hochberg_helper_hand_computed():
    adjusted = _benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    assert np.allclose(adjusted, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def test_marginal_tests_benjamini_hochberg(real, synthetic):
    tests = marginals.marginal_tests(real, synthetic, DICTIONARY)
    assert np.allclose(tests["adjusted_p_value"], _benjamini_hochberg(tests["p_value"]))
    assert (tests["significant"] == (tests["adjusted_p_value"] < 0.05)).all()


def test_marginal_tests_identity_finds_nothing(real):
    tests = marginals.marginal_tests(real, real, DICTIONARY)
    assert not tests["significant"].any()
    assert (tests["statistic"] == 0.0).all()


def test_marginal_tests_larger_shift_smaller_p_value(real):
    p_values = [
        marginals.marginal_tests(real, real.assign(age=real["age"] + shift), DICTIONARY)
        .set_index("column").loc["age", "p_value"]
        for shift in (0.0, 3.0, 10.0)
    ]
    assert p_values[0] > p_values[1]
    assert p_values[1] > p_values[2]


def test_marginal_tests_all_missing_not_adjusted(real, synthetic):
    with pytest.warns(IncomputableMetricWarning, match="1 column test score.*ldl"):
        tests = marginals.marginal_tests(real, synthetic.assign(ldl=np.nan), DICTIONARY).set_index("column")
    tested = tests.drop(index="ldl")
    assert math.isnan(tests.loc["ldl", "p_value"])
    assert math.isnan(tests.loc["ldl", "adjusted_p_value"])
    assert not tests.loc["ldl", "significant"]
    assert np.allclose(tested["adjusted_p_value"], _benjamini_hochberg(tested["p_value"]))


def test_marginal_tests_single_value_in_both_tables():
    from synthlib.dictionary import ColumnSpec, DataDictionary

    dictionary = DataDictionary(name="tiny", columns=(ColumnSpec("flag", "binary"),))
    table = pd.DataFrame({"flag": pd.array([1, 1, 1], dtype="Int64")})
    with pytest.warns(IncomputableMetricWarning, match="flag"):
        tests = marginals.marginal_tests(table, table, dictionary)
    assert "single value in both tables" in tests.loc[0, "reason"]


def test_marginal_tests_rejects_bad_alpha(real):
    with pytest.raises(ConfigError, match="alpha"):
        marginals.marginal_tests(real, real, DICTIONARY, alpha=5)


def test_significant_variables_lists_differing_columns(real):
    shifted = real.assign(age=real["age"] + 10.0)
    table = marginals.significant_variables(marginals.marginal_tests(real, shifted, DICTIONARY))
    assert list(table.index) == ["age"]
    assert list(table.columns) == ["type", "test", "statistic", "p_value", "adjusted_p_value"]


def test_significant_variables_empty_for_identity(real):
    table = marginals.significant_variables(marginals.marginal_tests(real, real, DICTIONARY))
    assert table.empty


def test_significant_variables_rejects_other_table(real):
    with pytest.raises(ConfigError, match="marginal_tests"):
        marginals.significant_variables(pd.DataFrame({"column": ["age"]}))
