"""Tests of synthlib.propensity: pMSE and S_pMSE against hand-computed values on tiny tables."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from synthlib import propensity
from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.exceptions import ConfigError, IncomputableMetricWarning

from metric_tables import DICTIONARY, real_fixture, synthetic_fixture  # noqa: F401 (fixtures)

BINARY_PAIR = DataDictionary(name="pair", columns=(ColumnSpec("x", "binary"), ColumnSpec("z", "binary")))


def _binary_table(cells: dict) -> pd.DataFrame:
    """Return a table of the binary columns x and z with the given counts per (x, z) cell."""
    rows = [cell for cell, count in cells.items() for _ in range(count)]
    return pd.DataFrame({
        "x": pd.array([x for x, _ in rows], dtype="Int64"),
        "z": pd.array([z for _, z in rows], dtype="Int64"),
    })


# ---------------------------------------------------------------- logistic model, by hand


def test_logit_saturated_pmse_hand_computed():
    # Main effects and the x:z interaction fit every cell, so each propensity is the cell's
    # synthetic share: 1/4, 2/3, 1/2 and 3/5. N = 16 and c = 1/2.
    real = _binary_table({(0, 0): 3, (0, 1): 1, (1, 0): 2, (1, 1): 2})
    synthetic = _binary_table({(0, 0): 1, (0, 1): 2, (1, 0): 2, (1, 1): 3})
    result = propensity.propensity_mse(real, synthetic, BINARY_PAIR, method="logit")
    pmse = (4 * (1 / 4 - 1 / 2) ** 2 + 3 * (2 / 3 - 1 / 2) ** 2 + 4 * 0.0 + 5 * (3 / 5 - 1 / 2) ** 2) / 16
    expected_null = 3 * (1 - 0.5) ** 2 * 0.5 / 16  # k - 1 = 3 coefficients besides the intercept
    assert result.value == pytest.approx(pmse, abs=1e-10)
    assert result.breakdown["n_parameters"] == 3
    assert result.breakdown["expected_pmse"] == pytest.approx(expected_null)
    assert result.breakdown["s_pmse"] == pytest.approx(pmse / expected_null, abs=1e-8)
    assert result.breakdown["converged"]


def test_logit_aliased_columns_not_counted():
    # z repeats x, so z and x:z are aliased (NA in R's glm): k - 1 = 1. Shares: x=0 1/3, x=1 3/5.
    real = _binary_table({(0, 0): 4, (1, 1): 4})
    synthetic = _binary_table({(0, 0): 2, (1, 1): 6})
    result = propensity.propensity_mse(real, synthetic, BINARY_PAIR, method="logit")
    pmse = (6 * (1 / 3 - 1 / 2) ** 2 + 10 * (3 / 5 - 1 / 2) ** 2) / 16
    expected_null = 1 * 0.25 * 0.5 / 16
    assert result.breakdown["n_parameters"] == 1
    assert result.value == pytest.approx(pmse, abs=1e-10)
    assert result.breakdown["s_pmse"] == pytest.approx(pmse / expected_null, abs=1e-8)


def test_logit_unequal_sizes_use_synthetic_share():
    # 8 real and 4 synthetic rows, so c = 1/3. Propensities are the shares 1/5 (x=0) and 3/7 (x=1).
    real = _binary_table({(0, 0): 4, (1, 0): 4})
    synthetic = _binary_table({(0, 0): 1, (1, 0): 3})
    dictionary = DataDictionary(name="one", columns=(ColumnSpec("x", "binary"),))
    result = propensity.propensity_mse(real[["x"]], synthetic[["x"]], dictionary, method="logit")
    c = 4 / 12
    pmse = (5 * (1 / 5 - c) ** 2 + 7 * (3 / 7 - c) ** 2) / 12
    expected_null = 1 * (1 - c) ** 2 * c / 12
    assert result.breakdown["s_pmse"] == pytest.approx(pmse / expected_null, abs=1e-8)
    assert result.breakdown["c"] == c
    assert result.value == pytest.approx(pmse, abs=1e-10)


def test_logit_categorical_missing_level_hand_computed():
    # Levels a, b and the missing level; each propensity is its level's share: 1/3, 3/5, 2/4.
    dictionary = DataDictionary(name="g", columns=(ColumnSpec("g", "categorical", levels=("a", "b")),))
    real = pd.DataFrame({"g": pd.Categorical(["a", "a", "b", "b", None, None], categories=["a", "b"])})
    synthetic = pd.DataFrame({"g": pd.Categorical(["a", "b", "b", "b", None, None], categories=["a", "b"])})
    result = propensity.propensity_mse(real, synthetic, dictionary, method="logit")
    pmse = (3 * (1 / 3 - 1 / 2) ** 2 + 5 * (3 / 5 - 1 / 2) ** 2 + 4 * 0.0) / 12
    expected_null = 2 * 0.25 * 0.5 / 12
    assert result.breakdown["n_parameters"] == 2
    assert result.value == pytest.approx(pmse, abs=1e-10)
    assert result.breakdown["s_pmse"] == pytest.approx(pmse / expected_null, abs=1e-8)


def test_logit_missing_indicator_enters_model():
    dictionary = DataDictionary(name="n", columns=(ColumnSpec("v", "numeric"),))
    real = pd.DataFrame({"v": [1.0, 2.0, 3.0, np.nan]})
    synthetic = pd.DataFrame({"v": [1.0, 2.0, np.nan, np.nan]})
    result = propensity.propensity_mse(real, synthetic, dictionary, method="logit")
    # v and v_NA; their interaction is identically 0 because missing values are set to 0.
    assert result.breakdown["n_parameters"] == 2


def test_count_parameters_of_toy_table(real, synthetic):
    variables, _ = propensity._prepare_variables(real, synthetic, DICTIONARY, DICTIONARY.modelled_columns)
    # Widths: age, ldl, ldl_NA, visits, visits_NA, smoking (4 levels: 3), diabetes, enrolled,
    # enrolled_NA, event = 12; pairs add (12^2 - (9 * 1 + 3^2)) / 2 = 63.
    assert propensity.count_parameters(variables, max_order=0) == 13
    assert propensity.count_parameters(variables, max_order=1) == 76


def test_logit_above_max_params_warns(real, synthetic):
    with pytest.warns(IncomputableMetricWarning, match="76 parameters, above max_params=50"):
        result = propensity.propensity_mse(real, synthetic, DICTIONARY, method="logit", max_params=50)
    assert math.isnan(result.value)
    assert math.isnan(result.breakdown["s_pmse"])


def test_logit_main_effects_only(real, synthetic):
    result = propensity.propensity_mse(real, synthetic, DICTIONARY, method="logit", max_order=0)
    assert result.breakdown["n_parameters"] == 12
    assert result.value > 0.0


# ---------------------------------------------------------------- classification tree, by hand


def test_cart_single_split_hand_computed():
    # The tree splits once on x: x=0 contains 10 real and 4 synthetic rows, x=1 10 and 16.
    dictionary = DataDictionary(name="one", columns=(ColumnSpec("x", "binary"),))
    real = pd.DataFrame({"x": pd.array([0] * 10 + [1] * 10, dtype="Int64")})
    synthetic = pd.DataFrame({"x": pd.array([0] * 4 + [1] * 16, dtype="Int64")})
    result = propensity.propensity_mse(real, synthetic, dictionary, method="cart", n_permutations=20)
    pmse = (14 * (4 / 14 - 0.5) ** 2 + 26 * (16 / 26 - 0.5) ** 2) / 40
    assert result.value == pytest.approx(pmse, abs=1e-12)
    null = result.breakdown["null_pmse"]
    assert len(null) == 20
    assert result.breakdown["expected_pmse"] == pytest.approx(np.mean(null))
    assert result.breakdown["s_pmse"] == pytest.approx(pmse / np.mean(null))


def test_cart_null_is_half_the_permuted_pmse(real, synthetic):
    variables, _ = propensity._prepare_variables(real, synthetic, DICTIONARY, DICTIONARY.modelled_columns)
    target = np.r_[np.ones(len(synthetic)), np.zeros(len(real))]
    permuted = np.random.default_rng(3).permutation(target)
    bound = propensity._RootSplitBound(variables)
    scores = propensity._tree_scores(variables, permuted, 1e-3, 5, 0)
    pmse = np.mean((scores - permuted.mean()) ** 2)
    assert pmse > 0.0
    assert propensity._null_pmse(variables, permuted, 1e-3, 5, 0, bound) == pytest.approx(pmse / 2)


def test_cart_categorical_levels_split_together():
    # Levels a and c are mostly synthetic, b mostly real: one split of the ordered levels separates them.
    dictionary = DataDictionary(name="g", columns=(ColumnSpec("g", "categorical", levels=("a", "b", "c")),))
    real = pd.DataFrame({"g": pd.Categorical(["a"] * 2 + ["b"] * 16 + ["c"] * 2, categories=["a", "b", "c"])})
    synthetic = pd.DataFrame({"g": pd.Categorical(["a"] * 8 + ["b"] * 4 + ["c"] * 8, categories=["a", "b", "c"])})
    result = propensity.propensity_mse(real, synthetic, dictionary, method="cart", n_permutations=5)
    pmse = (20 * (4 / 20 - 0.5) ** 2 + 20 * (16 / 20 - 0.5) ** 2) / 40
    assert result.value == pytest.approx(pmse, abs=1e-12)


# ---------------------------------------------------------------- identities and shifts


@pytest.mark.parametrize("method", ["logit", "cart"])
def test_pmse_identity_is_zero(real, method):
    result = propensity.propensity_mse(real, real, DICTIONARY, method=method, n_permutations=5)
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert result.breakdown["specks"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", ["logit", "cart"])
def test_pmse_larger_shift_scores_worse(real, method):
    values = [
        propensity.propensity_mse(
            real, real.assign(age=real["age"] + shift), DICTIONARY, method=method, n_permutations=5
        ).value
        for shift in (0.0, 3.0, 12.0)
    ]
    assert values[0] < values[1]
    assert values[1] < values[2]


def test_pmse_scores_for_plot(real, synthetic):
    result = propensity.propensity_mse(real, synthetic, DICTIONARY, method="logit")
    scores = result.breakdown["scores"]
    assert len(scores) == len(real) + len(synthetic)
    assert (scores["table"] == "synthetic").sum() == len(synthetic)
    assert scores["propensity"].between(0.0, 1.0).all()


# ---------------------------------------------------------------- edge cases


def test_pmse_column_empty_in_both_left_out(real, synthetic):
    result = propensity.propensity_mse(
        real.assign(ldl=np.nan), synthetic.assign(ldl=np.nan), DICTIONARY, method="logit"
    )
    assert result.breakdown["excluded_columns"] == ("ldl",)
    assert math.isfinite(result.value)


def test_pmse_column_empty_in_synthetic_only(real, synthetic):
    result = propensity.propensity_mse(real, synthetic.assign(ldl=np.nan), DICTIONARY, method="logit")
    assert result.breakdown["excluded_columns"] == ()
    assert math.isfinite(result.value)


def test_pmse_no_varying_column_warns():
    dictionary = DataDictionary(name="one", columns=(ColumnSpec("x", "binary"),))
    table = pd.DataFrame({"x": pd.array([1, 1], dtype="Int64")})
    with pytest.warns(IncomputableMetricWarning, match="no column takes more than one value"):
        result = propensity.propensity_mse(table, table, dictionary)
    assert math.isnan(result.value)
    assert result.breakdown["excluded_columns"] == ("x",)


def test_cart_no_null_split_warns():
    # Trees need 3 * min_bucket rows to split, so the 8 rows of these tables never split.
    real = _binary_table({(0, 0): 4})
    synthetic = _binary_table({(1, 1): 4})
    with pytest.warns(IncomputableMetricWarning, match="s_pmse.*none of the 3 trees"):
        result = propensity.propensity_mse(real, synthetic, BINARY_PAIR, method="cart", n_permutations=3)
    assert result.value == 0.0
    assert math.isnan(result.breakdown["s_pmse"])


def test_pmse_one_row_synthetic(real, synthetic):
    result = propensity.propensity_mse(real, synthetic.iloc[[0]], DICTIONARY, method="logit")
    assert result.breakdown["c"] == pytest.approx(1 / (len(real) + 1))
    assert math.isfinite(result.value)


def test_pmse_n_jobs_same_result(real, synthetic):
    one = propensity.propensity_mse(real, synthetic, DICTIONARY, n_permutations=6, n_jobs=1)
    two = propensity.propensity_mse(real, synthetic, DICTIONARY, n_permutations=6, n_jobs=2)
    assert one.breakdown["null_pmse"] == two.breakdown["null_pmse"]
    assert one.value == two.value


def test_root_split_bound_covers_tree_root(real, synthetic):
    variables, _ = propensity._prepare_variables(real, synthetic, DICTIONARY, DICTIONARY.modelled_columns)
    target = np.r_[np.ones(len(synthetic)), np.zeros(len(real))]
    bound = propensity._RootSplitBound(variables)
    rng = np.random.default_rng(1)
    for labels in [target] + [rng.permutation(target) for _ in range(20)]:
        features = propensity._tree_features(variables, labels)
        tree = DecisionTreeClassifier(max_depth=1, min_samples_leaf=5, random_state=0).fit(features, labels)
        impurity, counts = tree.tree_.impurity, tree.tree_.weighted_n_node_samples
        root_decrease = impurity[0] - (counts[1] * impurity[1] + counts[2] * impurity[2]) / counts[0]
        assert bound.bound(labels) >= root_decrease - 1e-12


@pytest.mark.parametrize(
    ("argument", "value"),
    [("method", "forest"), ("max_order", 2), ("cp", 1.5), ("n_permutations", 0), ("min_bucket", 0)],
)
def test_pmse_rejects_bad_parameters(real, argument, value):
    with pytest.raises(ConfigError, match=argument):
        propensity.propensity_mse(real, real, DICTIONARY, **{argument: value})
