"""Keep each column's share of missing values at its training rate while sampling.

A model that is not fully trained can write the missing-value marker more or less often than
the training rows hold it. The sampler therefore adds a per-column offset ``b`` to the log-odds
of the marker, at the decoding step where a value may still become either the marker or a real
value (see :meth:`synthlib.constraints.ValueMask.marker_tokens`). The offset changes how often a
column is missing, but not which rows the model finds more likely to miss it: rows keep their
order of log-odds.

After each batch, a :class:`MissingRateCalibrator` sets the next offset in two steps:

1. It estimates the model's own missing log-odds ``a`` of the column from every batch so far.
   The model is ``logit P(missing) = a + b_k``, with ``b_k`` the offset used in batch ``k``, so
   ``a`` solves ``sum_k m_k = sum_k n_k * expit(a + b_k)``. Here ``m_k`` of the ``n_k`` valid rows
   of batch ``k`` missed the column. A prior batch drawn with ``b = 0``, of ``5 / r`` rows of which five
   are missing, joins the sum. This prior assumes that the model writes the marker at the
   target rate ``r``, with the weight of five missing values. Without it, a first batch in which a rarely
   missing column is never missing would give ``a = -inf`` and the largest offset, although
   256 rows of a column missing in 0.4% of the training rows often hold none.
2. It chooses the rate that brings the running total to the target after one more batch of the
   same size, ``r_next = (r * (n + n_last) - m) / n_last``, clipped to ``[1e-4, 1 - 1e-4]``, and
   moves ``b`` towards ``logit(r_next) - a`` by at most ``max_step``, within
   ``[-max_offset, max_offset]``.

Step 2 corrects the shortfall of earlier batches, so the rate of all rows together converges to
the target even though the first batch is drawn with ``b = 0``. The bounded step is needed
because columns are missing together: in SMART, a row without total cholesterol usually lacks
HDL and LDL cholesterol too, so raising the offsets of all three raises each column's rate
more than its own offset alone would.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

logger = logging.getLogger(__name__)

_RATE_FLOOR = 1e-4
_LOG_ODDS_BOUND = 30.0
_PRIOR_MISSING = 5.0


def training_missing_rates(train: pd.DataFrame, columns) -> dict:
    """Return ``{column: share of missing values}`` of the ``columns`` of ``train`` that have any.

    Columns without a missing value are left out: their grammar has no missing-value marker
    (see :func:`synthlib.conditions.complete_columns`).
    """
    rates = {}
    for name in columns:
        if name in train:
            rate = float(train[name].isna().mean())
            if rate > 0:
                rates[name] = rate
    return rates


class MissingRateCalibrator:
    """Offsets on the missing-value marker that hold each column at a target missing rate.

    Parameters
    ----------
    targets : dict
        Column -> target share of missing values, in ``(0, 1)``; usually
        :func:`training_missing_rates` of the training split.
    max_offset : float
        Largest absolute offset, in log-odds.
    max_step : float
        Largest change of an offset from one batch to the next, in log-odds.

    Attributes
    ----------
    offsets : dict
        Column -> offset added to the log-odds of the marker in the next batch.
    """

    def __init__(self, targets: dict, max_offset: float = 5.0, max_step: float = 0.5):
        for name, rate in targets.items():
            if not 0 < rate < 1:
                raise ValueError(
                    f"the target missing rate of column {name!r} is {rate}; it must lie strictly between 0 and 1. "
                    "Leave out columns that are never or always missing."
                )
        if max_offset <= 0 or max_step <= 0:
            raise ValueError(f"max_offset and max_step must be positive, got {max_offset} and {max_step}")
        self.targets = dict(targets)
        self.max_offset = float(max_offset)
        self.max_step = float(max_step)
        self.offsets = {name: 0.0 for name in self.targets}
        self._history = {name: [] for name in self.targets}

    def update(self, rows: pd.DataFrame) -> None:
        """Record the valid rows of a batch drawn with the current offsets and set the next ones.

        Parameters
        ----------
        rows : pandas.DataFrame
            The batch's valid rows, with a missing value where the marker was written.
        """
        if rows.empty:
            return
        for name, target in self.targets.items():
            if name not in rows:
                continue
            history = self._history[name]
            history.append((len(rows), int(rows[name].isna().sum()), self.offsets[name]))
            self.offsets[name] = self._next_offset(history, target)
        logger.debug("Missing-value offsets: %s", {k: round(v, 3) for k, v in self.offsets.items()})

    def _next_offset(self, history: list, target: float) -> float:
        sizes, missing, offsets = (np.array(values, dtype=float) for values in zip(*history))
        own_log_odds = _own_log_odds(
            np.append(sizes, _PRIOR_MISSING / target), np.append(missing, _PRIOR_MISSING), np.append(offsets, 0.0)
        )
        n_last = sizes[-1]
        next_rate = (target * (sizes.sum() + n_last) - missing.sum()) / n_last
        next_rate = min(max(next_rate, _RATE_FLOOR), 1 - _RATE_FLOOR)
        current = offsets[-1]
        offset = float(logit(next_rate)) - own_log_odds
        offset = min(max(offset, current - self.max_step), current + self.max_step)
        return min(max(offset, -self.max_offset), self.max_offset)

    def rates(self) -> pd.DataFrame:
        """Return, per column, the target rate, the rate of the rows seen so far and the next offset."""
        records = []
        for name, target in self.targets.items():
            history = self._history[name]
            n_rows = sum(size for size, _, _ in history)
            n_missing = sum(count for _, count, _ in history)
            records.append({
                "column": name,
                "target": target,
                "sampled": n_missing / n_rows if n_rows else math.nan,
                "offset": self.offsets[name],
            })
        return pd.DataFrame(records, columns=["column", "target", "sampled", "offset"])


def _own_log_odds(sizes: np.ndarray, missing: np.ndarray, offsets: np.ndarray) -> float:
    """Return the maximum-likelihood ``a`` of ``logit P(missing) = a + offset`` over the recorded batches.

    The estimate is bounded to ``[-30, 30]``, reached when no row, or every row, was missing.
    """
    observed = missing.sum()

    def excess(a: float) -> float:
        return float((sizes * expit(a + offsets)).sum() - observed)

    low, high = -_LOG_ODDS_BOUND, _LOG_ODDS_BOUND
    if excess(low) >= 0:
        return low
    if excess(high) <= 0:
        return high
    return float(brentq(excess, low, high))
