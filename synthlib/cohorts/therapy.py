"""Lipid-lowering regimens: statin intensity, expected LDL-C reduction and the LDL-C response model.

Published figures used here (LDL-C reduction from baseline):

- Statin intensity by molecule and daily dose: statin-intensity table of the 2018 AHA/ACC
  Cholesterol Guideline (Grundy et al., 2018). Low intensity lowers LDL-C by less than 30%
  (simvastatin 10 mg, pravastatin 10-20 mg, lovastatin 20 mg, fluvastatin 20-40 mg).
  Moderate intensity lowers it by 30-49% (atorvastatin 10-20 mg, rosuvastatin 5-10 mg,
  simvastatin 20-40 mg, pravastatin 40-80 mg, lovastatin 40-80 mg, fluvastatin XL 80 mg,
  pitavastatin 1-4 mg). High intensity lowers it by 50% or more (atorvastatin 40-80 mg,
  rosuvastatin 20-40 mg).
- Ezetimibe: 15-25% as monotherapy (GAUSS-2 19.2%, GAUSS-3 16.7%, ODYSSEY ALTERNATIVE 14.6%;
  table of Cleve Clin J Med 2021;88(7):381) and about 21-27% added to a statin.
- PCSK9 antibodies: 45-60% (GAUSS-2 55-56%, GAUSS-3 52.8%, ODYSSEY ALTERNATIVE 45%; same
  table).
- Inclisiran: 52.3% (ORION-10) and 49.9% (ORION-11) at day 510 (Ray et al., N Engl J Med 2020).
- Bempedoic acid: 18% against placebo on a statin background and 24% in statin-intolerant
  patients (pooled phase 3, n = 3623; Banach et al., JAMA Cardiol 2020).

Drugs of one regimen combine multiplicatively: each lowers what the others leave. With these
figures high-intensity statin plus ezetimibe gives 65%, plus a PCSK9 antibody 80%, and all three
84%, close to the 65%, 75% and 85% quoted for these combinations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from synthlib.cohorts import baseline

logger = logging.getLogger(__name__)

NO_STATIN = "none"
STATIN_INTENSITIES = ("low", "moderate", "high")

# Daily dose (mg) -> intensity class, 2018 AHA/ACC statin-intensity table. Simvastatin 80 mg is
# not simulated, so classify_statin_intensity leaves it unclassified.
STATIN_DOSES = {
    "atorvastatin": {10: "moderate", 20: "moderate", 40: "high", 80: "high"},
    "rosuvastatin": {5: "moderate", 10: "moderate", 20: "high", 40: "high"},
    "simvastatin": {10: "low", 20: "moderate", 40: "moderate"},
    "pravastatin": {10: "low", 20: "low", 40: "moderate", 80: "moderate"},
    "lovastatin": {20: "low", 40: "moderate", 80: "moderate"},
    "fluvastatin": {20: "low", 40: "low", 80: "moderate"},
    "pitavastatin": {1: "moderate", 2: "moderate", 4: "moderate"},
}
STATINS = tuple(STATIN_DOSES)

# Simulation assumptions, not published figures: molecule shares and dose shares chosen so that
# about half of the statin users take a high-intensity statin and about 8% a low-intensity one.
STATIN_SHARES = {
    "atorvastatin": 0.45,
    "rosuvastatin": 0.30,
    "simvastatin": 0.12,
    "pravastatin": 0.05,
    "lovastatin": 0.01,
    "fluvastatin": 0.03,
    "pitavastatin": 0.04,
}
DOSE_SHARES = {
    "atorvastatin": (0.05, 0.20, 0.40, 0.35),
    "rosuvastatin": (0.10, 0.30, 0.40, 0.20),
    "simvastatin": (0.30, 0.40, 0.30),
    "pravastatin": (0.10, 0.40, 0.40, 0.10),
    "lovastatin": (0.50, 0.40, 0.10),
    "fluvastatin": (0.20, 0.40, 0.40),
    "pitavastatin": (0.30, 0.50, 0.20),
}

# Expected LDL-C reduction (%) of each drug at the adherence of the trials that measured it.
# Statin classes take one value inside their published band.
STATIN_REDUCTION = {"low": 25.0, "moderate": 40.0, "high": 55.0}
EZETIMIBE_REDUCTION = 23.0
PCSK9_ANTIBODY_REDUCTION = 55.0
INCLISIRAN_REDUCTION = 50.0
BEMPEDOIC_ACID_REDUCTION_ON_STATIN = 18.0
BEMPEDOIC_ACID_REDUCTION_WITHOUT_STATIN = 24.0

# LDL-C percent-reduction model, the data-generating process of ldl_reduction_pct:
#   reduction = expected + 0.30 (adherence - 90) + 0.04 (LDL-C - 130) + 0.05 (age - 64)
#               - 2.0 female - 1.5 diabetes + error,
# so a man without diabetes aged 64, with LDL-C 130 mg/dL and 90% of days covered, reaches the
# expected reduction of his regimen. Every effect but that of expected_reduction_pct is a
# simulation assumption, not a published figure. The intercept folds in the centring constants.
LDL_REDUCTION_FORMULA = (
    "ldl_reduction_pct ~ expected_reduction_pct + adherence_pdc + ldl_c_baseline + age + C(sex) + diabetes"
)
LDL_REDUCTION_COEFFICIENTS = {
    "Intercept": -(0.30 * 90 + 0.04 * 130 + 0.05 * 64),
    "C(sex)[T.female]": -2.0,
    "expected_reduction_pct": 1.0,
    "adherence_pdc": 0.30,
    "ldl_c_baseline": 0.04,
    "age": 0.05,
    "diabetes": -1.5,
}
# Residual standard deviation in percentage points: a simulation assumption, like the
# truncation below.
LDL_REDUCTION_SD = 11.0
# The error is truncated symmetrically at 3 SD, or at MAX_REDUCTION - mean where that is
# smaller, so that a reduction drawn above the mean stays below 95% and follow-up LDL-C
# positive. A symmetric truncation keeps the error's mean at zero, so the linear model stays
# correctly specified.
# NOTE: the narrower truncation also shrinks the error variance of patients whose mean reduction
# exceeds 62% (mostly a statin with ezetimibe or a PCSK9 drug), so the constant variance that
# ordinary least squares assumes is slightly wrong for them.
MAX_REDUCTION = 95.0


@dataclass(frozen=True)
class RegimenMix:
    """Probabilities of each lipid-lowering drug in a simulated cohort.

    Attributes
    ----------
    no_statin : float
        Share of patients who take no statin.
    ezetimibe, pcsk9_antibody, inclisiran, bempedoic_acid : float
        Probability of each add-on drug in patients who take a statin.
    ezetimibe_without_statin, pcsk9_antibody_without_statin, inclisiran_without_statin,
    bempedoic_acid_without_statin : float
        The same probabilities in patients who take no statin. Each of them takes at least
        one drug (ezetimibe when none is drawn).
    """

    no_statin: float
    ezetimibe: float
    pcsk9_antibody: float
    inclisiran: float
    bempedoic_acid: float
    ezetimibe_without_statin: float = 0.75
    pcsk9_antibody_without_statin: float = 0.30
    inclisiran_without_statin: float = 0.10
    bempedoic_acid_without_statin: float = 0.35


def classify_statin_intensity(statin: pd.Series, dose: pd.Series) -> pd.Series:
    """Return the 2018 AHA/ACC intensity class of each statin and daily dose.

    Parameters
    ----------
    statin : pandas.Series
        Molecule names as in ``STATIN_DOSES``, or ``"none"``.
    dose : pandas.Series
        Daily dose in mg; missing when no statin is taken.

    Returns
    -------
    pandas.Series of object
        ``"low"``, ``"moderate"``, ``"high"`` or ``"none"``; missing where the molecule is
        missing, or the dose is not in the table (for example simvastatin 80 mg).
    """
    classes = []
    for molecule, mg in zip(statin.astype(object), dose.astype(object)):
        if molecule == NO_STATIN:
            classes.append(NO_STATIN if pd.isna(mg) else None)
        elif pd.isna(molecule) or pd.isna(mg) or float(mg) != int(mg):
            classes.append(None)
        else:
            classes.append(STATIN_DOSES.get(molecule, {}).get(int(mg)))
    return pd.Series(classes, index=statin.index, dtype=object)


def expected_reduction(
    intensity: pd.Series,
    ezetimibe: pd.Series,
    pcsk9_antibody: pd.Series,
    inclisiran: pd.Series,
    bempedoic_acid: pd.Series,
) -> pd.Series:
    """Compute the pharmacological intensity of each regimen: its expected LDL-C reduction (%).

    The published reductions of the drugs taken combine multiplicatively,
    ``100 (1 - prod(1 - r_i / 100))``. Bempedoic acid counts 18% with a statin and 24% without.

    Parameters
    ----------
    intensity : pandas.Series
        Statin intensity class (``low``, ``moderate``, ``high`` or ``none``).
    ezetimibe, pcsk9_antibody, inclisiran, bempedoic_acid : pandas.Series
        0/1 indicators of the add-on drugs.

    Returns
    -------
    pandas.Series of float
        Expected reduction rounded to one decimal; NaN where an input is missing.
    """
    intensity = intensity.astype(object)
    on_statin = intensity.isin(STATIN_INTENSITIES).to_numpy()
    statin = intensity.map(STATIN_REDUCTION).astype(float).fillna(0.0).to_numpy()
    bempedoic = np.where(on_statin, BEMPEDOIC_ACID_REDUCTION_ON_STATIN, BEMPEDOIC_ACID_REDUCTION_WITHOUT_STATIN)
    remaining = 1.0 - statin / 100.0
    for drug_column, reduction in (
        (ezetimibe, EZETIMIBE_REDUCTION),
        (pcsk9_antibody, PCSK9_ANTIBODY_REDUCTION),
        (inclisiran, INCLISIRAN_REDUCTION),
        (bempedoic_acid, bempedoic),
    ):
        indicator = baseline.as_float(drug_column)
        remaining = remaining * (1.0 - indicator * reduction / 100.0)
    known = intensity.isin((*STATIN_INTENSITIES, NO_STATIN)).to_numpy()
    values = np.where(known, np.round(100.0 * (1.0 - remaining), 1), np.nan)
    return pd.Series(values, index=intensity.index, dtype=float)


def sample_regimens(rng: np.random.Generator, n_rows: int, mix: RegimenMix, no_statin=None) -> dict:
    """Draw statin, dose, intensity and add-on drugs for ``n_rows`` patients.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_rows : int
    mix : RegimenMix
    no_statin : numpy.ndarray of bool, optional
        Patients who take no statin; drawn with probability ``mix.no_statin`` when None.

    Returns
    -------
    dict
        Raw columns ``statin``, ``statin_dose_mg``, ``statin_intensity``, ``ezetimibe``,
        ``pcsk9_antibody``, ``inclisiran``, ``bempedoic_acid`` and ``expected_reduction_pct``.
    """
    if no_statin is None:
        no_statin = rng.random(n_rows) < mix.no_statin
    molecules = rng.choice(STATINS, size=n_rows, p=[STATIN_SHARES[name] for name in STATINS])
    doses = np.array([rng.choice(list(STATIN_DOSES[name]), p=DOSE_SHARES[name]) for name in molecules])
    statin = pd.Series(np.where(no_statin, NO_STATIN, molecules), dtype=object)
    dose = pd.Series(doses, dtype="Int64").mask(pd.Series(no_statin))

    def draw(with_statin: float, without_statin: float) -> np.ndarray:
        return rng.random(n_rows) < np.where(no_statin, without_statin, with_statin)

    ezetimibe = draw(mix.ezetimibe, mix.ezetimibe_without_statin)
    pcsk9 = draw(mix.pcsk9_antibody, mix.pcsk9_antibody_without_statin)
    # Inclisiran and the antibodies both act on PCSK9, so no patient takes both.
    inclisiran = draw(mix.inclisiran, mix.inclisiran_without_statin) & ~pcsk9
    bempedoic = draw(mix.bempedoic_acid, mix.bempedoic_acid_without_statin)
    untreated = no_statin & ~(ezetimibe | pcsk9 | inclisiran | bempedoic)
    ezetimibe = ezetimibe | untreated

    columns = {
        "statin": statin,
        "statin_dose_mg": dose,
        "statin_intensity": classify_statin_intensity(statin, dose),
        "ezetimibe": pd.Series(ezetimibe.astype(int), dtype="Int64"),
        "pcsk9_antibody": pd.Series(pcsk9.astype(int), dtype="Int64"),
        "inclisiran": pd.Series(inclisiran.astype(int), dtype="Int64"),
        "bempedoic_acid": pd.Series(bempedoic.astype(int), dtype="Int64"),
    }
    columns["expected_reduction_pct"] = expected_reduction(
        columns["statin_intensity"], columns["ezetimibe"], columns["pcsk9_antibody"],
        columns["inclisiran"], columns["bempedoic_acid"],
    )
    return columns


def ldl_reduction_mean(columns: dict) -> np.ndarray:
    """Return the mean LDL-C reduction (%) of each patient under the LDL-C response model."""
    female = (pd.Series(columns["sex"]).astype(object) == "female").to_numpy(dtype=float)
    terms = {
        "Intercept": np.ones(len(female)),
        "C(sex)[T.female]": female,
        "expected_reduction_pct": baseline.as_float(columns["expected_reduction_pct"]),
        "adherence_pdc": baseline.as_float(columns["adherence_pdc"]),
        "ldl_c_baseline": baseline.as_float(columns["ldl_c_baseline"]),
        "age": baseline.as_float(columns["age"]),
        "diabetes": baseline.as_float(columns["diabetes"]),
    }
    return sum(LDL_REDUCTION_COEFFICIENTS[term] * values for term, values in terms.items())


def sample_ldl_reduction(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Draw the achieved LDL-C reduction (%): ``mean`` plus a symmetrically truncated normal error.

    The error is truncated at ``min(3 SD, MAX_REDUCTION - mean)`` on both sides (at zero where the
    mean exceeds ``MAX_REDUCTION``), so the reduction stays below 100% and its mean stays ``mean``.
    """
    half_width = np.clip(np.minimum(3.0 * LDL_REDUCTION_SD, MAX_REDUCTION - mean), 0.0, None)
    upper = norm.cdf(half_width / LDL_REDUCTION_SD)
    quantile = 1.0 - upper + rng.random(len(mean)) * (2.0 * upper - 1.0)
    return mean + LDL_REDUCTION_SD * norm.ppf(quantile)


def ldl_response(rng: np.random.Generator, columns: dict) -> dict:
    """Draw the achieved LDL-C reduction and derive the follow-up lipid panel from it.

    The follow-up panel is missing for ``4% + 20% x (1 - adherence)`` of the patients: patients
    who skip their tablets also skip visits. Missingness depends only on a term of the model,
    so a complete-case fit of ``LDL_REDUCTION_FORMULA`` stays unbiased.
    """
    reduction = sample_ldl_reduction(rng, ldl_reduction_mean(columns))
    adherence = baseline.as_float(columns["adherence_pdc"]) / 100.0
    missing = rng.random(len(reduction)) < 0.04 + 0.20 * (1.0 - adherence)
    return baseline.followup_lipids(rng, columns, reduction, missing)
