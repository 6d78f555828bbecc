"""Machine-learning replication: do models trained on synthetic data rely on the same predictors?

A gradient boosting model is trained on the real training split and one on each
synthesis, all evaluated on the real holdout (train on synthetic, test on real). The
permutation importance of each predictor on the holdout (Breiman, 2001, as computed by
scikit-learn's ``permutation_importance``) ranks the predictors. The ranking of the models
trained on synthetic data is compared with that of the model trained on real data by the
weighted Kendall tau of Vigna (2015), which weighs agreement among the most important
predictors most. Predictors that barely matter rank in random order, so an unweighted rank correlation
such as Spearman's (also reported) drops even when the key predictors agree.

References
----------
Breiman, L. (2001). Random forests. Machine Learning, 45(1), 5-32.

Vigna, S. (2015). A weighted correlation index for rankings with ties. Proceedings of
the 24th International Conference on World Wide Web, 1166-1176.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from .exceptions import ConfigError, SynthlibError
from .metrics import _numeric_values
from .utility import _category_levels, _feature_pipeline, _model_frame, _utility_score

logger = logging.getLogger(__name__)

OUTCOME_TYPES = ("binary", "numeric", "integer")


@dataclass(frozen=True)
class MLRule:
    """Thresholds of the machine-learning verdict.

    The ranking agrees when the weighted Kendall tau between the mean importances of the
    synthetic-trained models and those of the real-trained model is at least
    ``min_rank_correlation``. The analysis is **replicated** when the ranking agrees and
    the mean holdout score of the synthetic-trained models is at most ``max_score_loss``
    below the real-trained score. It is **attenuated** when the ranking agrees but the
    score loss is larger, and **not replicated** when the ranking disagrees.

    Attributes
    ----------
    min_rank_correlation : float
        Lowest weighted Kendall tau of importances for an agreeing ranking.
    max_score_loss : float
        Largest drop of AUC (binary outcome) or R^2 (numeric outcome) for a replicated model.
    """

    min_rank_correlation: float = 0.6
    max_score_loss: float = 0.05

    def describe(self) -> str:
        """Return the rule as Markdown, with this rule's thresholds."""
        return (
            "The ranking agrees when the weighted Kendall tau between the real-trained model's "
            "permutation importances and the mean importances of the synthetic-trained models is at least "
            f"{self.min_rank_correlation:g}. The machine-learning analysis is **replicated** when the ranking "
            f"agrees and the synthetic-trained models score at most {self.max_score_loss:g} below the "
            "real-trained model on the real holdout, **attenuated** when the ranking agrees but they score "
            "lower than that, and **not replicated** when the ranking disagrees."
        )


@dataclass(frozen=True, eq=False)
class MLReplication:
    """Models trained on real and on synthetic data, scored and explained on the real holdout.

    Attributes
    ----------
    outcome : str
        Predicted column.
    metric : str
        ``"auc"`` (binary outcome) or ``"r2"``.
    scores : pandas.DataFrame
        ``trained_on`` (``real`` or ``synthesis k``), ``score`` and ``n_train``.
    importances : pandas.DataFrame
        One row per predictor and model: ``feature``, ``trained_on``, ``importance_mean``
        and ``importance_std`` (over the permutation repeats).
    ranking : pandas.DataFrame
        One row per predictor, most important in the real-trained model first:
        ``importance_real``, ``importance_synthetic`` (mean over syntheses),
        ``rank_real``, ``rank_synthetic`` (1 is most important).
    rank_correlation : float
        Weighted Kendall tau (Vigna, 2015) of ``importance_real`` and ``importance_synthetic``.
    rank_correlations : tuple of float
        The same for each synthesis alone.
    spearman : float
        Spearman correlation of ``importance_real`` and ``importance_synthetic``.
    top_k_overlap : float
        Share of the real top-k predictors that are also in the synthetic top k.
    score_loss : float
        Real-trained score minus the mean synthetic-trained score.
    verdict : str
    rule : MLRule
    """

    outcome: str
    metric: str
    scores: pd.DataFrame
    importances: pd.DataFrame
    ranking: pd.DataFrame
    rank_correlation: float
    rank_correlations: tuple
    spearman: float
    top_k_overlap: float
    score_loss: float
    verdict: str
    rule: MLRule

    def describe(self) -> str:
        """Return a plain-language verdict as Markdown."""
        real = self.scores.loc[self.scores["trained_on"] == "real", "score"].iloc[0]
        top = ", ".join(f"`{name}`" for name in self.ranking["feature"].head(3))
        return (
            f"- Predicting `{self.outcome}`, models trained on the syntheses reach a mean {self.metric} of "
            f"{real - self.score_loss:.3f} on the real holdout against {real:.3f} for the model trained on "
            f"real data. The importances agree with weighted Kendall tau {self.rank_correlation:.2f} "
            f"(Spearman {self.spearman:.2f}); the real model's key predictors are {top}. "
            f"The machine-learning analysis is **{self.verdict}**."
        )

    def figures(self) -> dict:
        """Return the headline figures as plain data for JSON."""
        return {
            "outcome": self.outcome,
            "metric": self.metric,
            "score_real": float(self.scores.loc[self.scores["trained_on"] == "real", "score"].iloc[0]),
            "score_synthetic_mean": float(self.scores.loc[self.scores["trained_on"] != "real", "score"].mean()),
            "score_loss": self.score_loss,
            "rank_correlation": self.rank_correlation,
            "rank_correlations": list(self.rank_correlations),
            "spearman": self.spearman,
            "top_k_overlap": self.top_k_overlap,
            "key_predictors_real": list(self.ranking["feature"]),
            "key_predictors_synthetic": list(self.ranking.sort_values("rank_synthetic")["feature"]),
            "verdict": self.verdict,
        }


def _model(outcome_type: str, random_state):
    if outcome_type == "binary":
        return HistGradientBoostingClassifier(random_state=random_state)
    return HistGradientBoostingRegressor(random_state=random_state)


def _labelled(table: pd.DataFrame, outcome: str, label: str) -> pd.DataFrame:
    kept = table[table[outcome].notna().to_numpy()]
    values = _numeric_values(kept[outcome])
    if len(kept) < 2 or values.nunique() < 2:
        raise SynthlibError(
            f"the {label} table has {len(kept)} row(s) with outcome {outcome!r} and "
            f"{values.nunique()} distinct value(s); a model needs two values to learn from or be scored on"
        )
    return kept


def ml_replication(
    train: pd.DataFrame,
    syntheses,
    holdout: pd.DataFrame,
    outcome: str,
    dictionary,
    features=None,
    random_state=0,
    n_repeats: int = 10,
    top_k: int = 3,
    rule: MLRule = MLRule(),
    n_threads: int | None = 1,
) -> MLReplication:
    """Train on real and on each synthesis, test on the real holdout, and compare importances.

    Features are preprocessed as in :func:`synthlib.utility.tstr_utility` (median
    imputation with missing indicators and scaling for continuous columns, one-hot
    encoding with the dictionary's levels). The model is histogram gradient boosting,
    scored by AUC for a binary outcome and R^2 otherwise. Permutation importances are the
    mean drop of that score on the holdout over ``n_repeats`` shuffles of one predictor.

    Parameters
    ----------
    train, holdout : pandas.DataFrame
        Real training split and real holdout (rows the generator never saw).
    syntheses : sequence of pandas.DataFrame
        Synthetic tables, numbered from 1.
    outcome : str
        Column to predict: binary, numeric or integer in the dictionary.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types.
    features : sequence of str, optional
        Predictors; default every modelled column except those with role ``outcome``.
    random_state : int
        Seed of the models and of the permutations.
    n_repeats : int
        Shuffles per predictor.
    top_k : int
        Size of the top sets compared by ``top_k_overlap``.
    rule : MLRule
        Thresholds of the verdict.
    n_threads : int or None
        Threads for native code while models run; None keeps the library defaults.

    Returns
    -------
    MLReplication

    Raises
    ------
    ConfigError
        If the outcome type is not supported, or ``n_repeats`` or ``top_k`` is below 1.
    SynthlibError
        If a table has fewer than two outcome values.
    """
    outcome_type = dictionary.column(outcome).type
    if outcome_type not in OUTCOME_TYPES:
        raise ConfigError(
            f"outcome {outcome!r} has type {outcome_type!r}; machine-learning replication supports "
            f"{', '.join(OUTCOME_TYPES)} outcomes"
        )
    if n_repeats < 1 or top_k < 1:
        raise ConfigError(f"n_repeats and top_k must be at least 1, got {n_repeats!r} and {top_k!r}")
    if features is None:
        features = [
            name for name in dictionary.modelled_columns
            if name != outcome and dictionary.column(name).role != "outcome"
        ]
    features = list(features)
    metric = "auc" if outcome_type == "binary" else "r2"
    scoring = "roc_auc" if outcome_type == "binary" else "r2"

    tables = {"real": _labelled(train, outcome, "real training")}
    tables.update(
        (f"synthesis {k}", _labelled(table, outcome, f"synthesis {k}"))
        for k, table in enumerate(syntheses, start=1)
    )
    if len(tables) < 2:
        raise ConfigError("ml_replication needs at least one synthetic table")
    test = _labelled(holdout, outcome, "holdout")
    frames = {label: _model_frame(table, dictionary, features) for label, table in tables.items()}
    test_frame = _model_frame(test, dictionary, features)
    levels = _category_levels(dictionary, features, [*frames.values(), test_frame])
    test_outcome = _numeric_values(test[outcome]).to_numpy()

    scores, importances = [], []
    with threadpool_limits(limits=n_threads):
        for label, frame in frames.items():
            pipeline = _feature_pipeline(features, levels, _model(outcome_type, random_state))
            pipeline.fit(frame, _numeric_values(tables[label][outcome]).to_numpy())
            result = permutation_importance(
                pipeline, test_frame, test_outcome, scoring=scoring, n_repeats=n_repeats,
                random_state=random_state,
            )
            score = _utility_score(pipeline, outcome_type, test_frame, test_outcome)
            scores.append({"trained_on": label, "score": score, "n_train": len(frame)})
            importances.append(pd.DataFrame({
                "feature": features,
                "trained_on": label,
                "importance_mean": result.importances_mean,
                "importance_std": result.importances_std,
            }))
            logger.debug("trained on %s: %s %.3f", label, metric, score)
    return _summarise(outcome, metric, pd.DataFrame(scores), pd.concat(importances, ignore_index=True),
                      top_k, rule)


def _rank_agreement(a, b, method) -> float:
    """Return the rank correlation of two importance vectors, or NaN when one of them is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    if method == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    return float(stats.weightedtau(a, b).statistic)


def _summarise(outcome, metric, scores, importances, top_k, rule) -> MLReplication:
    wide = importances.pivot(index="feature", columns="trained_on", values="importance_mean")
    synthetic_labels = [label for label in scores["trained_on"] if label != "real"]
    ranking = pd.DataFrame({
        "importance_real": wide["real"],
        "importance_synthetic": wide[synthetic_labels].mean(axis=1),
    })
    ranking["rank_real"] = ranking["importance_real"].rank(ascending=False, method="min").astype(int)
    ranking["rank_synthetic"] = ranking["importance_synthetic"].rank(ascending=False, method="min").astype(int)
    ranking = ranking.sort_values(["rank_real", "rank_synthetic"]).reset_index()

    rank_correlation = _rank_agreement(ranking["importance_real"], ranking["importance_synthetic"], "weighted")
    per_synthesis = tuple(_rank_agreement(wide["real"], wide[label], "weighted") for label in synthetic_labels)
    k = min(top_k, len(ranking))
    top_real = set(ranking.nsmallest(k, "rank_real")["feature"])
    top_synthetic = set(ranking.sort_values("rank_synthetic").head(k)["feature"])
    real_score = float(scores.loc[scores["trained_on"] == "real", "score"].iloc[0])
    score_loss = real_score - float(scores.loc[scores["trained_on"] != "real", "score"].mean())

    if not rank_correlation >= rule.min_rank_correlation:
        verdict = "not replicated"
    elif score_loss > rule.max_score_loss:
        verdict = "attenuated"
    else:
        verdict = "replicated"
    logger.info("ML replication of %s: weighted Kendall tau %.2f, score loss %.3f: %s",
                outcome, rank_correlation, score_loss, verdict)
    return MLReplication(
        outcome=outcome,
        metric=metric,
        scores=scores,
        importances=importances,
        ranking=ranking,
        rank_correlation=rank_correlation,
        rank_correlations=per_synthesis,
        spearman=_rank_agreement(ranking["importance_real"], ranking["importance_synthetic"], "spearman"),
        top_k_overlap=len(top_real & top_synthetic) / k,
        score_loss=score_loss,
        verdict=verdict,
        rule=rule,
    )
