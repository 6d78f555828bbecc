"""One clinical analysis replicated on m syntheses and on anonymized tables, with a verdict.

:func:`replicate_analysis` fits the same model on the real table, on each synthesis and
on each anonymized table, compares every fit with the real one
(:func:`synthlib.replication.compare_fits`), combines the syntheses
(:mod:`synthlib.synthetic_inference`) and gives each coefficient and the whole analysis a
verdict: replicated, attenuated or not replicated, by the rule of :class:`VerdictRule`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .artifacts import json_number
from .exceptions import ConfigError, SynthlibError, SynthlibWarning
from .replication import FitResult, compare_fits, fit_model
from .synthetic_inference import combine_fits

logger = logging.getLogger(__name__)

VERDICTS = ("replicated", "attenuated", "not replicated")
SYNTHETIC = "synthetic"
ANONYMIZED_PREFIX = "anonymized: "


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the per-coefficient verdict.

    Over the fits of one dataset (the m syntheses, or one anonymized table), each
    coefficient except the intercept is

    * **replicated** when the mean CI overlap (clipped, Karr et al. 2006) of the fits
      with the real interval is at least ``min_overlap`` and, where the real effect is
      significant at ``alpha``, the mean estimate is within a factor ``max_ratio`` of it:
      the attenuation ratio ``mean(b_syn) / b_real`` lies in [1 / max_ratio, max_ratio];
    * **attenuated** when it is not replicated but the real effect is significant and
      the mean estimate points the same way and is smaller: the ratio lies in (0, 1);
    * **not replicated** otherwise. This covers an effect of the opposite sign and an
      estimate far from the real one that is not a weaker version of a real effect. It also
      covers a coefficient that fewer than half of the fits estimate (a category level the
      data lack).

    The analysis takes the worst verdict of its coefficients. For two intervals of equal
    width, an overlap of 0.5 means that the estimates differ by the half-width z * se,
    so the synthetic estimate lies on the edge of the real 95% interval. The ratio bound
    is needed because the overlap alone rewards uninformative data: a synthetic interval
    that contains the real one scores at least 0.5 however wide it is. Agreement in
    significance is reported but not used: a p-value near ``alpha`` falls on either side
    of it from one sample to the next, even for data drawn from the real table itself.

    Attributes
    ----------
    alpha : float
        Significance level of the real effects.
    min_overlap : float
        Lowest mean CI overlap of a replicated coefficient.
    max_ratio : float
        Largest factor between the mean synthetic and the real estimate of a replicated,
        significant real effect.
    """

    alpha: float = 0.05
    min_overlap: float = 0.5
    max_ratio: float = 2.0

    def __post_init__(self):
        for name in ("alpha", "min_overlap"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"VerdictRule.{name} must lie in (0, 1], got {value!r}")
        if not self.max_ratio > 1:
            raise ConfigError(f"VerdictRule.max_ratio must be above 1, got {self.max_ratio!r}")

    def describe(self) -> str:
        """Return the rule as Markdown, with this rule's thresholds."""
        return (
            f"A coefficient is **replicated** when the mean CI overlap of the fits with the real interval is "
            f"at least {self.min_overlap:g} and, where the real effect is significant (p < {self.alpha:g}), "
            f"the mean estimate is within a factor {self.max_ratio:g} of the real one (attenuation ratio "
            f"between {1 / self.max_ratio:.2g} and {self.max_ratio:g}); **attenuated** when it is not replicated but the real "
            "effect is significant and the mean estimate points the same way and is smaller (attenuation "
            "ratio between 0 and 1); **not replicated** otherwise, and always when fewer than half of the "
            "fits estimate the coefficient. An analysis takes the worst verdict of its coefficients (the "
            "intercept excluded)."
        )


@dataclass(frozen=True, eq=False)
class AnalysisReplication:
    """One analysis fitted on real data, on m syntheses and on anonymized tables.

    Attributes
    ----------
    name : str
        Name of the analysis, for example ``"default"`` or ``"cox"``.
    real_fit : FitResult
        Fit on the real table.
    synthetic_fits : tuple of FitResult
        Fits on the syntheses that could be fitted, in synthesis order.
    synthesis_numbers : tuple of int
        Synthesis number (from 1) of each fit in ``synthetic_fits``.
    combined_fit, simple_fit : FitResult
        The syntheses combined with Reiter's rules and with the simple-synthesis variance
        (:func:`synthlib.synthetic_inference.combine_fits`).
    anonymized_fits : dict of str to FitResult
        Fits on the anonymized tables, by table name.
    failures : dict of str to str
        Dataset label to the reason its fit failed.
    comparison : pandas.DataFrame
        :func:`compare_fits` of the real and the combined fit, with ``truth`` columns for a
        simulated cohort (see :func:`add_truth`).
    per_fit : pandas.DataFrame
        :func:`compare_fits` of the real fit with every other fit, one block per fit,
        labelled by ``dataset`` and ``fit``.
    agreement : pandas.DataFrame
        Per dataset and term: :func:`term_agreement` with the verdicts.
    verdicts : pandas.DataFrame
        Per dataset: the analysis verdict and the count of coefficients by verdict.
    truth : dict or None
        The simulator's true model, for a simulated cohort.
    rule : VerdictRule
    """

    name: str
    real_fit: FitResult
    synthetic_fits: tuple
    synthesis_numbers: tuple
    combined_fit: FitResult
    simple_fit: FitResult
    anonymized_fits: dict
    failures: dict
    comparison: pd.DataFrame
    per_fit: pd.DataFrame
    agreement: pd.DataFrame
    verdicts: pd.DataFrame
    truth: dict | None = None
    rule: VerdictRule = field(default_factory=VerdictRule)

    @property
    def verdict(self) -> str:
        """Verdict of the analysis on the syntheses."""
        return str(self.verdicts.set_index("dataset").loc[SYNTHETIC, "verdict"])


# --------------------------------------------------------------------------- agreement


def _conclusion(estimate: pd.Series, p_value: pd.Series, alpha: float) -> pd.Series:
    """Return +1 or -1 for a significant estimate, 0 otherwise, NaN when not estimated."""
    significant = p_value < alpha
    conclusion = np.where(significant, np.sign(estimate), 0.0)
    return pd.Series(np.where(estimate.isna(), np.nan, conclusion), index=estimate.index)


def term_agreement(real_fit: FitResult, fits, rule: VerdictRule = VerdictRule()) -> pd.DataFrame:
    """Summarise, per coefficient, how the fits of one dataset agree with the real fit.

    Parameters
    ----------
    real_fit : FitResult
        The fit on real data.
    fits : sequence of FitResult
        The fits of one dataset: the m syntheses, or one anonymized table.
    rule : VerdictRule
        Thresholds of the verdict.

    Returns
    -------
    pandas.DataFrame
        One row per term of the real fit with ``estimate_real``, ``estimate_mean`` (mean
        over the fits that estimate the term), ``n_fits`` (fits that estimate it) and
        ``n_all`` (all fits),
        ``mean_ci_overlap`` (mean clipped Karr overlap), ``sign_agreement``,
        ``significance_agreement`` and ``conclusion_agreement`` (shares of all fits; a fit
        without the term counts as disagreeing), ``attenuation_ratio``
        (``estimate_mean / estimate_real``), ``std_difference``
        (``(estimate_mean - estimate_real) / std_error_real``), ``real_significant``,
        ``significant_share`` (share of all fits with p < alpha) and ``verdict`` (None for
        the intercept).
    """
    fits = list(fits)
    if not fits:
        raise ConfigError("term_agreement needs at least one fit to compare with the real fit")
    with warnings.catch_warnings():
        # A term missing from a fit is reported by n_fits and counted as disagreeing.
        warnings.filterwarnings("ignore", message="the synthetic fit lacks", category=SynthlibWarning)
        comparisons = [compare_fits(real_fit, fit, alpha=rule.alpha) for fit in fits]
    real = comparisons[0][["term", "estimate_real", "std_error_real", "p_value_real"]].set_index("term")

    def stacked(column):
        return pd.concat([c.set_index("term")[column] for c in comparisons], axis=1)

    estimates = stacked("estimate_synthetic")
    conclusions = pd.concat(
        [
            _conclusion(c["estimate_synthetic"], c["p_value_synthetic"], rule.alpha).set_axis(c["term"])
            for c in comparisons
        ],
        axis=1,
    )
    real_conclusion = _conclusion(real["estimate_real"], real["p_value_real"], rule.alpha)
    n_all = len(fits)

    table = pd.DataFrame(index=real.index)
    table["estimate_real"] = real["estimate_real"]
    table["estimate_mean"] = estimates.mean(axis=1)
    table["n_fits"] = estimates.notna().sum(axis=1)
    table["n_all"] = n_all
    table["mean_ci_overlap"] = stacked("ci_overlap").mean(axis=1)
    table["sign_agreement"] = stacked("sign_agreement").astype(float).fillna(0).sum(axis=1) / n_all
    table["significance_agreement"] = (
        stacked("significance_agreement").astype(float).fillna(0).sum(axis=1) / n_all
    )
    table["conclusion_agreement"] = conclusions.eq(real_conclusion, axis=0).sum(axis=1) / n_all
    real_estimate = real["estimate_real"].where(real["estimate_real"] != 0)
    table["attenuation_ratio"] = table["estimate_mean"] / real_estimate
    table["std_difference"] = (table["estimate_mean"] - real["estimate_real"]) / real["std_error_real"]
    table["real_significant"] = real_conclusion != 0
    table["significant_share"] = (conclusions.abs() == 1).sum(axis=1) / n_all
    table["verdict"] = [
        None if term == "Intercept" else term_verdict(row, rule) for term, row in table.iterrows()
    ]
    return table.reset_index()


def term_verdict(row, rule: VerdictRule = VerdictRule()) -> str:
    """Apply :class:`VerdictRule` to one row of :func:`term_agreement`."""
    overlap, ratio = row["mean_ci_overlap"], row["attenuation_ratio"]
    if row["n_fits"] < row["n_all"] / 2 or pd.isna(overlap):
        return "not replicated"
    similar_size = pd.notna(ratio) and 1 / rule.max_ratio <= ratio <= rule.max_ratio
    if overlap >= rule.min_overlap and (similar_size or not row["real_significant"]):
        return "replicated"
    if row["real_significant"] and pd.notna(ratio) and 0 < ratio < 1:
        return "attenuated"
    return "not replicated"


def analysis_verdict(verdicts) -> str:
    """Return the worst of the coefficient verdicts (None entries, the intercept, are skipped)."""
    judged = [verdict for verdict in verdicts if verdict is not None]
    if not judged:
        raise SynthlibError("no coefficient besides the intercept to judge; add a predictor to the formula")
    unknown = set(judged) - set(VERDICTS)
    if unknown:
        raise ConfigError(f"unknown verdict(s) {sorted(unknown)}; verdicts are {VERDICTS}")
    return max(judged, key=VERDICTS.index)


def _verdict_counts(agreement: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for dataset, block in agreement.groupby("dataset", sort=False):
        judged = block["verdict"].dropna()
        counts = {f"n_{verdict.replace(' ', '_')}": int((judged == verdict).sum()) for verdict in VERDICTS}
        rows.append({"dataset": dataset, "verdict": analysis_verdict(judged), "n_terms": len(judged), **counts})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- truth


def add_truth(comparison: pd.DataFrame, truth: dict, sides=("real", "synthetic")) -> pd.DataFrame:
    """Add the true coefficient of each term and whether each side's interval covers it.

    Parameters
    ----------
    comparison : pandas.DataFrame
        A :func:`compare_fits` table.
    truth : dict
        A true model with a ``coefficients`` mapping of term to value.
    sides : sequence of str
        Suffixes of the intervals to check.

    Returns
    -------
    pandas.DataFrame
        A copy with ``truth`` and ``<side>_ci_covers_truth`` (missing where the term has no
        true value).
    """
    comparison = comparison.copy()
    comparison["truth"] = comparison["term"].map(truth["coefficients"])
    for side in sides:
        low, high = comparison[f"ci_low_{side}"], comparison[f"ci_high_{side}"]
        covers = (low <= comparison["truth"]) & (comparison["truth"] <= high)
        comparison[f"{side}_ci_covers_truth"] = covers.where(comparison["truth"].notna())
    return comparison


def truth_coverage(analysis: AnalysisReplication) -> pd.DataFrame:
    """Return, per fit, the share of non-intercept terms whose interval covers the true value.

    Rows: ``real``, each synthesis, ``combined (Reiter)``, ``combined (simple)`` and each
    anonymized table; empty when the analysis has no truth.
    """
    if analysis.truth is None:
        return pd.DataFrame(columns=["fit", "truth_coverage", "n_terms"])
    fits = {"real": analysis.real_fit}
    fits.update({f"synthesis {k}": fit for k, fit in zip(analysis.synthesis_numbers, analysis.synthetic_fits)})
    fits["combined (Reiter)"] = analysis.combined_fit
    fits["combined (simple)"] = analysis.simple_fit
    fits.update({ANONYMIZED_PREFIX + name: fit for name, fit in analysis.anonymized_fits.items()})
    truth = analysis.truth["coefficients"]
    rows = []
    for label, fit in fits.items():
        table = fit.coefficients
        table = table[(table["term"] != "Intercept") & table["term"].isin(list(truth))]
        values = table["term"].map(truth)
        covers = (table["ci_low"] <= values) & (values <= table["ci_high"])
        rows.append({"fit": label, "truth_coverage": float(covers.mean()) if len(table) else np.nan,
                     "n_terms": len(table)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- fitting


def _fit_each(tables: dict, formula, family, event, ci_level) -> tuple:
    """Fit every table; return the fits and the reasons of the failures, both by label."""
    fits, failures = {}, {}
    for label, table in tables.items():
        try:
            fits[label] = fit_model(table, formula, family, ci_level=ci_level, event=event)
        except SynthlibError as error:
            failures[label] = str(error)
            logger.debug("fitting %r on %s failed: %s", formula, label, error)
    if failures:
        warnings.warn(
            f"{formula!r} could not be fitted on {len(failures)} table(s): {', '.join(failures)}; "
            "see AnalysisReplication.failures for the reasons",
            SynthlibWarning,
            stacklevel=3,
        )
    return fits, failures


def replicate_analysis(
    real: pd.DataFrame,
    syntheses,
    formula: str,
    family: str,
    event: str | None = None,
    anonymized: dict | None = None,
    truth: dict | None = None,
    name: str = "default",
    rule: VerdictRule = VerdictRule(),
    ci_level: float = 0.95,
) -> AnalysisReplication:
    """Fit one model on the real table, on m syntheses and on anonymized tables, and judge it.

    Parameters
    ----------
    real : pandas.DataFrame
        The real table the generator was trained on.
    syntheses : sequence of pandas.DataFrame
        The m synthetic tables, in synthesis order (numbered from 1).
    formula, family, event
        The model, as in :func:`synthlib.replication.fit_model`.
    anonymized : dict of str to pandas.DataFrame, optional
        Anonymized versions of the real table, by name.
    truth : dict, optional
        The simulator's true model (``coefficients`` maps term to value).
    name : str
        Name of the analysis.
    rule : VerdictRule
        Thresholds of the verdicts.
    ci_level : float
        Confidence level of every interval.

    Returns
    -------
    AnalysisReplication

    Raises
    ------
    SynthlibError
        If the model cannot be fitted on the real table or on any synthesis. A synthesis
        or anonymized table that fails alone is left out with a SynthlibWarning and its
        reason is kept in ``failures``.
    """
    syntheses = list(syntheses)
    if not syntheses:
        raise ConfigError("replicate_analysis needs at least one synthetic table")
    real_fit = fit_model(real, formula, family, ci_level=ci_level, event=event)

    labels = {f"synthesis {k}": k for k in range(1, len(syntheses) + 1)}
    fits, failures = _fit_each(dict(zip(labels, syntheses)), formula, family, event, ci_level)
    if not fits:
        raise SynthlibError(
            f"{formula!r} could not be fitted on any of the {len(syntheses)} syntheses; first reason: "
            f"{next(iter(failures.values()))}"
        )
    anonymized_fits, anonymized_failures = _fit_each(
        {ANONYMIZED_PREFIX + key: table for key, table in (anonymized or {}).items()},
        formula, family, event, ci_level,
    )
    failures.update(anonymized_failures)
    anonymized_fits = {label.removeprefix(ANONYMIZED_PREFIX): fit for label, fit in anonymized_fits.items()}

    synthetic_fits = tuple(fits.values())
    combined = combine_fits(synthetic_fits, n_real=real_fit.n, variance="reiter")
    simple = combine_fits(synthetic_fits, n_real=real_fit.n, variance="simple")
    comparison = compare_fits(real_fit, combined, alpha=rule.alpha)
    if truth is not None:
        comparison = add_truth(comparison, truth)

    groups = {SYNTHETIC: synthetic_fits}
    groups.update({ANONYMIZED_PREFIX + key: (fit,) for key, fit in anonymized_fits.items()})
    agreement = pd.concat(
        [term_agreement(real_fit, group, rule).assign(dataset=label) for label, group in groups.items()],
        ignore_index=True,
    )
    per_fit = _per_fit_comparisons(real_fit, fits, anonymized_fits, rule.alpha)
    analysis = AnalysisReplication(
        name=name,
        real_fit=real_fit,
        synthetic_fits=synthetic_fits,
        synthesis_numbers=tuple(labels[label] for label in fits),
        combined_fit=combined,
        simple_fit=simple,
        anonymized_fits=anonymized_fits,
        failures=failures,
        comparison=comparison,
        per_fit=per_fit,
        agreement=agreement,
        verdicts=_verdict_counts(agreement),
        truth=truth,
        rule=rule,
    )
    logger.info("analysis %s (%r): %s on the syntheses", name, formula, analysis.verdict)
    return analysis


def _per_fit_comparisons(real_fit, synthetic_fits: dict, anonymized_fits: dict, alpha) -> pd.DataFrame:
    blocks = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the synthetic fit lacks", category=SynthlibWarning)
        for label, fit in synthetic_fits.items():
            blocks.append(compare_fits(real_fit, fit, alpha=alpha).assign(dataset=SYNTHETIC, fit=label))
        for key, fit in anonymized_fits.items():
            label = ANONYMIZED_PREFIX + key
            blocks.append(compare_fits(real_fit, fit, alpha=alpha).assign(dataset=label, fit=label))
    return pd.concat(blocks, ignore_index=True)


# --------------------------------------------------------------------------- summaries


def key_predictors(analysis: AnalysisReplication) -> list:
    """Return the non-intercept terms ordered by the real fit's |estimate / std_error|, strongest first."""
    table = analysis.real_fit.coefficients
    table = table[table["term"] != "Intercept"]
    strength = (table["estimate"] / table["std_error"]).abs()
    return list(table.assign(strength=strength).sort_values("strength", ascending=False)["term"])


def analysis_figures(analysis: AnalysisReplication, dataset: str = SYNTHETIC) -> dict:
    """Return the headline figures of one dataset's replication, ready for ``json.dump``.

    Returns
    -------
    dict
        ``verdict``; over the non-intercept terms, the means of ``mean_ci_overlap``,
        ``sign_agreement``, ``significance_agreement`` and ``conclusion_agreement`` and the
        mean absolute ``std_difference``; and ``key_predictors``: per term, strongest real
        effect first, its ``mean_ci_overlap``, ``sign_agreement``, ``attenuation_ratio``
        and ``verdict``. NaN is written as None.
    """
    block = analysis.agreement[analysis.agreement["dataset"] == dataset].set_index("term")
    judged = block.drop(index="Intercept", errors="ignore")
    figures = {
        "verdict": str(analysis.verdicts.set_index("dataset").loc[dataset, "verdict"]),
        "n_terms": int(len(judged)),
        "mean_ci_overlap": json_number(judged["mean_ci_overlap"].mean()),
        "sign_agreement": json_number(judged["sign_agreement"].mean()),
        "significance_agreement": json_number(judged["significance_agreement"].mean()),
        "conclusion_agreement": json_number(judged["conclusion_agreement"].mean()),
        "mean_abs_std_difference": json_number(judged["std_difference"].abs().mean()),
    }
    figures["key_predictors"] = {
        term: {
            "mean_ci_overlap": json_number(judged.loc[term, "mean_ci_overlap"]),
            "sign_agreement": json_number(judged.loc[term, "sign_agreement"]),
            "attenuation_ratio": json_number(judged.loc[term, "attenuation_ratio"]),
            "verdict": judged.loc[term, "verdict"],
        }
        for term in key_predictors(analysis)
        if term in judged.index
    }
    return figures


def describe_analysis(analysis: AnalysisReplication) -> str:
    """Return a plain-language verdict of one analysis on each dataset, as Markdown."""
    fit = analysis.real_fit
    family = {"logistic": "logistic", "linear": "linear", "cox": "Cox proportional hazards"}[fit.family]
    lines = []
    for row in analysis.verdicts.to_dict("records"):
        where = (f"the {len(analysis.synthetic_fits)} syntheses" if row["dataset"] == SYNTHETIC
                 else f"the {row['dataset']} table")
        counts = ", ".join(
            f"{row['n_' + verdict.replace(' ', '_')]} {verdict}" for verdict in VERDICTS
            if row["n_" + verdict.replace(" ", "_")]
        )
        lines.append(
            f"- On {where}, the {family} analysis `{analysis.name}` is **{row['verdict']}** "
            f"({counts} of {row['n_terms']} coefficients)."
        )
    for label, reason in analysis.failures.items():
        lines.append(f"- `{analysis.name}` could not be fitted on {label}: {reason}")
    return "\n".join(lines)
