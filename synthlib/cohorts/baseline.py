"""Patient characteristics shared by the simulated cohorts: demographics, comorbidities, history, labs.

Published figures used here:

- EUROASPIRE V (Kotseva et al., Eur J Prev Cardiol 2019;26:824; 8261 coronary patients): 26%
  women, mean age 64 years, 19% current smokers, 29% with diabetes, 78% on antihypertensive
  drugs, 38% obese.
- Italian lipid-clinic outpatients (Atherosclerosis 2019, n = 4142): BMI 28.5 +- 5.0 kg/m2.
- SMART cohort (hdnom ``smarto``): HDL-C 1.23 +- 0.38 mmol/L (48 mg/dL), right-skewed
  triglycerides with mean 1.88 mmol/L (166 mg/dL), LDL-C 121 +- 40 mg/dL before statins were
  routine.
- Lp(a): about 20% of people have 50 mg/dL or more (review, Arch Med Sci 2025).
- ESC/EAS 2019 goal for very-high-risk patients: LDL-C below 55 mg/dL, or below 40 mg/dL after
  a second vascular event within two years.
- eGFR categories G1-G5 (KDIGO 2012, Kidney Int Suppl 2013;3:19-62): >= 90, 60-89, 45-59,
  30-44, 15-29 and < 15 mL/min/1.73 m2.
- CK thresholds of the EAS Consensus Panel (Stroes et al., Eur Heart J 2015;36:1012, Table 1):
  normal, above the upper limit of normal (ULN) but below 4x, 4-10x, and above 10x ULN.

Every other figure in this module is a simulation assumption chosen to look like a lipid
clinic, not a published figure. This covers alcohol use, cardiovascular history,
hypothyroidism, liver disease, eGFR by age, the shapes of CK, ALT, AST, TSH, glucose and HbA1c,
and the shares of missing values.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SEXES = ("male", "female")
SMOKING = ("never", "former", "current")
ALCOHOL = ("none", "moderate", "heavy")
CKD_STAGES = ("G1", "G2", "G3a", "G3b", "G4", "G5")
# Lower eGFR bound (mL/min/1.73 m2) of each stage, KDIGO 2012.
CKD_STAGE_MINIMUM = {"G1": 90, "G2": 60, "G3a": 45, "G3b": 30, "G4": 15, "G5": -np.inf}
CK_CATEGORIES = ("normal", "1-4x", "4-10x", ">10x")
# CK upper limit of normal by sex (U/L). Assays differ: 170-200 U/L is a typical span.
CK_ULN = {"male": 200, "female": 170}
LDL_GOAL = 55
LDL_GOAL_AFTER_RECURRENT_EVENT = 40
FIRST_VISIT = pd.Timestamp("2018-01-01")
LAST_VISIT = pd.Timestamp("2023-12-31")


def as_float(values) -> np.ndarray:
    """Return numbers, nullable or not, as a float64 array with NaN for missing values."""
    return pd.Series(values).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def bernoulli(rng: np.random.Generator, probability, n_rows: int) -> pd.Series:
    """Draw 0/1 values as a nullable Int64 Series."""
    return pd.Series((rng.random(n_rows) < probability).astype(int), dtype="Int64")


def with_missing(rng: np.random.Generator, values: pd.Series, probability) -> pd.Series:
    """Blank each value with ``probability`` (a number or one probability per row)."""
    values = pd.Series(values)
    missing = rng.random(len(values)) < probability
    return values.mask(missing)


def lognormal(rng: np.random.Generator, mean: float, sd: float, n_rows: int) -> np.ndarray:
    """Draw log-normal values with the given arithmetic mean and standard deviation."""
    sigma = np.sqrt(np.log1p((sd / mean) ** 2))
    return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n_rows)


def logistic_probability(logit) -> np.ndarray:
    """Return the inverse logit of ``logit``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logit, dtype=float)))


def _logit(probability: float) -> float:
    return float(np.log(probability / (1.0 - probability)))


def demographics(rng: np.random.Generator, n_rows: int) -> dict:
    """Draw age, sex, BMI, smoking and alcohol use like EUROASPIRE V.

    Younger patients smoke more often (odds ratio 0.96 per year). Every value is complete here,
    and :func:`blank_baseline` blanks some of them once other columns have been drawn from them.
    """
    age = np.clip(np.round(rng.normal(64.0, 9.5, n_rows)), 30, 90)
    sex = rng.choice(SEXES, size=n_rows, p=(0.74, 0.26))
    bmi = np.round(np.clip(lognormal(rng, 28.5, 5.0, n_rows), 16.0, 60.0), 1)
    current = rng.random(n_rows) < logistic_probability(_logit(0.18) - 0.04 * (age - 64.0))
    former = rng.random(n_rows) < 0.55
    smoking = np.where(current, "current", np.where(former, "former", "never"))
    alcohol = rng.choice(ALCOHOL, size=n_rows, p=(0.40, 0.50, 0.10))
    return {
        "age": pd.Series(age, dtype="Int64"),
        "sex": pd.Series(sex, dtype=object),
        "bmi": pd.Series(bmi),
        "smoking": pd.Series(smoking, dtype=object),
        "alcohol": pd.Series(alcohol, dtype=object),
    }


def comorbidities(rng: np.random.Generator, columns: dict) -> dict:
    """Draw hypertension, diabetes with HbA1c and glucose, eGFR and CKD stage, thyroid and liver disease.

    Diabetes and hypertension become more likely with age and BMI, eGFR falls with age, diabetes
    and hypertension, hypothyroidism is three times as common in women, and liver disease is
    more common with heavy alcohol use and obesity. eGFR is complete here, so that outcome
    models can use every patient's value; :func:`blank_baseline` blanks it afterwards.
    """
    age = columns["age"].to_numpy(dtype=float)
    n_rows = len(age)
    bmi = columns["bmi"].to_numpy(dtype=float)
    female = (columns["sex"] == "female").to_numpy()
    has_diabetes = rng.random(n_rows) < logistic_probability(-0.97 + 0.10 * (bmi - 28.5) + 0.03 * (age - 64.0))
    has_hypertension = rng.random(n_rows) < logistic_probability(
        1.10 + 0.05 * (age - 64.0) + 0.08 * (bmi - 28.5) + 0.5 * has_diabetes
    )
    hba1c = np.where(has_diabetes, rng.normal(7.3, 1.1, n_rows), rng.normal(5.6, 0.35, n_rows))
    hba1c = np.round(np.clip(hba1c, 4.2, 14.0), 1)
    glucose = np.round(np.clip(95.0 + 25.0 * (hba1c - 5.6) + rng.normal(0.0, 10.0, n_rows), 55.0, 450.0))
    egfr_mean = 82.0 - 0.9 * (age - 64.0) - 5.0 * has_diabetes - 3.0 * has_hypertension
    egfr = pd.Series(np.round(np.clip(rng.normal(egfr_mean, 16.0), 6.0, 140.0)))
    hypothyroidism = bernoulli(rng, np.where(female, 0.15, 0.05), n_rows)
    treated = hypothyroidism.to_numpy(dtype=bool)
    tsh = np.where(treated, rng.lognormal(np.log(2.8), 0.7, n_rows), rng.lognormal(np.log(1.7), 0.45, n_rows))
    heavy_drinker = (columns["alcohol"] == "heavy").to_numpy()
    liver_risk = 0.025 + 0.06 * heavy_drinker + 0.02 * (bmi >= 30.0)
    return {
        "hypertension": pd.Series(has_hypertension.astype(int), dtype="Int64"),
        "diabetes": pd.Series(has_diabetes.astype(int), dtype="Int64"),
        "hba1c": with_missing(rng, pd.Series(hba1c), np.where(has_diabetes, 0.03, 0.20)),
        "glucose": with_missing(rng, pd.Series(glucose), 0.05),
        "egfr": egfr,
        "ckd_stage": ckd_stage(egfr),
        "hypothyroidism": hypothyroidism,
        "tsh": with_missing(rng, pd.Series(np.round(np.clip(tsh, 0.01, 80.0), 2)), 0.10),
        "liver_disease": bernoulli(rng, liver_risk, n_rows),
    }


def blank_baseline(rng: np.random.Generator, columns: dict) -> None:
    """Blank BMI (2%), smoking (2%), alcohol (3%) and eGFR with its CKD stage (2%) in ``columns``."""
    for names, probability in ((("bmi",), 0.02), (("smoking",), 0.02), (("alcohol",), 0.03), (("egfr", "ckd_stage"), 0.02)):
        missing = rng.random(len(columns[names[0]])) < probability
        for name in names:
            columns[name] = columns[name].mask(missing)


def ckd_stage(egfr: pd.Series) -> pd.Series:
    """Return the KDIGO eGFR category (G1-G5) of each value; missing where eGFR is missing."""
    values = pd.Series(egfr).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    stages = np.full(len(values), None, dtype=object)
    for stage in reversed(CKD_STAGES):
        stages[values >= CKD_STAGE_MINIMUM[stage]] = stage
    return pd.Series(stages, index=pd.Series(egfr).index, dtype=object)


def cardiovascular_history(rng: np.random.Generator, columns: dict) -> dict:
    """Draw prior myocardial infarction, revascularisation, stroke, PAD and a recent recurrent event.

    PCI is more common after a myocardial infarction, CABG with diabetes, stroke with age, and
    peripheral artery disease with smoking and diabetes.
    """
    n_rows = len(columns["age"])
    age = columns["age"].to_numpy(dtype=float)
    diabetes = columns["diabetes"].to_numpy(dtype=float)
    smoker = (columns["smoking"] == "current").to_numpy(dtype=float)
    prior_mi = bernoulli(rng, 0.55, n_rows)
    return {
        "prior_mi": prior_mi,
        "prior_pci": bernoulli(rng, np.where(prior_mi.to_numpy(dtype=bool), 0.70, 0.48), n_rows),
        "prior_cabg": bernoulli(rng, 0.12 + 0.10 * diabetes, n_rows),
        "prior_stroke": bernoulli(rng, np.clip(0.08 + 0.004 * (age - 64.0), 0.01, 0.5), n_rows),
        "peripheral_artery_disease": bernoulli(rng, 0.07 + 0.08 * smoker + 0.05 * diabetes, n_rows),
        "recurrent_event": bernoulli(rng, 0.10, n_rows),
    }


def baseline_lipids(rng: np.random.Generator, columns: dict, ldl_factor, lpa_missing=0.60) -> dict:
    """Draw the baseline lipid panel (mg/dL) before the current regimen, and Lp(a).

    LDL-C is log-normal with mean 135 and SD 38 mg/dL, times ``ldl_factor`` (for example 1.6 in
    familial hypercholesterolaemia). HDL-C is lower and triglycerides higher with BMI and
    diabetes. HDL-C is higher in women and lower in current smokers. Total cholesterol is
    LDL-C + HDL-C + VLDL-C, with VLDL-C about TG/5, and non-HDL-C is total cholesterol minus
    HDL-C. Lp(a) is a mixture of two log-normals with about 20% of values at 50 mg/dL or more.
    It is missing with probability ``lpa_missing``, a number or one probability per patient.
    """
    n_rows = len(columns["sex"])
    female = (columns["sex"] == "female").to_numpy()
    bmi = columns["bmi"].to_numpy(dtype=float) - 28.5
    diabetes = columns["diabetes"].to_numpy(dtype=bool)
    smoker = (columns["smoking"] == "current").to_numpy()
    ldl = np.round(np.clip(lognormal(rng, 135.0, 38.0, n_rows) * ldl_factor, 40.0, 450.0))
    hdl_median = np.where(female, 55.0, 45.0) * np.exp(-0.012 * bmi) * np.where(smoker, 0.92, 1.0) * np.where(diabetes, 0.93, 1.0)
    hdl = np.round(np.clip(rng.lognormal(np.log(hdl_median), 0.22), 15.0, 120.0))
    tg_median = 135.0 * np.exp(0.03 * bmi) * np.where(diabetes, 1.2, 1.0)
    tg = np.round(np.clip(rng.lognormal(np.log(tg_median), 0.45), 30.0, 1500.0))
    total = ldl + hdl + _vldl_cholesterol(rng, tg)
    elevated = rng.random(n_rows) < 0.20
    lpa = np.where(elevated, rng.lognormal(np.log(80.0), 0.5, n_rows), rng.lognormal(np.log(10.0), 0.9, n_rows))
    return {
        "total_chol_baseline": pd.Series(total),
        "ldl_c_baseline": pd.Series(ldl),
        "hdl_c_baseline": pd.Series(hdl),
        "triglycerides_baseline": pd.Series(tg),
        "non_hdl_c_baseline": pd.Series(total - hdl),
        "lpa": with_missing(rng, pd.Series(np.round(np.clip(lpa, 0.1, 400.0), 1)), lpa_missing),
    }


def followup_lipids(rng: np.random.Generator, columns: dict, reduction: np.ndarray, missing: np.ndarray) -> dict:
    """Derive the follow-up lipid panel from the baseline panel and the achieved LDL-C reduction.

    Follow-up LDL-C is baseline LDL-C times ``1 - reduction / 100``, rounded. The reported
    percent reduction is recomputed from the two rounded values, so the columns agree. HDL-C and
    triglycerides change by small random factors. The whole panel, its percent reduction and
    target attainment are missing where ``missing`` is true.
    """
    n_rows = len(reduction)
    baseline = columns["ldl_c_baseline"].to_numpy(dtype=float)
    ldl = np.maximum(np.round(baseline * (1.0 - reduction / 100.0)), 1.0)
    hdl = np.round(np.clip(columns["hdl_c_baseline"].to_numpy(dtype=float) * rng.lognormal(0.03, 0.08, n_rows), 10.0, 150.0))
    tg = np.round(np.clip(columns["triglycerides_baseline"].to_numpy(dtype=float) * rng.lognormal(-0.10, 0.25, n_rows), 20.0, 1500.0))
    total = ldl + hdl + _vldl_cholesterol(rng, tg)
    reported = np.round(100.0 * (baseline - ldl) / baseline, 1)
    goal = columns["ldl_c_goal"].to_numpy(dtype=float)
    panel = {
        "total_chol_followup": pd.Series(total),
        "ldl_c_followup": pd.Series(ldl),
        "hdl_c_followup": pd.Series(hdl),
        "triglycerides_followup": pd.Series(tg),
        "non_hdl_c_followup": pd.Series(total - hdl),
        "ldl_reduction_pct": pd.Series(reported),
        "ldl_target_attained": pd.Series((ldl < goal).astype(int), dtype="Int64"),
    }
    return {name: values.mask(missing) for name, values in panel.items()}


def _vldl_cholesterol(rng: np.random.Generator, triglycerides: np.ndarray) -> np.ndarray:
    """Draw VLDL cholesterol (mg/dL) as TG/5 plus a small error, rounded and at least 2 mg/dL."""
    error = rng.normal(0.0, 4.0, len(triglycerides))
    return np.maximum(np.round(triglycerides / 5.0 + error), 2.0)


def ldl_goal(recurrent_event: pd.Series) -> pd.Series:
    """Return the ESC/EAS 2019 LDL-C goal (mg/dL) of very-high-risk patients: 40 after a recurrent event, else 55."""
    goal = np.where(recurrent_event.to_numpy(dtype=bool), LDL_GOAL_AFTER_RECURRENT_EVENT, LDL_GOAL)
    return pd.Series(goal, dtype="Int64")


def creatine_kinase(rng: np.random.Generator, sex: pd.Series, log_shift: np.ndarray, tail_probability: np.ndarray) -> dict:
    """Draw CK (U/L), its sex-specific upper limit of normal, the multiple of it and the EAS category.

    The multiple of the ULN is log-normal with median ``0.5 * exp(log_shift)`` and, with
    ``tail_probability``, an exponential excess on the log scale (mean 1.1) that produces the
    rare values above 4x and 10x ULN.
    """
    n_rows = len(sex)
    uln = sex.map(CK_ULN).to_numpy(dtype=float)
    tail = np.where(rng.random(n_rows) < tail_probability, rng.exponential(1.1, n_rows), 0.0)
    log_multiple = np.log(0.5) + log_shift + rng.normal(0.0, 0.45, n_rows) + tail
    ck = np.round(np.clip(uln * np.exp(log_multiple), 10.0, 200_000.0))
    multiple = np.round(ck / uln, 2)
    return {
        "ck": pd.Series(ck),
        "ck_uln": pd.Series(uln),
        "ck_x_uln": pd.Series(multiple),
        "ck_category": ck_category(pd.Series(multiple)),
    }


def ck_category(multiple: pd.Series) -> pd.Series:
    """Return the EAS 2015 CK category of each multiple of the ULN; missing where CK is missing.

    Upper bounds are inclusive: 1.00x ULN is ``normal``, 4.00x is ``1-4x``, 10.00x is ``4-10x``.
    """
    values = pd.Series(multiple).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    categories = np.select(
        [values <= 1.0, values <= 4.0, values <= 10.0, values > 10.0], CK_CATEGORIES, default=None
    )
    return pd.Series(np.where(np.isnan(values), None, categories), index=pd.Series(multiple).index, dtype=object)


def liver_enzymes(rng: np.random.Generator, liver_disease: pd.Series) -> dict:
    """Draw ALT and AST (U/L) at follow-up, higher with liver disease; both missing in 15% of patients."""
    n_rows = len(liver_disease)
    factor = np.where(liver_disease.to_numpy(dtype=bool), 1.8, 1.0)
    alt = np.clip(rng.lognormal(np.log(22.0), 0.4, n_rows) * factor, 4.0, 2000.0)
    ast = np.clip(22.0 * (alt / 22.0) ** 0.6 * rng.lognormal(0.0, 0.2, n_rows), 5.0, 2000.0)
    missing = rng.random(n_rows) < 0.15
    return {
        "alt": pd.Series(np.round(alt)).mask(missing),
        "ast": pd.Series(np.round(ast)).mask(missing),
    }


def patients(rng: np.random.Generator, n_rows: int, min_days: int, max_days: int) -> dict:
    """Draw the columns both cohorts share: patient id, visit dates, demographics and comorbidities.

    Follow-up visits fall ``min_days`` to ``max_days`` after baseline. The draws come first and
    in this order in both simulators, so one seed gives both cohorts the same patients.
    """
    columns = {"patient_id": pd.Series(np.arange(1, n_rows + 1), dtype="Int64")}
    columns.update(visit_dates(rng, n_rows, min_days=min_days, max_days=max_days))
    columns.update(demographics(rng, n_rows))
    columns.update(comorbidities(rng, columns))
    return columns


def visit_dates(rng: np.random.Generator, n_rows: int, min_days: int, max_days: int) -> dict:
    """Draw baseline visits uniformly in 2018-2023 and follow-up visits ``min_days`` to ``max_days`` later."""
    span = (LAST_VISIT - FIRST_VISIT).days
    baseline = FIRST_VISIT + pd.to_timedelta(rng.integers(0, span + 1, n_rows), unit="D")
    interval = rng.integers(min_days, max_days + 1, n_rows)
    return {
        "baseline_visit_date": pd.Series(baseline),
        "followup_visit_date": pd.Series(baseline + pd.to_timedelta(interval, unit="D")),
    }
