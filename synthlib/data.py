"""The SMART cohort, train/holdout splits and Table-1 summaries of typed tables."""

from __future__ import annotations

import logging
import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from synthlib.dictionary import DataDictionary, ColumnSpec
from synthlib.exceptions import ConfigError, DataValidationError

logger = logging.getLogger(__name__)

# survset's column names for the hdnom ``smarto`` data -> names used by data_templates/smart.yaml,
# in the order of that dictionary.
SMART_COLUMNS = {
    "pid": "patient_id",
    "event": "event",
    "time": "time_days",
    "fac_sex": "sex",
    "num_age": "age",
    "fac_diabetes": "diabetes",
    "fac_cerebral": "cerebral",
    "fac_aaa": "aaa",
    "fac_periph": "peripheral",
    "fac_stenosis": "stenosis",
    "fac_albumin": "albuminuria",
    "fac_smoking": "smoking",
    "fac_alcohol": "alcohol",
    "num_systbp": "sbp_auto",
    "num_diastbp": "dbp_auto",
    "num_systh": "sbp_hand",
    "num_diasth": "dbp_hand",
    "num_length": "height",
    "num_weight": "weight",
    "num_bmi": "bmi",
    "num_chol": "total_chol",
    "num_hdl": "hdl_c",
    "num_ldl": "ldl_c",
    "num_trig": "triglycerides",
    "num_homoc": "homocysteine",
    "num_glut": "glucose",
    "num_creat": "creatinine_clearance",
    "num_imt": "imt",
    "num_packyrs": "pack_years",
}

_USE_CODES = {"1": "never", "2": "former", "3": "current"}

# Codes of the categorical SMART factors and their labels. The 0/1 factors stay 0/1 (binary).
SMART_CODES = {
    "sex": {"1": "male", "2": "female"},
    "smoking": _USE_CODES,
    "alcohol": _USE_CODES,
    "albuminuria": {"1": "none", "2": "micro", "3": "macro"},
}


def load_smart() -> pd.DataFrame:
    """Load the SMART cohort as a raw table for ``data_templates/smart.yaml``.

    The data come from the ``smarto`` data set of the R package hdnom (original SMART study
    data with missing values, cited there as Steyerberg, *Clinical Prediction Models*, 2008),
    shipped offline by the Python package survset. Columns are renamed to the names of
    ``data_templates/smart.yaml`` and the codes of sex, smoking, alcohol and albuminuria are
    replaced by their labels. Factor values that survset marks ``"missing"`` keep that code,
    which the dictionary declares in ``missing_codes``.

    Returns
    -------
    pandas.DataFrame
        3,873 rows and 29 columns, not yet typed: pass it to
        :func:`synthlib.validation.validate_table` with the SMART dictionary.

    Raises
    ------
    ImportError
        If survset is not installed. survset is licensed GPLv3, so synthlib imports it only
        inside this function and does not depend on it otherwise.
    DataValidationError
        If the installed survset lacks columns that this function expects.
    """
    try:
        from SurvSet.data import SurvLoader
    except ImportError as exc:
        raise ImportError(
            "load_smart needs the survset package (GPLv3), which ships the SMART data offline: "
            "pip install survset"
        ) from exc

    with warnings.catch_warnings():
        # survset 0.2.11 unpickles its data with a reference to numpy.core, which NumPy 2
        # reports as deprecated; the data load correctly.
        warnings.filterwarnings("ignore", message="numpy.core", category=DeprecationWarning)
        source = SurvLoader().load_dataset(ds_name="smarto")["df"]
    absent = [name for name in SMART_COLUMNS if name not in source.columns]
    if absent:
        raise DataValidationError(
            [
                f"survset's smarto data lack the column(s) {', '.join(absent)}; "
                "install a survset version that provides them (written against survset 0.2.11)"
            ]
        )

    raw = source[list(SMART_COLUMNS)].rename(columns=SMART_COLUMNS)
    for name in raw.columns:
        if not isinstance(raw[name].dtype, pd.CategoricalDtype):
            continue
        codes = SMART_CODES.get(name, {})
        # Unknown codes stay as they are, so that validate_table reports them.
        raw[name] = raw[name].astype(str).map(lambda code, codes=codes: codes.get(code, code))
    logger.info("loaded SMART (hdnom smarto via survset): %d rows, %d columns", len(raw), raw.shape[1])
    return raw


def train_holdout_split(
    data: pd.DataFrame, holdout_fraction: float = 0.2, random_state=0, stratify: str | None = None
) -> tuple:
    """Split a table into a train part for the generator and a holdout part for evaluation.

    The split is :func:`sklearn.model_selection.train_test_split` with
    ``test_size=holdout_fraction``, so the holdout has ``ceil(holdout_fraction * len(data))``
    rows.

    Parameters
    ----------
    data : pandas.DataFrame
        The typed real table.
    holdout_fraction : float
        Share of rows in the holdout, strictly between 0 and 1.
    random_state : int or None
        Seed of the shuffle.
    stratify : str or None
        Column whose value shares the two parts keep (for example the outcome). It must have
        no missing values and at least two rows per value.

    Returns
    -------
    train, holdout : pandas.DataFrame
        The two parts with fresh indexes starting at 0 and the dtypes of ``data``.

    Raises
    ------
    ConfigError
        If ``holdout_fraction`` is not strictly between 0 and 1 or ``stratify`` is not a
        column of ``data``.
    DataValidationError
        If the table is too small for the split or the stratification column has missing
        values or values with fewer than two rows.
    """
    if isinstance(holdout_fraction, bool) or not isinstance(holdout_fraction, numbers.Real):
        raise ConfigError(f"holdout_fraction must be a number between 0 and 1; got {holdout_fraction!r}")
    if not 0 < holdout_fraction < 1:
        raise ConfigError(f"holdout_fraction must be strictly between 0 and 1, for example 0.2; got {holdout_fraction}")

    n_holdout = math.ceil(holdout_fraction * len(data))
    n_train = len(data) - n_holdout
    if n_holdout < 1 or n_train < 1:
        raise DataValidationError(
            [
                f"the table has {len(data)} row(s), too few for holdout_fraction={holdout_fraction}: "
                "train and holdout need at least one row each; use more rows or change holdout_fraction"
            ]
        )

    labels = None
    if stratify is not None:
        labels = _stratification_labels(data, stratify, n_train, n_holdout)
    train, holdout = train_test_split(data, test_size=holdout_fraction, random_state=random_state, stratify=labels)
    logger.info(
        "split %d rows into %d train and %d holdout rows (random_state=%s, stratify=%s)",
        len(data), len(train), len(holdout), random_state, stratify,
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _stratification_labels(data: pd.DataFrame, column: str, n_train: int, n_holdout: int) -> np.ndarray:
    if column not in data.columns:
        raise ConfigError(f"stratify column {column!r} is not in the table; columns: {', '.join(map(repr, data.columns))}")
    values = data[column]
    if values.isna().any():
        raise DataValidationError(
            [f"stratify column {column!r} has {int(values.isna().sum())} missing value(s); choose a complete column"]
        )
    counts = values.astype(str).value_counts()
    rare = counts[counts < 2]
    if len(rare):
        raise DataValidationError(
            [
                f"stratify column {column!r} has {len(rare)} value(s) with a single row; "
                "merge rare values or split without stratification"
            ]
        )
    if len(counts) > min(n_train, n_holdout):
        raise DataValidationError(
            [
                f"stratify column {column!r} has {len(counts)} distinct values, more than the "
                f"{min(n_train, n_holdout)} rows of the smaller part; change holdout_fraction or split without stratification"
            ]
        )
    return values.astype(str).to_numpy()


# --- Table 1 -----------------------------------------------------------------------------------

MISSING_CELL = "–"
# Groups with fewer rows than this are suppressed in Table 1 by default.
MIN_GROUP_SIZE = 10


def table_one(
    data: pd.DataFrame, dictionary: DataDictionary, by: str | None = None, min_group_size: int = MIN_GROUP_SIZE
) -> pd.DataFrame:
    """Summarise a typed table as a Table 1 of aggregates.

    Numeric and integer columns get mean (SD) and median [IQR]. Date columns get median
    [IQR], with interpolated dates truncated to the day. Categorical columns get n (%) per
    declared level, unused levels included, and binary columns get n (%) of the value 1.
    Percentages of levels use the non-missing rows of the group as denominator. Every
    column also gets missing n (%) over all rows of the group.
    Identifier columns and dictionary columns absent from ``data`` are skipped.

    The table contains aggregates only, never a value of a single row as such. A group of one
    row would still reveal that row through its mean. So every cell of a group (``overall``
    included) with fewer than ``min_group_size`` rows, its ``n`` too, reads
    ``suppressed (n < 10)``, with the value of ``min_group_size`` in place of 10. The
    suppressed strata, together with the rows whose ``by`` value is missing, could be
    recovered as ``overall`` minus the shown strata. While these rows are fewer than
    ``min_group_size`` but more than 0, the smallest shown stratum is therefore suppressed
    as well, and its cells read ``suppressed (protects a group with n < 10)``.

    NOTE: counts of single levels within a shown group are not suppressed: a level held by
    one patient of a group of 50 shows as ``1 (2.0%)``.

    Parameters
    ----------
    data : pandas.DataFrame
        Typed table (see :func:`synthlib.validation.validate_table`).
    dictionary : DataDictionary
        Its data dictionary.
    by : str or None
        Categorical or binary column to stratify by. The table then has one column per
        observed value, labelled ``by=value``, after the ``overall`` column. Rows with a
        missing ``by`` value count only in ``overall``.
    min_group_size : int
        Smallest number of rows a group needs for its cells to be shown, 10 by default;
        0 or 1 shows every group.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``level``, ``statistic``, ``overall`` and one column per group;
        every cell is a formatted string.

    Raises
    ------
    ConfigError
        If ``by`` is not a categorical or binary column of ``data``, or ``min_group_size``
        is not a whole number >= 0.
    """
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, numbers.Integral) or min_group_size < 0:
        raise ConfigError(f"min_group_size must be a whole number >= 0, for example 10; got {min_group_size!r}")
    groups = {"overall": data}
    if by is not None:
        groups.update(_groups(data, dictionary, by))

    rows = [_row("n", "", "n", {label: str(len(part)) for label, part in groups.items()})]
    for spec in dictionary.columns:
        if spec.role == "identifier" or spec.name == by or spec.name not in data.columns:
            continue
        rows.extend(_summary_rows(spec, groups))
    table = pd.DataFrame(rows)
    for label, note in _suppressed_groups(groups, min_group_size).items():
        table[label] = note
    return table


def _suppressed_groups(groups: dict, min_group_size: int) -> dict:
    """Return the label -> cell text of each group whose cells must be hidden."""
    sizes = {label: len(part) for label, part in groups.items()}
    notes = {label: f"suppressed (n < {min_group_size})" for label, n in sizes.items() if n < min_group_size}
    strata = [label for label in sizes if label != "overall"]
    shown = sorted((label for label in strata if label not in notes), key=sizes.get)
    # Complementary suppression: overall minus the shown strata gives the rows of the hidden
    # strata and those with a missing stratum value together, so they must be many enough.
    hidden_rows = sizes["overall"] - sum(sizes[label] for label in shown) if strata else 0
    while shown and 0 < hidden_rows < min_group_size:
        label = shown.pop(0)
        notes[label] = f"suppressed (protects a group with n < {min_group_size})"
        hidden_rows += sizes[label]
    if notes:
        logger.warning(
            "Table 1: the cells of %s are suppressed because groups with fewer than %d rows could reveal patients",
            ", ".join(map(repr, notes)), min_group_size,
        )
    return notes


def _groups(data: pd.DataFrame, dictionary: DataDictionary, by: str) -> dict:
    spec = dictionary.column(by)
    if not spec.is_categorical:
        raise ConfigError(f"table_one can stratify only by a categorical or binary column; {by!r} is {spec.type}")
    if by not in data.columns:
        raise ConfigError(f"stratification column {by!r} is not in the table; columns: {', '.join(map(repr, data.columns))}")
    values = data[by]
    levels = spec.levels if spec.type == "categorical" else (0, 1)
    groups = {}
    for level in levels:
        mask = values.eq(level).fillna(False).to_numpy(dtype=bool)
        if mask.any():
            groups[f"{by}={_level_label(spec, level)}"] = data[mask]
    return groups


def _level_label(spec: ColumnSpec, level) -> str:
    if spec.type == "binary" and spec.labels:
        return spec.labels[int(level)]
    return str(level)


def _row(variable, level, statistic, cells: dict) -> dict:
    return {"variable": variable, "level": level, "statistic": statistic, **cells}


def _summary_rows(spec: ColumnSpec, groups: dict) -> list:
    rows = []
    if spec.is_numeric:
        # One decimal more than the data, the usual precision of a mean.
        decimals = spec.decimals
        if decimals is None:
            decimals = 0 if spec.type == "integer" else 2
        decimals += 1
        numbers = {label: _as_float(part[spec.name]) for label, part in groups.items()}
        rows.append(_row(spec.name, "", "mean (SD)", {k: _mean_sd(v, decimals) for k, v in numbers.items()}))
        rows.append(_row(spec.name, "", "median [IQR]", {k: _median_iqr(v, decimals) for k, v in numbers.items()}))
    elif spec.type == "date":
        cells = {label: _date_median_iqr(part[spec.name]) for label, part in groups.items()}
        rows.append(_row(spec.name, "", "median [IQR]", cells))
    elif spec.type == "categorical":
        for level in spec.levels:
            cells = {label: _count_cell(part[spec.name], level) for label, part in groups.items()}
            rows.append(_row(spec.name, level, "n (%)", cells))
    else:
        cells = {label: _count_cell(part[spec.name], 1) for label, part in groups.items()}
        rows.append(_row(spec.name, _level_label(spec, 1), "n (%)", cells))

    missing = {label: _percent_cell(int(part[spec.name].isna().sum()), len(part)) for label, part in groups.items()}
    rows.append(_row(spec.name, "", "missing, n (%)", missing))
    return rows


def _as_float(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return values[~np.isnan(values)]


def _number(value: float, decimals: int) -> str:
    return MISSING_CELL if not np.isfinite(value) else f"{value:.{decimals}f}"


def _mean_sd(values: np.ndarray, decimals: int) -> str:
    if len(values) == 0:
        return MISSING_CELL
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return f"{_number(float(np.mean(values)), decimals)} ({_number(sd, decimals)})"


def _median_iqr(values: np.ndarray, decimals: int) -> str:
    if len(values) == 0:
        return MISSING_CELL
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return f"{_number(median, decimals)} [{_number(q1, decimals)}, {_number(q3, decimals)}]"


def _date_median_iqr(column: pd.Series) -> str:
    dates = pd.to_datetime(column, errors="coerce").dropna()
    if dates.empty:
        return MISSING_CELL
    q1, median, q3 = (dates.quantile(q).strftime("%Y-%m-%d") for q in (0.25, 0.5, 0.75))
    return f"{median} [{q1}, {q3}]"


def _percent_cell(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else f"{count} ({MISSING_CELL})"


def _count_cell(column: pd.Series, level) -> str:
    present = column.dropna()
    if isinstance(level, str):
        count = int((present.astype(str) == level).sum())
    else:
        count = int((pd.to_numeric(present, errors="coerce") == level).sum())
    return _percent_cell(count, len(present))
