"""Figures of the clinical replication chapter."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)


def _fits_from_comparison(comparison: pd.DataFrame) -> dict:
    """Split a compare_fits table into real and synthetic coefficient tables."""
    fits = {}
    for label in ("real", "synthetic"):
        columns = {f"{name}_{label}": name for name in ("estimate", "ci_low", "ci_high")}
        fits[label] = comparison[["term", *columns]].rename(columns=columns)
    return fits


def _normalise_input(fits):
    """Return ``({label: coefficient table}, family, ci_level)`` from any accepted input."""
    if isinstance(fits, pd.DataFrame):
        family = fits.attrs.get("family")
        return _fits_from_comparison(fits), family, fits.attrs.get("ci_level", 0.95)
    if not isinstance(fits, Mapping) or not fits:
        raise ConfigError(
            "plot_forest expects a compare_fits table or a non-empty mapping of labels "
            f"to FitResult, got {type(fits).__name__}"
        )
    families = {fit.family for fit in fits.values()}
    levels = {fit.ci_level for fit in fits.values()}
    if len(families) > 1 or len(levels) > 1:
        raise ConfigError(
            f"cannot draw fits of families {sorted(families)} or levels {sorted(levels)} "
            "on one axis; plot them separately"
        )
    tables = {label: fit.coefficients for label, fit in fits.items()}
    return tables, families.pop(), levels.pop()


def plot_forest(fits, odds_ratio=None, include_intercept=False, ax=None):
    """Draw a forest plot: per term, the estimate and its confidence interval for each fit.

    Fits are drawn side by side within each term's row, in the order given, so the
    real and synthetic intervals of a term can be read against each other.

    Parameters
    ----------
    fits : pandas.DataFrame or mapping of str to FitResult
        A :func:`synthlib.replication.compare_fits` table (drawn as ``real`` and
        ``synthetic``), or fits keyed by label, for example
        ``{"real": real_fit, "synthetic": synthetic_fit, "holdout": holdout_fit}``.
    odds_ratio : bool, optional
        Whether to draw exponentiated estimates (odds ratios) on a log axis. Defaults to
        True for logistic fits and False otherwise; True is rejected for linear fits.
    include_intercept : bool, default False
        Whether to draw the ``Intercept`` term.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure sized to the number of terms is created when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, without a title (the book adds a caption).
    """
    tables, family, ci_level = _normalise_input(fits)
    if odds_ratio is None:
        odds_ratio = family == "logistic"
    elif odds_ratio and family == "linear":
        raise ConfigError(
            "odds_ratio=True needs logistic fits; linear coefficients are not log odds"
        )

    terms = list(dict.fromkeys(term for table in tables.values() for term in table["term"]))
    if not include_intercept:
        terms = [term for term in terms if term != "Intercept"]
    if not terms:
        raise ConfigError(
            "no terms to draw; pass include_intercept=True to draw an intercept-only model"
        )

    if ax is None:
        fig = Figure(figsize=(6.5, 1.0 + 0.45 * len(terms) * max(1, len(tables) / 2)), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure

    positions = {term: -i for i, term in enumerate(terms)}
    # The first fit is drawn on top within each row, matching the legend order.
    offsets = np.linspace(0.2, -0.2, len(tables)) if len(tables) > 1 else [0.0]
    transform = np.exp if odds_ratio else (lambda values: values)

    for (label, table), offset in zip(tables.items(), offsets):
        drawn = table[table["term"].isin(terms) & table["estimate"].notna()]
        y = np.array([positions[term] for term in drawn["term"]]) + offset
        estimate = transform(drawn["estimate"].to_numpy(dtype=float))
        low = transform(drawn["ci_low"].to_numpy(dtype=float))
        high = transform(drawn["ci_high"].to_numpy(dtype=float))
        ax.errorbar(
            estimate,
            y,
            xerr=[estimate - low, high - estimate],
            fmt="o",
            markersize=4,
            capsize=2,
            label=label,
        )

    ax.axvline(1.0 if odds_ratio else 0.0, color="grey", linestyle=":", linewidth=1)
    if odds_ratio:
        ax.set_xscale("log")
    ax.set_yticks(list(positions.values()), list(positions))
    level = f"{100 * ci_level:g}%"
    quantity = "odds ratio" if odds_ratio else "estimate"
    ax.set_xlabel(f"{quantity} with {level} confidence interval")
    ax.legend(frameon=False)
    return fig
