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
