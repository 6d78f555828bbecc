"""Figures of the privacy chapter."""

from __future__ import annotations

import logging

from matplotlib.figure import Figure
import numpy as np

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

_KINDS = ("ecdf", "hist")


def plot_dcr(dcr_result, kind="ecdf", bins=30, show_medians=True, ax=None):
    """Plot synthetic-to-train and holdout-to-train distances to closest record together.

    A synthetic curve left of the holdout curve means synthetic rows sit closer to the
    training rows than unseen real rows do, which is the pattern of memorisation.

    Parameters
    ----------
    dcr_result : DCRResult
        Output of :func:`synthlib.privacy.distance_to_closest_record`.
    kind : {"ecdf", "hist"}, default "ecdf"
        Empirical cumulative distribution functions, or histograms scaled to densities.
    bins : int, default 30
        Number of histogram bins over [0, max distance]; ignored for ``"ecdf"``.
    show_medians : bool, default True
        Whether to draw a dashed vertical line at each median.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, without a title (the book adds a caption).
    """
    if kind not in _KINDS:
        raise ConfigError(f"kind must be one of {_KINDS}, got {kind!r}")
    if ax is None:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure

    series = [
        ("synthetic to train", dcr_result.synthetic_to_train, "C0"),
        ("holdout to train", dcr_result.holdout_to_train, "C1"),
    ]
    upper = max([float(np.max(values)) for _, values, _ in series if values.size] + [1e-9])
    edges = np.linspace(0.0, upper, bins + 1)

    for label, values, colour in series:
        if values.size == 0:
            logger.warning("no %s distances to plot", label)
            continue
        if kind == "ecdf":
            ax.ecdf(values, label=label, color=colour)
        else:
            ax.hist(values, bins=edges, density=True, histtype="step", label=label, color=colour)
        if show_medians:
            ax.axvline(float(np.median(values)), color=colour, linestyle="--", linewidth=1)

    ax.set_xlabel("distance to closest record")
    ax.set_ylabel("cumulative share of rows" if kind == "ecdf" else "density")
    ax.legend(frameon=False)
    return fig


_KIND_STYLES = {"synthetic": ("o", "C0"), "anonymized": ("s", "C1")}


def plot_privacy_utility(points, risks=("membership_inference_auc", "attribute_inference_risk"),
                         utility="quality_score", axes=None):
    """Plot each release as a point: a privacy risk across, a utility score up.

    Synthetic releases are blue circles and anonymized ones orange squares, each labelled.
    Points up and to the left are better. On a membership inference panel a dotted line
    marks AUC 0.5, the attacker who only guesses.

    Parameters
    ----------
    points : pandas.DataFrame
        Output of :func:`synthlib.tradeoff.privacy_utility_points`.
    risks : sequence of str
        One panel per risk, keys of :data:`synthlib.tradeoff.RISKS`.
    utility : str, default "quality_score"
        A key of :data:`synthlib.tradeoff.UTILITIES`.
    axes : sequence of matplotlib.axes.Axes, optional
        One per risk; a new figure is created when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, without a title (the book adds a caption).
    """
    from ..tradeoff import RISKS, UTILITIES

    unknown = [risk for risk in risks if risk not in RISKS]
    if unknown or utility not in UTILITIES:
        raise ConfigError(f"risks must be among {list(RISKS)} and utility among {list(UTILITIES)}; "
                          f"got risks={list(risks)}, utility={utility!r}")
    if axes is None:
        fig = Figure(figsize=(5 * len(risks), 4), layout="constrained")
        axes = fig.subplots(1, len(risks), sharey=True, squeeze=False)[0]
    else:
        fig = axes[0].figure

    for ax, risk in zip(axes, risks):
        for kind, (marker, colour) in _KIND_STYLES.items():
            rows = points[(points["kind"] == kind) & points[risk].notna() & points[utility].notna()]
            ax.scatter(rows[risk], rows[utility], marker=marker, color=colour, label=kind, zorder=3)
            for _, row in rows.iterrows():
                ax.annotate(row["label"], (row[risk], row[utility]), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)
        if risk == "membership_inference_auc":
            ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        # Room for the labels of the points at the right edge.
        ax.margins(x=0.15)
        ax.set_xlabel(f"{RISKS[risk]} (lower is better)")
    axes[0].set_ylabel(f"{UTILITIES[utility]} (higher is better)")
    axes[0].legend(frameon=False)
    return fig
