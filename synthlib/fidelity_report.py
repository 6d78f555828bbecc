"""The fidelity report: every fidelity and utility metric of a synthetic table, computed in one call.

:func:`compute_fidelity_report` runs the metrics of :mod:`synthlib.fidelity`,
:mod:`synthlib.marginals`, :mod:`synthlib.association`, :mod:`synthlib.propensity` and
:mod:`synthlib.utility` on one synthetic table, and :func:`fidelity_figures` turns the report
into the JSON figures that the study writes to ``results/fidelity.json``.
:func:`describe_metrics` lists the declaration (name, direction, range, extremes) of each metric.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import pandas as pd

logger = logging.getLogger(__name__)

UTILITY_OUTCOME_TYPES = ("binary", "numeric", "integer")


def metric_infos() -> tuple:
    """Return the :class:`~synthlib.metrics.MetricInfo` of every metric in the report."""
    from synthlib import association, fidelity, marginals, propensity, utility

    return (
        *fidelity.METRIC_INFOS, *marginals.METRIC_INFOS, *association.METRIC_INFOS,
        *propensity.METRIC_INFOS, *utility.METRIC_INFOS,
    )


def describe_metrics() -> pd.DataFrame:
    """Return one row per metric of the report: name, goal, range and the meaning of its extremes."""
    return pd.DataFrame([info.__dict__ for info in metric_infos()])


@dataclass(frozen=True)
class FidelityReport:
    """Fidelity and utility of a synthetic table against the real table it was learned from.

    Attributes
    ----------
    shapes : pandas.DataFrame
        :func:`synthlib.fidelity.column_shapes`.
    quality : synthlib.metrics.MetricResult
        :func:`synthlib.fidelity.quality_score`.
    correlations : synthlib.metrics.CorrelationMatrices
        Pearson matrices of :func:`synthlib.fidelity.correlation_difference`.
    detection : synthlib.metrics.MetricResult
        :func:`synthlib.utility.detection_auc`.
    utility : pandas.DataFrame
        :func:`synthlib.utility.tstr_utility` rows of every outcome, with an ``outcome`` column;
        empty without a holdout table or an outcome.
    outcome : str or None
        The first outcome, kept for callers that use one.
    marginals : pandas.DataFrame
        :func:`synthlib.marginals.marginal_differences`.
    tests : pandas.DataFrame
        :func:`synthlib.marginals.marginal_tests`.
    correlation_similarities : pandas.DataFrame
        :func:`synthlib.association.correlation_similarities` (Pearson and Spearman).
    cramers_v : synthlib.metrics.CorrelationMatrices
        :func:`synthlib.association.cramers_v_matrices`.
    propensity : dict
        :func:`synthlib.propensity.propensity_mse` result per method (``"logit"``, ``"cart"``).
    importances, importance_agreement : pandas.DataFrame
        :class:`synthlib.utility.UtilityComparison` tables of every outcome, with an ``outcome`` column.
    outcomes : tuple of str
        Outcomes of the utility models.
    seconds : dict
        Wall time of each step, in seconds.
    """

    shapes: pd.DataFrame
    quality: object
    correlations: object
    detection: object
    utility: pd.DataFrame
    outcome: str | None
    marginals: pd.DataFrame = field(default_factory=pd.DataFrame)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlation_similarities: pd.DataFrame = field(default_factory=pd.DataFrame)
    cramers_v: object = None
    propensity: dict = field(default_factory=dict)
    importances: pd.DataFrame = field(default_factory=pd.DataFrame)
    importance_agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    outcomes: tuple = ()
    seconds: dict = field(default_factory=dict)


def utility_outcomes(dictionary) -> list:
    """Return the outcome columns that utility models can predict (binary, numeric or integer)."""
    return [
        name for name in dictionary.by_role("outcome")
        if name in dictionary.modelled_columns and dictionary.column(name).type in UTILITY_OUTCOME_TYPES
    ]


class _Timer:
    """Run steps, log each one's wall time and collect the times by step name."""

    def __init__(self):
        self.seconds = {}

    def run(self, step: str, function, *args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        self.seconds[step] = time.perf_counter() - started
        logger.info("Fidelity step %s took %.1f s", step, self.seconds[step])
        return result


def _utility_tables(timer, train, synthetic, holdout, dictionary, outcomes, random_state) -> tuple:
    """Return the utility scores, importances and rank agreement of every outcome, each with an ``outcome`` column."""
    from synthlib.utility import compare_utility

    tables = {"scores": [], "importances": [], "agreement": []}
    for outcome in outcomes:
        comparison = timer.run(
            f"utility_{outcome}", compare_utility, train, synthetic, holdout, outcome, dictionary,
            random_state=random_state,
        )
        for key, table in zip(tables, comparison):
            tables[key].append(table.assign(outcome=outcome)[["outcome", *table.columns]])
    return tuple(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame() for parts in tables.values())


def compute_fidelity_report(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    dictionary,
    outcomes=None,
    random_state=0,
    alpha: float = 0.05,
    n_permutations: int = 50,
    n_jobs: int | None = 1,
) -> FidelityReport:
    """Compute every fidelity and utility metric of a synthetic table.

    Parameters
    ----------
    train : pandas.DataFrame
        The real rows the generator learned from; the distribution metrics compare against it.
    synthetic : pandas.DataFrame
        The synthetic table.
    holdout : pandas.DataFrame or None
        Real rows the generator never saw; utility models are tested on them. None skips utility.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types and roles.
    outcomes : sequence of str, optional
        Outcomes of the utility models; default every column with role ``outcome`` and a
        binary, numeric or integer type (:func:`utility_outcomes`).
    random_state : int
        Seed of every random step.
    alpha : float
        False discovery rate of :func:`synthlib.marginals.marginal_tests`.
    n_permutations : int
        Permutations of the CART pMSE null.
    n_jobs : int or None
        Threads that fit the permuted trees of the CART pMSE; see
        :func:`synthlib.propensity.propensity_mse`.

    Returns
    -------
    FidelityReport
        Metrics that are undefined on the input are NaN, each with an
        IncomputableMetricWarning naming the column or pair and the reason.
    """
    from synthlib import association, fidelity, marginals, propensity
    from synthlib.utility import detection_auc

    outcomes = utility_outcomes(dictionary) if outcomes is None else list(outcomes)
    timer = _Timer()
    shapes = timer.run("column_shapes", fidelity.column_shapes, train, synthetic, dictionary)
    quality = timer.run("quality_score", fidelity.quality_score, train, synthetic, dictionary)
    correlations = timer.run("correlation_difference", fidelity.correlation_difference, train, synthetic, dictionary)
    marginal_table = timer.run("marginal_differences", marginals.marginal_differences, train, synthetic, dictionary)
    tests = timer.run("marginal_tests", marginals.marginal_tests, train, synthetic, dictionary, alpha=alpha)
    similarities = timer.run(
        "correlation_similarities", association.correlation_similarities, train, synthetic, dictionary
    )
    cramers_v = timer.run("cramers_v", association.cramers_v_matrices, train, synthetic, dictionary)
    propensity_results = {
        method: timer.run(
            f"pmse_{method}", propensity.propensity_mse, train, synthetic, dictionary, method=method,
            n_permutations=n_permutations, random_state=random_state, n_jobs=n_jobs,
        )
        for method in ("logit", "cart")
    }
    detection = timer.run("detection", detection_auc, train, synthetic, dictionary, random_state=random_state)
    if holdout is None:
        outcomes = []
    scores, importances, agreement = _utility_tables(
        timer, train, synthetic, holdout, dictionary, outcomes, random_state
    )
    return FidelityReport(
        shapes=shapes,
        quality=quality,
        correlations=correlations,
        detection=detection,
        utility=scores,
        outcome=outcomes[0] if outcomes else None,
        marginals=marginal_table,
        tests=tests,
        correlation_similarities=similarities,
        cramers_v=cramers_v,
        propensity=propensity_results,
        importances=importances,
        importance_agreement=agreement,
        outcomes=tuple(outcomes),
        seconds=dict(timer.seconds),
    )


def _mean_or_none(values: pd.Series):
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _max_abs_or_none(matrix) -> float | None:
    if matrix is None or matrix.difference.empty:
        return None
    value = float(matrix.difference.abs().max().max())
    return None if math.isnan(value) else value


def _propensity_figures(propensity: dict) -> dict:
    figures = {}
    for method, result in propensity.items():
        figures[f"pmse_{method}"] = result.value
        figures[f"s_pmse_{method}"] = result.breakdown.get("s_pmse")
    return figures


def _similarity_means(similarities: pd.DataFrame) -> dict:
    if similarities.empty:
        return {"correlation_similarity_pearson": None, "correlation_similarity_spearman": None}
    return {
        f"correlation_similarity_{method}": _mean_or_none(similarities.loc[similarities["method"] == method, "score"])
        for method in ("pearson", "spearman")
    }


def fidelity_figures(report: FidelityReport) -> dict:
    """Return the headline fidelity figures of a report as a JSON-ready dict."""
    quality = report.quality.breakdown
    tests = report.tests
    significant = list(tests.loc[tests["significant"].astype(bool), "column"]) if not tests.empty else []
    marginal_table = report.marginals.set_index("column") if not report.marginals.empty else pd.DataFrame()
    return {
        "quality_score": report.quality.value,
        "column_shapes": quality.get("column_shapes") if isinstance(quality, dict) else None,
        "column_pair_trends": quality.get("column_pair_trends") if isinstance(quality, dict) else None,
        "detection_auc": report.detection.breakdown.get("mean_auc")
        if isinstance(report.detection.breakdown, dict) else None,
        "detection_score": report.detection.value,
        "column_scores": dict(zip(report.shapes["column"], report.shapes["score"])),
        "max_abs_correlation_difference": _max_abs_or_none(report.correlations),
        "max_abs_cramers_v_difference": _max_abs_or_none(report.cramers_v),
        **_similarity_means(report.correlation_similarities),
        "wasserstein_distance": marginal_table["wasserstein_distance"].dropna().to_dict()
        if not marginal_table.empty else {},
        "max_missing_rate_difference": float(marginal_table["missing_rate_difference"].max())
        if not marginal_table.empty else None,
        "significant_variables": significant,
        "n_significant_variables": len(significant),
        **_propensity_figures(report.propensity),
        "outcome": report.outcome,
        "outcomes": list(report.outcomes),
        "utility": report.utility.to_dict("records"),
        "importance_rank_agreement": report.importance_agreement.to_dict("records"),
        "mean_importance_rank_agreement": _mean_or_none(report.importance_agreement["rank_agreement"])
        if not report.importance_agreement.empty else None,
        "seconds": report.seconds,
    }


# ---------------------------------------------------------------- tables for the fidelity chapter


def column_summary(report: FidelityReport) -> pd.DataFrame:
    """Return one row per column: shape score, Wasserstein distance, missing rates and adjusted p-value."""
    shapes = report.shapes.set_index("column")
    marginal_table = report.marginals.set_index("column")
    tests = report.tests.set_index("column")
    return pd.DataFrame({
        "type": shapes["type"],
        "shape metric": shapes["metric"],
        "shape score": shapes["score"],
        "Wasserstein (real SDs)": marginal_table["wasserstein_distance"],
        "missing, real": marginal_table["real_missing_rate"],
        "missing, synthetic": marginal_table["synthetic_missing_rate"],
        "test": tests["test"],
        "adjusted p-value": tests["adjusted_p_value"],
        "differs": tests["significant"],
    })


def weakest_pairs(report: FidelityReport, n_pairs: int = 10) -> pd.DataFrame:
    """Return the continuous pairs with the lowest Pearson or Spearman correlation similarity."""
    similarities = report.correlation_similarities
    if similarities.empty:
        return pd.DataFrame()
    table = similarities.pivot_table(
        index=["column_1", "column_2"], columns="method", values=["real_correlation", "synthetic_correlation", "score"]
    )
    order = [
        (value, method) for method in ("pearson", "spearman") if method in table.columns.get_level_values(1)
        for value in ("real_correlation", "synthetic_correlation", "score")
    ]
    table = table[order]
    table.columns = [f"{method} {value.replace('_', ' ')}" for value, method in table.columns]
    table["lowest score"] = table[[name for name in table.columns if name.endswith(" score")]].min(axis=1)
    return table.sort_values("lowest score").head(n_pairs)


def propensity_summary(report: FidelityReport) -> pd.DataFrame:
    """Return pMSE, S_pMSE and their inputs for each propensity model, with the detection score."""
    rows = {}
    for method, result in report.propensity.items():
        breakdown = result.breakdown
        rows[f"pMSE ({method})"] = {
            "pMSE": result.value,
            "S_pMSE": breakdown["s_pmse"],
            "null pMSE": breakdown["expected_pmse"],
            "coefficients": breakdown["n_parameters"],
            "SPECKS": breakdown["specks"],
            "why NaN": breakdown["reason"],
        }
    detection = report.detection
    rows["detection (logistic)"] = {
        "mean AUC": detection.breakdown.get("mean_auc"),
        "detection score": detection.value,
    }
    return pd.DataFrame(rows).T


def utility_summary(report: FidelityReport) -> pd.DataFrame:
    """Return, per outcome and model, the TRTR and TSTR scores, their ratio and the importance rank agreement."""
    if report.utility.empty:
        return pd.DataFrame()
    scores = report.utility.pivot_table(index=["outcome", "model", "metric"], columns="trained_on", values="score")
    scores = scores.reindex(columns=["real", "synthetic"])
    table = pd.DataFrame({
        "train on real (TRTR)": scores["real"],
        "train on synthetic (TSTR)": scores["synthetic"],
        "TSTR / TRTR": scores["synthetic"] / scores["real"],
    })
    agreement = report.importance_agreement.set_index(["outcome", "model"])["rank_agreement"]
    table["importance rank agreement"] = [agreement.get((outcome, model)) for outcome, model, _ in table.index]
    return table
