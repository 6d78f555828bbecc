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


def _axis_limits(tables: dict, terms: list, log_scale: bool) -> tuple:
    """Return x limits that show every estimate and the first fit's intervals.

    Intervals of other fits may run off the axis: Reiter's combined intervals with few
    degrees of freedom can be many orders of magnitude wide.
    """
    first = next(iter(tables.values()))
    first = first[first["term"].isin(terms)]
    values = [first["ci_low"], first["ci_high"]]
    values += [table.loc[table["term"].isin(terms), "estimate"] for table in tables.values()]
    values = np.concatenate([np.asarray(v, dtype=float) for v in values])
    values = values[np.isfinite(values)]
    low, high = (values.min(), values.max()) if values.size else (-1.0, 1.0)
    pad = max(0.1 * (high - low), 0.05)
    low, high = min(low - pad, 0.0), max(high + pad, 0.0)
    return (np.exp(low), np.exp(high)) if log_scale else (low, high)


def plot_forest(fits, odds_ratio=None, include_intercept=False, ax=None, truth=None, styles=None):
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
        Whether to draw exponentiated estimates (odds ratios of logistic fits, hazard
        ratios of Cox fits) on a log axis. Defaults to True for logistic and Cox fits and
        False otherwise; True is rejected for linear fits.
    include_intercept : bool, default False
        Whether to draw the ``Intercept`` term.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure sized to the number of terms is created when omitted.
    truth : mapping of str to float, optional
        True coefficient of each term (a simulated cohort), drawn as a black cross.
    styles : mapping of str to dict, optional
        Extra ``Axes.errorbar`` arguments per label, for example a colour or
        ``{"label": "_nolegend_"}`` to keep a fit out of the legend.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, without a title (the book adds a caption).
    """
    tables, family, ci_level = _normalise_input(fits)
    if odds_ratio is None:
        odds_ratio = family in ("logistic", "cox")
    elif odds_ratio and family == "linear":
        raise ConfigError(
            "odds_ratio=True needs logistic or Cox fits; linear coefficients are not log odds"
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
    # Clipping keeps a log axis computable; a ratio beyond e^30 (about 1e13) lies off the axis anyway.
    transform = (lambda values: np.exp(np.clip(values, -30, 30))) if odds_ratio else (lambda values: values)

    styles = styles or {}
    for (label, table), offset in zip(tables.items(), offsets):
        drawn = table[table["term"].isin(terms) & table["estimate"].notna()]
        y = np.array([positions[term] for term in drawn["term"]]) + offset
        estimate = transform(drawn["estimate"].to_numpy(dtype=float))
        low = transform(drawn["ci_low"].to_numpy(dtype=float))
        high = transform(drawn["ci_high"].to_numpy(dtype=float))
        style = {"fmt": "o", "markersize": 4, "capsize": 2, "label": label, **styles.get(label, {})}
        ax.errorbar(estimate, y, xerr=[estimate - low, high - estimate], **style)

    if truth:
        known = [term for term in terms if term in truth]
        ax.scatter(
            transform(np.array([truth[term] for term in known], dtype=float)),
            [positions[term] for term in known],
            marker="x", color="black", zorder=3, label="truth",
        )

    ax.axvline(1.0 if odds_ratio else 0.0, color="grey", linestyle=":", linewidth=1)
    if odds_ratio:
        ax.set_xscale("log")
    ax.set_xlim(_axis_limits(tables, terms, odds_ratio))
    ax.set_yticks(list(positions.values()), list(positions))
    level = f"{100 * ci_level:g}%"
    quantity = {"logistic": "odds ratio", "cox": "hazard ratio"}.get(family, "ratio") if odds_ratio else "estimate"
    ax.set_xlabel(f"{quantity} with {level} confidence interval")
    ax.legend(frameon=False)
    return fig


def plot_replication_forest(analysis, show_syntheses=True, include_intercept=False, ax=None):
    """Draw one analysis: real, each synthesis, the combined syntheses and each anonymized table.

    The syntheses are drawn in light grey with one legend entry, their combinations by
    Reiter's rules and by the simple-synthesis variance in strong colours, and the
    simulator's truth as black crosses when known.

    Parameters
    ----------
    analysis : synthlib.replication_verdict.AnalysisReplication
        The analysis to draw.
    show_syntheses : bool, default True
        Whether to draw each synthesis, or only their combination.
    include_intercept : bool, default False
        Whether to draw the ``Intercept`` term.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fits = {"real": analysis.real_fit}
    styles = {"real": {"color": "tab:blue"}}
    if show_syntheses:
        for position, (number, fit) in enumerate(zip(analysis.synthesis_numbers, analysis.synthetic_fits)):
            label = f"synthesis {number}"
            fits[label] = fit
            styles[label] = {"color": "0.65", "markersize": 3, "elinewidth": 0.8,
                             "label": "each synthesis" if position == 0 else "_nolegend_"}
    fits["combined (Reiter)"] = analysis.combined_fit
    styles["combined (Reiter)"] = {"color": "tab:red"}
    fits["combined (simple)"] = analysis.simple_fit
    styles["combined (simple)"] = {"color": "tab:orange"}
    for name, fit in analysis.anonymized_fits.items():
        fits[f"anonymized: {name}"] = fit
    truth = analysis.truth["coefficients"] if analysis.truth else None
    return plot_forest(fits, include_intercept=include_intercept, ax=ax, truth=truth, styles=styles)


def plot_replication_forests(analyses, show_syntheses=True):
    """Draw :func:`plot_replication_forest` for several analyses, one panel each, labelled (a), (b) ...

    Parameters
    ----------
    analyses : mapping of str to synthlib.replication_verdict.AnalysisReplication
        The analyses by name, drawn top to bottom.
    show_syntheses : bool, default True
        Whether to draw each synthesis, or only their combination.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not analyses:
        raise ConfigError("plot_replication_forests needs at least one analysis")
    n_fits = {name: 4 + len(a.anonymized_fits) + (len(a.synthetic_fits) if show_syntheses else 0)
              for name, a in analyses.items()}
    heights = [1.0 + 0.12 * n_fits[name] * max(1, len(a.real_fit.coefficients) - 1) for name, a in analyses.items()]
    fig = Figure(figsize=(6.5, sum(heights)), layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    for index, ((name, analysis), ax) in enumerate(zip(analyses.items(), axes)):
        plot_replication_forest(analysis, show_syntheses=show_syntheses, ax=ax)
        ax.text(0.0, 1.01, f"({chr(ord('a') + index)}) {name}: {analysis.real_fit.family} model",
                transform=ax.transAxes, va="bottom")
    return fig
