"""Tests of synthlib.privacy, synthlib.distance, synthlib.attacks and synthlib.plots.privacy."""

import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from synthlib.attacks import (  # noqa: E402
    anonymeter_available,
    anonymeter_risks,
    attribute_inference,
    safe_column_names,
    summarise_anonymeter,
)
from synthlib.dictionary import ColumnSpec, DataDictionary  # noqa: E402
from synthlib.exceptions import (  # noqa: E402
    ConfigError,
    DataValidationError,
    IncomputableMetricWarning,
    PrivacyAttackError,
)
from synthlib.plots.privacy import plot_dcr  # noqa: E402
from synthlib.privacy import (  # noqa: E402
    distance_matrix,
    distance_to_closest_record,
    exact_match_rate,
    membership_inference,
    nearest_neighbours,
    nndr,
    overfitting_protection,
    privacy_summary,
)

SEX_LEVELS = ("F", "M", "X")

MIXED = DataDictionary(
    name="mixed",
    columns=(
        ColumnSpec("pid", "integer", role="identifier"),
        ColumnSpec("age", "numeric", decimals=1),
        ColumnSpec("sex", "categorical", levels=SEX_LEVELS),
        ColumnSpec("diabetes", "binary"),
        ColumnSpec("visit", "date"),
    ),
)


def _mixed_table(age, sex, diabetes, visit):
    return pd.DataFrame(
        {
            "pid": pd.array(range(len(age)), dtype="Int64"),
            "age": np.array(age, dtype=float),
            "sex": pd.Categorical(sex, categories=SEX_LEVELS),
            "diabetes": pd.array(diabetes, dtype="Int64"),
            "visit": pd.to_datetime(visit),
        }
    )


@pytest.fixture
def reference():
    # age range 40 years, visit range 20 days; one value missing in each column but diabetes.
    return _mixed_table(
        age=[40, 60, np.nan, 80],
        sex=["F", "M", "M", None],
        diabetes=[0, 1, 1, 0],
        visit=["2020-01-01", "2020-01-11", "2020-01-21", None],
    )


@pytest.fixture
def query():
    return _mixed_table(
        age=[50, np.nan],
        sex=["F", None],
        diabetes=[1, None],
        visit=["2020-01-06", None],
    )


def _random_table(n_rows, random_state):
    rng = np.random.default_rng(random_state)
    age = rng.normal(60, 10, n_rows).round(1)
    age[rng.random(n_rows) < 0.05] = np.nan
    days = rng.integers(0, 365, n_rows)
    return _mixed_table(
        age=age,
        sex=rng.choice(["F", "M"], n_rows, p=[0.3, 0.7]),
        diabetes=rng.integers(0, 2, n_rows),
        visit=pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D"),
    )


# ---------------------------------------------------------------- distance


def test_distance_matrix_hand_computed(query, reference):
    # each term: age, sex, diabetes, visit
    first_query_row = [
        (0.25 + 0 + 1 + 0.25) / 4,
        (0.25 + 1 + 0 + 0.25) / 4,
        (1 + 1 + 0 + 0.75) / 4,
        (0.75 + 1 + 1 + 1) / 4,
    ]
    second_query_row = [
        (1 + 1 + 1 + 1) / 4,
        (1 + 1 + 1 + 1) / 4,
        (0 + 1 + 1 + 1) / 4,
        (1 + 0 + 1 + 0) / 4,
    ]
    expected = np.array([first_query_row, second_query_row])
    np.testing.assert_allclose(distance_matrix(query, reference, MIXED), expected)


def test_distance_ignores_identifier_column(query, reference):
    shifted = query.assign(pid=pd.array([100, 200], dtype="Int64"))
    expected = distance_matrix(query, reference, MIXED)
    assert np.array_equal(distance_matrix(shifted, reference, MIXED), expected)


def test_distance_clips_numeric_at_one(reference):
    far = _mixed_table(age=[1000], sex=["F"], diabetes=[0], visit=["2020-01-01"])
    assert distance_matrix(far, reference, MIXED)[0, 0] == pytest.approx(0.25)


def test_distance_constant_column_is_indicator():
    dictionary = DataDictionary("c", (ColumnSpec("dose", "numeric"),))
    reference = pd.DataFrame({"dose": [5.0, 5.0]})
    query = pd.DataFrame({"dose": [5.0, 6.0, 500.0]})
    assert distance_matrix(query, reference, dictionary)[:, 0].tolist() == [0.0, 1.0, 1.0]


def test_distance_unused_level_counts_as_mismatch(reference):
    rare = _mixed_table(age=[40], sex=["X"], diabetes=[0], visit=["2020-01-01"])
    assert distance_matrix(rare, reference, MIXED)[0, 0] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "spec, values",
    [
        (ColumnSpec("v", "numeric"), pd.Series([np.nan, 1.0, np.nan])),
        (ColumnSpec("v", "integer"), pd.Series(pd.array([None, 1, None], dtype="Int64"))),
        (ColumnSpec("v", "binary"), pd.Series(pd.array([None, 1, None], dtype="Int64"))),
        (
            ColumnSpec("v", "categorical", levels=("a",)),
            pd.Series(pd.Categorical([None, "a", None])),
        ),
        (ColumnSpec("v", "date"), pd.Series(pd.to_datetime([None, "2021-05-01", None]))),
    ],
)
def test_distance_missing_value_rules(spec, values):
    dictionary = DataDictionary("one", (spec,))
    query = values.iloc[[0]].to_frame("v")
    reference = values.iloc[[1, 2]].to_frame("v")
    both_missing_or_one = distance_matrix(query, reference, dictionary)[0]
    assert both_missing_or_one[0] == 1.0, "one side missing"
    assert both_missing_or_one[1] == 0.0, "both sides missing"


def test_distance_r_missing_value_no_warning():
    # R marks a missing double with a signalling NaN, which makes numpy arithmetic warn.
    r_missing = np.array([0x7FF00000000007A2], dtype=np.uint64).view(np.float64)[0]
    dictionary = DataDictionary("r", (ColumnSpec("ldl", "numeric"),))
    reference = pd.DataFrame({"ldl": [r_missing, 2.0, 3.0]})
    query = pd.DataFrame({"ldl": [1.0, r_missing]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distances = distance_matrix(query, reference, dictionary)
    assert distances[0].tolist() == [1.0, 1.0, 1.0]
    assert distances[1].tolist() == [0.0, 1.0, 1.0]


def test_distance_ranges_from_other_table(query, reference):
    wide = reference.assign(age=[0.0, 400.0, np.nan, 80.0])
    distances = distance_matrix(query, reference, MIXED, ranges_from=wide)
    # age now scaled by 400: |50 - 40| / 400 = 0.025
    assert distances[0, 0] == pytest.approx((0.025 + 0 + 1 + 0.25) / 4)


def test_distance_column_subset(query, reference):
    distances = distance_matrix(query, reference, MIXED, columns=["sex"])
    assert distances[0].tolist() == [0.0, 1.0, 1.0, 1.0]


def test_distance_missing_column_raises(query, reference):
    with pytest.raises(DataValidationError, match="'visit'"):
        distance_matrix(query.drop(columns="visit"), reference, MIXED)


def test_distance_unknown_column_raises(query, reference):
    with pytest.raises(KeyError, match="weight"):
        distance_matrix(query, reference, MIXED, columns=["weight"])


def test_distance_unreadable_numeric_raises(query, reference):
    with pytest.raises(DataValidationError, match="'age'"):
        distance_matrix(query.assign(age=["old", "young"]), reference, MIXED)


# ---------------------------------------------------------------- nearest neighbours


def test_nearest_neighbours_hand_computed(query, reference):
    result = nearest_neighbours(query, reference, MIXED)
    assert result.distance.tolist() == pytest.approx([0.375, 0.5])
    assert result.second_distance.tolist() == pytest.approx([0.375, 0.75])
    assert result.columns == ("age", "sex", "diabetes", "visit")


def test_nearest_neighbours_tie_goes_to_first_row(query, reference):
    # rows 0 and 1 are both at 0.375 from query row 0
    assert nearest_neighbours(query, reference, MIXED, chunk_size=1).index[0] == 0


def test_nearest_neighbours_index_is_position(query, reference):
    relabelled = reference.set_axis([10, 11, 12, 13])
    assert nearest_neighbours(query, relabelled, MIXED).index.tolist() == [0, 3]


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 1000])
def test_nearest_neighbours_chunk_size_invariant(chunk_size):
    query = _random_table(150, random_state=1)
    reference = _random_table(130, random_state=2)
    expected = nearest_neighbours(query, reference, MIXED, chunk_size=10_000)
    result = nearest_neighbours(query, reference, MIXED, chunk_size=chunk_size)
    assert np.array_equal(result.distance, expected.distance)
    assert np.array_equal(result.second_distance, expected.second_distance)
    assert np.array_equal(result.index, expected.index)


def test_nearest_neighbours_agree_with_full_matrix():
    query = _random_table(60, random_state=3)
    reference = _random_table(50, random_state=4)
    full = distance_matrix(query, reference, MIXED)
    result = nearest_neighbours(query, reference, MIXED, chunk_size=7)
    assert np.array_equal(result.distance, full.min(axis=1))
    assert np.array_equal(result.second_distance, np.sort(full, axis=1)[:, 1])
    assert np.array_equal(result.index, full.argmin(axis=1))


def test_nearest_neighbours_one_row_reference(query, reference):
    result = nearest_neighbours(query, reference.iloc[[0]], MIXED)
    assert np.isnan(result.second_distance).all()


def test_nearest_neighbours_empty_query(query, reference):
    result = nearest_neighbours(query.iloc[:0], reference, MIXED)
    assert result.distance.shape == (0,)


def test_nearest_neighbours_empty_reference_raises(query, reference):
    with pytest.raises(DataValidationError, match="no rows"):
        nearest_neighbours(query, reference.iloc[:0], MIXED)


@pytest.mark.parametrize("chunk_size", [0, -5, 2.5, True])
def test_nearest_neighbours_invalid_chunk_size(query, reference, chunk_size):
    with pytest.raises(ConfigError, match="chunk_size"):
        nearest_neighbours(query, reference, MIXED, chunk_size=chunk_size)


def test_nearest_neighbours_match_sdmetrics():
    calculate_dcr = pytest.importorskip("sdmetrics.single_table.privacy.dcr_utils").calculate_dcr
    query = _random_table(40, random_state=5)
    reference = _random_table(70, random_state=6)
    metadata = {
        "columns": {
            "age": {"sdtype": "numerical"},
            "sex": {"sdtype": "categorical"},
            "diabetes": {"sdtype": "categorical"},
        }
    }
    columns = ["age", "sex", "diabetes"]

    def as_plain(table):
        return table[columns].assign(diabetes=table["diabetes"].astype(float))

    expected = calculate_dcr(as_plain(query), as_plain(reference), metadata).to_numpy()
    result = nearest_neighbours(query, reference, MIXED, columns=columns)
    np.testing.assert_allclose(result.distance, expected, atol=1e-12)


# ---------------------------------------------------------------- DCR and exact matches


def test_dcr_synthetic_copy_of_train():
    train = _random_table(80, random_state=7)
    holdout = _random_table(40, random_state=8)
    result = distance_to_closest_record(train.copy(), train, holdout, MIXED)
    assert np.all(result.synthetic_to_train == 0)
    assert result.median_synthetic_to_train == 0
    assert result.p05_synthetic_to_train == 0
    assert result.share_closer_to_train == 1.0


def test_dcr_expected_share_from_split_sizes():
    synthetic = _random_table(10, random_state=9)
    train = _random_table(30, random_state=10)
    holdout = _random_table(10, random_state=11)
    result = distance_to_closest_record(synthetic, train, holdout, MIXED)
    assert result.expected_share_closer_to_train == pytest.approx(0.75)
    assert (result.n_synthetic, result.n_train, result.n_holdout) == (10, 30, 10)


def test_dcr_independent_rows_near_expected_share():
    # Synthetic rows independent of train: each row's nearest real row is in train with
    # probability n_train / (n_train + n_holdout) = 0.75.
    train = _random_table(600, random_state=12)
    holdout = _random_table(200, random_state=13)
    synthetic = _random_table(800, random_state=14)
    result = distance_to_closest_record(synthetic, train, holdout, MIXED)
    assert abs(result.share_closer_to_train - 0.75) < 0.06
    median_holdout = result.median_holdout_to_train
    assert result.median_synthetic_to_train == pytest.approx(median_holdout, rel=0.3)


def test_dcr_ties_not_counted_closer():
    train = _random_table(5, random_state=15)
    result = distance_to_closest_record(train, train, train, MIXED)
    assert result.share_closer_to_train == 0.0


def test_dcr_summaries_hand_computed(query, reference):
    result = distance_to_closest_record(query, reference, reference, MIXED)
    assert result.median_synthetic_to_train == pytest.approx(0.4375)
    assert result.p05_synthetic_to_train == pytest.approx(0.375 + 0.05 * 0.125)


def test_dcr_empty_synthetic_warns(reference):
    with pytest.warns(IncomputableMetricWarning, match="synthetic table has no rows"):
        result = distance_to_closest_record(reference.iloc[:0], reference, reference, MIXED)
    assert np.isnan(result.median_synthetic_to_train)
    assert np.isnan(result.share_closer_to_train)


def test_dcr_empty_holdout_raises(reference):
    with pytest.raises(DataValidationError, match="holdout table has no rows"):
        distance_to_closest_record(reference, reference, reference.iloc[:0], MIXED)


def test_exact_match_rate_copy_is_one():
    train = _random_table(50, random_state=16)
    assert exact_match_rate(train.sample(frac=1.0, random_state=0), train, MIXED) == 1.0


def test_exact_match_rate_missing_equals_missing(query, reference):
    # query row 1 is all missing; add an all-missing row to train
    train = pd.concat([reference, query.iloc[[1]]], ignore_index=True)
    assert exact_match_rate(query, train, MIXED) == 0.5


def test_exact_match_rate_rounds_to_dictionary_decimals(reference):
    train = reference.assign(age=[40.04, 60.0, np.nan, 80.0])
    synthetic = reference.iloc[[0]]
    assert exact_match_rate(synthetic, train, MIXED) == 1.0
    assert exact_match_rate(synthetic, train, MIXED, round_numeric=False) == 0.0


def test_exact_match_rate_ignores_identifier(reference):
    relabelled = reference.assign(pid=pd.array([9, 8, 7, 6], dtype="Int64"))
    assert exact_match_rate(relabelled, reference, MIXED) == 1.0


def test_exact_match_rate_agrees_with_zero_dcr():
    train = _random_table(40, random_state=17)
    synthetic = pd.concat([train.iloc[:10], _random_table(30, random_state=18)], ignore_index=True)
    dcr = nearest_neighbours(synthetic, train, MIXED).distance
    rate = exact_match_rate(synthetic, train, MIXED, round_numeric=False)
    assert rate == pytest.approx(np.mean(dcr == 0))


# ---------------------------------------------------------------- NNDR and summary


def test_nndr_hand_computed(query, reference):
    assert nndr(query, reference, MIXED).tolist() == pytest.approx([1.0, 0.5 / 0.75])


def test_nndr_duplicate_train_rows_give_one(reference):
    train = pd.concat([reference, reference.iloc[[0]]], ignore_index=True)
    assert nndr(reference.iloc[[0]], train, MIXED)[0] == 1.0


def test_nndr_one_row_train_is_nan(query, reference):
    assert np.isnan(nndr(query, reference.iloc[[0]], MIXED)).all()


def test_privacy_summary_is_json_ready():
    train = _random_table(60, random_state=19)
    summary = privacy_summary(train.iloc[:20], train, _random_table(20, random_state=20), MIXED)
    json.loads(json.dumps(summary, allow_nan=False))
    assert summary["exact_match_rate"] == 1.0
    assert summary["dcr_synthetic_train_median"] == 0.0
    assert summary["expected_share_closer_to_train"] == pytest.approx(0.75)
    assert summary["n_synthetic"] == 20


def test_privacy_summary_nan_becomes_none(query, reference):
    summary = privacy_summary(query, reference.iloc[[0]], reference, MIXED)
    assert summary["nndr_synthetic_median"] is None


# ---------------------------------------------------------------- plot


@pytest.mark.parametrize("kind", ["ecdf", "hist"])
def test_plot_dcr_returns_untitled_figure(kind):
    train = _random_table(60, random_state=21)
    result = distance_to_closest_record(
        _random_table(30, random_state=22), train, _random_table(30, random_state=23), MIXED
    )
    fig = plot_dcr(result, kind=kind)
    ax = fig.axes[0]
    assert ax.get_title() == ""
    assert ax.get_xlabel() == ax.get_xlabel().lower()
    assert ax.get_ylabel() == ax.get_ylabel().lower()
    assert len(ax.get_legend().get_texts()) == 2
    plt.close(fig)


def test_plot_dcr_invalid_kind():
    train = _random_table(10, random_state=24)
    result = distance_to_closest_record(train, train, train, MIXED)
    with pytest.raises(ConfigError, match="kind"):
        plot_dcr(result, kind="violin")


# ---------------------------------------------------------------- hand-computed DCR on four rows

AGE_SEX = DataDictionary(
    name="age_sex",
    columns=(ColumnSpec("age", "numeric", decimals=0), ColumnSpec("sex", "categorical", levels=("F", "M"))),
)


def _age_sex(age, sex):
    return pd.DataFrame({"age": np.array(age, dtype=float), "sex": pd.Categorical(sex, categories=("F", "M"))})


def test_dcr_four_rows_hand_computed():
    # Ages are scaled by the train range, 80 - 40 = 40; each distance averages 2 columns.
    train = _age_sex([40, 50, 60, 80], ["F", "M", "F", "M"])
    synthetic = _age_sex([40, 45, 70, np.nan], ["F", "M", "F", "M"])
    result = distance_to_closest_record(synthetic, train, train, AGE_SEX)
    # (40 F) copies a row; (45 M) is 5/40 from (50 M); (70 F) is 10/40 from (60 F);
    # (missing M) differs from (50 M) and (80 M) on age only, which counts 1.
    expected = [0.0, (5 / 40) / 2, (10 / 40) / 2, (1 + 0) / 2]
    np.testing.assert_allclose(result.synthetic_to_train, expected)
    assert result.median_synthetic_to_train == pytest.approx((0.0625 + 0.125) / 2)
    assert result.p05_synthetic_to_train == pytest.approx(0.15 * 0.0625)


# ---------------------------------------------------------------- engines

@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_numba_and_numpy_engines_agree(chunk_size):
    pytest.importorskip("numba")
    query = _random_table(120, random_state=30)
    reference = pd.concat([_random_table(90, random_state=31), query.iloc[:5]], ignore_index=True)
    fast = nearest_neighbours(query, reference, MIXED, chunk_size=chunk_size, engine="numba")
    slow = nearest_neighbours(query, reference, MIXED, chunk_size=chunk_size, engine="numpy")
    assert np.array_equal(fast.distance, slow.distance)
    assert np.array_equal(fast.second_distance, slow.second_distance, equal_nan=True)
    assert np.array_equal(fast.index, slow.index)


def test_nearest_neighbours_invalid_engine(query, reference):
    with pytest.raises(ConfigError, match="engine"):
        nearest_neighbours(query, reference, MIXED, engine="gpu")


# ---------------------------------------------------------------- overfitting protection

def test_overfitting_protection_equal_split_matches_sdmetrics():
    # SDMetrics DCROverfittingProtection: min(2 * (1 - share), 1)
    assert overfitting_protection(0.7, 0.5) == pytest.approx(0.6)
    assert overfitting_protection(0.4, 0.5) == 1.0


def test_overfitting_protection_uses_expected_share():
    assert overfitting_protection(0.8, 0.8) == pytest.approx(1.0)
    assert overfitting_protection(0.9, 0.8) == pytest.approx(0.5)
    assert overfitting_protection(1.0, 0.8) == 0.0


def test_overfitting_protection_nan_share():
    assert np.isnan(overfitting_protection(float("nan"), 0.5))


@pytest.mark.parametrize("expected", [1.0, -0.1, 2.0])
def test_overfitting_protection_invalid_expected(expected):
    with pytest.raises(ConfigError, match="expected_share"):
        overfitting_protection(0.5, expected)


@pytest.mark.parametrize("n_train, n_holdout", [(400, 400), (600, 200)])
def test_overfitting_protection_unrelated_table_near_one(n_train, n_holdout):
    train = _random_table(n_train, random_state=32)
    holdout = _random_table(n_holdout, random_state=33)
    unrelated = _random_table(800, random_state=34)
    result = distance_to_closest_record(unrelated, train, holdout, MIXED)
    assert result.overfitting_protection > 0.9


def test_overfitting_protection_copy_is_zero():
    train = _random_table(100, random_state=35)
    result = distance_to_closest_record(train.copy(), train, _random_table(100, random_state=36), MIXED)
    assert result.overfitting_protection == 0.0


# ---------------------------------------------------------------- membership inference

def test_membership_inference_copy_of_train_auc_near_one():
    train = _random_table(200, random_state=37)
    holdout = _random_table(200, random_state=38)
    result = membership_inference(train.copy(), train, holdout, MIXED)
    assert result.auc > 0.99
    assert np.all(result.member_distance == 0)


def test_membership_inference_independent_table_near_half():
    train = _random_table(300, random_state=39)
    holdout = _random_table(300, random_state=40)
    result = membership_inference(_random_table(300, random_state=41), train, holdout, MIXED)
    assert abs(result.auc - 0.5) < 0.08


def test_membership_inference_copy_of_holdout_auc_near_zero():
    train = _random_table(150, random_state=42)
    holdout = _random_table(150, random_state=43)
    assert membership_inference(holdout.copy(), train, holdout, MIXED).auc < 0.01


def test_membership_inference_hand_computed():
    # Member distances 0 and 0.25, non-member 0.125: one of two pairs ranked right.
    train = _age_sex([40, 80], ["F", "F"])
    holdout = _age_sex([50], ["F"])
    release = _age_sex([40, 60], ["F", "F"])
    result = membership_inference(release, train, holdout, AGE_SEX)
    np.testing.assert_allclose(result.member_distance, [0.0, 0.25])
    np.testing.assert_allclose(result.non_member_distance, [0.125])
    assert result.auc == pytest.approx(0.5)


def test_membership_inference_empty_release_raises(reference):
    with pytest.raises(DataValidationError, match="synthetic table has no rows"):
        membership_inference(reference.iloc[:0], reference, reference, MIXED)


def test_privacy_summary_has_attack_figures():
    train = _random_table(80, random_state=44)
    summary = privacy_summary(train.copy(), train, _random_table(80, random_state=45), MIXED)
    assert summary["membership_inference_auc"] > 0.99
    assert summary["overfitting_protection"] == 0.0


# ---------------------------------------------------------------- attribute inference

ROLES = DataDictionary(
    name="roles",
    columns=(
        ColumnSpec("age", "integer", role="quasi_identifier"),
        ColumnSpec("sex", "categorical", levels=("F", "M"), role="quasi_identifier"),
        ColumnSpec("bmi", "numeric", decimals=1, role="quasi_identifier"),
        ColumnSpec("diabetes", "binary", role="sensitive"),
        ColumnSpec("ldl", "numeric", decimals=1),
    ),
)


def _roles_table(n_rows, random_state):
    rng = np.random.default_rng(random_state)
    age = rng.integers(40, 80, n_rows)
    diabetes = pd.Series(pd.array(rng.binomial(1, 0.3, n_rows), dtype="Int64")).mask(rng.random(n_rows) < 0.05)
    return pd.DataFrame({
        "age": pd.array(age, dtype="Int64"),
        "sex": pd.Categorical(rng.choice(["F", "M"], n_rows), categories=("F", "M")),
        "bmi": rng.normal(27, 4, n_rows).round(1),
        "diabetes": diabetes,
        "ldl": rng.normal(3, 1, n_rows).round(1),
    })


def test_attribute_inference_copy_of_train_has_risk():
    train, holdout = _roles_table(300, 50), _roles_table(300, 51)
    result = attribute_inference(train.copy(), train, holdout, ROLES)
    row = result.columns.set_index("column").loc["diabetes"]
    assert row["accuracy_members"] > row["accuracy_non_members"]
    assert result.risk > 0.5


def test_attribute_inference_independent_release_low_risk():
    train, holdout = _roles_table(300, 52), _roles_table(300, 53)
    result = attribute_inference(_roles_table(300, 54), train, holdout, ROLES)
    assert result.risk < 0.15


def test_attribute_inference_baseline_is_majority_class():
    train, holdout = _roles_table(200, 55), _roles_table(200, 56)
    release = train.assign(diabetes=pd.array([0] * 200, dtype="Int64"))
    row = attribute_inference(release, train, holdout, ROLES).columns.iloc[0]
    # Guessing 0 for everyone is right on the train rows whose value is 0.
    assert row["accuracy_baseline"] == pytest.approx((train["diabetes"] == 0).sum() / 200)


def test_attribute_inference_numeric_secret():
    train, holdout = _roles_table(200, 57), _roles_table(200, 58)
    result = attribute_inference(train.copy(), train, holdout, ROLES, sensitive=["ldl"])
    assert result.columns.iloc[0]["task"] == "regression"
    assert 0.0 <= result.risk <= 1.0


def test_attribute_inference_seeded():
    train, holdout = _roles_table(150, 59), _roles_table(150, 60)
    release = _roles_table(150, 61)
    first = attribute_inference(release, train, holdout, ROLES, random_state=3).columns
    second = attribute_inference(release, train, holdout, ROLES, random_state=3).columns
    pd.testing.assert_frame_equal(first, second)


def test_attribute_inference_needs_sensitive_role():
    plain = DataDictionary("plain", (ColumnSpec("age", "integer", role="quasi_identifier"),))
    table = pd.DataFrame({"age": pd.array([50, 60], dtype="Int64")})
    with pytest.raises(ConfigError, match="role: sensitive"):
        attribute_inference(table, table, table, plain)


def test_attribute_inference_role_overlap_raises():
    train = _roles_table(20, 62)
    with pytest.raises(ConfigError, match="both quasi-identifier and sensitive"):
        attribute_inference(train, train, train, ROLES, sensitive=["age"])


# ---------------------------------------------------------------- Anonymeter wrapper

QUOTED = DataDictionary(
    name="quoted",
    columns=(
        ColumnSpec("sbp (mmHg)", "numeric", decimals=0, role="quasi_identifier"),
        ColumnSpec("ldl-c", "numeric", decimals=1, role="quasi_identifier"),
        ColumnSpec("age group", "categorical", levels=("young", "old"), role="quasi_identifier"),
        ColumnSpec("smoker", "binary", role="sensitive"),
    ),
)


def _quoted_table(n_rows, random_state):
    rng = np.random.default_rng(random_state)
    return pd.DataFrame({
        "sbp (mmHg)": rng.normal(140, 15, n_rows).round(),
        "ldl-c": rng.normal(3, 1, n_rows).round(1),
        "age group": pd.Categorical(rng.choice(["young", "old"], n_rows), categories=("young", "old")),
        "smoker": pd.array(rng.binomial(1, 0.3, n_rows), dtype="Int64"),
    })


def test_safe_column_names_are_identifiers():
    names = safe_column_names(["sbp (mmHg)", "ldl-c", "class", "age group"])
    assert all(name.isidentifier() for name in names.values())
    assert len(set(names.values())) == 4


@pytest.mark.skipif(anonymeter_available(), reason="anonymeter is installed")
def test_anonymeter_missing_package_raises():
    table = _quoted_table(30, 70)
    with pytest.raises(PrivacyAttackError, match="anonymeter==1.1.0"):
        anonymeter_risks(table, table, table, QUOTED)


def test_anonymeter_same_seed_same_risk():
    pytest.importorskip("anonymeter")
    train, holdout, release = _quoted_table(300, 71), _quoted_table(300, 72), _quoted_table(300, 73)
    first = anonymeter_risks(release, train, holdout, QUOTED, seeds=(5,), n_attacks=50)
    second = anonymeter_risks(release, train, holdout, QUOTED, seeds=(5,), n_attacks=50)
    # The linkability baseline is drawn by Anonymeter from an unseeded generator, so compare risks only.
    pd.testing.assert_series_equal(first["risk"], second["risk"])


def test_anonymeter_names_with_spaces_and_hyphens():
    pytest.importorskip("anonymeter")
    train, holdout, release = _quoted_table(300, 74), _quoted_table(300, 75), _quoted_table(300, 76)
    runs = anonymeter_risks(release, train, holdout, QUOTED, seeds=(0, 1), n_attacks=50)
    assert set(runs["attack"]) == {"singling_out_multivariate", "linkability", "inference"}
    assert runs.loc[runs["attack"] == "inference", "secret"].unique().tolist() == ["smoker"]
    summary = summarise_anonymeter(runs)
    assert (summary["n_seeds"] == 2).all()
    assert (summary["risk_sd"] >= 0).all()


def test_anonymeter_query_shortfall_raises():
    pytest.importorskip("anonymeter")
    train, holdout, release = _quoted_table(40, 77), _quoted_table(40, 78), _quoted_table(40, 79)
    with pytest.raises(PrivacyAttackError, match="singling-out"):
        anonymeter_risks(
            release, train, holdout, QUOTED, seeds=(0,), n_attacks=5000, singling_out_modes=("univariate",)
        )
