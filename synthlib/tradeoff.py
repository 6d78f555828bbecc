"""Synthetic and anonymized releases on one privacy-utility scale.

Every released table, synthetic or anonymized, is scored against the same training and holdout
splits with the same functions: fidelity by :func:`synthlib.fidelity.quality_score`, privacy by
:func:`synthlib.privacy.privacy_summary` (distances, overfitting protection, membership
inference) and :func:`synthlib.attacks.attribute_inference`. Each release becomes one point of
the privacy-utility plane, and :func:`compare_methods` names the release that wins.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from . import attacks, fidelity, privacy

logger = logging.getLogger(__name__)

RISKS = {
    "membership_inference_auc": "membership inference AUC",
    "attribute_inference_risk": "attribute inference risk",
}
"""Privacy risks a point can be placed by (lower is better), with their axis labels."""
UTILITIES = {"quality_score": "fidelity (quality score)"}
"""Utility scores a point can be placed by (higher is better), with their axis labels."""
POINT_KEYS = ("label", "kind", "membership_inference_auc", "attribute_inference_risk", "quality_score")
"""Keys of the compact points that go into a run's ``summary.json``."""


def score_release(release, train, holdout, dictionary, random_state=0) -> dict:
    """Score one released table for fidelity and privacy against the training and holdout splits.

    Parameters
    ----------
    release : pandas.DataFrame
        Synthetic table, or an anonymized copy of ``train``, typed by ``dictionary``.
    train, holdout : pandas.DataFrame
        The real splits.
    dictionary : DataDictionary
        Declares the modelled columns, their types and roles.
    random_state : int, default 0
        Seed of the attribute inference models.

    Returns
    -------
    dict
        ``quality_score``, ``column_shapes`` and ``column_pair_trends``, every key of
        :func:`synthlib.privacy.privacy_summary`, and ``attribute_inference_risk`` (None when
        the dictionary declares no quasi-identifier or no sensitive column).
    """
    quality = fidelity.quality_score(train, release, dictionary)
    scores = {
        "quality_score": quality.value,
        "column_shapes": quality.breakdown["column_shapes"],
        "column_pair_trends": quality.breakdown["column_pair_trends"],
    }
    scores.update(privacy.privacy_summary(release, train, holdout, dictionary))
    if dictionary.by_role("quasi_identifier") and dictionary.by_role("sensitive"):
        inference = attacks.attribute_inference(release, train, holdout, dictionary, random_state=random_state)
        scores["attribute_inference_risk"] = inference.risk
    else:
        logger.warning("no quasi_identifier or no sensitive column declared; attribute inference skipped")
        scores["attribute_inference_risk"] = None
    return scores


def privacy_utility_points(synthetic: dict, anonymized: dict, train, holdout, dictionary, random_state=0):
    """Score every synthetic and anonymized table; one row per release.

    Parameters
    ----------
    synthetic : dict
        Label (for example ``"synthetic (smart)"``) to a synthetic table.
    anonymized : dict
        Setting name to an anonymized copy of ``train``.
    train, holdout : pandas.DataFrame
        The real splits.
    dictionary : DataDictionary
    random_state : int, default 0

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``kind`` (``synthetic`` or ``anonymized``) and the scores of
        :func:`score_release`.
    """
    rows = []
    for kind, releases in (("synthetic", synthetic), ("anonymized", anonymized)):
        for label, table in releases.items():
            logger.info("scoring %s release %s", kind, label)
            rows.append({"label": label, "kind": kind, **score_release(table, train, holdout, dictionary, random_state)})
    return pd.DataFrame(rows)


def _risk_scale(value: float, risk: str) -> float:
    """Return a risk on [0, 1]: membership AUC becomes the attacker's advantage ``2 * max(AUC - 0.5, 0)``."""
    if risk == "membership_inference_auc":
        return 2.0 * max(value - 0.5, 0.0)
    return float(value)


def _dominates(a: pd.Series, b: pd.Series, risk: str, utility: str) -> bool:
    """Return whether ``a`` is at least as good as ``b`` on both axes and better on one."""
    risk_a, risk_b = _risk_scale(a[risk], risk), _risk_scale(b[risk], risk)
    no_worse = risk_a <= risk_b and a[utility] >= b[utility]
    return bool(no_worse and (risk_a < risk_b or a[utility] > b[utility]))


def compare_methods(points: pd.DataFrame, risk="membership_inference_auc", utility="quality_score") -> dict:
    """Return which release wins on the privacy-utility plane.

    Both axes are put on [0, 1]. The risk stays as it is, except membership inference AUC,
    which becomes the attacker's advantage ``2 * max(AUC - 0.5, 0)`` because an AUC below 0.5
    is no safer than 0.5. The utility becomes its loss, ``1 - utility``. The winner is the release closest to the
    ideal corner of no risk and no loss, by Euclidean distance. Releases at the same distance
    share the win. Beside it, a release dominates another when its risk is no higher and its
    utility no lower, one of the two strictly better, and the Pareto front holds the releases
    that no other release dominates.

    Parameters
    ----------
    points : pandas.DataFrame
        Output of :func:`privacy_utility_points`.
    risk : str, default "membership_inference_auc"
        A key of :data:`RISKS`.
    utility : str, default "quality_score"
        A key of :data:`UTILITIES`, a score in [0, 1].

    Returns
    -------
    dict
        ``risk``, ``utility``, ``distance_to_ideal`` (label to distance), ``winners`` (labels),
        ``pareto_front`` (labels), ``dominated`` (label to the labels it dominates),
        ``synthetic_dominates`` (anonymized releases that some synthetic release dominates),
        ``anonymized_dominates`` (synthetic releases that some anonymized release dominates),
        ``n_synthetic``, ``n_anonymized`` and ``sentence``, a plain statement of the outcome.
    """
    usable = points.dropna(subset=[risk, utility]).reset_index(drop=True)
    rows = list(usable.iterrows())
    distance = {
        row["label"]: math.hypot(_risk_scale(row[risk], risk), 1.0 - row[utility]) for _, row in rows
    }
    best = min(distance.values(), default=math.nan)
    winners = [label for label, value in distance.items() if math.isclose(value, best, abs_tol=1e-12)]
    dominated = {
        row["label"]: [other["label"] for _, other in rows if _dominates(row, other, risk, utility)]
        for _, row in rows
    }
    beaten = {label for losers in dominated.values() for label in losers}

    kinds = dict(zip(usable["label"], usable["kind"]))
    verdict = {
        "risk": risk,
        "utility": utility,
        "distance_to_ideal": distance,
        "winners": winners,
        "pareto_front": [label for label in usable["label"] if label not in beaten],
        "dominated": dominated,
        "synthetic_dominates": _count_beaten(dominated, kinds, "synthetic", "anonymized"),
        "anonymized_dominates": _count_beaten(dominated, kinds, "anonymized", "synthetic"),
        "n_synthetic": int((usable["kind"] == "synthetic").sum()),
        "n_anonymized": int((usable["kind"] == "anonymized").sum()),
    }
    verdict["sentence"] = _sentence(verdict, kinds)
    return verdict


def _count_beaten(dominated: dict, kinds: dict, winner_kind: str, loser_kind: str) -> int:
    return len({
        loser for label, losers in dominated.items() if kinds[label] == winner_kind
        for loser in losers if kinds[loser] == loser_kind
    })


def _sentence(verdict: dict, kinds: dict) -> str:
    risk, utility = RISKS[verdict["risk"]], UTILITIES[verdict["utility"]]
    if not verdict["winners"]:
        return f"No release has both a {risk} and a {utility}, so no method can be ranked."
    names = " and ".join(f"{label} ({kinds[label]})" for label in verdict["winners"])
    ranked = sorted(verdict["distance_to_ideal"].items(), key=lambda item: item[1])
    runner_up = next(((label, value) for label, value in ranked if label not in verdict["winners"]), None)
    lead = (
        f"On this data {names} {'win' if len(verdict['winners']) > 1 else 'wins'}: closest to no risk and full "
        f"utility on {risk} and {utility} (distance {ranked[0][1]:.3f}"
    )
    lead += f"; next {runner_up[0]} at {runner_up[1]:.3f})." if runner_up else ")."
    return (
        f"{lead} Synthetic data dominate {verdict['synthetic_dominates']} of the {verdict['n_anonymized']} "
        f"anonymized releases (no higher risk, no lower utility, better on one), and anonymized releases "
        f"dominate {verdict['anonymized_dominates']} of the {verdict['n_synthetic']} synthetic ones. "
        f"Pareto front: {', '.join(verdict['pareto_front'])}."
    )


def compact_points(points: pd.DataFrame) -> list:
    """Return the points with the keys of :data:`POINT_KEYS` only, ready for ``summary.json``."""
    records = []
    for row in points.to_dict("records"):
        record = {}
        for key in POINT_KEYS:
            value = row.get(key)
            record[key] = None if isinstance(value, float) and math.isnan(value) else value
        records.append(record)
    return records
