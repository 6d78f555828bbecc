"""Figures that compare real and synthetic distributions.

Every figure draws aggregates (histogram bars, shares per level, correlations, scores) and
never plots individual real rows: there are no scatter or rug plots of real data.

NOTE: a histogram bin can still contain a single real row, so the outer bins of a small table
narrow down one patient's value. Check such figures before publishing them for tables of a few
dozen rows.

Figures carry no title because the book gives each a caption. They are built with
``matplotlib.figure.Figure`` instead of pyplot, so no global figure is left open and a notebook
shows each figure once, where it is returned.
"""

from __future__ import annotations

import logging
import math

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..exceptions import ConfigError, DataValidationError

logger = logging.getLogger(__name__)

REAL_COLOR, SYNTHETIC_COLOR = sns.color_palette("colorblind", 2)
MAX_BINS = 30
"""Histogram bins of a continuous column; an integer column spanning fewer values gets one bin per value."""


def _axis_label(spec) -> str:
    return f"{spec.name} ({spec.unit})" if spec.unit else spec.name


def _plot_values(series: pd.Series) -> np.ndarray:
    """Return the non-missing values of a continuous column as floats, dates as matplotlib day numbers."""
    observed = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(observed):
        return mdates.date2num(observed.to_numpy())
    return observed.astype("float64").to_numpy()


def _bin_edges(values: np.ndarray, integer: bool) -> np.ndarray:
    if values.size == 0:
        return np.linspace(0.0, 1.0, 2)
    low, high = values.min(), values.max()
    if integer and high - low < MAX_BINS:
        return np.arange(low - 0.5, high + 1.5)
    return np.histogram_bin_edges(values, bins=MAX_BINS)


def _missing_note(real: pd.Series, synthetic: pd.Series) -> str | None:
    real_rate, synthetic_rate = real.isna().mean(), synthetic.isna().mean()
    if real_rate == 0 and synthetic_rate == 0:
        return None
    return f"missing: real {real_rate:.0%}, synthetic {synthetic_rate:.0%}"


def _draw_continuous(ax, real: pd.Series, synthetic: pd.Series, spec) -> None:
    real_values, synthetic_values = _plot_values(real), _plot_values(synthetic)
    edges = _bin_edges(np.concatenate([real_values, synthetic_values]), spec.type == "integer")
    for values, color in ((real_values, REAL_COLOR), (synthetic_values, SYNTHETIC_COLOR)):
        if values.size:
            ax.hist(values, bins=edges, density=True, histtype="stepfilled", alpha=0.45, color=color)
            ax.hist(values, bins=edges, density=True, histtype="step", color=color)
    if spec.type == "date":
        locator = mdates.AutoDateLocator(maxticks=4)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("density")


def _levels(real: pd.Series, synthetic: pd.Series, spec) -> list:
    if spec.type == "binary":
        return [0, 1]
    declared = list(spec.levels or ())
    seen = pd.concat([real.dropna().astype(object), synthetic.dropna().astype(object)]).unique()
    return declared + sorted(set(seen) - set(declared), key=str)


def _proportions(series: pd.Series, levels: list, with_missing: bool) -> np.ndarray:
    if len(series) == 0:
        return np.full(len(levels) + with_missing, math.nan)
    counts = series.dropna().astype(object).value_counts()
    shares = [counts.get(level, 0) / len(series) for level in levels]
    if with_missing:
        shares.append(series.isna().mean())
    return np.array(shares, dtype=float)


def _draw_discrete(ax, real: pd.Series, synthetic: pd.Series, spec) -> None:
    levels = _levels(real, synthetic, spec)
    with_missing = bool(real.isna().any() or synthetic.isna().any())
    display = spec.labels or {}
    labels = [str(display.get(level, level)) for level in levels]
    if with_missing:
        labels.append("missing")
    positions = np.arange(len(labels))
    width = 0.4
    ax.bar(positions - width / 2, _proportions(real, levels, with_missing), width, color=REAL_COLOR)
    ax.bar(positions + width / 2, _proportions(synthetic, levels, with_missing), width, color=SYNTHETIC_COLOR)
    if len(labels) > 4:
        ax.set_xticks(positions, labels, rotation=45, ha="right")
    else:
        ax.set_xticks(positions, labels)
    ax.set_ylabel("proportion")


def plot_distributions(
    real: pd.DataFrame, synthetic: pd.DataFrame, dictionary, columns=None, ncols: int = 4
) -> Figure:
    """Draw one panel per column overlaying the real and synthetic distributions.

    Numeric, integer and date columns get density histograms on shared bins. Categorical and
    binary columns get grouped bars of the share of rows per level, plus a ``missing`` bar when
    any value is missing. The x label of a column with missing values adds the missing rates.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Typed tables.
    dictionary : synthlib.dictionary.DataDictionary
        Declares type, unit, levels and labels of each column.
    columns : sequence of str, optional
        Columns to draw, in order; default all modelled columns.
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with a shared legend (``real``, ``synthetic``) above the panels.
    """
    if not isinstance(ncols, int) or ncols < 1:
        raise ConfigError(f"ncols is {ncols!r}; use a positive integer")
    columns = list(dictionary.modelled_columns if columns is None else columns)
    problems = [
        f"column {name!r} is missing from the {label} table"
        for label, table in (("real", real), ("synthetic", synthetic))
        for name in columns
        if name not in table.columns
    ]
    if problems:
        raise DataValidationError(problems)

    ncols = max(1, min(ncols, len(columns)))
    nrows = max(1, math.ceil(len(columns) / ncols))
    figure = Figure(figsize=(3.2 * ncols, 2.6 * nrows + 0.4), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, columns):
        spec = dictionary.column(name)
        if spec.type in ("numeric", "integer", "date"):
            _draw_continuous(ax, real[name], synthetic[name], spec)
        else:
            _draw_discrete(ax, real[name], synthetic[name], spec)
        note = _missing_note(real[name], synthetic[name])
        ax.set_xlabel(_axis_label(spec) + (f"\n{note}" if note else ""))
    for ax in axes[len(columns):]:
        ax.set_visible(False)

    handles = [Patch(color=REAL_COLOR, alpha=0.6), Patch(color=SYNTHETIC_COLOR, alpha=0.6)]
    figure.legend(handles, ["real", "synthetic"], loc="outside upper center", ncols=2, frameon=False)
    return figure


def plot_correlation_difference(
    difference: pd.DataFrame, label: str = "synthetic minus real correlation"
) -> Figure:
    """Draw the lower triangle of a correlation (or Cramer's V) difference matrix as a heatmap.

    Parameters
    ----------
    difference : pandas.DataFrame
        Square matrix of synthetic minus real associations, as returned in
        ``synthlib.fidelity.correlation_difference(...).difference`` or
        ``synthlib.association.cramers_v_matrices(...).difference``.
    label : str
        Label of the colour bar.

    Returns
    -------
    matplotlib.figure.Figure
        Heatmap of the pairs below the diagonal, centred on 0 with a symmetric colour scale;
        NaN cells are left blank. A matrix with no pair (fewer than two columns, or only NaN)
        gives a figure with a hidden axis.
    """
    if not isinstance(difference, pd.DataFrame) or difference.shape[0] != difference.shape[1]:
        raise ConfigError("difference must be a square pandas DataFrame of correlation differences")
    # The first row and the last column contain no pair below the diagonal.
    pairs = difference.astype(float).iloc[1:, :-1]
    size = len(pairs)
    figure = Figure(figsize=(3.4 + 0.55 * size, 1.2 + 0.55 * size), layout="constrained")
    ax = figure.subplots()
    if size == 0 or pairs.isna().all().all():
        ax.set_axis_off()
        return figure

    values = np.ma.masked_invalid(pairs.to_numpy())
    values[np.triu_indices(size, k=1)] = np.ma.masked
    limit = max(0.1, float(np.abs(values).max()))
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if size <= 12:
        for (row, column), value in np.ndenumerate(values.filled(np.nan)):
            if not math.isnan(value):
                color = "white" if abs(value) > 0.6 * limit else "black"
                ax.text(column, row, f"{value:.2f}", ha="center", va="center", color=color, fontsize="small")
    ax.set_xticks(np.arange(size), pairs.columns, rotation=45, ha="right")
    ax.set_yticks(np.arange(size), pairs.index)
    ax.spines[:].set_visible(False)
    figure.colorbar(image, ax=ax, label=label)
    return figure


def plot_column_scores(shapes: pd.DataFrame) -> Figure:
    """Draw the column shape score of each column as a horizontal bar, lowest first.

    Parameters
    ----------
    shapes : pandas.DataFrame
        Output of ``synthlib.fidelity.column_shapes``, with ``column``, ``metric`` and ``score``.

    Returns
    -------
    matplotlib.figure.Figure
        Bars coloured by metric, on a 0 to 1 axis; a column with a NaN score is marked ``n/a``.
    """
    missing = [name for name in ("column", "metric", "score") if name not in shapes.columns]
    if missing:
        raise ConfigError(
            f"shapes lacks the column(s) {missing}; pass the output of synthlib.fidelity.column_shapes"
        )
    ordered = shapes.sort_values("score", na_position="first").reset_index(drop=True)
    metrics = list(dict.fromkeys(ordered["metric"]))
    colors = dict(zip(metrics, sns.color_palette("colorblind", len(metrics))))

    figure = Figure(figsize=(5.5, 1.0 + 0.3 * len(ordered)), layout="constrained")
    ax = figure.subplots()
    positions = np.arange(len(ordered))
    ax.barh(positions, ordered["score"].fillna(0.0), color=[colors[m] for m in ordered["metric"]])
    for position in positions[ordered["score"].isna().to_numpy()]:
        ax.text(0.01, position, "n/a", va="center", fontsize="small")
    ax.set_yticks(positions, ordered["column"])
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("score")
    ax.set_ylabel("column")
    handles = [Patch(color=colors[m]) for m in metrics]
    figure.legend(handles, metrics, loc="outside upper center", ncols=len(metrics), frameon=False)
    return figure


def plot_propensity_scores(propensity: dict, bins: int = 30) -> Figure:
    """Draw the distribution of propensity scores of real and synthetic rows, one panel per model.

    Parameters
    ----------
    propensity : dict
        ``{method: MetricResult}`` from ``synthlib.propensity.propensity_mse``, as in
        ``FidelityReport.propensity``.
    bins : int
        Histogram bins on [0, 1].

    Returns
    -------
    matplotlib.figure.Figure
        Density histograms of the scores of each table, with a dashed line at the synthetic
        share ``c`` that a model unable to tell the tables apart predicts for every row. The panel
        of a model that could not be fitted shows the text ``not computed``.
    """
    if not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"bins is {bins!r}; use a positive integer")
    if not propensity:
        raise ConfigError("propensity is empty; pass FidelityReport.propensity or {method: propensity_mse(...)}")
    figure = Figure(figsize=(3.6 * len(propensity), 3.0), layout="constrained")
    axes = figure.subplots(1, len(propensity), squeeze=False).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, (method, result) in zip(axes, propensity.items()):
        scores = result.breakdown["scores"]
        ax.set_xlabel(f"propensity score ({method})")
        ax.set_ylabel("density")
        if scores.empty:
            ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes)
            continue
        for table, color in (("real", REAL_COLOR), ("synthetic", SYNTHETIC_COLOR)):
            values = scores.loc[scores["table"] == table, "propensity"].to_numpy()
            ax.hist(values, bins=edges, density=True, histtype="stepfilled", alpha=0.45, color=color)
            ax.hist(values, bins=edges, density=True, histtype="step", color=color)
        ax.axvline(result.breakdown["c"], color="black", linestyle="--", linewidth=1)
        ax.set_xlim(0.0, 1.0)

    handles = [Patch(color=REAL_COLOR, alpha=0.6), Patch(color=SYNTHETIC_COLOR, alpha=0.6)]
    figure.legend(handles, ["real", "synthetic"], loc="outside upper center", ncols=2, frameon=False)
    return figure


def plot_importance_agreement(importances: pd.DataFrame, ncols: int = 4) -> Figure:
    """Draw the permutation importance of each feature for real-trained against synthetic-trained models.

    Parameters
    ----------
    importances : pandas.DataFrame
        ``FidelityReport.importances`` or ``UtilityComparison.importances``: ``model``,
        ``feature``, ``real_importance`` and ``synthetic_importance`` (and ``outcome``).
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per outcome and model, one point per feature, with the line of equal
        importance. Points on the line are features the synthetic-trained model relies on as
        much as the real-trained one.
    """
    if not isinstance(ncols, int) or ncols < 1:
        raise ConfigError(f"ncols is {ncols!r}; use a positive integer")
    required = ["model", "feature", "real_importance", "synthetic_importance"]
    missing = [name for name in required if name not in importances.columns]
    if missing:
        raise ConfigError(
            f"importances lacks the column(s) {missing}; pass FidelityReport.importances"
        )
    keys = ["outcome", "model"] if "outcome" in importances.columns else ["model"]
    groups = list(importances.groupby(keys, sort=False))
    ncols = max(1, min(ncols, len(groups)))
    nrows = max(1, math.ceil(len(groups) / ncols))
    figure = Figure(figsize=(3.4 * ncols, 3.2 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (key, group) in zip(axes, groups):
        names = key if isinstance(key, tuple) else (key,)
        ax.scatter(group["real_importance"], group["synthetic_importance"], s=14, color=SYNTHETIC_COLOR)
        values = group[["real_importance", "synthetic_importance"]].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = min(0.0, finite.min()), max(finite.max(), 1e-6)
            ax.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1)
        ax.set_xlabel(f"importance, trained on real\n({', '.join(map(str, names))})")
        ax.set_ylabel("importance, trained on synthetic")
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    if not groups:
        axes[0].set_visible(True)
        axes[0].set_axis_off()
    return figure
