"""Tests of synthlib.replication and synthlib.plots.replication."""

import json
import logging
import sys
import types
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from synthlib import study, tables  # noqa: E402
from synthlib.artifacts import RunPaths, write_json  # noqa: E402
from synthlib.config import load_config, resolve_config  # noqa: E402
from synthlib.exceptions import (  # noqa: E402
    ConfigError,
    IncomputableMetricWarning,
    SynthlibError,
    SynthlibWarning,
)
from scipy import stats  # noqa: E402

from synthlib.ml_replication import ml_replication  # noqa: E402
from synthlib.pipeline import REPO_ROOT  # noqa: E402
from synthlib.plots.replication import plot_forest, plot_replication_forests  # noqa: E402
from synthlib.replication import (  # noqa: E402
    COEFFICIENT_COLUMNS,
    ci_overlap,
    compare_fits,
    fit_model,
    replication_summary,
)
from synthlib.replication_verdict import (  # noqa: E402
    VerdictRule,
    analysis_figures,
    analysis_verdict,
    key_predictors,
    replicate_analysis,
    term_verdict,
    truth_coverage,
)
from synthlib.synthetic_inference import combine_estimates, combine_fits  # noqa: E402

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


# ---------------------------------------------------------------- Cox proportional hazards

COX_FORMULA = "time ~ x + C(group)"


def _survival(n_rows=600, random_state=0):
    """Simulate times with log hazard ratios 0.5 (per unit of x) and 0.7 (group b), with censoring."""
    rng = np.random.default_rng(random_state)
    x = rng.normal(size=n_rows)
    group = rng.choice(["a", "b"], n_rows)
    hazard = np.exp(0.5 * x + 0.7 * (group == "b"))
    event_time = rng.exponential(1 / hazard)
    censor_time = rng.exponential(2.0, n_rows)
    return pd.DataFrame(
        {
            "time": np.minimum(event_time, censor_time),
            "event": pd.array((event_time <= censor_time).astype(int), dtype="Int64"),
            "x": x,
            "group": pd.Categorical(group, categories=["a", "b"]),
        }
    )


@pytest.fixture(scope="module")
def survival():
    return _survival()


def test_fit_model_cox_recovers_log_hazard_ratios(survival):
    fit = fit_model(survival, COX_FORMULA, "cox", event="event")
    estimates = fit.coefficients.set_index("term")["estimate"]
    assert list(estimates.index) == ["C(group)[T.b]", "x"]
    assert estimates["x"] == pytest.approx(0.5, abs=0.1)
    assert estimates["C(group)[T.b]"] == pytest.approx(0.7, abs=0.2)
    assert (fit.family, fit.event, fit.outcome, fit.n) == ("cox", "event", "time", 600)


def test_fit_model_cox_drops_rows_missing_event(survival):
    data = survival.copy()
    data.loc[[0, 1], "event"] = pd.NA
    assert fit_model(data, COX_FORMULA, "cox", event="event").n_dropped == 2


def test_fit_model_cox_needs_event(survival):
    with pytest.raises(ConfigError, match="needs event"):
        fit_model(survival, COX_FORMULA, "cox")


def test_fit_model_event_only_for_cox(cohort):
    with pytest.raises(ConfigError, match="Cox models only"):
        fit_model(cohort, FORMULA, "logistic", event="event")


def test_fit_model_cox_without_events(survival):
    data = survival.assign(event=pd.array([0] * len(survival), dtype="Int64"))
    with pytest.raises(SynthlibError, match="records no event"):
        fit_model(data, COX_FORMULA, "cox", event="event")


def test_fit_model_cox_negative_time(survival):
    data = survival.copy()
    data.loc[0, "time"] = -1.0
    with pytest.raises(SynthlibError, match="non-negative"):
        fit_model(data, COX_FORMULA, "cox", event="event")


def test_fit_model_cox_level_without_events(survival):
    data = survival.copy()
    data.loc[data["group"] == "b", "event"] = 0
    with pytest.raises(SynthlibError, match="monotone likelihood.*group level\\(s\\) b"):
        fit_model(data, COX_FORMULA, "cox", event="event")


def test_plot_forest_cox_draws_hazard_ratios(survival):
    fit = fit_model(survival, COX_FORMULA, "cox", event="event")
    fig = plot_forest({"real": fit})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "hazard ratio with 95% confidence interval"
    plt.close(fig)


# ---------------------------------------------------------------- combining rules


def test_combine_estimates_two_syntheses_hand_computed():
    # q = (1, 3), u = (0.25, 0.75): q_bar 2, b_m (1 + 1) / 1 = 2, u_bar 0.5,
    # T_f = 1.5 * 2 - 0.5 = 2.5, nu_f = 1 * (1 - 2 * 0.5 / (3 * 2)) ** 2 = 25 / 36,
    # T_s = 0.5 * (1 + 1 / 2) = 0.75.
    row = combine_estimates([1.0, 3.0], [0.25, 0.75]).iloc[0]
    assert row["estimate"] == pytest.approx(2.0)
    assert row["between_variance"] == pytest.approx(2.0)
    assert row["within_variance"] == pytest.approx(0.5)
    assert row["reiter_variance"] == pytest.approx(2.5)
    assert row["df"] == pytest.approx(25 / 36)
    assert not row["variance_adjusted"]
    assert row["simple_variance"] == pytest.approx(0.75)


def test_combine_estimates_negative_variance_adjusted():
    # q = (1, 1.2): b_m = 0.02, T_f = 1.5 * 0.02 - 0.5 = -0.47 <= 0, so T_f* = (200 / 100) * 0.5 = 1;
    # T_s = 0.5 * (2 + 1 / 2) = 1.25.
    row = combine_estimates([1.0, 1.2], [0.25, 0.75], n_real=100, n_synthetic=200).iloc[0]
    assert row["estimate"] == pytest.approx(1.1)
    assert row["reiter_variance"] == pytest.approx(1.0)
    assert row["variance_adjusted"]
    assert np.isinf(row["df"])
    assert row["simple_variance"] == pytest.approx(1.25)


def test_combine_estimates_per_quantity_over_available():
    estimates = [[1.0, 2.0], [3.0, np.nan]]
    variances = [[0.25, 0.4], [0.75, np.nan]]
    table = combine_estimates(estimates, variances)
    assert table["n_syntheses"].tolist() == [2, 1]
    assert table.loc[0, "reiter_variance"] == pytest.approx(2.5)
    # one synthesis: no between variance, so the adjusted value u_bar is used
    assert np.isnan(table.loc[1, "between_variance"])
    assert table.loc[1, "reiter_variance"] == pytest.approx(0.4)
    assert table.loc[1, "variance_adjusted"]


def test_combine_estimates_shape_mismatch():
    with pytest.raises(SynthlibError, match="same shape"):
        combine_estimates([1.0, 2.0], [0.1])


def test_combine_estimates_negative_variance_input():
    with pytest.raises(SynthlibError, match="negative"):
        combine_estimates([1.0, 2.0], [0.1, -0.1])


def _fit_with(estimates, std_errors, base):
    table = pd.DataFrame(
        {"term": ["x"], "estimate": estimates, "std_error": std_errors, "ci_low": [0.0], "ci_high": [0.0],
         "p_value": [0.5]}
    )
    return type(base)(**{**base.__dict__, "coefficients": table})


def test_combine_fits_interval_uses_t_with_nu_f(real_fit):
    fits = [_fit_with([1.0], [0.5], real_fit), _fit_with([3.0], [0.75**0.5], real_fit)]
    row = combine_fits(fits).coefficients.iloc[0]
    critical = stats.t.ppf(0.975, 25 / 36)
    assert row["std_error"] == pytest.approx(2.5**0.5)
    assert row["ci_low"] == pytest.approx(2.0 - critical * 2.5**0.5)
    assert row["ci_high"] == pytest.approx(2.0 + critical * 2.5**0.5)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(2.0 / 2.5**0.5, 25 / 36))


def test_combine_fits_simple_variance_uses_normal(real_fit):
    fits = [_fit_with([1.0], [0.5], real_fit), _fit_with([3.0], [0.75**0.5], real_fit)]
    row = combine_fits(fits, variance="simple").coefficients.iloc[0]
    assert row["std_error"] == pytest.approx(0.75**0.5)
    assert row["ci_high"] == pytest.approx(2.0 + stats.norm.ppf(0.975) * 0.75**0.5)


def test_combine_fits_identical_fits_give_real_interval(real_fit):
    # b_m = 0 makes T_f = -u_bar, so the adjusted variance u_bar (equal sizes) is the real one.
    combined = combine_fits([real_fit] * 3, n_real=real_fit.n)
    np.testing.assert_allclose(combined.coefficients["std_error"], real_fit.coefficients["std_error"])
    np.testing.assert_allclose(combined.coefficients["ci_low"], real_fit.coefficients["ci_low"])
    np.testing.assert_allclose(compare_fits(real_fit, combined)["ci_overlap"], 1.0)


def test_combine_fits_rejects_different_formulas(cohort, real_fit):
    other = fit_model(cohort, "event ~ age + sex", "logistic")
    with pytest.raises(SynthlibError, match="different formula"):
        combine_fits([real_fit, other])


def test_combine_fits_unknown_variance(real_fit):
    with pytest.raises(ConfigError, match="variance"):
        combine_fits([real_fit], variance="rubin")


# ---------------------------------------------------------------- verdicts


def _agreement_row(overlap, ratio, real_significant, n_fits=5):
    return pd.Series({"mean_ci_overlap": overlap, "attenuation_ratio": ratio, "real_significant": real_significant,
                      "n_fits": n_fits, "n_all": 5})


@pytest.mark.parametrize(
    "overlap, ratio, real_significant, expected",
    [
        (0.9, 1.0, True, "replicated"),
        (0.6, -0.2, False, "replicated"),  # no real effect, and no synthetic one far from it
        (0.6, -0.2, True, "not replicated"),  # a significant effect reversed
        (0.2, 0.4, True, "attenuated"),
        (0.2, 0.4, False, "not replicated"),
        (0.2, 1.8, True, "not replicated"),  # inflated
        (0.2, -0.5, True, "not replicated"),
        (0.9, 0.3, True, "attenuated"),  # wide synthetic intervals cannot hide a shrunken effect
        (0.9, 0.3, False, "replicated"),
        (0.9, 2.5, True, "not replicated"),
        (np.nan, 1.0, True, "not replicated"),
    ],
)
def test_term_verdict_rule(overlap, ratio, real_significant, expected):
    assert term_verdict(_agreement_row(overlap, ratio, real_significant)) == expected


def test_term_verdict_term_missing_everywhere():
    assert term_verdict(_agreement_row(0.9, 1.0, True, n_fits=0)) == "not replicated"


def test_term_verdict_term_in_few_fits():
    assert term_verdict(_agreement_row(0.9, 1.0, True, n_fits=2)) == "not replicated"
    assert term_verdict(_agreement_row(0.9, 1.0, True, n_fits=3)) == "replicated"


def test_analysis_verdict_takes_worst():
    assert analysis_verdict([None, "replicated", "attenuated"]) == "attenuated"
    assert analysis_verdict(["replicated", "not replicated", "attenuated"]) == "not replicated"
    assert analysis_verdict(["replicated"]) == "replicated"


def test_analysis_verdict_needs_a_coefficient():
    with pytest.raises(SynthlibError, match="besides the intercept"):
        analysis_verdict([None])


def test_verdict_rule_describes_thresholds():
    text = VerdictRule(alpha=0.01, min_overlap=0.6, max_ratio=1.5).describe()
    assert "at least 0.6" in text
    assert "p < 0.01" in text
    assert "between 0.67 and 1.5" in text


def test_verdict_rule_rejects_ratio_at_most_one():
    with pytest.raises(ConfigError, match="max_ratio"):
        VerdictRule(max_ratio=1.0)


def test_replicate_analysis_identical_syntheses(cohort):
    analysis = replicate_analysis(cohort, [cohort] * 3, FORMULA, "logistic")
    assert analysis.verdict == "replicated"
    block = analysis.agreement.set_index("term").drop(index="Intercept")
    np.testing.assert_allclose(block["mean_ci_overlap"], 1.0)
    assert (block["sign_agreement"] == 1.0).all()
    assert analysis.synthesis_numbers == (1, 2, 3)


def test_replicate_analysis_noise_attenuates(cohort):
    syntheses = [_cohort(random_state=0, noise=3.0)]
    analysis = replicate_analysis(cohort, syntheses, FORMULA, "logistic")
    row = analysis.agreement.set_index("term").loc["age"]
    assert 0 < row["attenuation_ratio"] < 1
    assert row["verdict"] == "attenuated"
    assert analysis.verdict in ("attenuated", "not replicated")


def test_replicate_analysis_reversed_effect(cohort):
    reversed_age = cohort.assign(age=120 - cohort["age"])
    analysis = replicate_analysis(cohort, [reversed_age] * 2, FORMULA, "logistic")
    row = analysis.agreement.set_index("term").loc["age"]
    assert row["sign_agreement"] == 0.0
    assert row["verdict"] == "not replicated"
    assert analysis.verdict == "not replicated"


def test_replicate_analysis_fits_anonymized_table(cohort):
    coarse = cohort.assign(age=(cohort["age"] // 10) * 10 + 5)
    analysis = replicate_analysis(cohort, [cohort], FORMULA, "logistic", anonymized={"age_decades": coarse})
    assert list(analysis.anonymized_fits) == ["age_decades"]
    assert "anonymized: age_decades" in set(analysis.verdicts["dataset"])
    per_fit = analysis.per_fit[analysis.per_fit["dataset"] == "anonymized: age_decades"]
    assert per_fit.set_index("term").loc["age", "ci_overlap"] > 0.5


def test_replicate_analysis_keeps_failed_synthesis_out(cohort):
    constant = cohort.assign(event=pd.array([0] * len(cohort), dtype="Int64"))
    with pytest.warns(SynthlibWarning, match="could not be fitted on 1 table"):
        analysis = replicate_analysis(cohort, [cohort, constant, cohort], FORMULA, "logistic")
    assert analysis.synthesis_numbers == (1, 3)
    assert "constant" in analysis.failures["synthesis 2"]


def test_replicate_analysis_every_synthesis_failing(cohort):
    constant = cohort.assign(event=pd.array([0] * len(cohort), dtype="Int64"))
    with pytest.warns(SynthlibWarning), pytest.raises(SynthlibError, match="any of the 2 syntheses"):
        replicate_analysis(cohort, [constant, constant], FORMULA, "logistic")


def test_replicate_analysis_truth_coverage(cohort):
    truth = {"coefficients": {"age": 0.05, "ldl": 0.5, "sex[T.M]": 0.6, "smoking[T.current]": 0.8,
                              "smoking[T.former]": 0.0}}
    analysis = replicate_analysis(cohort, [cohort] * 2, FORMULA, "logistic", truth=truth)
    coverage = truth_coverage(analysis).set_index("fit")["truth_coverage"]
    assert coverage["real"] == coverage["synthesis 1"] == coverage["combined (Reiter)"]
    assert coverage["real"] >= 0.8
    assert "real_ci_covers_truth" in analysis.comparison


def test_replicate_analysis_cox(survival):
    analysis = replicate_analysis(survival, [_survival(random_state=k) for k in (1, 2, 3)], COX_FORMULA, "cox",
                                  event="event", name="cox")
    assert analysis.verdict == "replicated"
    assert analysis.combined_fit.family == "cox"


def test_analysis_figures_json_ready(cohort):
    analysis = replicate_analysis(cohort, [cohort, _cohort(random_state=1)], FORMULA, "logistic")
    figures = analysis_figures(analysis)
    json.dumps(figures, allow_nan=False)
    assert list(figures["key_predictors"])[0] == key_predictors(analysis)[0]
    assert set(figures["key_predictors"]["age"]) == {"mean_ci_overlap", "sign_agreement", "attenuation_ratio",
                                                     "verdict"}


def test_plot_replication_forests_one_panel_per_analysis(cohort, survival):
    analyses = {
        "default": replicate_analysis(cohort, [cohort, _cohort(random_state=1)], FORMULA, "logistic"),
        "cox": replicate_analysis(survival, [_survival(random_state=1)], COX_FORMULA, "cox", event="event"),
    }
    fig = plot_replication_forests(analyses)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_xlabel() == "hazard ratio with 95% confidence interval"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["real", "each synthesis", "combined (Reiter)", "combined (simple)"]
    plt.close(fig)


# ---------------------------------------------------------------- study runs without a model

TOY_FORMULA = "event ~ age + C(sex) + ldl_c + bmi + smoker"


@pytest.fixture(scope="module")
def toy_run(toy_study_files, tmp_path_factory):
    """A run folder with the toy cohort's splits and three bootstrap samples of train as syntheses."""
    run_dir = tmp_path_factory.mktemp("toy_replication")
    study.prepare_data(run_dir, str(toy_study_files["csv"]), toy_study_files["dictionary"], holdout_fraction=0.25)
    paths = RunPaths(run_dir)
    train = pd.read_parquet(paths.train)
    paths.synthesis(1).parent.mkdir()
    for number in (1, 2, 3):
        train.sample(frac=1.0, replace=True, random_state=number).reset_index(drop=True).to_parquet(
            paths.synthesis(number)
        )
    return run_dir


def test_ml_replication_same_data_replicated(toy_run):
    data = study.load_run(toy_run)
    ml = ml_replication(data.train, [data.train], data.holdout, "event", data.dictionary, random_state=0)
    assert ml.rank_correlation == pytest.approx(1.0)
    assert ml.score_loss == pytest.approx(0.0)
    assert ml.top_k_overlap == 1.0
    assert ml.verdict == "replicated"
    assert list(ml.ranking["rank_real"]) == sorted(ml.ranking["rank_real"])


def test_ml_replication_shuffled_outcome_not_replicated(toy_run):
    data = study.load_run(toy_run)
    rng = np.random.default_rng(0)
    shuffled = data.train.assign(event=rng.permutation(data.train["event"].to_numpy()))
    ml = ml_replication(data.train, [shuffled, shuffled], data.holdout, "event", data.dictionary, random_state=0)
    assert ml.score_loss > 0.05
    assert ml.verdict in ("attenuated", "not replicated")
    json.dumps(ml.figures(), allow_nan=False)


def test_ml_replication_is_seeded(toy_run):
    data = study.load_run(toy_run)
    runs = [
        ml_replication(data.train, [data.train], data.holdout, "event", data.dictionary, random_state=3, n_repeats=3)
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0].importances, runs[1].importances)


def test_ml_replication_rejects_categorical_outcome(toy_run):
    data = study.load_run(toy_run)
    with pytest.raises(ConfigError, match="'sex' has type 'categorical'"):
        ml_replication(data.train, [data.train], data.holdout, "sex", data.dictionary)


def test_anonymized_tables_before_privacy_step(tmp_path):
    # A run whose privacy step has not written anonymized tables is replicated on its syntheses alone.
    assert study.load_anonymized_tables(tmp_path) == {}


def _anonymize_module(folder):
    """Build a stand-in for synthlib.anonymize whose load_anonymized reads the Parquet files of ``folder``."""
    module = types.ModuleType("synthlib.anonymize")
    module.load_anonymized = lambda run_dir: {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
    return module


def test_replicate_fits_anonymized_tables(monkeypatch, toy_run, tmp_path):
    train = pd.read_parquet(RunPaths(toy_run).train)
    coarse = train.assign(age=(train["age"] // 10) * 10 + 5, bmi=train["bmi"].round(0))
    coarse.to_parquet(tmp_path / "generalized.parquet")
    monkeypatch.setitem(sys.modules, "synthlib.anonymize", _anonymize_module(tmp_path))

    report = study.replicate(toy_run, formula=TOY_FORMULA, family="logistic")
    assert list(report.default.anonymized_fits) == ["generalized"]
    results = json.loads(RunPaths(toy_run).step_results("replication").read_text())
    datasets = [row["dataset"] for row in results["analyses"]["default"]["verdicts"]]
    assert datasets == ["synthetic", "anonymized: generalized"]


def test_replicate_writes_summary_figures(toy_run):
    report = study.replicate(toy_run, formula=TOY_FORMULA, family="logistic", anonymized={})
    results = json.loads(RunPaths(toy_run).step_results("replication").read_text())
    assert results["n_syntheses"] == 3
    assert results["verdict"] in ("replicated", "attenuated", "not replicated")
    assert set(results["key_predictors"]) == set(key_predictors(report.default))
    assert results["key_predictors"]["age"]["sign_agreement"] == 1.0
    assert results["ml"]["outcome"] == "event"
    assert "ci_overlap_signed" in results["coefficients"][0]


def test_replication_results_json_with_missing_term(cohort, tmp_path):
    without_current = cohort[cohort["smoking"] != "current"]
    with pytest.warns(SynthlibWarning, match="smoking\\[T.current\\]"):
        analysis = replicate_analysis(cohort, [without_current] * 2, FORMULA, "logistic")
    results = study.replication_results(analysis, {"default": analysis}, None, analysis_figures(analysis))
    loaded = json.loads(write_json(tmp_path / "replication.json", results).read_text())
    row = next(row for row in loaded["coefficients"] if row["term"] == "smoking[T.current]")
    assert row["sign_agreement"] is None
    assert loaded["key_predictors"]["smoking[T.current]"]["verdict"] == "not replicated"


def test_replicate_runs_extra_cox_analysis(toy_run):
    # The toy cohort has no follow-up time, so bmi serves as a positive "time" to run the Cox path.
    analyses = [{"name": "cox", "family": "cox", "formula": "bmi ~ age + ldl_c", "event": "event"}]
    report = study.replicate(toy_run, formula=TOY_FORMULA, family="logistic", analyses=analyses, anonymized={})
    assert list(report.analyses) == ["default", "cox"]
    assert report.analyses["cox"].real_fit.family == "cox"
    assert "cox (cox)" in tables.verdict_table(report).index.get_level_values("analysis")


def test_replication_tables_render(toy_run):
    report = study.replicate(toy_run, formula=TOY_FORMULA, family="logistic", anonymized={})
    assert list(tables.key_predictor_table(report.default).columns) == [
        "mean CI overlap", "sign agreement", "attenuation", "verdict"
    ]
    assert tables.agreement_table(report.default).loc["Intercept", "verdict"] == ""
    assert "T_f" in tables.combined_table(report.default)
    assert tables.analysis_table(report.default).loc["fits", "synthetic"] == 3
    assert "dict" not in str(tables.replication_table(report).dtypes)


# ---------------------------------------------------------------- configuration


def test_config_default_n_syntheses():
    assert resolve_config({})["sampling"]["n_syntheses"] == 5


def test_config_rejects_zero_syntheses():
    with pytest.raises(ConfigError, match="sampling.n_syntheses"):
        resolve_config({"sampling": {"n_syntheses": 0}})


@pytest.mark.parametrize(
    "analysis, message",
    [
        ({"name": "cox", "family": "cox", "formula": "t ~ x"}, "event must name"),
        ({"name": "default", "family": "logistic", "formula": "y ~ x"}, "used twice"),
        ({"name": "a", "family": "poisson", "formula": "y ~ x"}, "family must be one of"),
        ({"name": "a", "formula": "y ~ x"}, "must be a mapping with name, family, formula"),
        ({"name": "a", "family": "linear", "formula": "y ~ x", "weights": "w"}, "unknown key"),
    ],
)
def test_config_rejects_invalid_analysis(analysis, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config({"replication": {"analyses": [analysis]}})


def test_smart_config_adds_cox_analysis():
    config = load_config(REPO_ROOT / "configs" / "smart.yaml")
    (analysis,) = config["replication"]["analyses"]
    assert (analysis["family"], analysis["event"]) == ("cox", "event")
    assert analysis["formula"].startswith("time_days ~")


# ---------------------------------------------------------------- m syntheses from one tiny model


@pytest.fixture(scope="module")
def sampled_run(toy_study_files, tmp_path_factory):
    """Train a tiny GPT-2 once, then sample three syntheses of 40 rows from it."""
    from synthlib.models import ScratchModelConfig

    run_dir = tmp_path_factory.mktemp("toy_syntheses")
    study.prepare_data(run_dir, str(toy_study_files["csv"]), toy_study_files["dictionary"], holdout_fraction=0.25)
    scratch = ScratchModelConfig(n_layer=2, n_embd=64, n_head=2, vocab_size=512)
    study.train_model(run_dir, scratch_config=scratch, settings={"epochs": 2, "batch_size": 16, "learning_rate": 3e-3})
    paths = RunPaths(run_dir)
    before = {
        "fingerprint": study.model_fingerprint(paths.model_dir),
        "training_mtime": paths.step_results("training").stat().st_mtime_ns,
    }
    results = study.sample_syntheses(
        run_dir, n_syntheses=3, n_samples=40, batch_size=64, temperature=0.9, max_batches=20, random_state=7
    )
    return {"run_dir": run_dir, "paths": paths, "results": results, "before": before}


@pytest.mark.slow
def test_sample_syntheses_records_seeds(sampled_run):
    figures = json.loads(sampled_run["paths"].step_results("sampling").read_text())
    assert figures["n_syntheses"] == 3
    assert figures["synthesis_seeds"] == [7, 1_000_007, 2_000_007]
    for entry, result, seed in zip(figures["syntheses"], sampled_run["results"], figures["synthesis_seeds"]):
        assert entry["random_state"] == seed
        assert entry["batch_seeds"] == result.seeds
        assert result.seeds[0] == seed


@pytest.mark.slow
def test_sample_syntheses_uses_one_model(sampled_run):
    paths, before = sampled_run["paths"], sampled_run["before"]
    figures = json.loads(paths.step_results("sampling").read_text())
    assert study.model_fingerprint(paths.model_dir) == before["fingerprint"]
    assert figures["model_fingerprint"] == before["fingerprint"]
    # training ran once, before sampling, and was not repeated
    assert paths.step_results("training").stat().st_mtime_ns == before["training_mtime"]


@pytest.mark.slow
def test_sample_syntheses_writes_distinct_tables(sampled_run):
    paths = sampled_run["paths"]
    syntheses = study.load_syntheses(sampled_run["run_dir"])
    assert [len(table) for table in syntheses] == [40, 40, 40]
    pd.testing.assert_frame_equal(pd.read_parquet(paths.synthetic), syntheses[0])
    assert not syntheses[0].equals(syntheses[1])
    assert not syntheses[1].equals(syntheses[2])
    assert len(study.check_syntheses(sampled_run["run_dir"])) == 3


@pytest.mark.slow
def test_summary_carries_synthesis_seeds(sampled_run):
    import yaml

    from synthlib.pipeline import write_summary

    paths = sampled_run["paths"]
    paths.config.write_text(yaml.safe_dump(resolve_config({"run_name": "toy"})))
    summary = write_summary(paths)
    assert summary["n_syntheses"] == 3
    assert summary["synthesis_seeds"] == [7, 1_000_007, 2_000_007]


@pytest.mark.slow
def test_sample_syntheses_removes_stale_files(sampled_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(sampled_run["run_dir"], run_dir)
    study.sample_syntheses(run_dir, n_syntheses=2, n_samples=10, batch_size=32, max_batches=20, random_state=7)
    assert len(study.load_syntheses(run_dir)) == 2
    assert not RunPaths(run_dir).synthesis(3).exists()
