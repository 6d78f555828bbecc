"""Cross-column rules of the cohort dictionaries: derived columns must agree with their sources.

The simulators satisfy every rule by construction. A synthetic table need not, so the count of
violations measures how well a generator learned the deterministic links between columns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from synthlib.cohorts import baseline, therapy

logger = logging.getLogger(__name__)

RULE_COLUMNS = ("rule", "columns", "n_checked", "n_violations")

# Tolerances allow for values rounded to their dictionary's decimals: mg/dL lipids and the CK
# multiple to the unit and 0.01, percentages to 0.1.
_LIPID_TOLERANCE = 0.5
_MULTIPLE_TOLERANCE = 0.006
_PERCENT_TOLERANCE = 0.11


@dataclass(frozen=True)
class _Rule:
    name: str
    columns: tuple
    # Returns (checked, violated) boolean arrays over the rows.
    evaluate: Callable


def _numbers(data: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(data[name].astype(object), errors="coerce").to_numpy(dtype=float)


def _text(data: pd.DataFrame, name: str) -> pd.Series:
    values = data[name].astype(object)
    return values.where(values.notna(), None)


def _difference_rule(result: str, minuend: str, subtrahend: str) -> _Rule:
    def evaluate(data):
        values = [_numbers(data, name) for name in (result, minuend, subtrahend)]
        checked = np.all([~np.isnan(v) for v in values], axis=0)
        violated = checked & (np.abs(values[0] - (values[1] - values[2])) > _LIPID_TOLERANCE)
        return checked, violated

    return _Rule(f"{result} = {minuend} - {subtrahend}", (result, minuend, subtrahend), evaluate)


def _same_labels(observed: pd.Series, expected: pd.Series) -> tuple:
    observed, expected = observed.to_numpy(dtype=object), expected.to_numpy(dtype=object)
    checked = pd.notna(observed)
    violated = checked & (observed != expected)
    return checked, violated


def _ckd_stage(data):
    checked, violated = _same_labels(_text(data, "ckd_stage"), baseline.ckd_stage(pd.Series(_numbers(data, "egfr"))))
    return checked & ~np.isnan(_numbers(data, "egfr")), violated & ~np.isnan(_numbers(data, "egfr"))


def _statin_intensity(data):
    expected = therapy.classify_statin_intensity(_text(data, "statin"), pd.Series(_numbers(data, "statin_dose_mg")))
    checked = _text(data, "statin").notna().to_numpy() & _text(data, "statin_intensity").notna().to_numpy()
    violated = checked & (_text(data, "statin_intensity").to_numpy(dtype=object) != expected.to_numpy(dtype=object))
    return checked, violated


_REGIMEN = ("statin_intensity", "ezetimibe", "pcsk9_antibody", "inclisiran", "bempedoic_acid")


def _expected_reduction(data):
    expected = therapy.expected_reduction(
        _text(data, "statin_intensity"), *(pd.Series(_numbers(data, name)) for name in _REGIMEN[1:])
    ).to_numpy()
    observed = _numbers(data, "expected_reduction_pct")
    checked = ~np.isnan(expected) & ~np.isnan(observed)
    return checked, checked & (np.abs(observed - expected) > _PERCENT_TOLERANCE)


def _ck_multiple(data):
    ck, uln, multiple = (_numbers(data, name) for name in ("ck", "ck_uln", "ck_x_uln"))
    checked = ~np.isnan(ck) & ~np.isnan(uln) & ~np.isnan(multiple) & (uln > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        violated = checked & (np.abs(ck / uln - multiple) > _MULTIPLE_TOLERANCE)
    return checked, violated


def _ck_category(data):
    multiple = _numbers(data, "ck_x_uln")
    checked, violated = _same_labels(_text(data, "ck_category"), baseline.ck_category(pd.Series(multiple)))
    return checked & ~np.isnan(multiple), violated & ~np.isnan(multiple)


def _ldl_reduction(data):
    before, after, reported = (_numbers(data, name) for name in ("ldl_c_baseline", "ldl_c_followup", "ldl_reduction_pct"))
    checked = ~np.isnan(before) & ~np.isnan(after) & ~np.isnan(reported) & (before > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        computed = 100.0 * (before - after) / before
    return checked, checked & (np.abs(computed - reported) > _PERCENT_TOLERANCE)


def _target_attained(data):
    after, goal, attained = (_numbers(data, name) for name in ("ldl_c_followup", "ldl_c_goal", "ldl_target_attained"))
    checked = ~np.isnan(after) & ~np.isnan(goal) & ~np.isnan(attained)
    return checked, checked & ((after < goal).astype(float) != attained)


def _ldl_goal(data):
    recurrent, goal = _numbers(data, "recurrent_event"), _numbers(data, "ldl_c_goal")
    expected = np.where(recurrent == 1, baseline.LDL_GOAL_AFTER_RECURRENT_EVENT, baseline.LDL_GOAL)
    checked = ~np.isnan(recurrent) & ~np.isnan(goal)
    return checked, checked & (goal != expected)


def _visit_order(data):
    first = pd.to_datetime(data["baseline_visit_date"], errors="coerce")
    second = pd.to_datetime(data["followup_visit_date"], errors="coerce")
    checked = (first.notna() & second.notna()).to_numpy()
    return checked, checked & (second <= first).to_numpy()


def _none_exactly_when_zero(label: str, indicator: str):
    def evaluate(data):
        labels, flags = _text(data, label), _numbers(data, indicator)
        checked = labels.notna().to_numpy() & ~np.isnan(flags)
        violated = checked & ((labels == "none").to_numpy() != (flags == 0))
        return checked, violated

    return evaluate


_SAMS_TYPE_CK = {
    "normal": {"myalgia"},
    "1-4x": {"myalgia_minor_ck_rise"},
    "4-10x": {"myalgia_ck_4_10x"},
    ">10x": {"myopathy", "rhabdomyolysis"},
}


def _sams_type_ck(data):
    types, categories = _text(data, "sams_type"), _text(data, "ck_category")
    checked = (types.notna() & categories.notna() & (types != "none")).to_numpy()
    allowed = [t in _SAMS_TYPE_CK.get(c, set()) for t, c in zip(types, categories)]
    return checked, checked & ~np.asarray(allowed, dtype=bool)


def _onset_with_sams(data):
    onset, sams = _numbers(data, "sams_onset_days"), _numbers(data, "sams")
    checked = ~np.isnan(sams)
    return checked, checked & (np.isnan(onset) != (sams == 0))


RULES = (
    _difference_rule("non_hdl_c_baseline", "total_chol_baseline", "hdl_c_baseline"),
    _difference_rule("non_hdl_c_followup", "total_chol_followup", "hdl_c_followup"),
    _Rule("ckd_stage matches the KDIGO category of egfr", ("ckd_stage", "egfr"), _ckd_stage),
    _Rule("statin_intensity matches statin and statin_dose_mg (2018 AHA/ACC)", ("statin", "statin_dose_mg", "statin_intensity"), _statin_intensity),
    _Rule("expected_reduction_pct matches the regimen", ("expected_reduction_pct", *_REGIMEN), _expected_reduction),
    _Rule("ck_x_uln = ck / ck_uln", ("ck", "ck_uln", "ck_x_uln"), _ck_multiple),
    _Rule("ck_category matches ck_x_uln (EAS 2015)", ("ck_category", "ck_x_uln"), _ck_category),
    _Rule("ldl_reduction_pct = 100 (1 - ldl_c_followup / ldl_c_baseline)", ("ldl_reduction_pct", "ldl_c_baseline", "ldl_c_followup"), _ldl_reduction),
    _Rule("ldl_target_attained = ldl_c_followup < ldl_c_goal", ("ldl_target_attained", "ldl_c_followup", "ldl_c_goal"), _target_attained),
    _Rule("ldl_c_goal is 40 after a recurrent event, else 55 (ESC/EAS 2019)", ("ldl_c_goal", "recurrent_event"), _ldl_goal),
    _Rule("followup_visit_date is after baseline_visit_date", ("baseline_visit_date", "followup_visit_date"), _visit_order),
    _Rule("sams_type is none exactly when sams is 0", ("sams_type", "sams"), _none_exactly_when_zero("sams_type", "sams")),
    _Rule("sams_type matches ck_category", ("sams_type", "ck_category"), _sams_type_ck),
    _Rule("sams_onset_days is given exactly when sams is 1", ("sams_onset_days", "sams"), _onset_with_sams),
    _Rule(
        "modification_type is none exactly when therapy_modified is 0",
        ("modification_type", "therapy_modified"),
        _none_exactly_when_zero("modification_type", "therapy_modified"),
    ),
)


def check_consistency(data: pd.DataFrame) -> pd.DataFrame:
    """Count the rows that break each cross-column rule of the cohort dictionaries.

    A rule applies when the table has all its columns, and checks the rows where the values it
    compares are present. Tolerances allow for rounding to the dictionaries' decimals.

    Parameters
    ----------
    data : pandas.DataFrame
        A raw or typed table of ``sams_cohort`` or ``ldl_response``, simulated, real or synthetic.

    Returns
    -------
    pandas.DataFrame
        One row per applicable rule, with columns ``rule`` (the rule in words), ``columns``
        (comma-separated), ``n_checked`` and ``n_violations``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"check_consistency expects a pandas DataFrame, got {type(data).__name__}")
    rows = []
    for rule in RULES:
        if not all(name in data.columns for name in rule.columns):
            continue
        checked, violated = rule.evaluate(data.reset_index(drop=True))
        rows.append(
            {
                "rule": rule.name,
                "columns": ", ".join(rule.columns),
                "n_checked": int(np.sum(checked)),
                "n_violations": int(np.sum(violated)),
            }
        )
    table = pd.DataFrame(rows, columns=list(RULE_COLUMNS))
    if table["n_violations"].sum():
        logger.info("%d cross-column rule violations in %d rows", table["n_violations"].sum(), len(data))
    return table
