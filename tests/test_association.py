"""Tests of synthlib.association: correlation similarity of every pair and Cramer's V matrices."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from synthlib import association
from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.exceptions import ConfigError, IncomputableMetricWarning

from metric_tables import CONTINUOUS_COLUMNS, DICTIONARY, real_fixture, synthetic_fixture  # noqa: F401 (fixtures)

PAIR_DICTIONARY = DataDictionary(
    name="pair",
    columns=(
        ColumnSpec("g", "categorical", levels=("a", "b")),
        ColumnSpec("h", "categorical", levels=("x", "y")),
        ColumnSpec("c", "numeric"),
    ),
)


def _pair_table(cells):
    """Return a table of the categorical pair (g, h) with the given counts per cell."""
    rows = [cell for cell, count in cells.items() for _ in range(count)]
    return pd.DataFrame({
        "g": pd.Categorical([g for g, _ in rows], categories=["a", "b"]),
        "h": pd.Categorical([h for _, h in rows], categories=["x", "y"]),
        "c": np.arange(len(rows), dtype=float),
    })


# ---------------------------------------------------------------- correlation similarities


def test_correlation_similarities_lists_pairs_and_methods(real, synthetic):
    table = association.correlation_similarities(real, synthetic, DICTIONARY)
    pairs = list(itertools.combinations(CONTINUOUS_COLUMNS, 2))
    assert len(table) == 2 * len(pairs)
    assert set(table["method"]) == {"pearson", "spearman"}
    assert table["score"].between(0.0, 1.0).all()


@pytest.mark.parametrize("method", ["Pearson", "Spearman"])
def test_correlation_similarities_match_sdmetrics(real, synthetic, method):
    from sdmetrics.column_pairs import CorrelationSimilarity

    table = association.correlation_similarities(real, synthetic, DICTIONARY)
    table = table[table["method"] == method.lower()].set_index(["column_1", "column_2"])
    for first, second in itertools.combinations(CONTINUOUS_COLUMNS, 2):
        columns = [first, second]
        expected = CorrelationSimilarity.compute(real[columns], synthetic[columns], method)
        assert table.loc[(first, second), "score"] == pytest.approx(expected, abs=1e-9), columns


def test_correlation_similarities_identity_is_one(real):
    table = association.correlation_similarities(real, real, DICTIONARY)
    assert np.allclose(table["score"], 1.0)


def test_correlation_similarities_spearman_ignores_monotone_transform(real):
    curved = real.assign(ldl=np.exp(real["ldl"]))
    table = association.correlation_similarities(real, curved, DICTIONARY).set_index(["column_1", "column_2", "method"])
    assert table.loc[("age", "ldl", "spearman"), "score"] == pytest.approx(1.0)
    assert table.loc[("age", "ldl", "pearson"), "score"] < 1.0


def test_correlation_similarities_constant_in_synthetic_only(real):
    synthetic = real.assign(visits=pd.array([2] * len(real), dtype="Int64"))
    with pytest.warns(IncomputableMetricWarning, match="correlation_similarity"):
        table = association.correlation_similarities(real, synthetic, DICTIONARY)
    with_visits = table[(table["column_1"] == "visits") | (table["column_2"] == "visits")]
    assert with_visits["score"].isna().all()
    assert (with_visits["reason"] == "the synthetic column 'visits' is constant, so its correlation is undefined").all()
    assert table.drop(with_visits.index)["score"].notna().all()


def test_correlation_similarities_rejects_unknown_method(real):
    with pytest.raises(ConfigError, match="method"):
        association.correlation_similarities(real, real, DICTIONARY, methods=("kendall",))


# ---------------------------------------------------------------- Cramer's V


def test_cramers_v_hand_computed():
    # Counts [[3, 1], [1, 3]]: chi2 = 8 * (9 - 1)^2 / 4^4 = 2, so V = sqrt(2 / 8) = 0.5.
    real = _pair_table({("a", "x"): 3, ("a", "y"): 1, ("b", "x"): 1, ("b", "y"): 3})
    independent = _pair_table({("a", "x"): 2, ("a", "y"): 2, ("b", "x"): 2, ("b", "y"): 2})
    matrices = association.cramers_v_matrices(real, independent, PAIR_DICTIONARY)
    assert matrices.real.loc["g", "h"] == pytest.approx(0.5)
    assert matrices.synthetic.loc["g", "h"] == pytest.approx(0.0)
    assert matrices.difference.loc["g", "h"] == pytest.approx(-0.5)


def test_cramers_v_perfect_association_is_one():
    real = _pair_table({("a", "x"): 4, ("b", "y"): 4})
    matrices = association.cramers_v_matrices(real, real, PAIR_DICTIONARY)
    assert matrices.real.loc["g", "h"] == pytest.approx(1.0)


def test_cramers_v_identity_difference_is_zero(real):
    matrices = association.cramers_v_matrices(real, real, DICTIONARY)
    assert list(matrices.difference.columns) == ["smoking", "diabetes", "event"]
    assert (matrices.difference.to_numpy() == 0.0).all()
    assert (np.diag(matrices.real.to_numpy()) == 1.0).all()


def test_cramers_v_broken_association_scores_worse(real):
    rng = np.random.default_rng(0)
    shuffled = real.assign(diabetes=real["diabetes"].to_numpy()[rng.permutation(len(real))])
    difference = association.cramers_v_matrices(real, shuffled, DICTIONARY).difference
    assert abs(difference.loc["smoking", "diabetes"]) > 0.2


def test_cramers_v_drops_rows_with_missing_values():
    real = _pair_table({("a", "x"): 3, ("a", "y"): 1, ("b", "x"): 1, ("b", "y"): 3})
    with_missing = pd.concat([real, pd.DataFrame({"g": [None, "a"], "h": ["y", None], "c": [1.0, 2.0]})])
    with_missing = with_missing.astype({"g": real["g"].dtype, "h": real["h"].dtype}).reset_index(drop=True)
    matrices = association.cramers_v_matrices(with_missing, real, PAIR_DICTIONARY)
    assert matrices.real.loc["g", "h"] == pytest.approx(0.5)


def test_cramers_v_bins_listed_continuous_columns():
    real = _pair_table({("a", "x"): 4, ("b", "y"): 4})
    matrices = association.cramers_v_matrices(real, real, PAIR_DICTIONARY, columns=["g", "c"], n_bins=2)
    # c counts rows 0..7, so its lower half contains every "a" row: the bins determine g.
    assert matrices.real.loc["g", "c"] == pytest.approx(1.0)


def test_cramers_v_constant_in_synthetic_only(real):
    synthetic = real.assign(smoking=pd.Categorical(["never"] * len(real), categories=real["smoking"].cat.categories))
    with pytest.warns(IncomputableMetricWarning, match="cramers_v_difference.*smoking"):
        matrices = association.cramers_v_matrices(real, synthetic, DICTIONARY)
    assert math.isnan(matrices.difference.loc["smoking", "diabetes"])
    assert math.isnan(matrices.difference.loc["smoking", "event"])
    assert not math.isnan(matrices.difference.loc["diabetes", "event"])


def test_cramers_v_one_row_synthetic(real):
    with pytest.warns(IncomputableMetricWarning, match="cramers_v_difference"):
        matrices = association.cramers_v_matrices(real, real.iloc[[0]], DICTIONARY)
    assert matrices.difference.isna().all().all()
    assert matrices.real.notna().all().all()
