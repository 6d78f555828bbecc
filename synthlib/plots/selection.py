"""Figures of the model-selection chapter."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def plot_selection(table: pd.DataFrame, optimal: str, max_membership_auc: float | None = None, ax=None) -> Figure:
    """Plot each candidate as a point: membership inference AUC across, score up.

    Eligible candidates are filled circles and ineligible ones grey crosses. A dashed vertical
    line marks the maximum membership inference AUC of the score rule, and a dotted one AUC 0.5,
    the attacker who only guesses. The optimal candidate is a star labelled with its id. A
    candidate without a membership inference AUC or a score cannot be placed and is left out,
    with a log message.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`synthlib.selection.SelectionResult.table`: columns ``id``,
        ``membership_inference_auc``, ``score`` and ``eligible``.
    optimal : str
        Id of the optimal candidate.
    max_membership_auc : float or None
        Threshold of the score rule; None draws no threshold line.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, without a title (the book adds a caption).
    """
    if ax is None:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure

    placed = table[table["membership_inference_auc"].notna() & table["score"].notna()]
    if len(placed) < len(table):
        logger.info("%d candidates without a membership inference AUC or a score are not plotted",
                    len(table) - len(placed))
    eligible = placed["eligible"].astype(bool)
    ax.scatter(placed.loc[eligible, "membership_inference_auc"], placed.loc[eligible, "score"],
               marker="o", color="C0", label="eligible", zorder=3)
    ax.scatter(placed.loc[~eligible, "membership_inference_auc"], placed.loc[~eligible, "score"],
               marker="x", color="grey", label="ineligible", zorder=3)

    best = placed[placed["id"] == optimal]
    if len(best):
        x, y = float(best["membership_inference_auc"].iloc[0]), float(best["score"].iloc[0])
        ax.scatter([x], [y], marker="*", s=220, color="C1", edgecolor="black", label="optimal", zorder=4)
        ax.annotate(optimal, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)

    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    if max_membership_auc is not None:
        ax.axvline(max_membership_auc, color="C3", linestyle="--", linewidth=1, label="maximum membership AUC")
    # Room for the label of a point at the right edge.
    ax.margins(x=0.15)
    ax.set_xlabel("membership inference AUC (privacy risk, lower is better)")
    ax.set_ylabel("score (higher is better)")
    ax.legend(frameon=False, fontsize=8)
    return fig
