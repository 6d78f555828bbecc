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
            "stopped_by_budget", "stopped_by_patience", "stopped_by_memorisation_check", "resumed_from_epoch",
            "precision", "world_size"]
    return value_table({k: results.get(k) for k in keys})


def syntheses_table(results, seeds) -> pd.DataFrame:
    """Return one row per synthesis: its seed, rows, valid-row rate and sampling time."""
    return pd.DataFrame(
        {
            "seed": list(seeds),
            "rows returned": [len(result.synthetic) for result in results],
            "rows generated": [result.n_generated for result in results],
            "valid-row rate": [round(result.valid_rate, 4) for result in results],
            "sampling seconds": [round(result.seconds, 1) for result in results],
            "batches": [len(result.seeds) for result in results],
        },
        index=pd.RangeIndex(1, len(results) + 1, name="synthesis"),
    )


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
    def bound(value):
        # Reiter's intervals with few degrees of freedom can be astronomically wide.
        return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.2e}"

    return [f"[{bound(a)}, {bound(b)}]" if pd.notna(a) and pd.notna(b) else "" for a, b in zip(low, high)]


def fit_table(report: ReplicationReport) -> pd.DataFrame:
    """Return the size and convergence of the real and synthetic fits."""
    fits = {"real": report.real_fit, "synthetic": report.synthetic_fit}
    return pd.DataFrame(
        {label: [fit.n, fit.n_dropped, fit.converged] for label, fit in fits.items()},
        index=["rows used", "rows dropped (missing values)", "converged"],
    )


def replication_table(report: ReplicationReport) -> pd.DataFrame:
    """Return the replication summary of the default analysis (intercept excluded) as a one-column table."""
    return value_table({k: v for k, v in report.summary.items() if not isinstance(v, (dict, list))})


def analysis_table(analysis) -> pd.DataFrame:
    """Return the summary of one analysis per dataset: fits, mean agreement figures and the verdict."""
    from synthlib.replication_verdict import analysis_figures

    columns = {"real": {"fits": 1, "rows per fit": analysis.real_fit.n}}
    for dataset in analysis.verdicts["dataset"]:
        figures = analysis_figures(analysis, dataset)
        if dataset == "synthetic":
            n_fits, n_rows = len(analysis.synthetic_fits), analysis.combined_fit.n
        else:
            n_fits, n_rows = 1, analysis.anonymized_fits[dataset.removeprefix("anonymized: ")].n
        figures = {k: v for k, v in figures.items() if k != "key_predictors"}
        columns[dataset] = {"fits": n_fits, "rows per fit": n_rows, **figures}
    rows = list(columns[analysis.verdicts["dataset"].iloc[0]])
    table = pd.DataFrame({label: pd.Series(figures, dtype=object) for label, figures in columns.items()}).loc[rows]
    return table.map(lambda v: "" if v is None or v != v else (round(v, 3) if isinstance(v, float) else v))


def agreement_table(analysis, dataset: str = "synthetic") -> pd.DataFrame:
    """Return the per-coefficient agreement of one dataset with the real fit, and each verdict."""
    block = analysis.agreement[analysis.agreement["dataset"] == dataset]
    table = pd.DataFrame({
        "real estimate": block["estimate_real"].to_numpy(),
        "mean estimate": block["estimate_mean"].to_numpy(),
        "fits": block["n_fits"].to_numpy(),
        "mean CI overlap": block["mean_ci_overlap"].to_numpy(),
        "sign agrees": block["sign_agreement"].to_numpy(),
        "significance agrees": block["significance_agreement"].to_numpy(),
        "conclusion agrees": block["conclusion_agreement"].to_numpy(),
        "attenuation": block["attenuation_ratio"].to_numpy(),
        "standardized difference": block["std_difference"].to_numpy(),
        "verdict": block["verdict"].fillna("").to_numpy(),
    }, index=pd.Index(block["term"], name="term"))
    return table.round(3)


def key_predictor_table(analysis) -> pd.DataFrame:
    """Return, per key predictor (strongest real effect first), the figures that summary.json carries."""
    from synthlib.replication_verdict import analysis_figures

    figures = analysis_figures(analysis)["key_predictors"]
    table = pd.DataFrame.from_dict(figures, orient="index")
    table.index.name = "term"
    return table.rename(columns={
        "mean_ci_overlap": "mean CI overlap", "sign_agreement": "sign agreement", "attenuation_ratio": "attenuation",
    }).round(3)


def combined_table(analysis) -> pd.DataFrame:
    """Return the combined inference over the syntheses: Reiter's rules and the simple-synthesis variance."""
    combined = analysis.combined_fit.coefficients
    table = pd.DataFrame({
        "q_bar": combined["estimate"].to_numpy(),
        "b_m": combined["between_variance"].to_numpy(),
        "u_bar": combined["within_variance"].to_numpy(),
        "T_f": combined["reiter_variance"].to_numpy(),
        "T_f adjusted": combined["variance_adjusted"].to_numpy(),
        "nu_f": combined["df"].to_numpy(),
        "95% CI (Reiter)": _intervals(combined["ci_low"], combined["ci_high"]),
        "T_s (simple)": combined["simple_variance"].to_numpy(),
        "95% CI (simple)": _intervals(analysis.simple_fit.coefficients["ci_low"],
                                      analysis.simple_fit.coefficients["ci_high"]),
    }, index=pd.Index(combined["term"], name="term"))
    return table.round(4)


def verdict_table(report: ReplicationReport) -> pd.DataFrame:
    """Return the verdict of every analysis on every dataset, and of the machine-learning replication."""
    rows = []
    for name, analysis in report.analyses.items():
        for row in analysis.verdicts.to_dict("records"):
            rows.append({"analysis": f"{name} ({analysis.real_fit.family})", **row})
    table = pd.DataFrame(rows).astype(object)
    if report.ml is not None:
        ml_row = {"analysis": f"machine learning ({report.ml.outcome})", "dataset": "synthetic",
                  "verdict": report.ml.verdict}
        table = pd.concat([table, pd.DataFrame([ml_row], dtype=object)], ignore_index=True).fillna("")
    return table.set_index(["analysis", "dataset"])


def ml_scores_table(ml) -> pd.DataFrame:
    """Return the holdout score of the real-trained and of each synthetic-trained model."""
    return ml.scores.set_index("trained_on").rename(columns={"score": ml.metric}).round(4)


def ml_ranking_table(ml) -> pd.DataFrame:
    """Return the predictors ranked by permutation importance in the real-trained model."""
    return ml.ranking.set_index("feature").rename(columns={
        "importance_real": "importance (real-trained)", "importance_synthetic": "importance (synthetic-trained, mean)",
        "rank_real": "rank (real)", "rank_synthetic": "rank (synthetic)",
    }).round(4)
