"""Simulated cohort of patients starting lipid-lowering therapy, for the LDL-C response analysis.

The achieved LDL-C percent reduction follows the linear model of
:mod:`synthlib.cohorts.therapy` (``LDL_REDUCTION_FORMULA`` and ``LDL_REDUCTION_COEFFICIENTS``):
the regimen's pharmacological intensity (its expected reduction from published drug figures),
adherence, baseline LDL-C and covariates. Baseline LDL-C is measured before the regimen starts.

Simulation assumptions, not published figures:

- 10% of patients have a history of statin intolerance. 70% of them take no statin, and the
  others take the lowest dose of their statin.
- 6% have familial hypercholesterolaemia, with 1.6 times the LDL-C of the others and a 25%
  chance of a PCSK9 antibody on top of their regimen.
- Lp(a) is measured in 40% of patients and in 70% of those with familial
  hypercholesterolaemia. CK is measured in 70% of patients.

NOTE: both simulators draw visit dates and demographics first, so with the same
``random_state`` patient *i* has the same age, sex and BMI in both cohorts.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from synthlib.cohorts import baseline, therapy
from synthlib.cohorts.result import ModelTruth, SimulatedCohort, check_simulation_arguments

logger = logging.getLogger(__name__)

NAME = "ldl_response"
REGIMENS = therapy.RegimenMix(no_statin=0.0, ezetimibe=0.30, pcsk9_antibody=0.04, inclisiran=0.02, bempedoic_acid=0.02)
P_STATIN_INTOLERANCE = 0.10
P_NO_STATIN_IF_INTOLERANT = 0.70
P_FAMILIAL_HYPERCHOLESTEROLAEMIA = 0.06
FH_LDL_FACTOR = 1.6
P_PCSK9_ANTIBODY_ADDED_IF_FH = 0.25

COLUMNS = (
    "patient_id", "baseline_visit_date", "followup_visit_date",
    "age", "sex", "bmi", "smoking", "alcohol",
    "hypertension", "diabetes", "hba1c", "glucose", "egfr", "ckd_stage", "hypothyroidism", "tsh", "liver_disease",
    "familial_hypercholesterolaemia",
    "prior_mi", "prior_pci", "prior_cabg", "prior_stroke", "peripheral_artery_disease", "recurrent_event",
    "total_chol_baseline", "ldl_c_baseline", "hdl_c_baseline", "triglycerides_baseline", "non_hdl_c_baseline", "lpa",
    "statin_intolerance", "statin", "statin_dose_mg", "statin_intensity",
    "ezetimibe", "pcsk9_antibody", "inclisiran", "bempedoic_acid",
    "expected_reduction_pct", "adherence_pdc", "interacting_drug", "ldl_c_goal",
    "ck", "ck_uln", "ck_x_uln", "ck_category", "alt", "ast",
    "ldl_reduction_pct",
    "total_chol_followup", "ldl_c_followup", "hdl_c_followup", "triglycerides_followup", "non_hdl_c_followup",
    "ldl_target_attained",
)


def simulate_ldl_response(n_rows: int = 1700, random_state: int = 0) -> SimulatedCohort:
    """Simulate a lipid-clinic cohort measured before and 6-17 weeks after starting a lipid-lowering regimen.

    The table follows ``data_templates/ldl_response.yaml``. Regimens range from a low-intensity
    statin to a high-intensity statin with ezetimibe and a PCSK9 antibody, and include
    statin-free regimens for statin-intolerant patients. The LDL-C percent reduction is drawn from
    ``therapy.LDL_REDUCTION_FORMULA`` with ``therapy.LDL_REDUCTION_COEFFICIENTS``. Follow-up
    LDL-C is baseline LDL-C times one minus that reduction, and goal attainment compares it with
    the ESC/EAS 2019 goal. See :mod:`synthlib.cohorts.therapy` for the published figures.

    Parameters
    ----------
    n_rows : int, default 1700
        Number of patients.
    random_state : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives the same cohort.

    Returns
    -------
    SimulatedCohort
        One model, ``ldl_reduction``: a linear model whose complete-case fit estimates the
        true coefficients without bias (follow-up is missing more often with poor adherence,
        a term of the model).

    Raises
    ------
    ConfigError
        If ``n_rows`` is not a whole number >= 1 or ``random_state`` not a whole number >= 0.
    """
    check_simulation_arguments(n_rows, random_state)
    rng = np.random.default_rng(random_state)
    columns = baseline.patients(rng, n_rows, min_days=42, max_days=120)
    columns["familial_hypercholesterolaemia"] = baseline.bernoulli(rng, P_FAMILIAL_HYPERCHOLESTEROLAEMIA, n_rows)
    fh = columns["familial_hypercholesterolaemia"].to_numpy(dtype=bool)
    columns.update(baseline.cardiovascular_history(rng, columns))
    columns.update(
        baseline.baseline_lipids(
            rng, columns,
            ldl_factor=np.where(fh, FH_LDL_FACTOR, 1.0), lpa_missing=np.where(fh, 0.30, 0.60),
        )
    )
    baseline.blank_baseline(rng, columns)
    columns.update(_regimens(rng, fh))
    columns["adherence_pdc"] = pd.Series(np.round(100.0 * rng.beta(5.0, 0.9, n_rows)))
    columns["interacting_drug"] = baseline.bernoulli(rng, 0.15, n_rows)
    columns["ldl_c_goal"] = baseline.ldl_goal(columns["recurrent_event"])
    columns.update(_creatine_kinase(rng, columns))
    columns.update(baseline.liver_enzymes(rng, columns["liver_disease"]))
    columns.update(therapy.ldl_response(rng, columns))

    data = pd.DataFrame({name: columns[name] for name in COLUMNS})
    logger.info("simulated %d LDL-response patients (random_state=%d)", n_rows, random_state)
    model = ModelTruth(
        name="ldl_reduction", family="linear", formula=therapy.LDL_REDUCTION_FORMULA,
        outcome="ldl_reduction_pct", coefficients=therapy.LDL_REDUCTION_COEFFICIENTS,
        description=(
            "Linear model that generated the LDL-C percent reduction; expected_reduction_pct is the "
            "pharmacological intensity of the regimen, with a true coefficient of 1."
        ),
    )
    parameters = {"ldl_reduction_sd": therapy.LDL_REDUCTION_SD, "max_reduction_pct": therapy.MAX_REDUCTION}
    return SimulatedCohort(name=NAME, data=data, models=(model,), random_state=int(random_state), parameters=parameters)


def _regimens(rng: np.random.Generator, fh: np.ndarray) -> dict:
    """Draw statin intolerance and the regimen. Intolerant patients on a statin take its lowest dose."""
    n_rows = len(fh)
    intolerance = baseline.bernoulli(rng, P_STATIN_INTOLERANCE, n_rows)
    intolerant = intolerance.to_numpy(dtype=bool)
    no_statin = intolerant & (rng.random(n_rows) < P_NO_STATIN_IF_INTOLERANT)
    columns = therapy.sample_regimens(rng, n_rows, REGIMENS, no_statin=no_statin)

    lowest = columns["statin"].map(lambda name: min(therapy.STATIN_DOSES[name]) if name in therapy.STATIN_DOSES else None)
    reduced = intolerant & ~no_statin
    columns["statin_dose_mg"] = columns["statin_dose_mg"].mask(pd.Series(reduced), lowest.astype("Int64"))
    added = fh & (columns["pcsk9_antibody"].to_numpy(dtype=int) == 0) & (rng.random(n_rows) < P_PCSK9_ANTIBODY_ADDED_IF_FH)
    columns["pcsk9_antibody"] = columns["pcsk9_antibody"].mask(pd.Series(added), 1)
    # Inclisiran is stopped where a PCSK9 antibody is added, so no patient takes both.
    columns["inclisiran"] = columns["inclisiran"].mask(pd.Series(added), 0)

    columns["statin_intensity"] = therapy.classify_statin_intensity(columns["statin"], columns["statin_dose_mg"])
    columns["expected_reduction_pct"] = therapy.expected_reduction(
        columns["statin_intensity"], columns["ezetimibe"], columns["pcsk9_antibody"],
        columns["inclisiran"], columns["bempedoic_acid"],
    )
    return {"statin_intolerance": intolerance, **columns}


def _creatine_kinase(rng: np.random.Generator, columns: dict) -> dict:
    """Draw CK at follow-up, higher with a high-intensity statin; measured in 70% of patients."""
    high = (columns["statin_intensity"].astype(object) == "high").to_numpy(dtype=float)
    ck = baseline.creatine_kinase(rng, columns["sex"], 0.10 * high, 0.04 + 0.02 * high)
    measured = rng.random(len(high)) < 0.70
    return {name: values.mask(~measured) for name, values in ck.items()}
