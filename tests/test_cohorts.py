"""Tests of the cohort templates and of the simulators with known ground truth."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthlib.cohorts import (
    ModelTruth,
    SimulatedCohort,
    check_consistency,
    read_truth,
    simulate_ldl_response,
    simulate_sams_cohort,
    write_cohort,
)
from synthlib.cohorts import baseline as baseline_module
from synthlib.cohorts import sams as sams_module
from synthlib.cohorts.therapy import (
    NO_STATIN,
    STATIN_INTENSITIES,
    STATINS,
    classify_statin_intensity,
    expected_reduction,
)
from synthlib.dictionary import read_dictionary
from synthlib.exceptions import ConfigError, SynthlibError
from synthlib.replication import fit_model
from synthlib.validation import load_table, validate_table

TEMPLATES = Path(__file__).resolve().parents[1] / "data_templates"
COHORTS = {"sams_cohort": simulate_sams_cohort, "ldl_response": simulate_ldl_response}
ADD_ON_DRUGS = ["ezetimibe", "pcsk9_antibody", "inclisiran", "bempedoic_acid"]


def dictionary_of(name):
    return read_dictionary(TEMPLATES / f"{name}.yaml")


@pytest.fixture(scope="module")
def cohorts():
    """The default cohorts (1,700 rows, random_state 0), simulated once for the module."""
    return {name: simulate() for name, simulate in COHORTS.items()}


@pytest.fixture(scope="module")
def typed(cohorts):
    return {name: validate_table(result.data, dictionary_of(name)) for name, result in cohorts.items()}


def fitted(result, table, model_name):
    model = result.model(model_name)
    fit = fit_model(table, model.formula, model.family)
    return model, fit.coefficients.set_index("term")


# --- Dictionaries and templates ---------------------------------------------------------------


@pytest.mark.parametrize("name", COHORTS)
def test_template_csv_loads_with_dictionary(name):
    table = load_table(TEMPLATES / f"{name}.csv", dictionary_of(name))
    assert table.shape == (3, len(dictionary_of(name).columns))


@pytest.mark.parametrize("name", COHORTS)
def test_template_rows_follow_cross_column_rules(name):
    table = load_table(TEMPLATES / f"{name}.csv", dictionary_of(name))
    rules = check_consistency(table)
    assert rules["n_checked"].gt(0).all()
    assert rules["n_violations"].sum() == 0, rules[rules["n_violations"] > 0]


@pytest.mark.parametrize("name", COHORTS)
def test_dictionary_size_and_column_names(name):
    dictionary = dictionary_of(name)
    assert 40 <= len(dictionary.columns) <= 60
    for column in dictionary.names:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", column), column


@pytest.mark.parametrize(
    ("name", "main_outcome"), [("sams_cohort", "sams"), ("ldl_response", "ldl_reduction_pct")]
)
def test_dictionary_roles(name, main_outcome):
    dictionary = dictionary_of(name)
    assert dictionary.by_role("identifier") == ["patient_id"]
    assert {"age", "sex", "bmi"} <= set(dictionary.by_role("quasi_identifier"))
    assert {"diabetes", "hypothyroidism", "liver_disease"} <= set(dictionary.by_role("sensitive"))
    # The first outcome column is the one the book's prediction models use by default.
    assert dictionary.by_role("outcome")[0] == main_outcome
    assert dictionary.column("therapy_modified" if name == "sams_cohort" else "adherence_pdc").role == "predictor"


@pytest.mark.parametrize("name", COHORTS)
def test_dictionary_declares_units_and_dates(name):
    dictionary = dictionary_of(name)
    assert dictionary.by_type("date") == ["baseline_visit_date", "followup_visit_date"]
    for column in dictionary.columns:
        if column.type == "numeric":
            assert column.unit, column.name
            assert column.range is not None, column.name
    assert dictionary.column("ldl_c_baseline").unit == "mg/dL"


@pytest.mark.parametrize(
    ("name", "column", "levels"),
    [
        ("sams_cohort", "sex", baseline_module.SEXES),
        ("sams_cohort", "smoking", baseline_module.SMOKING),
        ("sams_cohort", "alcohol", baseline_module.ALCOHOL),
        ("sams_cohort", "ckd_stage", baseline_module.CKD_STAGES),
        ("sams_cohort", "ck_category", baseline_module.CK_CATEGORIES),
        ("sams_cohort", "statin", STATINS),
        ("sams_cohort", "statin_intensity", STATIN_INTENSITIES),
        ("sams_cohort", "sams_type", sams_module.SAMS_TYPES),
        ("sams_cohort", "modification_type", sams_module.MODIFICATION_TYPES),
        ("ldl_response", "statin", (NO_STATIN, *STATINS)),
        ("ldl_response", "statin_intensity", (NO_STATIN, *STATIN_INTENSITIES)),
        ("ldl_response", "ck_category", baseline_module.CK_CATEGORIES),
    ],
)
def test_dictionary_levels_match_simulator(name, column, levels):
    assert dictionary_of(name).column(column).levels == tuple(levels)


def test_dictionary_catches_ldl_in_mmol_per_litre(cohorts):
    raw = cohorts["ldl_response"].data.copy()
    raw["ldl_c_baseline"] = (raw["ldl_c_baseline"] / 38.67).round(2)
    with pytest.raises(SynthlibError, match="values look like mmol/L"):
        validate_table(raw, dictionary_of("ldl_response"))


# --- Simulated tables ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", COHORTS)
def test_simulated_table_validates(cohorts, typed, name):
    result = cohorts[name]
    assert isinstance(result, SimulatedCohort)
    assert result.name == name
    assert result.n_rows == 1700
    assert list(result.data.columns) == dictionary_of(name).names
    assert typed[name].shape == (1700, len(dictionary_of(name).columns))


@pytest.mark.parametrize("name", COHORTS)
def test_simulated_numbers_have_declared_decimals(cohorts, name):
    data = cohorts[name].data
    for column in dictionary_of(name).columns:
        if column.type != "numeric":
            continue
        values = data[column.name].dropna().to_numpy(dtype=float)
        scaled = values * 10 ** column.decimals
        assert np.allclose(scaled, np.round(scaled), atol=1e-6), column.name


@pytest.mark.parametrize("name", COHORTS)
def test_simulated_table_follows_cross_column_rules(cohorts, name):
    rules = check_consistency(cohorts[name].data)
    assert len(rules) >= 11
    assert rules["n_checked"].gt(0).all()
    assert rules["n_violations"].sum() == 0, rules[rules["n_violations"] > 0]


@pytest.mark.parametrize("name", COHORTS)
def test_baseline_resembles_euroaspire_v(cohorts, name):
    data = cohorts[name].data
    # EUROASPIRE V: 26% women, mean age 64, 29% diabetes, 19% current smokers. Bounds are about
    # four standard errors at 1,700 rows.
    assert abs((data["sex"] == "female").mean() - 0.26) < 0.045
    assert abs(data["age"].mean() - 64.0) < 1.0
    assert abs(data["diabetes"].mean() - 0.29) < 0.045
    assert abs((data["smoking"].dropna() == "current").mean() - 0.19) < 0.045
    assert 27.5 < data["bmi"].mean() < 29.5


@pytest.mark.parametrize("name", COHORTS)
def test_missingness_is_realistic(cohorts, name):
    data = cohorts[name].data
    assert data["lpa"].isna().mean() > 0.4
    assert 0.02 < data["ldl_c_followup"].isna().mean() < 0.20
    assert data["ck"].isna().mean() > 0.05
    assert data["patient_id"].notna().all()
    assert data["patient_id"].is_unique


def test_sams_prevalence_within_published_band(cohorts):
    prevalence = cohorts["sams_cohort"].data["sams"].mean()
    assert 0.10 <= prevalence <= 0.20


def test_therapy_modification_follows_sams(cohorts):
    data = cohorts["sams_cohort"].data
    by_sams = data.groupby("sams")["therapy_modified"].mean()
    assert 0.6 <= by_sams[1] <= 0.8
    assert 0.2 <= by_sams[0] <= 0.3


def test_ck_above_ten_times_uln_mostly_sams(cohorts):
    data = cohorts["sams_cohort"].data
    extreme = data[data["ck_category"] == ">10x"]
    normal = data[data["ck_category"] == "normal"]
    assert len(extreme) >= 3
    assert extreme["sams"].mean() > 0.6
    assert normal["sams"].mean() < 0.2


@pytest.mark.parametrize("name", COHORTS)
def test_ldl_reduction_by_statin_intensity(cohorts, name):
    data = cohorts[name].data
    monotherapy = data[data[ADD_ON_DRUGS].sum(axis=1) == 0]
    mean_reduction = monotherapy.groupby("statin_intensity")["ldl_reduction_pct"].mean()
    # 2018 AHA/ACC: high intensity lowers LDL-C by 50% or more, low intensity by less than 30%.
    assert mean_reduction["high"] >= 50.0
    assert mean_reduction["low"] < 30.0
    assert 30.0 <= mean_reduction["moderate"] < 50.0


def test_ldl_cohort_has_statin_free_regimens(cohorts):
    data = cohorts["ldl_response"].data
    statin_free = data[data["statin"] == "none"]
    assert 0.03 < len(statin_free) / len(data) < 0.12
    assert statin_free["statin_dose_mg"].isna().all()
    assert (statin_free[ADD_ON_DRUGS].sum(axis=1) >= 1).all()
    assert statin_free["statin_intolerance"].eq(1).all()


# --- Ground truth ------------------------------------------------------------------------------------


def test_ck_and_therapy_modification_predict_sams(cohorts, typed):
    _, coefficients = fitted(cohorts["sams_cohort"], typed["sams_cohort"], "sams")
    for term in ("therapy_modified", "np.log2(ck_x_uln)"):
        assert coefficients.loc[term, "estimate"] > 0, term
        assert coefficients.loc[term, "p_value"] < 0.001, term


@pytest.mark.parametrize(
    ("name", "model_name", "key_terms"),
    [
        ("sams_cohort", "sams", ["therapy_modified", "np.log2(ck_x_uln)"]),
        ("sams_cohort", "sams_without_modification", ["np.log2(ck_x_uln)", "prior_ck_elevation"]),
        ("ldl_response", "ldl_reduction", ["expected_reduction_pct", "adherence_pdc", "ldl_c_baseline"]),
    ],
)
def test_key_predictors_cover_truth_at_default_seed(cohorts, typed, name, model_name, key_terms):
    model, coefficients = fitted(cohorts[name], typed[name], model_name)
    for term in key_terms:
        truth = model.coefficients[term]
        assert coefficients.loc[term, "ci_low"] <= truth <= coefficients.loc[term, "ci_high"], term


@pytest.mark.parametrize(
    ("name", "model_name"),
    [("sams_cohort", "sams"), ("sams_cohort", "sams_without_modification"),
     ("sams_cohort", "ldl_reduction"), ("ldl_response", "ldl_reduction")],
)
def test_truth_names_every_fitted_term(cohorts, typed, name, model_name):
    model, coefficients = fitted(cohorts[name], typed[name], model_name)
    assert set(coefficients.index) == set(model.coefficients)


@pytest.mark.parametrize(("name", "model_name"), [("sams_cohort", "sams"), ("ldl_response", "ldl_reduction")])
def test_large_cohort_recovers_truth(name, model_name):
    # With 30,000 rows every estimate lies within 4.5 standard errors of the truth unless the
    # simulator and its stated truth disagree.
    result = COHORTS[name](n_rows=30_000, random_state=11)
    model, coefficients = fitted(result, validate_table(result.data, dictionary_of(name)), model_name)
    truth = pd.Series(dict(model.coefficients))
    z = (coefficients["estimate"] - truth[coefficients.index]) / coefficients["std_error"]
    assert z.abs().max() < 4.5, z.round(2).to_dict()


def test_reverse_causation_truth():
    assert sams_module.reverse_causation_log_odds_ratio() == pytest.approx(math.log(7.0))
    with_modification, structural, _ = sams_module.sams_models()
    assert with_modification.coefficients["therapy_modified"] == pytest.approx(math.log(7.0))
    assert "therapy_modified" not in structural.coefficients
    shift = math.log(0.30 / 0.75)
    assert with_modification.coefficients["Intercept"] == pytest.approx(structural.coefficients["Intercept"] + shift)
    ck_shift = math.log(0.97 / 0.80)
    assert structural.coefficients["Intercept"] == pytest.approx(
        sams_module.SAMS_STRUCTURAL_LOG_ODDS["Intercept"] + ck_shift
    )
    for term, value in sams_module.SAMS_STRUCTURAL_LOG_ODDS.items():
        if term != "Intercept":
            assert with_modification.coefficients[term] == value


def test_prior_ck_elevation_odds_ratio_is_primo():
    assert math.exp(sams_module.SAMS_STRUCTURAL_LOG_ODDS["prior_ck_elevation"]) == pytest.approx(2.04)


# --- Reproducibility and files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", COHORTS)
def test_same_seed_same_cohort(cohorts, name):
    again = COHORTS[name](random_state=0)
    pd.testing.assert_frame_equal(again.data, cohorts[name].data)
    assert again.truth_mapping() == cohorts[name].truth_mapping()


@pytest.mark.parametrize("name", COHORTS)
def test_different_seeds_differ(cohorts, name):
    other = COHORTS[name](random_state=1)
    assert not other.data.equals(cohorts[name].data)
    assert (other.data["ldl_c_baseline"] != cohorts[name].data["ldl_c_baseline"]).mean() > 0.5


@pytest.mark.parametrize("name", COHORTS)
def test_write_cohort_round_trip(cohorts, typed, tmp_path, name):
    result = cohorts[name]
    csv_path, truth_path = write_cohort(result, tmp_path / "out")
    assert csv_path == tmp_path / "out" / f"{name}.csv"
    assert truth_path == tmp_path / "out" / f"{name}_truth.json"
    loaded = load_table(csv_path, dictionary_of(name))
    pd.testing.assert_frame_equal(loaded, typed[name])
    assert read_truth(truth_path) == result.models
    content = json.loads(truth_path.read_text(encoding="utf-8"))
    assert content["random_state"] == 0
    assert content["n_rows"] == 1700


def test_one_row_cohort_validates():
    for name, simulate in COHORTS.items():
        result = simulate(n_rows=1, random_state=3)
        assert validate_table(result.data, dictionary_of(name)).shape[0] == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_rows": 0}, "n_rows"),
        ({"n_rows": 2.5}, "n_rows"),
        ({"n_rows": True}, "n_rows"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": None}, "random_state"),
        ({"random_state": "0"}, "random_state"),
    ],
)
def test_invalid_arguments_raise(arguments, message):
    for simulate in COHORTS.values():
        with pytest.raises(ConfigError, match=message):
            simulate(**arguments)


def test_read_truth_rejects_invalid_file(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text('{"models": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(SynthlibError, match="not a ground-truth file"):
        read_truth(path)
    with pytest.raises(FileNotFoundError):
        read_truth(tmp_path / "absent.json")


def test_model_truth_rejects_unknown_family():
    with pytest.raises(ConfigError, match="family"):
        ModelTruth(name="m", family="poisson", formula="y ~ x", outcome="y", coefficients={"x": 1.0})


def test_model_truth_as_frame():
    model = ModelTruth(name="m", family="linear", formula="y ~ x", outcome="y", coefficients={"Intercept": 1, "x": 2})
    frame = model.as_frame()
    assert frame.to_dict("list") == {"term": ["Intercept", "x"], "truth": [1.0, 2.0]}


# --- Therapy tables and cross-column rules ------------------------------------------------------------


def test_statin_intensity_table():
    statin = pd.Series(["atorvastatin", "atorvastatin", "rosuvastatin", "simvastatin", "simvastatin", "pitavastatin", "none", None])
    dose = pd.Series([40, 20, 5, 10, 80, 1, None, 20], dtype="Int64")
    classes = classify_statin_intensity(statin, dose).tolist()
    assert classes == ["high", "moderate", "moderate", "low", None, "moderate", "none", None]


def test_expected_reduction_combines_multiplicatively():
    intensity = pd.Series(["high", "high", "none", "moderate", "low"])
    ezetimibe = pd.Series([1, 1, 0, 0, 0])
    pcsk9 = pd.Series([0, 1, 0, 0, 0])
    inclisiran = pd.Series([0, 0, 0, 0, 1])
    bempedoic = pd.Series([0, 0, 1, 1, 0])
    values = expected_reduction(intensity, ezetimibe, pcsk9, inclisiran, bempedoic).tolist()
    # 1 - 0.45 * 0.77; 1 - 0.45 * 0.77 * 0.45; bempedoic acid alone 24%; 1 - 0.60 * 0.82; 1 - 0.75 * 0.50.
    assert values == [65.4, 84.4, 24.0, 50.8, 62.5]


def test_check_consistency_counts_violations(cohorts):
    data = cohorts["sams_cohort"].data.copy()
    data.loc[0, "non_hdl_c_baseline"] += 5
    data.loc[1, "statin_intensity"] = "low" if data.loc[1, "statin_intensity"] != "low" else "high"
    measured = data.index[data["ck_x_uln"].notna() & (data["ck_category"] == "normal")][0]
    data.loc[measured, "ck_category"] = ">10x"
    without_sams = data.index[data["sams"] == 0][0]
    data.loc[without_sams, "sams_type"] = "myalgia"
    violations = check_consistency(data).set_index("rule")["n_violations"]
    assert violations["non_hdl_c_baseline = total_chol_baseline - hdl_c_baseline"] == 1
    assert violations["statin_intensity matches statin and statin_dose_mg (2018 AHA/ACC)"] == 1
    assert violations["ck_category matches ck_x_uln (EAS 2015)"] == 1
    assert violations["sams_type is none exactly when sams is 0"] == 1
    assert violations["ldl_reduction_pct = 100 (1 - ldl_c_followup / ldl_c_baseline)"] == 0


def test_check_consistency_skips_absent_columns():
    table = pd.DataFrame({"egfr": [95.0, 50.0, np.nan], "ckd_stage": ["G1", "G2", None]})
    rules = check_consistency(table)
    assert rules["rule"].tolist() == ["ckd_stage matches the KDIGO category of egfr"]
    assert rules.loc[0, "n_checked"] == 2
    assert rules.loc[0, "n_violations"] == 1
