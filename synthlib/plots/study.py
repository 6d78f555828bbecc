"""Figures of the preprocessing, fine-tuning and sampling chapters."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure


def plot_missing_rates(data: pd.DataFrame) -> Figure:
    """Draw the share of missing values of each column as horizontal bars, highest on top.

    Parameters
    ----------
    data : pandas.DataFrame
        Any table; only its per-column missing shares are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rates = data.isna().mean().sort_values()
    figure = Figure(figsize=(6, 0.8 + 0.22 * len(rates)), layout="constrained")
    ax = figure.subplots()
    ax.barh(rates.index.astype(str), 100 * rates.to_numpy(), color="C0")
    ax.set_xlabel("missing values (%)")
    ax.set_xlim(0, max(5.0, 100 * float(rates.max()) * 1.1))
    ax.tick_params(axis="y", labelsize="small")
    return figure


def plot_loss_curve(history: pd.DataFrame, validation: pd.DataFrame | None = None) -> Figure:
    """Draw the training loss, and the validation loss when there is one, against the epoch.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns ``epoch`` and ``loss``, as from :func:`synthlib.training.loss_history`.
    validation : pandas.DataFrame or None
        Columns ``epoch`` and ``loss`` of the evaluated epochs, as from
        :func:`synthlib.training.validation_history`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    ax = figure.subplots()
    ax.plot(history["epoch"], history["loss"], marker=".", color="C0", label="training")
    if validation is not None and len(validation):
        ax.plot(validation["epoch"], validation["loss"], marker="o", color="C1", label="validation")
        ax.legend()
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (cross-entropy per token)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return figure


def plot_rejections(n_valid: int, rejections: dict, max_reasons: int = 12) -> Figure:
    """Draw the count of valid generated rows and of rejected rows by reason.

    Parameters
    ----------
    n_valid : int
        Generated rows that were valid.
    rejections : dict
        Reason -> count of rejected rows.
    max_reasons : int
        Reasons drawn separately; the rest are summed into "other reasons".

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = pd.Series(rejections, dtype="int64").sort_values(ascending=False)
    if len(counts) > max_reasons:
        other = counts.iloc[max_reasons:].sum()
        counts = pd.concat([counts.iloc[:max_reasons], pd.Series({"other reasons": other})])
    bars = pd.concat([pd.Series({"valid": n_valid}), counts]).iloc[::-1]
    figure = Figure(figsize=(6.5, 1.0 + 0.3 * len(bars)), layout="constrained")
    ax = figure.subplots()
    colors = ["C2" if label == "valid" else "C3" for label in bars.index]
    ax.barh(bars.index, bars.to_numpy(), color=colors)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("generated rows")
    ax.tick_params(axis="y", labelsize="small")
    return figure
