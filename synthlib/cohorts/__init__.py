"""Simulated lipid-clinic cohorts with known ground truth.

Two cohorts follow the dictionaries in ``data_templates/``:

- :func:`simulate_sams_cohort` (``sams_cohort.yaml``) simulates statin users assessed for
  statin-associated muscle symptoms. Its main analysis is a logistic model of SAMS on therapy
  modification, CK and covariates.
- :func:`simulate_ldl_response` (``ldl_response.yaml``) simulates patients starting
  lipid-lowering therapy. Its main analysis is a linear model of the LDL-C percent reduction
  on the regimen's pharmacological intensity, adherence, baseline LDL-C and covariates.

Each returns a :class:`SimulatedCohort` with the raw table and the true coefficients of the
models that generated it. :func:`write_cohort` stores both, and :func:`read_truth` reads the
truth back. :func:`check_consistency` counts violations of the rules that tie derived columns
to their sources, in simulated, template or synthetic tables alike.
"""

from synthlib.cohorts.ldl import simulate_ldl_response
from synthlib.cohorts.result import ModelTruth, SimulatedCohort, read_truth, write_cohort
from synthlib.cohorts.rules import check_consistency
from synthlib.cohorts.sams import simulate_sams_cohort

__all__ = [
    "ModelTruth",
    "SimulatedCohort",
    "check_consistency",
    "read_truth",
    "simulate_ldl_response",
    "simulate_sams_cohort",
    "write_cohort",
]
