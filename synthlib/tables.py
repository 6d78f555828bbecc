"""Tables that the notebooks display: run figures as small DataFrames, rounded for reading.

Every table contains aggregates or synthetic values only, so none shows a row of the real data.
"""

from __future__ import annotations

import pandas as pd

from synthlib.artifacts import RunPaths, read_json
from synthlib.dictionary import DataDictionary
from synthlib.study import FidelityReport, PrivacyReport, ReplicationReport, fidelity_figures


def value_table(figures: dict, decimals: int = 4) -> pd.DataFrame:
    """Return named figures as a one-column table, floats rounded and integers kept as integers."""
    values = [round(v, decimals) if isinstance(v, float) else v for v in figures.values()]
    return pd.DataFrame({"value": values}, index=list(figures), dtype=object)


def describe_dictionary(dictionary: DataDictionary) -> pd.DataFrame:
    """Return the dictionary as a table: name, type, unit, range or levels, missing codes, role."""
    rows = []
    for spec in dictionary.columns:
        if spec.levels is not None:
            allowed = ", ".join(spec.levels)
        elif spec.type == "binary":
            allowed = ", ".join(f"{k}: {v}" for k, v in (spec.labels or {0: "no", 1: "yes"}).items())
        elif spec.range is not None:
            low, high = (str(b.date()) if hasattr(b, "date") else b for b in spec.range)
            allowed = f"[{'' if low is None else low}, {'' if high is None else high}]"
        else:
            allowed = ""
        rows.append({
            "column": spec.name,
            "type": spec.type,
            "unit": spec.unit or "",
            "range or levels": allowed,
            "missing codes": ", ".join(spec.missing_codes),
            "role": spec.role,
        })
    return pd.DataFrame(rows).set_index("column")


def split_counts(run_dir) -> pd.DataFrame:
    """Return the row counts of the real table and its train and holdout splits."""
    results = read_json(RunPaths(run_dir).step_results("preprocessing"))
    return pd.DataFrame(
        {"rows": [results["n_rows"], results["n_train"], results["n_holdout"]]},
        index=["real table", "train", "holdout"],
    )


def example_texts(train: pd.DataFrame, dictionary: DataDictionary, n_orders: int = 2, random_state=0) -> list:
    """Encode one made-up row (column medians and most common levels) in ``n_orders`` column orders.

    The row is an aggregate of the training data, not a patient, so it can be shown in the book.
    """
    import numpy as np

    from synthlib.encoding import encode_row

    row = {}
    for name in dictionary.modelled_columns:
        values = train[name].dropna()
        spec = dictionary.column(name)
        if values.empty:
            row[name] = None
        elif spec.type in ("numeric", "integer"):
            median = float(values.astype("float64").median())
            row[name] = round(median) if spec.type == "integer" else median
        elif spec.type == "date":
            row[name] = values.sort_values().iloc[len(values) // 2]
        else:
            row[name] = values.mode().iloc[0]
    rng = np.random.default_rng(random_state)
    columns = dictionary.modelled_columns
    return [encode_row(row, list(rng.permutation(columns)), dictionary) for _ in range(n_orders)]


def training_table(run_dir) -> pd.DataFrame:
    """Return the headline figures of the fine-tuning step as a one-column table."""
    results = read_json(RunPaths(run_dir).step_results("training"))
    keys = ["model_kind", "n_parameters", "n_trainable_parameters", "n_train_rows", "n_validation_rows", "epochs",
            "steps", "train_seconds", "final_loss", "best_epoch", "best_validation_loss", "max_row_tokens",
            "stopped_by_budget", "stopped_by_patience", "stopped_by_memorisation_check", "resumed_from_epoch"]
    return value_table({k: results.get(k) for k in keys})


def sampling_table(result) -> pd.DataFrame:
    """Return the headline figures of a :class:`synthlib.sampling.SamplingResult`."""
    figures = {
        "rows requested": result.n_requested,
        "rows returned": len(result.synthetic),
        "rows generated": result.n_generated,
        "valid rows generated": result.n_valid,
        "valid-row rate": round(result.valid_rate, 4),
        "sampling seconds": round(result.seconds, 1),
        "valid rows per second": round(result.rows_per_second, 1),
        "batches": len(result.seeds),
    }
    return value_table(figures)


def fidelity_table(report: FidelityReport) -> pd.DataFrame:
    """Return the headline fidelity figures as a one-column table."""
    figures = fidelity_figures(report)
    keys = ["quality_score", "column_shapes", "column_pair_trends", "detection_auc", "detection_score",
            "max_abs_correlation_difference", "max_abs_cramers_v_difference", "correlation_similarity_pearson",
            "correlation_similarity_spearman", "n_significant_variables", "pmse_cart", "s_pmse_cart", "pmse_logit",
            "s_pmse_logit", "mean_importance_rank_agreement"]
    return value_table({k: figures[k] for k in keys})


def privacy_table(report: PrivacyReport) -> pd.DataFrame:
    """Return the privacy summary as a one-column table."""
    return value_table(report.summary)


def comparison_table(report: ReplicationReport) -> pd.DataFrame:
    """Return the per-coefficient comparison with rounded numbers and the columns a reader needs."""
    comparison = report.comparison
    table = pd.DataFrame({
        "real estimate": comparison["estimate_real"],
        "real 95% CI": _intervals(comparison["ci_low_real"], comparison["ci_high_real"]),
        "synthetic estimate": comparison["estimate_synthetic"],
        "synthetic 95% CI": _intervals(comparison["ci_low_synthetic"], comparison["ci_high_synthetic"]),
        "CI overlap": comparison["ci_overlap"],
        "standardized difference": comparison["std_difference"],
        "sign agrees": comparison["sign_agreement"],
        "significance agrees": comparison["significance_agreement"],
        "attenuation": comparison["attenuation_ratio"],
    })
    if "truth" in comparison:
        table["truth"] = comparison["truth"]
        table["real CI covers truth"] = comparison["real_ci_covers_truth"]
        table["synthetic CI covers truth"] = comparison["synthetic_ci_covers_truth"]
    table.index = comparison["term"]
    return table.round(3)


def _intervals(low: pd.Series, high: pd.Series) -> list:
    return [f"[{a:.3f}, {b:.3f}]" if pd.notna(a) and pd.notna(b) else "" for a, b in zip(low, high)]


def fit_table(report: ReplicationReport) -> pd.DataFrame:
    """Return the size and convergence of the real and synthetic fits."""
    fits = {"real": report.real_fit, "synthetic": report.synthetic_fit}
    return pd.DataFrame(
        {label: [fit.n, fit.n_dropped, fit.converged] for label, fit in fits.items()},
        index=["rows used", "rows dropped (missing values)", "converged"],
    )


def replication_table(report: ReplicationReport) -> pd.DataFrame:
    """Return the replication summary (intercept excluded) as a one-column table."""
    return value_table(report.summary)
