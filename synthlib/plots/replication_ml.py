"""Figure of the machine-learning replication: permutation importances, real-trained against synthetic-trained."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def plot_importances(ml, ax=None):
    """Draw the permutation importance of each predictor for the real-trained and synthetic-trained models.

    Predictors are ordered by their importance in the real-trained model, most important on top.
    The synthetic bar is the mean over the syntheses, with a whisker from the lowest to the highest
    synthesis.

    Parameters
    ----------
    ml : synthlib.ml_replication.MLReplication
        The machine-learning replication.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure sized to the number of predictors is created when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, without a title (the book adds a caption).
    """
    features = list(ml.ranking["feature"])
    wide = ml.importances.pivot(index="feature", columns="trained_on", values="importance_mean").loc[features]
    synthetic = wide.drop(columns="real")
    mean = synthetic.mean(axis=1).to_numpy()
    low, high = synthetic.min(axis=1).to_numpy(), synthetic.max(axis=1).to_numpy()

    if ax is None:
        fig = Figure(figsize=(6.5, 1.0 + 0.4 * len(features)), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    y = -np.arange(len(features))
    ax.barh(y + 0.2, wide["real"].to_numpy(), height=0.4, label="trained on real", color="tab:blue")
    ax.barh(y - 0.2, mean, height=0.4, label="trained on synthetic (mean)", color="tab:red",
            xerr=[mean - low, high - mean], error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_yticks(y, features)
    ax.set_xlabel(f"permutation importance (drop of {ml.metric} on the real holdout)")
    ax.legend(frameon=False)
    return fig
