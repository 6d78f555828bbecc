"""Simulated cohorts with their ground truth, and the files that store them."""

from __future__ import annotations

import json
import logging
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from synthlib.exceptions import ConfigError, SynthlibError

logger = logging.getLogger(__name__)

FAMILIES = ("logistic", "linear")


@dataclass(frozen=True)
class ModelTruth:
    """The true coefficients of one regression model on a simulated cohort.

    Attributes
    ----------
    name : str
        Short name of the model, for example ``"sams"``.
    family : str
        ``"logistic"`` (coefficients are log odds ratios) or ``"linear"``.
    formula : str
        Formula in patsy syntax that the replication analysis fits on the simulated table.
    outcome : str
        Outcome column of the formula.
    coefficients : Mapping of str to float
        Term name, exactly as statsmodels names it for ``formula`` (``"Intercept"``,
        ``"C(sex)[T.female]"``, ``"I(age > 65)[T.True]"``), to its true value. A complete-case
        fit of ``formula`` on the simulated table estimates these values without bias.
    description : str
        What the truth means, in particular for terms that are associations and not effects.
    """

    name: str
    family: str
    formula: str
    outcome: str
    coefficients: MappingProxyType
    description: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"model {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        object.__setattr__(self, "coefficients", MappingProxyType({str(k): float(v) for k, v in self.coefficients.items()}))

    def as_frame(self) -> pd.DataFrame:
        """Return the coefficients as a table with columns ``term`` and ``truth``."""
        return pd.DataFrame({"term": list(self.coefficients), "truth": list(self.coefficients.values())})

    def to_mapping(self) -> dict:
        """Return the model as plain data for JSON."""
        return {
            "name": self.name,
            "family": self.family,
            "formula": self.formula,
            "outcome": self.outcome,
            "coefficients": dict(self.coefficients),
            "description": self.description,
        }


@dataclass(frozen=True, eq=False)
class SimulatedCohort:
    """A simulated cohort: the raw table and the models that generated it.

    Attributes
    ----------
    name : str
        Name of the cohort and of its data dictionary, for example ``"sams_cohort"``.
    data : pandas.DataFrame
        Raw table in the column order of ``data_templates/<name>.yaml``: floats with NaN,
        nullable Int64, text (None for missing) and datetime64 columns, ready for
        :func:`synthlib.validation.validate_table`.
    models : tuple of ModelTruth
        True models; the first is the study's main analysis.
    random_state : int
        Seed of the simulation.
    parameters : Mapping of str to float
        Other simulation settings that a reader may compare with estimates, for example the
        probability of therapy modification with and without SAMS.
    """

    name: str
    data: pd.DataFrame
    models: tuple
    random_state: int
    parameters: MappingProxyType = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    @property
    def n_rows(self) -> int:
        """Number of simulated patients."""
        return len(self.data)

    def model(self, name: str) -> ModelTruth:
        """Return the true model called ``name``; raise KeyError naming the known models."""
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"cohort {self.name!r} has no model {name!r}; models: {', '.join(m.name for m in self.models)}")

    def truth_mapping(self) -> dict:
        """Return the ground truth as plain data, the content of ``<name>_truth.json``."""
        return {
            "name": self.name,
            "n_rows": self.n_rows,
            "random_state": self.random_state,
            "models": [model.to_mapping() for model in self.models],
            "parameters": dict(self.parameters),
        }


def check_simulation_arguments(n_rows, random_state) -> None:
    """Raise ConfigError unless ``n_rows`` is a positive whole number and ``random_state`` a non-negative one."""
    if isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows < 1:
        raise ConfigError(f"n_rows must be a whole number of at least 1, got {n_rows!r}")
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral) or random_state < 0:
        raise ConfigError(
            f"random_state must be a whole number >= 0 so that the cohort can be simulated again, got {random_state!r}"
        )


def write_cohort(result: SimulatedCohort, folder) -> tuple:
    """Write a simulated cohort as ``<name>.csv`` and its ground truth as ``<name>_truth.json``.

    The CSV file has one header line, empty cells for missing values and dates as YYYY-MM-DD,
    so that :func:`synthlib.validation.load_table` reads it with the cohort's dictionary.

    Parameters
    ----------
    result : SimulatedCohort
    folder : str or pathlib.Path
        Output folder, created if needed. Existing files of the same names are replaced.

    Returns
    -------
    tuple of pathlib.Path
        ``(csv_path, truth_path)``.
    """
    if not isinstance(result, SimulatedCohort):
        raise TypeError(f"write_cohort expects a SimulatedCohort, got {type(result).__name__}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"{result.name}.csv"
    truth_path = folder / f"{result.name}_truth.json"
    result.data.to_csv(csv_path, index=False, date_format="%Y-%m-%d")
    truth_path.write_text(json.dumps(result.truth_mapping(), indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %d simulated rows to %s and the ground truth to %s", result.n_rows, csv_path, truth_path)
    return csv_path, truth_path


def read_truth(path) -> tuple:
    """Read the true models from a ``<name>_truth.json`` file written by :func:`write_cohort`.

    Returns
    -------
    tuple of ModelTruth
        In file order; the first is the study's main analysis.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SynthlibError
        If the file is not JSON, or a model lacks a field, has an unknown family or a
        coefficient that is not a finite number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file not found: {path}; write it with synthlib.cohorts.write_cohort")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        entries = content["models"]
        models = tuple(
            ModelTruth(
                name=entry["name"],
                family=entry["family"],
                formula=entry["formula"],
                outcome=entry["outcome"],
                coefficients=entry["coefficients"],
                description=entry.get("description", ""),
            )
            for entry in entries
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SynthlibError(
            f"{path} is not a ground-truth file ({type(error).__name__}: {error}); "
            "it needs a list 'models' whose entries have name, family, formula, outcome and coefficients"
        ) from None
    for model in models:
        bad = [term for term, value in model.coefficients.items() if not math.isfinite(value)]
        if bad:
            raise SynthlibError(f"{path}: model {model.name!r} has non-finite coefficients for {bad}")
    return models
