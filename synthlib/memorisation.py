"""A memorisation check during fine-tuning, run at the end of each epoch.

The idea comes from REaLTabFormer ("REaLTabFormer: Generating realistic relational and tabular data
using transformers", Python package ``realtabformer``): while the model trains, sample a few fresh
rows and stop once they sit closer to the training rows than to real rows the model never saw. The
statistic and the threshold below are this module's own.

Statistic
---------
Sample ``n`` synthetic rows with the current model. For each synthetic row ``s``, compute its
distance to closest record (DCR) among the training rows, ``d_train(s)``, and among the holdout rows,
``d_holdout(s)``, with the mixed-type distance of :mod:`synthlib.privacy` (numeric ranges taken from
the training rows). The statistic is the share of synthetic rows closer to the training rows,
counting a tie as one half::

    share = (#{d_train < d_holdout} + 0.5 * #{d_train == d_holdout}) / n

Expected share without memorisation
-----------------------------------
The training and holdout rows are a uniformly random split of ``n_train + n_holdout`` real rows
(:func:`synthlib.training.split_validation` draws it). A model that learnt the distribution but not
the rows generates rows independent of that split. The real row nearest to such a row is then a
training row with probability ``p = n_train / (n_train + n_holdout)``, so ``share`` has expectation
``p``. With a 90/10 split ``p`` is 0.9, not 0.5. Ties arise when real rows at the same smallest
distance fall on both sides of the split. With ``k`` such rows and ties counted as one half, the
expectation is ``(1 + p**k - (1 - p)**k) / 2``: equal to ``p`` for ``k <= 2``, and below ``p`` for
larger ``k`` whenever ``p >= 0.5``. So ties never push the check towards stopping as long as the
holdout is no larger than the training rows.

Threshold
---------
Without ties the count of rows closer to train is Binomial(``n``, ``p``) under no memorisation. The
check flags an epoch when ``share`` exceeds ``k / n``, where ``k`` is the ``1 - alpha`` quantile of
that binomial: a one-sided test at level ``alpha``, roughly ``p + z(1 - alpha) * sqrt(p (1 - p) / n)``.
The binomial treats the synthetic rows as independent trials, which is an approximation: rows that
share a nearest real row share its side of the split. The approximation is close when the synthetic rows are few
compared with the real rows.

The threshold stays at 1, so no epoch can be flagged, while ``p**n >= alpha``: at ``p = 0.9`` and
``alpha = 0.01`` the check needs at least 44 valid synthetic rows. A model that copies a share ``c``
of its rows raises the expected share to ``p + c (1 - p)``, so a larger holdout (smaller ``p``) and
more synthetic rows detect copying sooner. The check runs once per epoch, so over ``m`` checked
epochs the chance of a false stop is at most about ``m * alpha``.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import binom
from transformers import TrainerCallback

from synthlib.exceptions import ConfigError, SynthlibWarning
from synthlib.privacy import nearest_neighbours

logger = logging.getLogger(__name__)

LOG_KEY = "memorisation_check"
"""Key of the per-epoch records that :class:`MemorisationCheckCallback` adds to the Trainer's log history."""


@dataclass(frozen=True)
class MemorisationCheck:
    """Outcome of one memorisation check.

    Attributes
    ----------
    n_synthetic : int
        Valid synthetic rows compared (can fall short of the request when few texts were valid).
    share_closer_to_train : float
        Share of synthetic rows closer to the training rows than to the holdout rows, ties counting
        one half; NaN without synthetic rows.
    expected_share : float
        ``n_train / (n_train + n_holdout)``, the share expected without memorisation.
    threshold : float
        Share above which the epoch is flagged (binomial ``1 - alpha`` quantile over ``n_synthetic``).
    memorising : bool
        Whether ``share_closer_to_train`` exceeds ``threshold``.
    """

    n_synthetic: int
    share_closer_to_train: float
    expected_share: float
    threshold: float
    memorising: bool


def share_closer_to_train(train_distance, holdout_distance) -> float:
    """Return the share of rows closer to train than to holdout, a tie counting one half.

    Parameters
    ----------
    train_distance, holdout_distance : array-like of float
        Each synthetic row's DCR among the training rows and among the holdout rows.

    Returns
    -------
    float
        In [0, 1]; NaN for empty input.
    """
    train_distance = np.asarray(train_distance, dtype=float)
    holdout_distance = np.asarray(holdout_distance, dtype=float)
    if train_distance.shape != holdout_distance.shape:
        raise ValueError(
            f"train_distance and holdout_distance must have the same shape, got {train_distance.shape} "
            f"and {holdout_distance.shape}"
        )
    if train_distance.size == 0:
        return float("nan")
    closer = (train_distance < holdout_distance).sum()
    tied = (train_distance == holdout_distance).sum()
    return float((closer + 0.5 * tied) / train_distance.size)


def memorisation_threshold(n_synthetic: int, expected_share: float, alpha: float) -> float:
    """Return the share of rows closer to train above which an epoch is flagged.

    Parameters
    ----------
    n_synthetic : int
        Synthetic rows compared, at least 1.
    expected_share : float
        Share expected without memorisation, in (0, 1).
    alpha : float
        One-sided level of the test, in (0, 1).

    Returns
    -------
    float
        ``k / n_synthetic`` with ``k`` the smallest count whose Binomial(``n_synthetic``,
        ``expected_share``) distribution function reaches ``1 - alpha``.
    """
    critical_count = binom.ppf(1 - alpha, n_synthetic, expected_share)
    return float(critical_count / n_synthetic)


def judge_memorisation(train_distance, holdout_distance, n_train: int, n_holdout: int, alpha: float) -> MemorisationCheck:
    """Compare the share of synthetic rows closer to train with its threshold.

    Parameters
    ----------
    train_distance, holdout_distance : array-like of float
        Each synthetic row's DCR among the ``n_train`` training rows and the ``n_holdout`` holdout rows.
    n_train, n_holdout : int
        Sizes of the two sets of real rows, at least 1 each.
    alpha : float
        One-sided level of the test, in (0, 1).

    Returns
    -------
    MemorisationCheck
        Never flags an epoch without synthetic rows.
    """
    if n_train < 1 or n_holdout < 1:
        raise ValueError(f"n_train and n_holdout must be at least 1, got {n_train} and {n_holdout}")
    share = share_closer_to_train(train_distance, holdout_distance)
    n_synthetic = int(np.asarray(train_distance).size)
    expected = n_train / (n_train + n_holdout)
    threshold = memorisation_threshold(n_synthetic, expected, alpha) if n_synthetic else float("nan")
    memorising = bool(n_synthetic and share > threshold)
    return MemorisationCheck(n_synthetic, share, expected, threshold, memorising)


def check_memorisation(synthetic, train, holdout, dictionary, alpha: float) -> MemorisationCheck:
    """Run the memorisation check on typed tables.

    Parameters
    ----------
    synthetic, train, holdout : pandas.DataFrame
        Tables typed by ``dictionary``; ``train`` and ``holdout`` need at least one row.
    dictionary : DataDictionary
        Declares the modelled columns that the distance compares.
    alpha : float
        One-sided level of the test, in (0, 1).

    Returns
    -------
    MemorisationCheck
    """
    if len(synthetic) == 0:
        return judge_memorisation([], [], len(train), len(holdout), alpha)
    to_train = nearest_neighbours(synthetic, train, dictionary, ranges_from=train)
    to_holdout = nearest_neighbours(synthetic, holdout, dictionary, ranges_from=train)
    return judge_memorisation(to_train.distance, to_holdout.distance, len(train), len(holdout), alpha)


def check_alpha(alpha) -> float:
    """Return ``alpha`` as a float, or raise ConfigError when it is not in (0, 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"memorisation_check_alpha must be a number between 0 and 1 (exclusive), got {alpha!r}")
    return float(alpha)


class MemorisationCheckCallback(TrainerCallback):
    """Sample rows at the end of each epoch and stop training once they look memorised.

    From epoch ``from_epoch`` on, the callback samples ``n_samples`` rows with the current model
    through :func:`synthlib.sampling.sample` (same seed every epoch, so epochs differ only by the
    model) and runs :func:`check_memorisation`. The record of each checked epoch is appended to
    ``state.log_history`` under :data:`LOG_KEY`, so it is saved in every checkpoint and survives a
    resumed run.

    A flagged epoch stops training and is not evaluated on the validation rows, so the Trainer
    cannot select its checkpoint as the best model.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerBase
        The model's tokenizer.
    dictionary : DataDictionary
        Declarations of the modelled columns.
    train, holdout : pandas.DataFrame
        Typed training rows and real rows the model does not train on.
    n_samples : int
        Rows generated per check, in one batch. Invalid ones are dropped and the check compares
        the valid ones, which bounds its cost when the model still writes many invalid rows.
    from_epoch : int
        First epoch (counted from 1) that is checked.
    alpha : float
        One-sided level of the test, see this module's docstring.
    random_state : int
        Seed of the sampling.
    """

    def __init__(self, tokenizer, dictionary, train: pd.DataFrame, holdout: pd.DataFrame, n_samples: int = 200,
                 from_epoch: int = 2, alpha: float = 0.01, random_state=0):
        self.tokenizer = tokenizer
        self.dictionary = dictionary
        self.train = train
        self.holdout = holdout
        self.n_samples = n_samples
        self.from_epoch = from_epoch
        self.alpha = check_alpha(alpha)
        self.random_state = random_state
        self.stopped_training = False
        self.seconds = []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if _epoch_number(state) < self.from_epoch:
            return
        started = time.perf_counter()
        synthetic = self.sample_rows(model)
        self.record_check(synthetic, state, control, sampling_seconds=time.perf_counter() - started)

    def record_check(self, synthetic: pd.DataFrame, state, control, sampling_seconds: float = 0.0) -> MemorisationCheck:
        """Check ``synthetic`` rows, log the result in ``state`` and stop training when they look memorised.

        Parameters
        ----------
        synthetic : pandas.DataFrame
            Rows sampled after the epoch that ``state`` ends.
        state : transformers.TrainerState
            Gets the record appended to its ``log_history``.
        control : transformers.TrainerControl
            Gets ``should_training_stop`` set, and ``should_evaluate`` cleared, for a flagged epoch.
        sampling_seconds : float
            Time spent sampling, added to the recorded duration of the check.
        """
        started = time.perf_counter()
        result = check_memorisation(synthetic, self.train, self.holdout, self.dictionary, self.alpha)
        seconds = sampling_seconds + time.perf_counter() - started
        self.seconds.append(seconds)
        state.log_history.append(
            {"epoch": state.epoch, "step": state.global_step, LOG_KEY: {**asdict(result), "seconds": seconds}}
        )
        epoch = _epoch_number(state)
        logger.info(
            "Epoch %d memorisation check: %.3f of %d synthetic rows closer to train (expected %.3f, threshold %.3f), "
            "%.1f s",
            epoch, result.share_closer_to_train, result.n_synthetic, result.expected_share, result.threshold, seconds,
        )
        if result.memorising:
            logger.warning(
                "Training stopped at epoch %d: %.3f of the synthetic rows are closer to the training rows than to "
                "the holdout rows, above the threshold %.3f, which suggests that the model copies training rows",
                epoch, result.share_closer_to_train, result.threshold,
            )
            self.stopped_training = True
            control.should_training_stop = True
            control.should_evaluate = False
        return result

    def sample_rows(self, model) -> pd.DataFrame:
        """Sample at most ``n_samples`` valid rows, leaving the random streams of training untouched."""
        from synthlib.sampling import sample

        was_training = model.training
        devices = [model.device.index or 0] if model.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
                # Early epochs yield fewer valid rows than requested, and the check uses those it gets.
                warnings.simplefilter("ignore", SynthlibWarning)
                result = sample(
                    model,
                    self.tokenizer,
                    self.dictionary,
                    n_samples=self.n_samples,
                    batch_size=self.n_samples,
                    max_batches=1,
                    allow_partial=True,
                    random_state=self.random_state,
                    progress=False,
                )
        finally:
            model.train(was_training)
        return result.synthetic


def _epoch_number(state) -> int:
    """Return the epoch that ``state`` ends, counted from 1; a partial epoch counts as begun."""
    return math.ceil(state.epoch - 1e-6)


def memorisation_records(log_history) -> list:
    """Return the per-epoch records that :class:`MemorisationCheckCallback` added to a log history."""
    return [
        {"epoch": entry["epoch"], "step": entry["step"], **entry[LOG_KEY]}
        for entry in log_history
        if LOG_KEY in entry
    ]
