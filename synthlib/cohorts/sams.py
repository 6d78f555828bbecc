"""Simulated cohort of statin users assessed for statin-associated muscle symptoms (SAMS).

Published figures used here, besides those of :mod:`synthlib.cohorts.baseline` and
:mod:`synthlib.cohorts.therapy`:

- Prevalence: SAMS occur in 7-29% of patients in registries and observational studies (EAS
  Consensus Panel, Stroes et al., Eur Heart J 2015;36:1012). Statin intolerance affects 17%
  of patients in cohort studies and 4.9% in randomised trials (Bytyçi et al., Eur Heart J
  2022;43:3213). Of 7924 French outpatients on high-dose statins, 10.5% had muscular
  symptoms, with a median onset of one month (PRIMO, Bruckert et al., Cardiovasc Drugs Ther
  2005;19:403). The simulation aims at about 15%.
- Risk factors: female sex, age over 65, hypothyroidism, chronic kidney disease, liver disease,
  diabetes, interacting drugs and high-dose statins each raise statin intolerance by about 30%
  (odds ratios about 1.2-1.5; Bytyçi et al. 2022), so each gets an odds ratio of 1.3. A history
  of CK elevation has an odds ratio of 2.04 (PRIMO).
- CK categories of the EAS Consensus Panel (2015, Table 1): with muscle symptoms, normal CK is
  myalgia, CK above 10x ULN myopathy, and above 40x ULN with renal impairment rhabdomyolysis.

Simulation assumptions, not published figures:

- SAMS log-odds rise by 0.8 per doubling of the CK multiple (odds ratio 2.2), so CK above 10x
  ULN makes SAMS very likely.
- Therapy is modified in 70% of patients with SAMS and in 25% without, inside the 60-80% and
  20-30% that make the reverse causation visible.
- CK is measured in 97% of patients with SAMS and in 80% without.

How the truth is defined
------------------------
Each patient's SAMS status is drawn from the logistic model ``SAMS_STRUCTURAL_LOG_ODDS`` of the
covariates and CK. Therapy modification is drawn afterwards from SAMS alone, as a consequence
of SAMS and not a cause. Because it depends on nothing but SAMS, Bayes' rule makes the logistic
model of SAMS on the covariates *and* therapy modification exactly correctly specified. Its
covariate coefficients are those of the structural model. Therapy modification gets the log
odds ratio ``log(0.70 / 0.30) - log(0.25 / 0.75) = log(7)``, and the intercept shifts by
``log(0.30 / 0.75)``. The coefficient of therapy modification is therefore the strength of a
reverse-causation association, not an effect of modifying therapy.

Whether CK is measured also depends on SAMS alone, so a complete-case fit estimates the same
slopes and an intercept shifted by ``log(0.97 / 0.80)``. The truths of both models, with and
without therapy modification, include this shift. Missing eGFR values are missing completely
at random and shift nothing.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from synthlib.cohorts import baseline, therapy
from synthlib.cohorts.result import ModelTruth, SimulatedCohort, check_simulation_arguments

logger = logging.getLogger(__name__)

NAME = "sams_cohort"
SAMS_TYPES = (
    "none", "myalgia", "myalgia_minor_ck_rise", "myalgia_ck_4_10x", "myopathy", "rhabdomyolysis"
)
MODIFICATION_TYPES = ("none", "intensified", "dose_reduced", "switched", "non_statin", "discontinued")

STATIN_REGIMENS = therapy.RegimenMix(no_statin=0.0, ezetimibe=0.25, pcsk9_antibody=0.03, inclisiran=0.01, bempedoic_acid=0.02)

P_MODIFIED_WITH_SAMS = 0.70
P_MODIFIED_WITHOUT_SAMS = 0.25
P_CK_MEASURED_WITH_SAMS = 0.97
P_CK_MEASURED_WITHOUT_SAMS = 0.80
# Kind of modification of a modified therapy, with and without SAMS (simulation assumptions).
# With SAMS the dose is lowered or the drug changed. Without SAMS therapy is mostly intensified
# towards the LDL-C goal.
MODIFICATION_SHARES = {
    True: {"intensified": 0.05, "dose_reduced": 0.30, "switched": 0.30, "non_statin": 0.15, "discontinued": 0.20},
    False: {"intensified": 0.75, "dose_reduced": 0.05, "switched": 0.12, "non_statin": 0.03, "discontinued": 0.05},
}

_HIGH_INTENSITY = 'I(statin_intensity == "high")[T.True]'
_RISK_FACTOR = math.log(1.3)

# Log-odds of SAMS given the covariates: the data-generating process. The intercept gives a
# prevalence of about 15% (tuned by simulation of large cohorts).
SAMS_STRUCTURAL_LOG_ODDS = {
    "Intercept": -1.85,
    "C(sex)[T.female]": _RISK_FACTOR,
    "I(age > 65)[T.True]": _RISK_FACTOR,
    "I(egfr < 60)[T.True]": _RISK_FACTOR,
    _HIGH_INTENSITY: _RISK_FACTOR,
    "np.log2(ck_x_uln)": 0.8,
    "prior_ck_elevation": math.log(2.04),
    "hypothyroidism": _RISK_FACTOR,
    "interacting_drug": _RISK_FACTOR,
    "diabetes": _RISK_FACTOR,
    "liver_disease": _RISK_FACTOR,
}
_COVARIATES = (
    "np.log2(ck_x_uln) + prior_ck_elevation + C(sex) + I(age > 65) + hypothyroidism + I(egfr < 60)"
    ' + interacting_drug + I(statin_intensity == "high") + diabetes + liver_disease'
)
SAMS_FORMULA = f"sams ~ therapy_modified + {_COVARIATES}"
SAMS_STRUCTURAL_FORMULA = f"sams ~ {_COVARIATES}"

COLUMNS = (
    "patient_id", "baseline_visit_date", "followup_visit_date",
    "age", "sex", "bmi", "smoking", "alcohol",
    "hypertension", "diabetes", "hba1c", "glucose", "egfr", "ckd_stage", "hypothyroidism", "tsh", "liver_disease",
    "prior_mi", "prior_pci", "prior_cabg", "prior_stroke", "peripheral_artery_disease", "recurrent_event",
    "prior_ck_elevation",
    "total_chol_baseline", "ldl_c_baseline", "hdl_c_baseline", "triglycerides_baseline", "non_hdl_c_baseline", "lpa",
    "statin", "statin_dose_mg", "statin_intensity", "ezetimibe", "pcsk9_antibody", "inclisiran", "bempedoic_acid",
    "expected_reduction_pct", "adherence_pdc", "interacting_drug", "ldl_c_goal",
    "ck", "ck_uln", "ck_x_uln", "ck_category", "alt", "ast",
    "sams", "sams_type", "sams_onset_days", "therapy_modified", "modification_type",
    "total_chol_followup", "ldl_c_followup", "hdl_c_followup", "triglycerides_followup", "non_hdl_c_followup",
    "ldl_reduction_pct", "ldl_target_attained",
)


def simulate_sams_cohort(n_rows: int = 1700, random_state: int = 0) -> SimulatedCohort:
    """Simulate a lipid-clinic cohort of statin users assessed for statin-associated muscle symptoms.

    Every patient takes a statin. The table has the columns of ``data_templates/sams_cohort.yaml``.
    They cover visit dates, demographics, comorbidities, cardiovascular history, the baseline and
    follow-up lipid panels, CK with its multiple of the ULN and EAS category, ALT and AST, and
    the regimen with its expected LDL-C reduction and adherence. The outcomes are SAMS and its
    type, therapy modification, the LDL-C percent reduction and goal attainment. The module
    docstring lists the published figures and defines the truth of the therapy-modification
    term.

    Parameters
    ----------
    n_rows : int, default 1700
        Number of patients.
    random_state : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives the same cohort.

    Returns
    -------
    SimulatedCohort
        Models, in order: ``sams`` (``SAMS_FORMULA``, the study's analysis, with therapy
        modification), ``sams_without_modification`` (``SAMS_STRUCTURAL_FORMULA``) and
        ``ldl_reduction`` (``therapy.LDL_REDUCTION_FORMULA``).

    Raises
    ------
    ConfigError
        If ``n_rows`` is not a whole number >= 1 or ``random_state`` not a whole number >= 0.
    """
    check_simulation_arguments(n_rows, random_state)
    rng = np.random.default_rng(random_state)
    columns = baseline.patients(rng, n_rows, min_days=90, max_days=365)
    columns.update(baseline.cardiovascular_history(rng, columns))
    columns["prior_ck_elevation"] = baseline.bernoulli(rng, 0.06, n_rows)
    columns.update(baseline.baseline_lipids(rng, columns, ldl_factor=1.0))
    columns.update(therapy.sample_regimens(rng, n_rows, STATIN_REGIMENS, no_statin=np.zeros(n_rows, dtype=bool)))
    columns["interacting_drug"] = baseline.bernoulli(rng, 0.15, n_rows)
    columns["ldl_c_goal"] = baseline.ldl_goal(columns["recurrent_event"])
    columns.update(_creatine_kinase(rng, columns))

    # SAMS is drawn while eGFR and CK are still complete. Both are blanked afterwards.
    sams = rng.random(n_rows) < _inverse_logit(_linear_predictor(columns, SAMS_STRUCTURAL_LOG_ODDS))
    columns["sams"] = pd.Series(sams.astype(int), dtype="Int64")
    columns.update(_therapy_modification(rng, sams))
    columns["adherence_pdc"] = _adherence(rng, sams)
    baseline.blank_baseline(rng, columns)
    _blank_unmeasured_ck(rng, columns, sams)
    columns["sams_type"] = _sams_type(columns, sams)
    columns["sams_onset_days"] = _onset_days(rng, columns, sams)
    columns.update(baseline.liver_enzymes(rng, columns["liver_disease"]))
    columns.update(therapy.ldl_response(rng, columns))

    data = pd.DataFrame({name: columns[name] for name in COLUMNS})
    logger.info("simulated %d SAMS-cohort patients (random_state=%d), SAMS prevalence %.3f", n_rows, random_state, sams.mean())
    return SimulatedCohort(
        name=NAME, data=data, models=sams_models(), random_state=int(random_state), parameters=_parameters()
    )


def sams_models() -> tuple:
    """Return the true models of the SAMS cohort, the main analysis first."""
    ck_shift = math.log(P_CK_MEASURED_WITH_SAMS / P_CK_MEASURED_WITHOUT_SAMS)
    modified_shift = math.log((1 - P_MODIFIED_WITH_SAMS) / (1 - P_MODIFIED_WITHOUT_SAMS))
    structural = dict(SAMS_STRUCTURAL_LOG_ODDS, Intercept=SAMS_STRUCTURAL_LOG_ODDS["Intercept"] + ck_shift)
    with_modification = dict(structural, Intercept=structural["Intercept"] + modified_shift)
    with_modification["therapy_modified"] = reverse_causation_log_odds_ratio()
    return (
        ModelTruth(
            name="sams", family="logistic", formula=SAMS_FORMULA, outcome="sams",
            coefficients=with_modification,
            description=(
                "Logistic model of SAMS with therapy modification, fitted on rows with CK measured. "
                "Correctly specified because modification depends on SAMS alone; its coefficient "
                "is the log odds ratio of that reverse-causation association, log(7), not an effect."
            ),
        ),
        ModelTruth(
            name="sams_without_modification", family="logistic", formula=SAMS_STRUCTURAL_FORMULA,
            outcome="sams", coefficients=structural,
            description=(
                "The model that generated SAMS. The intercept includes log(0.97/0.80), the shift "
                "caused by measuring CK more often in patients with SAMS."
            ),
        ),
        ModelTruth(
            name="ldl_reduction", family="linear", formula=therapy.LDL_REDUCTION_FORMULA,
            outcome="ldl_reduction_pct", coefficients=therapy.LDL_REDUCTION_COEFFICIENTS,
            description="Linear model that generated the LDL-C percent reduction.",
        ),
    )


def reverse_causation_log_odds_ratio() -> float:
    """Return the log odds ratio between therapy modification and SAMS implied by the simulation."""
    return math.log(P_MODIFIED_WITH_SAMS / (1 - P_MODIFIED_WITH_SAMS)) - math.log(
        P_MODIFIED_WITHOUT_SAMS / (1 - P_MODIFIED_WITHOUT_SAMS)
    )


def _parameters() -> dict:
    return {
        "structural_intercept": SAMS_STRUCTURAL_LOG_ODDS["Intercept"],
        "p_modified_with_sams": P_MODIFIED_WITH_SAMS,
        "p_modified_without_sams": P_MODIFIED_WITHOUT_SAMS,
        "p_ck_measured_with_sams": P_CK_MEASURED_WITH_SAMS,
        "p_ck_measured_without_sams": P_CK_MEASURED_WITHOUT_SAMS,
        "reverse_causation_log_odds_ratio": reverse_causation_log_odds_ratio(),
        "ldl_reduction_sd": therapy.LDL_REDUCTION_SD,
    }


def _inverse_logit(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _sams_terms(columns: dict) -> dict:
    """Return the value of each term of ``SAMS_STRUCTURAL_LOG_ODDS`` for every patient."""
    n_rows = len(columns["age"])
    intensity = columns["statin_intensity"].astype(object)
    return {
        "Intercept": np.ones(n_rows),
        "C(sex)[T.female]": (columns["sex"] == "female").to_numpy(dtype=float),
        "I(age > 65)[T.True]": (baseline.as_float(columns["age"]) > 65).astype(float),
        "I(egfr < 60)[T.True]": (baseline.as_float(columns["egfr"]) < 60).astype(float),
        _HIGH_INTENSITY: (intensity == "high").to_numpy(dtype=float),
        "np.log2(ck_x_uln)": np.log2(baseline.as_float(columns["ck_x_uln"])),
        **{name: baseline.as_float(columns[name]) for name in (
            "prior_ck_elevation", "hypothyroidism", "interacting_drug", "diabetes", "liver_disease"
        )},
    }


def _linear_predictor(columns: dict, coefficients: dict) -> np.ndarray:
    terms = _sams_terms(columns)
    return sum(coefficients[term] * terms[term] for term in coefficients)


def _creatine_kinase(rng: np.random.Generator, columns: dict) -> dict:
    """Draw CK at follow-up: higher with a high-intensity statin, hypothyroidism or prior CK elevation."""
    high = (columns["statin_intensity"].astype(object) == "high").to_numpy(dtype=float)
    hypothyroid = baseline.as_float(columns["hypothyroidism"])
    prior = baseline.as_float(columns["prior_ck_elevation"])
    shift = 0.10 * high + 0.15 * hypothyroid + 0.25 * prior
    tail = 0.05 + 0.02 * high + 0.03 * hypothyroid + 0.04 * prior
    return baseline.creatine_kinase(rng, columns["sex"], shift, tail)


def _therapy_modification(rng: np.random.Generator, sams: np.ndarray) -> dict:
    """Draw therapy modification from SAMS alone, then its kind (see the module docstring)."""
    n_rows = len(sams)
    modified = rng.random(n_rows) < np.where(sams, P_MODIFIED_WITH_SAMS, P_MODIFIED_WITHOUT_SAMS)
    kinds = np.full(n_rows, "none", dtype=object)
    for with_sams, shares in MODIFICATION_SHARES.items():
        rows = modified & (sams == with_sams)
        kinds[rows] = rng.choice(list(shares), size=rows.sum(), p=list(shares.values()))
    return {
        "therapy_modified": pd.Series(modified.astype(int), dtype="Int64"),
        "modification_type": pd.Series(kinds, dtype=object),
    }


def _adherence(rng: np.random.Generator, sams: np.ndarray) -> pd.Series:
    """Draw the proportion of days covered (%): mean about 85%, about 71% in patients with SAMS."""
    fraction = np.where(sams, rng.beta(3.0, 1.2, len(sams)), rng.beta(5.0, 0.9, len(sams)))
    return pd.Series(np.round(100.0 * fraction))


def _blank_unmeasured_ck(rng: np.random.Generator, columns: dict, sams: np.ndarray) -> None:
    """Blank CK, its ULN, multiple and category where CK was not measured, more often without SAMS."""
    measured = rng.random(len(sams)) < np.where(sams, P_CK_MEASURED_WITH_SAMS, P_CK_MEASURED_WITHOUT_SAMS)
    for name in ("ck", "ck_uln", "ck_x_uln", "ck_category"):
        columns[name] = columns[name].mask(~measured)


def _sams_type(columns: dict, sams: np.ndarray) -> pd.Series:
    """Classify SAMS by the EAS 2015 CK categories; missing for SAMS without a CK measurement."""
    category = columns["ck_category"].astype(object)
    multiple = baseline.as_float(columns["ck_x_uln"])
    renal_impairment = baseline.as_float(columns["egfr"]) < 60
    by_category = category.map({
        "normal": "myalgia", "1-4x": "myalgia_minor_ck_rise", "4-10x": "myalgia_ck_4_10x", ">10x": "myopathy",
    }).to_numpy(dtype=object)
    by_category[(multiple > 40) & renal_impairment] = "rhabdomyolysis"
    types = np.where(sams, by_category, "none")
    return pd.Series(types, dtype=object).where(lambda values: values.notna(), None)


def _onset_days(rng: np.random.Generator, columns: dict, sams: np.ndarray) -> pd.Series:
    """Draw days from statin start to SAMS: median 30 (PRIMO), at most the follow-up interval."""
    interval = (columns["followup_visit_date"] - columns["baseline_visit_date"]).dt.days.to_numpy()
    days = np.clip(np.round(rng.lognormal(np.log(30.0), 0.7, len(sams))), 3, interval)
    return pd.Series(days, dtype="Int64").mask(pd.Series(~sams))
