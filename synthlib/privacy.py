"""Distance-based privacy checks: distance to closest record, exact copies, NNDR and membership inference.

Every check compares rows with the mixed-type, range-normalised distance of
:mod:`synthlib.distance`, whose docstring defines it and states how missing values count:
exactly one side missing contributes 1 on that column, both sides missing 0. A missing
value is therefore one more value of the column, in every figure of this module.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from .artifacts import json_number
from .distance import (
    DEFAULT_CHUNK_SIZE,
    NeighbourResult,
    _encode_tables,
    _resolve_columns,
    distance_matrix,
    nearest_neighbours,
)
from .exceptions import ConfigError, DataValidationError, IncomputableMetricWarning

logger = logging.getLogger(__name__)

__all__ = [
    "DCRResult",
    "MembershipInferenceResult",
    "NeighbourResult",
    "distance_matrix",
    "distance_to_closest_record",
    "exact_match_rate",
    "membership_inference",
    "nearest_neighbours",
    "nndr",
    "overfitting_protection",
    "privacy_summary",
]

@dataclass(frozen=True, eq=False)
class DCRResult:
    """Distances to closest record of synthetic and holdout rows, with their summaries.

    The holdout rows are real rows the generator never saw, so ``holdout_to_train`` is
    the baseline. Synthetic rows that are much closer to train than holdout rows are
    suggest that the generator copied training rows.

    Attributes
    ----------
    synthetic_to_train, holdout_to_train, synthetic_to_holdout : numpy.ndarray
        Distance of each row to its closest row of the second table.
    median_synthetic_to_train, median_holdout_to_train : float
        Medians of the distances (lower means closer to the training rows).
    p05_synthetic_to_train, p05_holdout_to_train : float
        5th percentiles (linear interpolation), which show the closest few rows.
    share_closer_to_train : float
        Share of synthetic rows strictly closer to train than to holdout. Ties count as
        not closer.
    expected_share_closer_to_train : float
        ``n_train / (n_train + n_holdout)``: the share expected of rows drawn from the
        real distribution independently of the training rows. Compare the share with
        this figure, not with 0.5, unless train and holdout have equal size.
    overfitting_protection : float
        :func:`overfitting_protection` of the share: 1 when synthetic rows are no closer
        to train than expected, 0 when every one of them is closer to train.
    n_synthetic, n_train, n_holdout : int
        Row counts.
    """

    synthetic_to_train: np.ndarray
    holdout_to_train: np.ndarray
    synthetic_to_holdout: np.ndarray
    median_synthetic_to_train: float
    median_holdout_to_train: float
    p05_synthetic_to_train: float
    p05_holdout_to_train: float
    share_closer_to_train: float
    expected_share_closer_to_train: float
    overfitting_protection: float
    n_synthetic: int
    n_train: int
    n_holdout: int


# --------------------------------------------------------------------------- metrics


def _summarise(values: np.ndarray, statistic: str) -> float:
    """Return the median or the 5th percentile of ``values``, NaN when empty."""
    if values.size == 0:
        return float("nan")
    if statistic == "median":
        return float(np.median(values))
    return float(np.percentile(values, 5))


def overfitting_protection(share_closer_to_train: float, expected_share: float) -> float:
    """Score how far synthetic rows avoid sitting closer to train than to holdout.

    The score is ``min((1 - share) / (1 - expected_share), 1)``. With train and holdout of
    equal size, ``expected_share`` is 0.5 and the score equals SDMetrics'
    ``DCROverfittingProtection``, ``min(2 * (1 - share), 1)``. Dividing by
    ``1 - expected_share`` instead of 0.5 keeps the score at 1 for rows independent of the
    training rows whatever the split, where SDMetrics would give about 0.4 with an 80/20 split.

    Parameters
    ----------
    share_closer_to_train : float
        Share of synthetic rows strictly closer to train than to holdout.
    expected_share : float
        ``n_train / (n_train + n_holdout)``, in [0, 1).

    Returns
    -------
    float
        Score in [0, 1], higher is better: 1 when the share is at most the expected share,
        0 when every synthetic row is closer to train. NaN when the share is NaN.

    Raises
    ------
    ConfigError
        If ``expected_share`` is not in [0, 1).
    """
    if not 0.0 <= expected_share < 1.0:
        raise ConfigError(
            f"expected_share must be in [0, 1), got {expected_share!r}; "
            "it is n_train / (n_train + n_holdout) with at least one holdout row"
        )
    if np.isnan(share_closer_to_train):
        return float("nan")
    return float(min((1.0 - share_closer_to_train) / (1.0 - expected_share), 1.0))


def _dcr_result(neighbours: dict, n_train: int, n_holdout: int) -> DCRResult:
    """Build a DCRResult from the three nearest-neighbour searches."""
    synthetic_to_train = neighbours["synthetic_to_train"].distance
    synthetic_to_holdout = neighbours["synthetic_to_holdout"].distance
    holdout_to_train = neighbours["holdout_to_train"].distance

    if synthetic_to_train.size:
        share = float(np.mean(synthetic_to_train < synthetic_to_holdout))
    else:
        warnings.warn(
            "the synthetic table has no rows, so its DCR figures are NaN",
            IncomputableMetricWarning,
            stacklevel=3,
        )
        share = float("nan")
    expected = n_train / (n_train + n_holdout)

    return DCRResult(
        synthetic_to_train=synthetic_to_train,
        holdout_to_train=holdout_to_train,
        synthetic_to_holdout=synthetic_to_holdout,
        median_synthetic_to_train=_summarise(synthetic_to_train, "median"),
        median_holdout_to_train=_summarise(holdout_to_train, "median"),
        p05_synthetic_to_train=_summarise(synthetic_to_train, "5th percentile"),
        p05_holdout_to_train=_summarise(holdout_to_train, "5th percentile"),
        share_closer_to_train=share,
        expected_share_closer_to_train=expected,
        overfitting_protection=overfitting_protection(share, expected),
        n_synthetic=int(synthetic_to_train.size),
        n_train=n_train,
        n_holdout=n_holdout,
    )


def _search_all(synthetic, train, holdout, dictionary, columns, chunk_size) -> dict:
    """Run the three searches behind the DCR figures, all scaled by the train ranges."""
    for label, table in (("train", train), ("holdout", holdout)):
        if len(table) == 0:
            raise DataValidationError(
                [f"the {label} table has no rows; DCR figures need at least one {label} row"]
            )
    search = {
        "synthetic_to_train": (synthetic, train),
        "synthetic_to_holdout": (synthetic, holdout),
        "holdout_to_train": (holdout, train),
    }
    return {
        key: nearest_neighbours(
            query, reference, dictionary, columns=columns, ranges_from=train, chunk_size=chunk_size
        )
        for key, (query, reference) in search.items()
    }


def distance_to_closest_record(
    synthetic, train, holdout, dictionary, columns=None, chunk_size=DEFAULT_CHUNK_SIZE
) -> DCRResult:
    """Compute distances to closest record (DCR) of synthetic and holdout rows.

    Each synthetic row is compared with its closest train row and its closest holdout
    row. Holdout rows are compared with their closest train row as the baseline of
    real data the generator never saw. All distances scale numeric columns by the
    ranges of ``train``. SDMetrics instead scales the synthetic-to-holdout distance by
    the holdout's ranges, so shares can differ slightly from its DCROverfittingProtection.

    Parameters
    ----------
    synthetic, train, holdout : pandas.DataFrame
        Tables typed by ``dictionary``; ``train`` and ``holdout`` need at least one row.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    DCRResult
        The three distance arrays, their medians and 5th percentiles, and the share of
        synthetic rows closer to train than to holdout beside its expected value.

    Notes
    -----
    With an 80/20 split, synthetic rows that are independent of the training rows are
    closer to train about 80 % of the time, because train contains 80 % of the real rows.
    SDMetrics' ``DCROverfittingProtection`` assumes an equal split, so read the share
    against ``expected_share_closer_to_train``.
    """
    neighbours = _search_all(synthetic, train, holdout, dictionary, columns, chunk_size)
    result = _dcr_result(neighbours, n_train=len(train), n_holdout=len(holdout))
    logger.info(
        "DCR median synthetic->train %.4f, holdout->train %.4f; %.3f of synthetic rows closer "
        "to train (expected %.3f)",
        result.median_synthetic_to_train,
        result.median_holdout_to_train,
        result.share_closer_to_train,
        result.expected_share_closer_to_train,
    )
    return result


def _distance_ratio(distance: np.ndarray, second_distance: np.ndarray) -> np.ndarray:
    """Return ``distance / second_distance``, 1 where both are 0, NaN where the second is NaN."""
    ratio = np.full(distance.shape, np.nan)
    positive = second_distance > 0
    ratio[positive] = distance[positive] / second_distance[positive]
    ratio[second_distance == 0] = 1.0
    return ratio


def nndr(
    synthetic, train, dictionary, columns=None, ranges_from=None, chunk_size=DEFAULT_CHUNK_SIZE
):
    """Compute the nearest-neighbour distance ratio of each synthetic row.

    NNDR is ``d1 / d2``, the distance to the closest train row divided by the distance
    to the second-closest. Values near 0 mean the row sits much closer to one training
    record than to any other, so it can single that record out. Values near 1 mean the
    row lies in a dense region. When ``d2 == 0``, the row equals two identical training
    rows and ``d1 == 0`` too. The ratio is then set to 1, the limit of ``d1 / d2`` for
    equal distances, because the row does not single out one record. Exact copies are
    counted by :func:`exact_match_rate` instead. With a one-row ``train`` the ratio is NaN.

    Parameters
    ----------
    synthetic, train : pandas.DataFrame
        Tables typed by ``dictionary``; ``train`` needs at least one row.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    ranges_from : pandas.DataFrame, optional
        Table whose column ranges scale the numeric differences; defaults to ``train``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    numpy.ndarray
        One ratio in [0, 1] per synthetic row.
    """
    neighbours = nearest_neighbours(
        synthetic,
        train,
        dictionary,
        columns=columns,
        ranges_from=ranges_from,
        chunk_size=chunk_size,
    )
    return _distance_ratio(neighbours.distance, neighbours.second_distance)


@dataclass(frozen=True, eq=False)
class MembershipInferenceResult:
    """Outcome of the distance-based membership inference attack.

    Attributes
    ----------
    auc : float
        Area under the ROC curve of the attack score ``-DCR``, with train rows (members) as
        the positive class. 0.5 means the attacker does no better than a coin toss; 1 means
        every train row is closer to the released table than every holdout row.
    member_distance, non_member_distance : numpy.ndarray
        Distance from each train row and each holdout row to its closest released row.
    n_members, n_non_members : int
        Row counts of train and holdout.
    """

    auc: float
    member_distance: np.ndarray
    non_member_distance: np.ndarray
    n_members: int
    n_non_members: int


def _membership_auc(member_distance: np.ndarray, non_member_distance: np.ndarray) -> float:
    """Return the AUC of ``-distance`` with members as the positive class; ties count one half."""
    labels = np.concatenate([np.ones(member_distance.size), np.zeros(non_member_distance.size)])
    scores = -np.concatenate([member_distance, non_member_distance])
    return float(roc_auc_score(labels, scores))


def membership_inference(
    synthetic, train, holdout, dictionary, columns=None, chunk_size=DEFAULT_CHUNK_SIZE
) -> MembershipInferenceResult:
    """Score a distance-based membership inference attack on a released table.

    The attacker holds the released table (synthetic or anonymized) and a candidate real
    row, and guesses that the row was in the training data when the released table holds
    a row close to it. The attack score of a row is minus its distance to the closest
    released row. Train rows are the members, holdout rows the non-members, and the
    attack is scored by its AUC, so no threshold has to be chosen. Distances follow this
    module's docstring, with numeric columns scaled by the ranges of ``train``.

    Parameters
    ----------
    synthetic : pandas.DataFrame
        Released table typed by ``dictionary``, at least one row: synthetic rows, or an
        anonymized version of ``train``.
    train, holdout : pandas.DataFrame
        Members and non-members, at least one row each.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns the attacker compares; defaults to ``dictionary.modelled_columns``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    MembershipInferenceResult
        The AUC and the distances behind it.

    Raises
    ------
    DataValidationError
        If a table is empty or lacks a column.

    References
    ----------
    Chen, Yu, Zhang and Fritz, "GAN-Leaks: A Taxonomy of Membership Inference Attacks
    against Generative Models", ACM CCS 2020 (arXiv:1909.03935): the full black-box attack
    scores a query by its distance to the closest generated sample.
    """
    for label, table in (("synthetic", synthetic), ("train", train), ("holdout", holdout)):
        if len(table) == 0:
            raise DataValidationError(
                [f"the {label} table has no rows; membership inference needs at least one {label} row"]
            )
    searches = {}
    for label, query in (("members", train), ("non_members", holdout)):
        searches[label] = nearest_neighbours(
            query, synthetic, dictionary, columns=columns, ranges_from=train, chunk_size=chunk_size
        ).distance
    auc = _membership_auc(searches["members"], searches["non_members"])
    logger.info("membership inference AUC %.3f (%d members, %d non-members)", auc, len(train), len(holdout))
    return MembershipInferenceResult(
        auc=auc,
        member_distance=searches["members"],
        non_member_distance=searches["non_members"],
        n_members=len(train),
        n_non_members=len(holdout),
    )


def _row_keys(matrix: np.ndarray) -> list:
    """Return one hashable key per row; NaN equals NaN and -0.0 equals 0.0."""
    canonical = np.where(np.isnan(matrix), np.nan, matrix + 0.0)
    canonical = np.ascontiguousarray(canonical)
    return [row.tobytes() for row in canonical]


def exact_match_rate(synthetic, train, dictionary, columns=None, round_numeric=True) -> float:
    """Compute the share of synthetic rows that equal some train row on every column.

    Missing values match missing values. With ``round_numeric`` (the default), numeric
    columns are first rounded to the dictionary's ``decimals`` (2 when unset), which is
    the precision at which the generator writes them. A copied row then still matches
    when the real value has more digits than the text encoding keeps. Integer, date,
    categorical and binary columns are compared as they are.

    Parameters
    ----------
    synthetic, train : pandas.DataFrame
        Tables typed by ``dictionary``.
    dictionary : DataDictionary
        Declares each column's type and precision.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    round_numeric : bool, default True
        Whether to round numeric columns to the declared decimals before comparing.

    Returns
    -------
    float
        Share in [0, 1]; 0 means no copies. NaN with a warning when ``synthetic`` is empty.
    """
    tables = {"synthetic": synthetic, "train": train}
    names = _resolve_columns(dictionary, columns, tables)
    if len(synthetic) == 0:
        warnings.warn(
            "cannot compute the exact-match rate of an empty synthetic table; reporting NaN",
            IncomputableMetricWarning,
            stacklevel=2,
        )
        return float("nan")

    matrices = _encode_tables(tables, dictionary, names)
    if round_numeric:
        for j, name in enumerate(names):
            spec = dictionary.column(name)
            if spec.type == "numeric":
                decimals = 2 if spec.decimals is None else spec.decimals
                for matrix in matrices.values():
                    matrix[:, j] = np.round(matrix[:, j], decimals)

    train_keys = set(_row_keys(matrices["train"]))
    matches = sum(key in train_keys for key in _row_keys(matrices["synthetic"]))
    rate = matches / len(synthetic)
    logger.info("%d of %d synthetic rows copy a train row exactly", matches, len(synthetic))
    return rate


def _median_or_nan(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def privacy_summary(
    synthetic, train, holdout, dictionary, columns=None, chunk_size=DEFAULT_CHUNK_SIZE
) -> dict:
    """Compute the headline distance-based privacy figures, ready for ``json.dump``.

    Holdout figures sit beside the synthetic ones as the baseline of real rows the
    generator never saw. NaN and infinite figures are written as None. ``synthetic`` may
    be any released table, such as an anonymized version of ``train``, so that both kinds
    of release get the same figures.

    Parameters
    ----------
    synthetic, train, holdout : pandas.DataFrame
        Tables typed by ``dictionary``.
    dictionary : DataDictionary
        Declares each column's type.
    columns : sequence of str, optional
        Columns to compare; defaults to ``dictionary.modelled_columns``.
    chunk_size : int, default 1000
        Rows per block on each side of the nearest-neighbour search.

    Returns
    -------
    dict
        Keys ``dcr_synthetic_train_median``, ``dcr_synthetic_train_p05``,
        ``dcr_holdout_train_median``, ``dcr_holdout_train_p05``,
        ``share_closer_to_train``, ``expected_share_closer_to_train``,
        ``overfitting_protection``, ``membership_inference_auc``, ``exact_match_rate``,
        ``exact_match_rate_holdout``, ``nndr_synthetic_median``, ``nndr_holdout_median``,
        ``n_synthetic``, ``n_train``, ``n_holdout``. ``membership_inference_auc`` is None
        when ``synthetic`` has no rows.
    """
    neighbours = _search_all(synthetic, train, holdout, dictionary, columns, chunk_size)
    dcr = _dcr_result(neighbours, n_train=len(train), n_holdout=len(holdout))
    if len(synthetic):
        membership = membership_inference(
            synthetic, train, holdout, dictionary, columns=columns, chunk_size=chunk_size
        )
        membership_auc = membership.auc
    else:
        membership_auc = float("nan")

    nndr_synthetic = _distance_ratio(
        neighbours["synthetic_to_train"].distance, neighbours["synthetic_to_train"].second_distance
    )
    nndr_holdout = _distance_ratio(
        neighbours["holdout_to_train"].distance, neighbours["holdout_to_train"].second_distance
    )

    figures = {
        "dcr_synthetic_train_median": dcr.median_synthetic_to_train,
        "dcr_synthetic_train_p05": dcr.p05_synthetic_to_train,
        "dcr_holdout_train_median": dcr.median_holdout_to_train,
        "dcr_holdout_train_p05": dcr.p05_holdout_to_train,
        "share_closer_to_train": dcr.share_closer_to_train,
        "expected_share_closer_to_train": dcr.expected_share_closer_to_train,
        "overfitting_protection": dcr.overfitting_protection,
        "membership_inference_auc": membership_auc,
        "exact_match_rate": exact_match_rate(synthetic, train, dictionary, columns=columns),
        "exact_match_rate_holdout": exact_match_rate(holdout, train, dictionary, columns=columns),
        "nndr_synthetic_median": _median_or_nan(nndr_synthetic),
        "nndr_holdout_median": _median_or_nan(nndr_holdout),
    }
    summary = {key: json_number(value) for key, value in figures.items()}
    summary.update(n_synthetic=len(synthetic), n_train=len(train), n_holdout=len(holdout))
    return summary
