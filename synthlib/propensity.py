"""Propensity-score fidelity: pMSE and the standardised pMSE, as synthpop defines them.

Real and synthetic rows are stacked with an indicator ``t`` (1 for a synthetic row), a model
estimates the propensity ``p_i = P(t = 1 | row i)``, and

    pMSE = (1 / N) * sum_i (p_i - c)^2,    c = n_synthetic / N,

over all ``N`` stacked rows. A model that cannot tell the tables apart predicts ``c`` everywhere
(pMSE 0); one that separates them perfectly gives ``c (1 - c)``. The standardised pMSE (S_pMSE)
divides by the pMSE expected when both tables come from one distribution, so about 1 is as good
as a sample from the real distribution.

The definitions follow ``utility.gen`` of the R package synthpop (``R/utility.syn.r``, version
1.9), with one synthetic table:

* Preparation. A column with a single value in the stacked table is left out. A numeric column
  with missing values gets an indicator variable ``<name>_NA`` and 0 in place of the missing
  values. A categorical column with missing values gets a missing level, and levels absent from
  both tables are dropped.
* ``method="logit"``: logistic regression on main effects and all two-way interactions
  (synthpop's ``t ~ .^2``, ``maxorder = 1``), fitted by iteratively reweighted least squares as
  R's ``glm`` does. ``S_pMSE = pMSE / E0`` with ``E0 = (k - 1) (1 - c)^2 c / N``, where ``k - 1``
  is the number of estimable coefficients besides the intercept (the rank of the design minus
  one, as R's ``glm`` leaves aliased coefficients NA).
* ``method="cart"``: a classification tree. ``S_pMSE = pMSE / mean(null)``, where each null value
  is the pMSE of a tree fitted with ``t`` randomly permuted, divided by 2 as synthpop does.

Where this module departs from synthpop, the function documents it.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.linalg
from joblib import Parallel, delayed
from scipy.special import expit
from scipy.stats import ks_2samp
from sklearn.tree import DecisionTreeClassifier

from .exceptions import ConfigError
from .fidelity import _discrete_values
from .metrics import (
    MetricInfo,
    MetricResult,
    _check_choice,
    _check_columns,
    _check_positive_int,
    _numeric_values,
    _warn_incomputable,
)

logger = logging.getLogger(__name__)

PMSE = MetricInfo(
    "pmse", "minimize", 0.0, 0.25,
    "0 when every propensity score equals the synthetic share c, so the model cannot tell the "
    "tables apart; c (1 - c), at most 0.25, when it separates them perfectly.",
)
S_PMSE = MetricInfo(
    "s_pmse", "minimize", 0.0, math.inf,
    "pMSE divided by its expected value when both tables come from one distribution: about 1 "
    "for a good synthetic table, 0 for a copy of the real one; larger values are worse.",
)
METRIC_INFOS = (PMSE, S_PMSE)
MISSING_LEVEL = "(missing)"
"""Level that represents a missing value of a categorical column."""
RANK_TOLERANCE = 1e-7
"""Relative size of a pivoted-QR diagonal below which a design column counts as aliased."""
CONVERGENCE_TOLERANCE = 1e-8
"""Relative change of the deviance at which the logistic fit stops (R's ``glm.control`` epsilon)."""


class _Variable(NamedTuple):
    """One variable of the propensity model.

    ``block`` contains its columns in the logistic design (one for a numeric variable, treatment
    dummies for a categorical one). ``codes`` contains the level codes of a categorical variable
    (None otherwise), which trees use instead of dummies.
    """

    name: str
    block: np.ndarray
    codes: np.ndarray | None = None


# ---------------------------------------------------------------- preparation


def _continuous_variables(name: str, values: np.ndarray) -> list:
    """Return a standardised numeric variable, and a missing indicator when values are missing."""
    missing = np.isnan(values)
    variables = []
    observed = values[~missing]
    if np.unique(observed).size > 1:
        # Centring and scaling keep the fitted propensities of a model with an intercept and
        # main effects, and keep the interaction columns well conditioned.
        scaled = (values - observed.mean()) / observed.std()
        scaled[missing] = 0.0
        variables.append(_Variable(name, scaled[:, None]))
    if missing.any() and not missing.all():
        variables.append(_Variable(f"{name}_NA", missing.astype(float)[:, None]))
    return variables


def _categorical_variable(name: str, values: pd.Series, declared) -> list:
    """Return a categorical variable as treatment dummies (first level as reference) and level codes."""
    values = values.astype(object).where(values.notna(), MISSING_LEVEL)
    seen = set(values.unique())
    levels = [level for level in declared if level in seen]
    levels += sorted((seen - set(levels) - {MISSING_LEVEL}), key=str)
    if MISSING_LEVEL in seen:
        levels.append(MISSING_LEVEL)
    if len(levels) < 2:
        return []
    codes = pd.Categorical(values, categories=levels).codes.astype(np.int64)
    dummies = (codes[:, None] == np.arange(1, len(levels))[None, :]).astype(float)
    return [_Variable(name, dummies, codes)]


def _prepare_variables(real, synthetic, dictionary, columns) -> tuple:
    """Stack the tables (synthetic rows first) and return the model variables and the excluded columns."""
    variables, excluded = [], []
    for name in columns:
        spec = dictionary.column(name)
        stacked = pd.concat([synthetic[name], real[name]], ignore_index=True)
        if spec.type == "categorical":
            found = _categorical_variable(name, _discrete_values(stacked), spec.levels or ())
        else:
            found = _continuous_variables(name, _numeric_values(stacked).to_numpy())
        if not found:
            excluded.append(name)
        variables.extend(found)
    return variables, excluded


def count_parameters(variables, max_order: int) -> int:
    """Return the coefficients of a logistic model with an intercept, main effects and two-way interactions.

    Each variable contributes its block width (1 for a numeric variable, levels minus 1 for a
    categorical one), and each pair of variables the product of their widths when ``max_order``
    is 1, as synthpop counts parameters before it fits.
    """
    widths = [variable.block.shape[1] for variable in variables]
    count = 1 + sum(widths)
    if max_order >= 1:
        count += sum(widths[i] * widths[j] for i in range(len(widths)) for j in range(i + 1, len(widths)))
    return count


def _logit_design(variables, max_order: int) -> np.ndarray:
    n_rows = variables[0].block.shape[0]
    blocks = [np.ones((n_rows, 1))] + [variable.block for variable in variables]
    if max_order >= 1:
        for i, first in enumerate(variables):
            for second in variables[i + 1:]:
                product = first.block[:, :, None] * second.block[:, None, :]
                blocks.append(product.reshape(n_rows, -1))
    return np.hstack(blocks)


# ---------------------------------------------------------------- logistic model


def _independent_columns(design: np.ndarray) -> np.ndarray:
    """Return the indices of a maximal set of linearly independent design columns (pivoted QR)."""
    _, diagonal_factor, pivots = scipy.linalg.qr(design, mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(diagonal_factor))
    rank = int(np.sum(diagonal > RANK_TOLERANCE * diagonal[0])) if diagonal.size else 0
    return np.sort(pivots[:rank])


def _binomial_deviance(target: np.ndarray, probability: np.ndarray) -> float:
    return float(-2.0 * np.sum(target * np.log(probability) + (1 - target) * np.log1p(-probability)))


def _weighted_least_squares(weighted: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Solve the IRLS step by its normal equations, or by QR when they are ill-conditioned.

    Near separation some weights are almost 0 and the normal equations lose precision, so
    scipy's warning about an ill-conditioned matrix switches to the slower QR solver.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            return scipy.linalg.solve(weighted.T @ weighted, weighted.T @ response, assume_a="pos")
        except (scipy.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            return scipy.linalg.lstsq(weighted, response, lapack_driver="gelsy")[0]


def _fit_logistic(design: np.ndarray, target: np.ndarray, max_iter: int) -> tuple:
    """Fit an unpenalised logistic regression by IRLS, started and stopped as R's ``glm.fit``.

    Returns the fitted probabilities and whether the deviance converged.
    """
    epsilon = np.finfo(float).eps
    probability = (target + 0.5) / 2.0
    eta = np.log(probability / (1.0 - probability))
    deviance = _binomial_deviance(target, probability)
    for _ in range(max_iter):
        weight = probability * (1.0 - probability)
        working = eta + (target - probability) / weight
        root = np.sqrt(weight)
        weighted = design * root[:, None]
        coefficients = _weighted_least_squares(weighted, working * root)
        eta = design @ coefficients
        probability = np.clip(expit(eta), epsilon, 1.0 - epsilon)
        previous, deviance = deviance, _binomial_deviance(target, probability)
        if abs(deviance - previous) / (abs(deviance) + 0.1) < CONVERGENCE_TOLERANCE:
            return probability, True
    return probability, False


def _logit_propensity(variables, target, max_order, max_params, max_iter) -> dict:
    n_params = count_parameters(variables, max_order)
    if n_params > max_params:
        return {"reason": (
            f"the logistic model would have {n_params} parameters, above max_params={max_params}; "
            "pass fewer columns, max_order=0 or a larger max_params, or use method='cart'"
        )}
    design = _logit_design(variables, max_order)
    independent = _independent_columns(design)
    probability, converged = _fit_logistic(design[:, independent], target, max_iter)
    if not converged:
        logger.warning(
            "The logistic propensity model did not converge in %d iterations; pMSE uses its last fit", max_iter
        )
    c = float(target.mean())
    n_coefficients = len(independent) - 1
    expected = n_coefficients * (1.0 - c) ** 2 * c / len(target)
    return {
        "scores": probability,
        "expected_pmse": expected,
        "n_parameters": n_coefficients,
        "converged": converged,
        "null_pmse": (),
        "reason": None if n_coefficients > 0 else "the model has no estimable coefficient besides the intercept",
    }


# ---------------------------------------------------------------- classification tree


def _tree_features(variables, target) -> np.ndarray:
    """Return the tree's features: numeric columns, and each categorical variable as the rank of its
    levels ordered by their share of synthetic rows.

    For two classes, the best Gini split of a categorical variable is one of the splits of its
    levels in this order, which is how rpart searches level subsets. The order is taken on all
    rows, so it gives the best subset split at the root node only.
    """
    columns = []
    for variable in variables:
        if variable.codes is None:
            columns.append(variable.block[:, 0])
            continue
        n_levels = int(variable.codes.max()) + 1
        synthetic_counts = np.bincount(variable.codes, weights=target, minlength=n_levels)
        shares = synthetic_counts / np.bincount(variable.codes, minlength=n_levels)
        rank = np.empty(n_levels)
        rank[np.argsort(shares, kind="stable")] = np.arange(n_levels)
        columns.append(rank[variable.codes])
    return np.column_stack(columns).astype(np.float32)


def _tree_scores(variables, target, cp: float, min_bucket: int, random_state) -> np.ndarray:
    features = _tree_features(variables, target)
    c = float(target.mean())
    tree = DecisionTreeClassifier(
        min_samples_leaf=min_bucket,
        min_samples_split=3 * min_bucket,
        max_depth=30,
        min_impurity_decrease=cp * 2.0 * c * (1.0 - c),
        random_state=random_state,
    )
    tree.fit(features, target)
    return tree.predict_proba(features)[:, list(tree.classes_).index(1)]


def _gini_decrease(left_size, left_synthetic, size: int, synthetic: float) -> np.ndarray:
    """Return the Gini impurity decrease of splitting ``size`` rows into a left part and the rest."""
    right_size, right_synthetic = size - left_size, synthetic - left_synthetic
    left_share, right_share = left_synthetic / left_size, right_synthetic / right_size
    root_share = synthetic / size
    children = left_size * left_share * (1 - left_share) + right_size * right_share * (1 - right_share)
    return 2.0 * (root_share * (1 - root_share) - children / size)


class _RootSplitBound:
    """Bound the Gini decrease of the best split of the root node, for any labels on fixed features.

    A continuous feature is sorted once; for given labels, every cut between two distinct values
    is scored with cumulative sums. A categorical feature is scored at each cut of its levels
    ordered by their share of label 1. These cuts include every split the tree may make at the
    root (the tree also needs ``min_bucket`` rows per side), so the largest decrease bounds the
    tree's. When it is below the tree's ``min_impurity_decrease``, the tree is a single leaf.
    """

    def __init__(self, variables):
        self.sorted_features, self.categorical_codes = [], []
        for variable in variables:
            if variable.codes is not None:
                self.categorical_codes.append(variable.codes)
                continue
            values = variable.block[:, 0].astype(np.float32)
            order = np.argsort(values, kind="stable")
            cuts = np.flatnonzero(values[order][1:] > values[order][:-1])
            if cuts.size:
                self.sorted_features.append((order, cuts))

    def bound(self, target: np.ndarray) -> float:
        size, synthetic = len(target), float(target.sum())
        best = 0.0
        for order, cuts in self.sorted_features:
            left_synthetic = np.cumsum(target[order])[cuts]
            best = max(best, float(np.max(_gini_decrease(cuts + 1.0, left_synthetic, size, synthetic))))
        for codes in self.categorical_codes:
            counts = np.bincount(codes).astype(float)
            synthetic_counts = np.bincount(codes, weights=target)
            order = np.argsort(synthetic_counts / counts, kind="stable")
            left_size = np.cumsum(counts[order])[:-1]
            left_synthetic = np.cumsum(synthetic_counts[order])[:-1]
            if left_size.size:
                best = max(best, float(np.max(_gini_decrease(left_size, left_synthetic, size, synthetic))))
        return best


def _null_pmse(variables, permuted, cp, min_bucket, seed, root_bound: _RootSplitBound) -> float:
    """Return synthpop's null value: the pMSE of a tree fitted to permuted labels, divided by 2.

    A tree that cannot split its root predicts the label share everywhere, so its pMSE is 0.
    The bound finds such trees without fitting them, which on large tables is most permutations.
    The margin of one half keeps rounding differences from deciding a split.
    """
    c = float(permuted.mean())
    if root_bound.bound(permuted) < 0.5 * cp * 2.0 * c * (1.0 - c):
        return 0.0
    scores = _tree_scores(variables, permuted, cp, min_bucket, seed)
    return float(np.mean((scores - c) ** 2)) / 2.0


def _cart_propensity(variables, target, n_permutations, cp, min_bucket, random_state, n_jobs) -> dict:
    rng = np.random.default_rng(random_state)
    seed = int(rng.integers(2**31 - 1))
    scores = _tree_scores(variables, target, cp, min_bucket, seed)
    permutations = [rng.permutation(target) for _ in range(n_permutations)]
    root_bound = _RootSplitBound(variables)
    # Tree fitting releases the GIL, so threads run the permutations in parallel without copies.
    null = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_null_pmse)(variables, permuted, cp, min_bucket, seed, root_bound) for permuted in permutations
    )
    expected = float(np.mean(null))
    reason = None
    if expected == 0.0:
        reason = (
            f"none of the {n_permutations} trees fitted to permuted labels split, so the null pMSE "
            "is 0; lower cp or min_bucket"
        )
    return {
        "scores": scores,
        "expected_pmse": expected,
        "n_parameters": math.nan,
        "converged": True,
        "null_pmse": tuple(null),
        "n_null_without_split": int(np.sum(np.array(null) < 1e-8)),
        "reason": reason,
    }


# ---------------------------------------------------------------- public function


def _check_parameters(method, max_order, max_params, n_permutations, cp, min_bucket, max_iter) -> None:
    _check_choice("method", method, ("logit", "cart"))
    _check_choice("max_order", max_order, (0, 1))
    _check_positive_int("max_params", max_params)
    _check_positive_int("n_permutations", n_permutations)
    _check_positive_int("min_bucket", min_bucket)
    _check_positive_int("max_iter", max_iter)
    if isinstance(cp, bool) or not isinstance(cp, (int, float)) or not 0 <= cp < 1:
        raise ConfigError(f"cp is {cp!r}; use a number in [0, 1), for example synthpop's 0.001")


def _empty_breakdown(method: str, c: float, excluded: list, reason: str) -> dict:
    return {
        "s_pmse": math.nan, "method": method, "c": c, "expected_pmse": math.nan,
        "n_parameters": math.nan, "null_pmse": (), "specks": math.nan, "converged": False,
        "excluded_columns": tuple(excluded), "scores": pd.DataFrame(columns=["table", "propensity"]),
        "reason": reason,
    }


def propensity_mse(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    dictionary,
    method: str = "cart",
    columns=None,
    max_order: int = 1,
    max_params: int = 400,
    n_permutations: int = 50,
    cp: float = 1e-3,
    min_bucket: int = 5,
    max_iter: int = 200,
    random_state=0,
    n_jobs: int | None = 1,
) -> MetricResult:
    """Compute the propensity-score mean squared error (pMSE) and its standardised form S_pMSE.

    See the module docstring for the definitions, which follow synthpop's ``utility.gen``
    (defaults ``method="cart"``, ``maxorder=1``, ``max.params=400``, ``nperms=50``,
    ``cp=0.001``, ``minbucket=5``, ``maxit=200``).

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables containing ``columns``.
    dictionary : synthlib.dictionary.DataDictionary
        Declares the column types. Binary columns enter as numbers, as synthpop treats 0/1
        columns; dates as nanoseconds.
    method : {"cart", "logit"}
        Propensity model.
    columns : sequence of str, optional
        Columns the model uses; default all modelled columns.
    max_order : {0, 1}
        With 1, the logistic model has all two-way interactions; with 0, main effects only.
    max_params : int
        Largest logistic model to fit. A larger one gives NaN with a warning, where synthpop
        stops with an error.
    n_permutations : int
        Trees fitted to permuted labels for the CART null.
    cp : float
        Complexity parameter of the tree (see Notes).
    min_bucket : int
        Minimum rows in a leaf (rpart's ``minbucket``). A node needs ``3 * min_bucket`` rows to
        split, the default that rpart then gives ``minsplit``.
    max_iter : int
        Iterations of the logistic fit.
    random_state : int or None
        Seed of the permutations and of the tie-breaking between equally good tree splits.
    n_jobs : int or None
        Threads that fit the permuted trees (joblib's convention: None is 1, -1 all cores).
        The result does not depend on it.

    Returns
    -------
    MetricResult
        ``value`` is the pMSE. ``breakdown`` contains ``s_pmse``, ``method``, ``c`` (the
        synthetic share), ``expected_pmse`` (the null value S_pMSE divides by),
        ``n_parameters`` (logit: estimated coefficients besides the intercept),
        ``null_pmse`` (CART: the halved null values), ``specks`` (the KS statistic between the
        propensity scores of the two tables, synthpop's SPECKS), ``converged``,
        ``excluded_columns``, ``scores`` (a DataFrame of ``table`` and ``propensity`` per
        stacked row, for plots) and ``reason``. The values are NaN, with an
        IncomputableMetricWarning, when a table has no rows, no column varies, the logistic
        model exceeds ``max_params``, or no permuted tree splits (S_pMSE only).

    Notes
    -----
    Differences from synthpop:

    * The tree is scikit-learn's ``DecisionTreeClassifier`` (Gini), not rpart. A categorical
      column enters as its levels ranked by their share of synthetic rows in the whole stacked
      table, so the tree searches the same level subsets as rpart at the root node but not
      below it, where rpart ranks the levels again within each node.
    * rpart's ``cp`` prunes splits that lower the misclassification risk by less than ``cp``
      times the root risk. Here a split must lower the Gini impurity by at least ``cp`` times
      the root impurity (``min_impurity_decrease``). Trees, and so CART values, can differ from
      synthpop's. Where both trees make the same splits, as on one binary column with a clear
      difference between the tables, the pMSE values agree.
    * A column is left out only when it takes a single value in the stacked table. synthpop
      also leaves out a column that is constant in each table separately, even when the two
      constants differ.
    * A missing indicator or missing level is added when either table has missing values;
      synthpop looks at the real table only.
    """
    _check_parameters(method, max_order, max_params, n_permutations, cp, min_bucket, max_iter)
    columns = list(dictionary.modelled_columns if columns is None else columns)
    _check_columns(columns, real=real, synthetic=synthetic)

    n_total = len(real) + len(synthetic)
    c = len(synthetic) / n_total if n_total else math.nan
    variables, excluded = _prepare_variables(real, synthetic, dictionary, columns)
    if excluded:
        logger.info("Left out of the propensity model (a single value in both tables): %s", ", ".join(excluded))
    reason = None
    if len(real) == 0 or len(synthetic) == 0:
        reason = "a table has no rows"
    elif not variables:
        reason = "no column takes more than one value in the stacked tables"
    if reason:
        _warn_incomputable(PMSE, f"the table ({method})", reason)
        return MetricResult(PMSE.name, math.nan, _empty_breakdown(method, c, excluded, reason))

    target = np.r_[np.ones(len(synthetic)), np.zeros(len(real))]
    if method == "logit":
        fitted = _logit_propensity(variables, target, max_order, max_params, max_iter)
    else:
        fitted = _cart_propensity(variables, target, n_permutations, cp, min_bucket, random_state, n_jobs)
    if "scores" not in fitted:
        _warn_incomputable(PMSE, f"the table ({method})", fitted["reason"])
        return MetricResult(PMSE.name, math.nan, _empty_breakdown(method, c, excluded, fitted["reason"]))

    scores = fitted.pop("scores")
    pmse = float(np.mean((scores - c) ** 2))
    s_pmse = math.nan
    if fitted["reason"]:
        _warn_incomputable(S_PMSE, f"the table ({method})", fitted["reason"])
    else:
        s_pmse = pmse / fitted["expected_pmse"]
    labels = np.where(target == 1, "synthetic", "real")
    breakdown = {
        "s_pmse": s_pmse,
        "method": method,
        "c": c,
        **fitted,
        "specks": float(ks_2samp(scores[target == 1], scores[target == 0]).statistic),
        "excluded_columns": tuple(excluded),
        "scores": pd.DataFrame({"table": labels, "propensity": scores}),
    }
    return MetricResult(PMSE.name, pmse, breakdown)
