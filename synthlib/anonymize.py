"""Classical anonymization of a table, to compare with synthetic data on the same privacy and fidelity scale.

Four methods work on the declared quasi-identifiers (role ``quasi_identifier``):

* **k-anonymity** by global generalization (:mod:`synthlib.hierarchies`) and local suppression:
  the generalization levels of least information loss that leave at most ``max_suppression``
  of the rows in equivalence classes smaller than ``k``, whose rows are then suppressed;
* **l-diversity** (distinct l-diversity) of the sensitive columns (role ``sensitive``), added
  to k-anonymity: classes with fewer than ``l`` distinct values of a sensitive column are
  suppressed too, and the search accounts for them;
* **microaggregation** (MDAV, :mod:`synthlib.microaggregation`) of the numeric, integer and
  date quasi-identifiers within strata of the categorical ones, with the same suppression;
* **noise addition** to the numeric quasi-identifiers, with no guarantee of k.

Missing-value policy: a missing value is its own category. A missing quasi-identifier
matches only missing values of that column when rows are grouped into equivalence classes,
and a missing sensitive value counts as one distinct value for l-diversity. A suppressed
row keeps its other columns and has every quasi-identifier set to missing, so suppressed
rows form one class of their own (together with any row whose quasi-identifiers are all
missing). When that class would have fewer than ``k`` rows, or fewer than ``l`` distinct
sensitive values, its suppressed rows are removed from the release instead. The suppression
rate counts both. The same policy is what :func:`anonymity_levels` measures and what
:func:`verify_with_pycanon` hands to pyCANON, with missing values as a label of their own.

Anonymized tables keep the columns and dtypes of the input, so they can be scored and
analysed exactly like synthetic tables. :func:`write_anonymized` stores them in a run
folder and :func:`load_anonymized` reads them back.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .artifacts import read_json, write_json
from .exceptions import ConfigError, DataValidationError
from .hierarchies import _compact, build_hierarchy, class_ids, failing_rows, search_lattice
from .microaggregation import RANGE_TYPES, add_noise, microaggregate

logger = logging.getLogger(__name__)

METHODS = ("generalization", "microaggregation", "noise")
ANONYMIZED_FOLDER = "anonymized"
"""Sub-folder of a run folder that contains one Parquet file per anonymization setting."""
_INDEX_FILE = "settings.json"
_MISSING_LABEL = "(missing)"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class AnonymizationSetting:
    """One anonymization method with its parameters.

    Attributes
    ----------
    name : str
        Short name, used as the file name of the anonymized table (letters, digits, ``_``, ``-``).
    method : {"generalization", "microaggregation", "noise"}
        k-anonymity by generalization and suppression, MDAV microaggregation, or noise addition.
    k : int or None
        Minimum class size (2 or more) for generalization and microaggregation.
    l : int or None
        Minimum distinct values of every sensitive column per class (2 or more), or None.
    noise_scale : float or None
        Noise standard deviation as a multiple of each column's standard deviation (noise only).
    max_suppression : float
        Largest share of rows the generalization search may suppress (default 0.05).
    """

    name: str
    method: str
    k: int | None = None
    l: int | None = None  # noqa: E741 (the l of l-diversity)
    noise_scale: float | None = None
    max_suppression: float = 0.05

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME_PATTERN.match(self.name):
            raise ConfigError(f"setting name {self.name!r} must be letters, digits, '_' or '-' (it names a file)")
        if self.method not in METHODS:
            raise ConfigError(f"setting {self.name!r}: method must be one of {METHODS}, got {self.method!r}")
        if self.method == "noise":
            if self.noise_scale is None or not self.noise_scale > 0:
                raise ConfigError(f"setting {self.name!r}: noise needs a positive noise_scale, got {self.noise_scale!r}")
        elif not _is_count(self.k, 2):
            raise ConfigError(f"setting {self.name!r}: {self.method} needs an integer k of at least 2, got {self.k!r}")
        if self.l is not None and not _is_count(self.l, 2):
            raise ConfigError(f"setting {self.name!r}: l must be an integer of at least 2 or None, got {self.l!r}")
        if not 0.0 <= self.max_suppression <= 1.0:
            raise ConfigError(f"setting {self.name!r}: max_suppression must be in [0, 1], got {self.max_suppression!r}")


def _is_count(value, minimum: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


DEFAULT_SETTINGS = (
    AnonymizationSetting("k2", "generalization", k=2),
    AnonymizationSetting("k5", "generalization", k=5),
    AnonymizationSetting("k10", "generalization", k=10),
    AnonymizationSetting("k5_l2", "generalization", k=5, l=2),
    AnonymizationSetting("mdav5", "microaggregation", k=5),
    AnonymizationSetting("noise10", "noise", noise_scale=0.1),
    AnonymizationSetting("noise30", "noise", noise_scale=0.3),
)
"""k-anonymity at k = 2, 5 and 10, 5-anonymity with 2-diversity, MDAV with k = 5, and noise of 10 % and 30 % of each SD."""


@dataclass(frozen=True, eq=False)
class AnonymizedTable:
    """An anonymized table and what it took to make it.

    Attributes
    ----------
    setting : AnonymizationSetting
    table : pandas.DataFrame
        The release: the input's columns and dtypes, without the removed rows.
    quasi_identifiers, sensitive : tuple of str
    generalization : dict
        Level of each quasi-identifier (``"exact"``, an interval width or ``"*"``) for the
        generalization method; empty for the others.
    n_rows, n_suppressed, n_removed : int
        Input rows, rows kept with their quasi-identifiers suppressed, and rows removed.
    k, l : int or None
        Smallest class size and smallest number of distinct sensitive values per class of the
        release, measured by :func:`anonymity_levels`. Both are None for an empty release, and
        ``l`` is None without sensitive columns.
    """

    setting: AnonymizationSetting
    table: pd.DataFrame
    quasi_identifiers: tuple
    sensitive: tuple
    generalization: dict = field(default_factory=dict)
    n_rows: int = 0
    n_suppressed: int = 0
    n_removed: int = 0
    k: int | None = None
    l: int | None = None  # noqa: E741

    @property
    def suppression_rate(self) -> float:
        """Share of input rows suppressed or removed."""
        return (self.n_suppressed + self.n_removed) / self.n_rows if self.n_rows else 0.0


# --------------------------------------------------------------------------- measuring k and l


def _labels(series: pd.Series) -> np.ndarray:
    return series.astype("string").fillna(_MISSING_LABEL).to_numpy(dtype=object)


def _codes(series: pd.Series) -> np.ndarray:
    return _compact(pd.factorize(_labels(series))[0])


def anonymity_levels(table: pd.DataFrame, quasi_identifiers, sensitive=()) -> dict:
    """Measure k and distinct l of a table, with missing values as a category of their own.

    Returns
    -------
    dict
        ``k``: the smallest equivalence class; ``l``: the smallest number of distinct values
        of a sensitive column within a class (None without sensitive columns). Both are None
        for an empty table.
    """
    if len(table) == 0:
        return {"k": None, "l": None}
    ids = class_ids(_codes(table[name]) for name in quasi_identifiers)
    k = int(np.bincount(ids).min())
    l_value = None
    for name in sensitive:
        codes = _codes(table[name])
        pairs = np.unique(ids * (int(codes.max()) + 1) + codes)
        distinct = np.bincount(pairs // (int(codes.max()) + 1))
        l_value = int(distinct.min()) if l_value is None else min(l_value, int(distinct.min()))
    return {"k": k, "l": l_value}


def verify_with_pycanon(table: pd.DataFrame, quasi_identifiers, sensitive=()) -> dict:
    """Measure k and distinct l of a table with pyCANON.

    pyCANON groups rows with ``DataFrame.groupby``, which drops rows with a missing key and
    keeps unused levels of categorical columns as empty classes. Every column is therefore
    handed over as text, with missing values as the label ``"(missing)"``, which is the
    missing-value policy of this module.

    Returns
    -------
    dict
        ``k`` and ``l`` (None without sensitive columns), or both None for an empty table.

    References
    ----------
    Sainz-Pardo Diaz and Lopez Garcia, pyCANON (package ``pycanon``, version 1.0.1).
    """
    from pycanon import anonymity

    if len(table) == 0:
        return {"k": None, "l": None}
    columns = list(quasi_identifiers) + [name for name in sensitive if name not in quasi_identifiers]
    text = pd.DataFrame({name: _labels(table[name]) for name in columns})
    k = int(anonymity.k_anonymity(text, list(quasi_identifiers)))
    l_value = int(anonymity.l_diversity(text, list(quasi_identifiers), list(sensitive))) if sensitive else None
    return {"k": k, "l": l_value}


# --------------------------------------------------------------------------- suppression


def _suppress(table, quasi_identifiers, ids, blank, sensitive_codes, setting) -> tuple:
    """Suppress the rows of failing classes; remove them when the suppressed class itself fails.

    Returns the release and the numbers of suppressed and removed rows.
    """
    k = setting.k
    suppressed = failing_rows(ids, k, sensitive_codes, setting.l)
    if not suppressed.any():
        return table, 0, 0

    blank_class = suppressed | blank
    blank_ids = np.zeros(int(blank_class.sum()), dtype=np.int64)
    blank_fails = failing_rows(blank_ids, k, [codes[blank_class] for codes in sensitive_codes], setting.l)
    if blank_fails.any():
        logger.debug("removing %d suppressed rows: too few to form a class of k=%d", suppressed.sum(), k)
        return table.loc[~suppressed], 0, int(suppressed.sum())

    release = table.copy()
    rows = release.index[suppressed]
    for name in quasi_identifiers:
        release.loc[rows, name] = None
    return release, int(suppressed.sum()), 0


def _sensitive_codes(table, sensitive) -> list:
    return [_codes(table[name]) for name in sensitive]


def _generalize(table, dictionary, quasi_identifiers, sensitive, setting, hierarchies) -> tuple:
    hierarchies = hierarchies or {}
    levels = [build_hierarchy(table[name], dictionary.column(name), hierarchies.get(name)) for name in quasi_identifiers]
    sensitive_codes = _sensitive_codes(table, sensitive)
    node = search_lattice(levels, setting.k, setting.max_suppression, sensitive_codes, setting.l)
    chosen = [hierarchy[level] for hierarchy, level in zip(levels, node.levels)]

    generalized = table.copy()
    for name, level in zip(quasi_identifiers, chosen):
        generalized[name] = level.values
    ids = class_ids(level.codes for level in chosen)
    blank = np.logical_and.reduce([level.blank for level in chosen])
    release, n_suppressed, n_removed = _suppress(
        generalized, quasi_identifiers, ids, blank, sensitive_codes, setting
    )
    description = {name: level.label for name, level in zip(quasi_identifiers, chosen)}
    return release, n_suppressed, n_removed, description


def _microaggregate(table, dictionary, quasi_identifiers, sensitive, setting) -> tuple:
    values, ids = microaggregate(table, dictionary, quasi_identifiers, setting.k)
    aggregated = table.assign(**values)
    blank = np.logical_and.reduce([table[name].isna().to_numpy() for name in quasi_identifiers])
    release, n_suppressed, n_removed = _suppress(
        aggregated, quasi_identifiers, ids, blank, _sensitive_codes(table, sensitive), setting
    )
    return release, n_suppressed, n_removed, {}


def anonymize(
    table: pd.DataFrame,
    dictionary,
    setting: AnonymizationSetting,
    quasi_identifiers=None,
    sensitive=None,
    hierarchies=None,
    random_state=0,
) -> AnonymizedTable:
    """Anonymize a table with one setting.

    Parameters
    ----------
    table : pandas.DataFrame
        Typed table, usually the training split.
    dictionary : DataDictionary
        Declares column types and roles.
    setting : AnonymizationSetting
        Method and parameters.
    quasi_identifiers, sensitive : sequence of str, optional
        Default to the columns with role ``quasi_identifier`` and ``sensitive``.
    hierarchies : dict, optional
        Interval widths per numeric, integer or date quasi-identifier, in the column's unit
        (days for dates), for the generalization method; see :func:`synthlib.hierarchies.build_hierarchy`.
    random_state : int, default 0
        Seed of the noise; the other methods are deterministic.

    Returns
    -------
    AnonymizedTable

    Raises
    ------
    ConfigError
        If no quasi-identifier is declared, ``l`` is set without sensitive columns, or the
        table has fewer rows than ``k``.
    DataValidationError
        If the table lacks a quasi-identifier or sensitive column.
    """
    quasi_identifiers = list(dictionary.by_role("quasi_identifier") if quasi_identifiers is None else quasi_identifiers)
    sensitive = list(dictionary.by_role("sensitive") if sensitive is None else sensitive)
    _check_inputs(table, dictionary, quasi_identifiers, sensitive, setting)

    table = table.reset_index(drop=True)
    if setting.method == "generalization":
        release, n_suppressed, n_removed, description = _generalize(
            table, dictionary, quasi_identifiers, sensitive, setting, hierarchies
        )
    elif setting.method == "microaggregation":
        release, n_suppressed, n_removed, description = _microaggregate(
            table, dictionary, quasi_identifiers, sensitive, setting
        )
    else:
        release = table.assign(**add_noise(table, dictionary, quasi_identifiers, setting.noise_scale, random_state))
        n_suppressed, n_removed, description = 0, 0, {}

    release = release.reset_index(drop=True)
    levels = anonymity_levels(release, quasi_identifiers, sensitive)
    result = AnonymizedTable(
        setting=setting,
        table=release,
        quasi_identifiers=tuple(quasi_identifiers),
        sensitive=tuple(sensitive),
        generalization=description,
        n_rows=len(table),
        n_suppressed=n_suppressed,
        n_removed=n_removed,
        k=levels["k"],
        l=levels["l"],
    )
    logger.info(
        "%s: k=%s, l=%s, %.1f%% of rows suppressed (%d kept with blank quasi-identifiers, %d removed)",
        setting.name, result.k, result.l, 100 * result.suppression_rate, n_suppressed, n_removed,
    )
    return result


def _check_inputs(table, dictionary, quasi_identifiers, sensitive, setting) -> None:
    if not quasi_identifiers:
        raise ConfigError(
            f"data dictionary {dictionary.name!r} declares no quasi_identifier column; give the columns an "
            "attacker could know role: quasi_identifier, or pass quasi_identifiers"
        )
    if setting.l is not None and not sensitive:
        raise ConfigError(f"setting {setting.name!r} asks for l={setting.l} but no sensitive column is declared")
    for name in quasi_identifiers + sensitive:
        dictionary.column(name)  # raises KeyError naming the known columns
    missing = [name for name in quasi_identifiers + sensitive if name not in table.columns]
    if missing:
        raise DataValidationError([f"the table lacks column(s) {', '.join(map(repr, missing))}"])
    if setting.k is not None and len(table) < setting.k:
        raise ConfigError(f"setting {setting.name!r}: the table has {len(table)} rows, fewer than k={setting.k}")
    if setting.method != "generalization" and not any(
        dictionary.column(name).type in RANGE_TYPES for name in quasi_identifiers
    ):
        raise ConfigError(f"setting {setting.name!r}: {setting.method} needs a numeric, integer or date quasi-identifier")


def anonymize_all(table, dictionary, settings=DEFAULT_SETTINGS, random_state=0, **options) -> dict:
    """Anonymize a table with every setting; ``options`` go to :func:`anonymize`.

    Returns
    -------
    dict
        Setting name to :class:`AnonymizedTable`, in the order of ``settings``.
    """
    names = [setting.name for setting in settings]
    if len(set(names)) != len(names):
        raise ConfigError(f"setting names must be unique, got {names}")
    return {
        setting.name: anonymize(table, dictionary, setting, random_state=random_state, **options)
        for setting in settings
    }


def anonymization_report(results: dict, verify=True) -> pd.DataFrame:
    """Return one row per setting: method, parameters, suppression and the k and l reached.

    With ``verify``, the columns ``k_pycanon`` and ``l_pycanon`` give pyCANON's measurement
    of the same release (:func:`verify_with_pycanon`).
    """
    rows = []
    for name, result in results.items():
        row = {
            "setting": name,
            "method": result.setting.method,
            "k_requested": result.setting.k,
            "l_requested": result.setting.l,
            "noise_scale": result.setting.noise_scale,
            "n_rows": result.n_rows,
            "n_suppressed": result.n_suppressed,
            "n_removed": result.n_removed,
            "suppression_rate": result.suppression_rate,
            "k": result.k,
            "l": result.l,
            "generalization": ", ".join(f"{c}: {level}" for c, level in result.generalization.items()),
        }
        if verify:
            checked = verify_with_pycanon(result.table, result.quasi_identifiers, result.sensitive)
            row.update(k_pycanon=checked["k"], l_pycanon=checked["l"])
        rows.append(row)
    report = pd.DataFrame(rows)
    for column in ("k_requested", "l_requested", "k", "l", "k_pycanon", "l_pycanon"):
        if column in report:
            report[column] = report[column].astype("Int64")
    return report


def report_records(report: pd.DataFrame) -> list:
    """Return the rows of a report as dicts that ``json.dump`` accepts (missing values as None)."""
    plain = report.astype(object)
    return plain.where(report.notna(), None).to_dict("records")


# --------------------------------------------------------------------------- run folder


def anonymized_dir(run_dir) -> Path:
    """Return the folder of a run that contains its anonymized tables."""
    return Path(run_dir) / ANONYMIZED_FOLDER


def write_anonymized(results: dict, run_dir, report: pd.DataFrame | None = None) -> Path:
    """Write each anonymized table to ``<run_dir>/anonymized/<setting>.parquet``, replacing earlier ones.

    ``settings.json`` beside them lists the settings in order, with the report row of each
    when ``report`` (from :func:`anonymization_report`) is given.
    """
    folder = anonymized_dir(run_dir)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rows = {} if report is None else {row["setting"]: row for row in report_records(report)}
    index = []
    for name, result in results.items():
        result.table.to_parquet(folder / f"{name}.parquet")
        index.append({"name": name, "file": f"{name}.parquet", "setting": asdict(result.setting), **rows.get(name, {})})
    write_json(folder / _INDEX_FILE, {"tables": index})
    logger.info("wrote %d anonymized tables to %s", len(results), folder)
    return folder


def load_anonymized(run_dir) -> dict:
    """Read the anonymized tables of a run.

    Parameters
    ----------
    run_dir : path-like
        Run folder in which the privacy step (notebook 05, or
        :func:`synthlib.study.evaluate_privacy_utility`) wrote ``anonymized/``.

    Returns
    -------
    dict
        Setting name (for example ``"k5"``) to the anonymized training split, typed like it.

    Raises
    ------
    FileNotFoundError
        If the run has no anonymized tables yet.
    """
    folder = anonymized_dir(run_dir)
    index_path = folder / _INDEX_FILE
    if not index_path.is_file():
        raise FileNotFoundError(
            f"no anonymized tables in {folder}; run the privacy step of the study (notebook 05_privacy) first"
        )
    return {entry["name"]: pd.read_parquet(folder / entry["file"]) for entry in read_json(index_path)["tables"]}
