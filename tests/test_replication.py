"""Tests of synthlib.replication and synthlib.plots.replication."""

import json
import logging
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from synthlib.exceptions import (  # noqa: E402
    ConfigError,
    IncomputableMetricWarning,
    SynthlibError,
    SynthlibWarning,
)
from synthlib.plots.replication import plot_forest  # noqa: E402
from synthlib.replication import (  # noqa: E402
    COEFFICIENT_COLUMNS,
    ci_overlap,
    compare_fits,
    fit_model,
    replication_summary,
)

FORMULA = "event ~ age + sex + ldl + smoking"


def _cohort(n_rows=600, random_state=0, noise=0.0):
    """Simulate a small cohort whose event depends on age, sex, LDL and smoking.

    ``noise`` adds Gaussian noise (in standard deviations) to age and LDL after the
    event is drawn, which attenuates their coefficients.
    """
    rng = np.random.default_rng(random_state)
    age = rng.normal(60, 10, n_rows)
    ldl = rng.normal(3.2, 0.9, n_rows)
    male = rng.random(n_rows) < 0.7
    smoking = rng.choice(["never", "former", "current"], n_rows, p=[0.3, 0.5, 0.2])
    logit = -1.0 + 0.05 * (age - 60) + 0.6 * male + 0.5 * (ldl - 3.2) + 0.8 * (smoking == "current")
    event = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "age": age + noise * 10 * rng.normal(size=n_rows),
            "sex": pd.Categorical(np.where(male, "M", "F"), categories=["F", "M"]),
            "ldl": ldl + noise * 0.9 * rng.normal(size=n_rows),
            "smoking": pd.Categorical(
                smoking, categories=["never", "former", "current", "unknown"]
            ),
            "event": pd.array(event.astype(int), dtype="Int64"),
        }
    )


@pytest.fixture(scope="module")
def cohort():
    return _cohort()


@pytest.fixture(scope="module")
def real_fit(cohort):
    return fit_model(cohort, FORMULA, "logistic")


# ---------------------------------------------------------------- ci_overlap


def test_ci_overlap_identical_is_one():
    assert ci_overlap(1.0, 3.0, 1.0, 3.0) == 1.0


def test_ci_overlap_half_overlapping():
    # intersection [1, 2] is half of each interval
    assert ci_overlap(0.0, 2.0, 1.0, 3.0) == pytest.approx(0.5)


def test_ci_overlap_nested():
    # intersection [1, 3]: 2/4 of the wide and 2/2 of the narrow interval
    assert ci_overlap(0.0, 4.0, 1.0, 3.0) == pytest.approx(0.75)


def test_ci_overlap_disjoint_clipped_to_zero():
    assert ci_overlap(0.0, 1.0, 2.0, 3.0) == 0.0


def test_ci_overlap_disjoint_signed_is_negative():
    # gap of 1 between two intervals of length 1: (-1/1 - 1/1) / 2
    assert ci_overlap(0.0, 1.0, 2.0, 3.0, clip=False) == pytest.approx(-1.0)


def test_ci_overlap_touching_is_zero():
    assert ci_overlap(0.0, 1.0, 1.0, 2.0, clip=False) == 0.0


def test_ci_overlap_symmetric():
    assert ci_overlap(0.0, 4.0, 1.0, 3.0) == ci_overlap(1.0, 3.0, 0.0, 4.0)


def test_ci_overlap_vectorised():
    result = ci_overlap([1, 0, 0, 0], [3, 2, 1, 4], [1, 1, 2, 1], [3, 3, 3, 3])
    np.testing.assert_allclose(result, [1.0, 0.5, 0.0, 0.75])


def test_ci_overlap_nan_input_gives_nan():
    assert np.isnan(ci_overlap(np.nan, 1.0, 0.0, 1.0))


def test_ci_overlap_zero_width_warns():
    with pytest.warns(IncomputableMetricWarning, match="zero length"):
        assert np.isnan(ci_overlap(1.0, 1.0, 0.0, 2.0))


def test_ci_overlap_reversed_bounds_raise():
    with pytest.raises(SynthlibError, match="upper bound"):
        ci_overlap(2.0, 1.0, 0.0, 3.0)


# ---------------------------------------------------------------- fit_model


def test_fit_model_coefficient_table(real_fit):
    table = real_fit.coefficients
    assert tuple(table.columns) == COEFFICIENT_COLUMNS
    assert table["term"].tolist() == [
        "Intercept",
        "sex[T.M]",
        "smoking[T.former]",
        "smoking[T.current]",
        "age",
        "ldl",
    ]
    assert (table["ci_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["ci_high"]).all()
    assert real_fit.converged
    assert (real_fit.n, real_fit.n_dropped, real_fit.outcome) == (600, 0, "event")


def test_fit_model_recovers_effects(real_fit):
    estimates = real_fit.coefficients.set_index("term")["estimate"]
    assert estimates["age"] == pytest.approx(0.05, abs=0.02)
    assert estimates["smoking[T.current]"] > 0


def test_fit_model_drops_missing_rows(cohort, caplog):
    data = cohort.copy()
    data.loc[[0, 1], "ldl"] = np.nan
    data.loc[2, "event"] = pd.NA
    data.loc[3, "sex"] = np.nan
    with caplog.at_level(logging.INFO, logger="synthlib.replication"):
        fit = fit_model(data, FORMULA, "logistic")
    assert (fit.n, fit.n_dropped) == (596, 4)
    assert "dropped 4 of 600 rows" in caplog.text


def test_fit_model_ignores_missing_outside_formula(cohort):
    data = cohort.assign(unused=np.nan)
    assert fit_model(data, FORMULA, "logistic").n_dropped == 0


def test_fit_model_linear_matches_least_squares():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    data = pd.DataFrame({"x": x, "y": 2.0 + 3.0 * x + rng.normal(scale=0.5, size=50)})
    fit = fit_model(data, "y ~ x", "linear")
    slope, intercept = np.polyfit(x, data["y"], 1)
    np.testing.assert_allclose(fit.coefficients["estimate"], [intercept, slope])


def test_fit_model_quoted_column_name():
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"ldl c": rng.normal(size=40), "y": rng.normal(size=40)})
    data.loc[0, "ldl c"] = np.nan
    fit = fit_model(data, 'y ~ Q("ldl c")', "linear")
    assert fit.n_dropped == 1


def test_fit_model_constant_outcome_message(cohort):
    data = cohort.assign(event=pd.array([0] * len(cohort), dtype="Int64"))
    with pytest.raises(SynthlibError, match="outcome 'event' is constant in the 600 complete rows"):
        fit_model(data, FORMULA, "logistic")


def test_fit_model_constant_predictor_message(cohort):
    data = cohort.assign(sex=pd.Categorical(["M"] * len(cohort), categories=["F", "M"]))
    with pytest.raises(SynthlibError, match="predictor 'sex' takes a single value"):
        fit_model(data, FORMULA, "logistic")


def test_fit_model_outcome_not_binary(cohort):
    with pytest.raises(SynthlibError, match="coded 0/1"):
        fit_model(cohort, "ldl ~ age", "logistic")


def test_fit_model_collinear_terms_named(cohort):
    data = cohort.assign(age_months=cohort["age"] * 12)
    with pytest.raises(SynthlibError, match="rank deficient: term\\(s\\) age_months"):
        fit_model(data, "event ~ age + age_months", "logistic")


def test_fit_model_separation_names_predictor(cohort):
    data = cohort.assign(marker=cohort["event"].astype(float) * 5 + 1)
    with pytest.raises(SynthlibError, match="perfect separation.*marker"):
        fit_model(data, "event ~ age + marker", "logistic")


def test_fit_model_separation_names_level(cohort):
    data = cohort.copy()
    data.loc[data["smoking"] == "current", "event"] = 1
    with pytest.raises(SynthlibError, match="perfect separation.*smoking.*current"):
        fit_model(data, FORMULA, "logistic")


def test_fit_model_separation_by_combination():
    # a plane x1 + x2 = 0 splits the outcome, with mixed outcomes only on the plane
    rng = np.random.default_rng(3)
    x1 = rng.normal(size=200)
    x2 = rng.normal(size=200)
    x2[:20] = -x1[:20]
    y = (x1 + x2 > 0).astype(float)
    y[:20] = np.tile([0.0, 1.0], 10)
    data = pd.DataFrame({"x1": x1, "x2": x2, "y": y})
    with pytest.raises(SynthlibError, match="perfect separation.*a combination of predictors"):
        fit_model(data, "y ~ x1 + x2", "logistic")


def test_fit_model_unknown_family(cohort):
    with pytest.raises(ConfigError, match="family"):
        fit_model(cohort, FORMULA, "poisson")


def test_fit_model_outcome_not_a_column(cohort):
    with pytest.raises(ConfigError, match="left side"):
        fit_model(cohort, "death ~ age", "logistic")


def test_fit_model_bad_formula_function(cohort):
    with pytest.raises(SynthlibError, match="could not be evaluated"):
        fit_model(cohort, "event ~ undefined_function(age)", "logistic")


# ---------------------------------------------------------------- compare_fits


def test_compare_fits_identity(real_fit):
    comparison = compare_fits(real_fit, real_fit)
    assert (comparison["ci_overlap"] == 1.0).all()
    assert (comparison["std_difference"] == 0.0).all()
    assert comparison["sign_agreement"].all()
    assert comparison["significance_agreement"].all()
    assert (comparison["attenuation_ratio"] == 1.0).all()


def test_compare_fits_attrs(real_fit):
    attrs = compare_fits(real_fit, real_fit).attrs
    assert attrs == {"family": "logistic", "formula": FORMULA, "ci_level": 0.95, "alpha": 0.05}


def test_compare_fits_noise_lowers_overlap(real_fit):
    overlaps = []
    for noise in (0.5, 2.0):
        noisy = fit_model(_cohort(noise=noise), FORMULA, "logistic")
        overlaps.append(compare_fits(real_fit, noisy).set_index("term")["ci_overlap"])
    assert overlaps[0].mean() < 1.0
    assert overlaps[1].mean() < overlaps[0].mean()
    # measurement noise attenuates the age and LDL slopes
    assert overlaps[1]["age"] < overlaps[0]["age"]


def test_compare_fits_noisy_attenuation(real_fit):
    noisy = fit_model(_cohort(noise=2.0), FORMULA, "logistic")
    ratio = compare_fits(real_fit, noisy).set_index("term")["attenuation_ratio"]
    assert 0 < ratio["age"] < 1


def test_compare_fits_std_difference_hand_computed(real_fit):
    shifted_table = real_fit.coefficients.copy()
    shifted_table["estimate"] += 2 * shifted_table["std_error"]
    shifted_table["ci_low"] += 2 * shifted_table["std_error"]
    shifted_table["ci_high"] += 2 * shifted_table["std_error"]
    shifted = type(real_fit)(**{**real_fit.__dict__, "coefficients": shifted_table})
    comparison = compare_fits(real_fit, shifted)
    np.testing.assert_allclose(comparison["std_difference"], 2.0)
    # equal widths 2 z se, shift 2 se: overlap 1 - 2 / (2 * 1.96)
    np.testing.assert_allclose(comparison["ci_overlap"], 1 - 1 / 1.959964, rtol=1e-5)


def test_compare_fits_missing_term(real_fit, cohort):
    without_current = cohort[cohort["smoking"] != "current"]
    synthetic_fit = fit_model(without_current, FORMULA, "logistic")
    with pytest.warns(SynthlibWarning, match="smoking\\[T.current\\]"):
        comparison = compare_fits(real_fit, synthetic_fit)
    row = comparison.set_index("term").loc["smoking[T.current]"]
    assert np.isnan(row["ci_overlap"])
    assert pd.isna(row["sign_agreement"])
    assert replication_summary(comparison)["n_terms_missing"] == 1


def test_compare_fits_family_mismatch(cohort, real_fit):
    linear = fit_model(cohort, "event ~ age + sex + ldl + smoking", "linear")
    with pytest.raises(SynthlibError, match="same family"):
        compare_fits(real_fit, linear)


def test_compare_fits_formula_mismatch_warns(cohort, real_fit):
    other = fit_model(cohort, "event ~ sex + age + ldl + smoking", "logistic")
    with pytest.warns(SynthlibWarning, match="different formulas"):
        compare_fits(real_fit, other)


def test_replication_summary_identity(real_fit):
    summary = replication_summary(compare_fits(real_fit, real_fit))
    json.loads(json.dumps(summary, allow_nan=False))
    assert summary == {
        "n_terms": 6,
        "n_terms_missing": 0,
        "mean_ci_overlap": 1.0,
        "mean_abs_std_difference": 0.0,
        "sign_agreement": 1.0,
        "significance_agreement": 1.0,
    }


def test_replication_summary_empty_is_none(real_fit):
    summary = replication_summary(compare_fits(real_fit, real_fit).iloc[:0])
    assert summary["n_terms"] == 0
    assert summary["mean_ci_overlap"] is None


def test_replication_summary_without_intercept(real_fit):
    summary = replication_summary(compare_fits(real_fit, real_fit), include_intercept=False)
    assert summary["n_terms"] == 5


# ---------------------------------------------------------------- forest plot


def test_plot_forest_from_comparison(real_fit):
    noisy = fit_model(_cohort(noise=1.0), FORMULA, "logistic")
    fig = plot_forest(compare_fits(real_fit, noisy))
    ax = fig.axes[0]
    assert ax.get_title() == ""
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "odds ratio with 95% confidence interval"
    assert len(ax.get_yticks()) == 5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["real", "synthetic"]
    plt.close(fig)


def test_plot_forest_from_labelled_fits(real_fit):
    noisy = fit_model(_cohort(noise=1.0), FORMULA, "logistic")
    fits = {"real": real_fit, "synthetic": noisy, "holdout": real_fit}
    fig = plot_forest(fits, odds_ratio=False, include_intercept=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert len(ax.get_yticks()) == 6
    assert len(ax.get_legend().get_texts()) == 3
    plt.close(fig)


def test_plot_forest_linear_rejects_odds_ratio(cohort):
    linear = fit_model(cohort, "ldl ~ age + sex", "linear")
    with pytest.raises(ConfigError, match="odds_ratio"):
        plot_forest({"real": linear}, odds_ratio=True)


def test_plot_forest_linear_default_axis(cohort):
    linear = fit_model(cohort, "ldl ~ age + sex", "linear")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_forest({"real": linear})
    assert fig.axes[0].get_xlabel() == "estimate with 95% confidence interval"
    plt.close(fig)
