"""Combined inference over m fully synthetic datasets.

The same model is fitted on each of m synthetic datasets and the m estimates and
variances of each coefficient are combined into one estimate, one variance and one
confidence interval. Two variance estimators are offered:

* ``"reiter"``: the combining rules for fully synthetic data of Raghunathan, Reiter and
  Rubin (2003), with Reiter's (2002) replacement when the variance estimate is not
  positive. They assume that each synthesis was drawn with its own draw of the
  generator's parameters from their posterior.
* ``"simple"``: the variance of Raab, Nowok and Dibben (2016) for syntheses sampled from
  one fitted generator without parameter draws, as synthpop 1.9 computes it in
  ``summary.fit.synds`` with ``population.inference = TRUE`` and ``proper = FALSE``.

synthlib samples its m syntheses from one trained model, which is the second setting.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .exceptions import ConfigError, SynthlibError, SynthlibWarning
from .replication import COEFFICIENT_COLUMNS, FitResult

logger = logging.getLogger(__name__)

VARIANCES = ("reiter", "simple")
COMBINED_COLUMNS = (
    *COEFFICIENT_COLUMNS,
    "n_syntheses",
    "between_variance",
    "within_variance",
    "reiter_variance",
    "variance_adjusted",
    "df",
    "simple_variance",
)


def combine_estimates(estimates, variances, n_real=None, n_synthetic=None) -> pd.DataFrame:
    """Combine the estimates of one quantity from m fully synthetic datasets (Reiter's rules).

    With ``q_i`` the estimate and ``u_i`` its variance (the squared standard error) from
    synthesis ``i = 1 .. m``::

        q_bar = sum(q_i) / m                          combined estimate
        b_m   = sum((q_i - q_bar) ** 2) / (m - 1)     between-synthesis variance
        u_bar = sum(u_i) / m                          mean within-synthesis variance
        T_f   = (1 + 1/m) * b_m - u_bar               variance of q_bar
        nu_f  = (m - 1) * (1 - m * u_bar / ((m + 1) * b_m)) ** 2

    and ``(Q - q_bar) / sqrt(T_f)`` follows a t distribution with ``nu_f`` degrees of
    freedom (Raghunathan, Reiter and Rubin, 2003). ``T_f`` can be zero or negative, most
    often for small m. Then the variance is replaced by Reiter's (2002)
    ``T_f* = (n_synthetic / n_real) * u_bar``, which is ``u_bar`` when the synthetic and
    real tables have the same size. The normal distribution is used with it
    (``df = inf``), and ``variance_adjusted`` marks these rows.

    The simple-synthesis variance of Raab, Nowok and Dibben (2016) is returned beside it::

        T_s = u_bar * (n_synthetic / n_real + 1 / m)

    Parameters
    ----------
    estimates, variances : array_like of shape (m,) or (m, p)
        Estimates and their variances, one row per synthesis and one column per
        quantity. NaN marks a quantity that a synthesis did not estimate, so each column
        is combined over its own available syntheses.
    n_real, n_synthetic : float, optional
        Rows of the real fit and mean rows of the synthetic fits; both default to equal
        sizes (ratio 1).

    Returns
    -------
    pandas.DataFrame
        One row per quantity with ``estimate`` (q_bar), ``n_syntheses`` (m),
        ``between_variance`` (b_m), ``within_variance`` (u_bar), ``reiter_variance``
        (T_f, or T_f* where ``variance_adjusted``), ``variance_adjusted``, ``df`` (nu_f)
        and ``simple_variance`` (T_s). With a single synthesis b_m is NaN and the Reiter
        variance takes the adjusted value.

    Raises
    ------
    SynthlibError
        If the shapes differ, a variance is negative or the sizes are not positive.

    References
    ----------
    Raghunathan, T. E., Reiter, J. P. and Rubin, D. B. (2003). Multiple imputation for
    statistical disclosure limitation. Journal of Official Statistics, 19(1), 1-16.

    Reiter, J. P. (2002). Satisfying disclosure restrictions with synthetic data sets.
    Journal of Official Statistics, 18(4), 531-543.

    Raab, G. M., Nowok, B. and Dibben, C. (2016). Practical data synthesis for large
    samples. Journal of Privacy and Confidentiality, 7(3), 67-97.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim == 1 and u.ndim == 1:
        q, u = q[:, None], u[:, None]
    if q.shape != u.shape or q.ndim != 2:
        raise SynthlibError(
            f"estimates and variances must have the same shape (m syntheses x p quantities), "
            f"got {np.shape(estimates)} and {np.shape(variances)}"
        )
    if np.any(u < 0):
        raise SynthlibError("a variance is negative; pass squared standard errors")
    size_ratio = _size_ratio(n_real, n_synthetic)

    available = ~np.isnan(q) & ~np.isnan(u)
    m = available.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_bar = np.where(available, q, 0.0).sum(axis=0) / m
        u_bar = np.where(available, u, 0.0).sum(axis=0) / m
        squares = np.where(available, (q - q_bar) ** 2, 0.0).sum(axis=0)
        b_m = np.where(m >= 2, squares / (m - 1), np.nan)
        t_f = (1 + 1 / m) * b_m - u_bar
        df = (m - 1) * (1 - m * u_bar / ((m + 1) * b_m)) ** 2
        simple = u_bar * (size_ratio + 1 / m)

    adjusted = ~(t_f > 0)
    reiter = np.where(adjusted, size_ratio * u_bar, t_f)
    df = np.where(adjusted, np.inf, df)
    missing = m == 0
    return pd.DataFrame(
        {
            "estimate": q_bar,
            "n_syntheses": m,
            "between_variance": b_m,
            "within_variance": u_bar,
            "reiter_variance": np.where(missing, np.nan, reiter),
            "variance_adjusted": np.where(missing, False, adjusted),
            "df": np.where(missing, np.nan, df),
            "simple_variance": simple,
        }
    )


def _size_ratio(n_real, n_synthetic) -> float:
    if n_real is None and n_synthetic is None:
        return 1.0
    if n_real is None or n_synthetic is None or not (n_real > 0 and n_synthetic > 0):
        raise SynthlibError(
            f"n_real and n_synthetic must both be positive row counts, got {n_real!r} and {n_synthetic!r}"
        )
    return float(n_synthetic) / float(n_real)


def combine_fits(
    fits, n_real=None, variance: str = "reiter", ci_level: float | None = None
) -> FitResult:
    """Combine the fits of one model on m syntheses into one fit, by :func:`combine_estimates`.

    Terms follow the first fit, followed by any term that only later fits contain. A term
    missing from some fits (a category level absent from a synthesis) is combined over the
    fits that contain it, with a SynthlibWarning.

    Parameters
    ----------
    fits : sequence of FitResult
        Fits of the same formula and family, one per synthesis.
    n_real : int, optional
        Rows of the real fit, for the size ratio n_synthetic / n_real of the variances;
        None assumes equal sizes.
    variance : {"reiter", "simple"}, default "reiter"
        Which variance gives ``std_error``, the interval and the p-value: Reiter's
        combining rules (t distribution with nu_f degrees of freedom, normal where the
        variance was adjusted) or the simple-synthesis variance (normal distribution).
    ci_level : float, optional
        Confidence level; defaults to that of the fits.

    Returns
    -------
    FitResult
        ``coefficients`` contains :data:`COMBINED_COLUMNS`. ``n`` and ``n_dropped`` are the
        means over the fits, rounded, and ``converged`` is True when every fit converged.

    Raises
    ------
    ConfigError
        If ``variance`` is unknown or ``fits`` is empty.
    SynthlibError
        If the fits differ in formula, family or confidence level.
    """
    fits = list(fits)
    if variance not in VARIANCES:
        raise ConfigError(f"variance must be one of {VARIANCES}, got {variance!r}")
    if not fits:
        raise ConfigError("combine_fits needs at least one fit")
    _check_same_model(fits)
    ci_level = fits[0].ci_level if ci_level is None else ci_level

    terms = list(dict.fromkeys(term for fit in fits for term in fit.coefficients["term"]))
    estimates = np.vstack([_by_term(fit, "estimate", terms) for fit in fits])
    variances = np.vstack([_by_term(fit, "std_error", terms) ** 2 for fit in fits])
    incomplete = [term for term, count in zip(terms, np.isnan(estimates).sum(axis=0)) if count]
    if incomplete:
        warnings.warn(
            f"term(s) {', '.join(incomplete)} are missing from some syntheses; they are combined "
            "over the syntheses that estimate them",
            SynthlibWarning,
            stacklevel=2,
        )

    n_synthetic = float(np.mean([fit.n for fit in fits]))
    combined = combine_estimates(
        estimates, variances, n_real=n_real, n_synthetic=n_synthetic if n_real is not None else None
    )
    combined.insert(0, "term", terms)
    _add_interval(combined, variance, ci_level)
    first = fits[0]
    return FitResult(
        formula=first.formula,
        family=first.family,
        outcome=first.outcome,
        coefficients=combined[list(COMBINED_COLUMNS)],
        n=int(round(n_synthetic)),
        n_dropped=int(round(np.mean([fit.n_dropped for fit in fits]))),
        converged=all(fit.converged for fit in fits),
        ci_level=ci_level,
        event=first.event,
    )


def _check_same_model(fits) -> None:
    for attribute in ("formula", "family", "ci_level"):
        values = {getattr(fit, attribute) for fit in fits}
        if len(values) > 1:
            raise SynthlibError(
                f"cannot combine fits with different {attribute} values {sorted(map(str, values))}; "
                "fit the same model on every synthesis"
            )


def _by_term(fit: FitResult, column: str, terms: list) -> np.ndarray:
    values = fit.coefficients.set_index("term")[column]
    return values.reindex(terms).to_numpy(dtype=float)


def _add_interval(combined: pd.DataFrame, variance: str, ci_level: float) -> None:
    """Add ``std_error``, ``ci_low``, ``ci_high`` and ``p_value`` from the chosen variance."""
    if variance == "reiter":
        total, df = combined["reiter_variance"], combined["df"]
    else:
        total, df = combined["simple_variance"], pd.Series(np.inf, index=combined.index)
    std_error = np.sqrt(total.to_numpy(dtype=float))
    df = df.to_numpy(dtype=float)
    # The t distribution with infinite degrees of freedom is the normal distribution.
    critical = stats.t.ppf(0.5 + ci_level / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = combined["estimate"].to_numpy(dtype=float) / std_error
    combined["std_error"] = std_error
    combined["ci_low"] = combined["estimate"] - critical * std_error
    combined["ci_high"] = combined["estimate"] + critical * std_error
    combined["p_value"] = 2 * stats.t.sf(np.abs(statistic), df)
