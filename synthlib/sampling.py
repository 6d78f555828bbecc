"""Sampling synthetic rows from a fine-tuned model, conditional sampling and imputation.

Decoding is constrained by each column's grammar (see :mod:`synthlib.constraints`), so every
generated value is valid. A row can still be rejected when it outgrows the model's context, so
attempts are bounded and rejected rows are counted by reason.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from synthlib.conditions import column_grammars
from synthlib.constraints import RowConstraints
from synthlib.decoding import DecodingSettings, generate_rows
from synthlib.dictionary import DataDictionary
from synthlib.encoding import format_value, parse_rows
from synthlib.exceptions import DataValidationError, SamplingError, SynthlibWarning
from synthlib.missing_rates import MissingRateCalibrator
from synthlib.training import row_prefix_ids
from synthlib.values import convert_values

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class SamplingResult:
    """Synthetic rows and how many generated texts it took to get them.

    Attributes
    ----------
    synthetic : pandas.DataFrame
        Exactly the requested number of rows (unless ``allow_partial``), typed and valid
        against the data dictionary.
    n_requested : int
        Rows requested.
    n_generated : int
        Texts generated in all batches.
    n_valid : int
        Generated texts that parsed into valid rows (may exceed ``n_requested``; the surplus of
        the last batch is dropped).
    rejections : dict
        Count of rejected texts by reason.
    seconds : float
        Wall-clock seconds spent generating and parsing.
    seeds : list of int
        Seed of each batch, in order.
    missing_offsets : dict
        Column -> offset on the log-odds of the missing-value marker after the last batch (see
        :mod:`synthlib.missing_rates`); empty without ``missing_rates``.
    """

    synthetic: pd.DataFrame
    n_requested: int
    n_generated: int
    n_valid: int
    rejections: dict = field(default_factory=dict)
    seconds: float = 0.0
    seeds: list = field(default_factory=list)
    missing_offsets: dict = field(default_factory=dict)

    @property
    def valid_rate(self) -> float:
        """Share of generated texts that were valid rows."""
        return self.n_valid / self.n_generated if self.n_generated else float("nan")

    @property
    def rows_per_second(self) -> float:
        """Valid rows returned per second of sampling."""
        return len(self.synthetic) / self.seconds if self.seconds else float("nan")

    def rejection_table(self) -> pd.DataFrame:
        """Return the rejection reasons as a table sorted by count."""
        table = pd.DataFrame(sorted(self.rejections.items(), key=lambda kv: -kv[1]), columns=["reason", "count"])
        table["share of generated"] = table["count"] / max(self.n_generated, 1)
        return table


def texts_to_rows(texts, dictionary: DataDictionary):
    """Parse generated texts and keep the rows whose values are valid.

    Returns
    -------
    rows : pandas.DataFrame
        Typed valid rows.
    rejections : collections.Counter
        Rejected texts by reason (structural and value-level).
    """
    parsed = parse_rows(texts, dictionary)
    converted = convert_values(parsed.values, dictionary.subset(dictionary.modelled_columns))
    rejections = Counter(parsed.rejections)
    rejections.update(converted.reasons[converted.reasons.notna()].tolist())
    return converted.data[converted.reasons.isna()].reset_index(drop=True), rejections


def sample(
    model,
    tokenizer,
    dictionary: DataDictionary,
    n_samples: int,
    batch_size: int = 256,
    settings: DecodingSettings = DecodingSettings(),
    max_batches: int | None = None,
    allow_partial: bool = False,
    random_state=0,
    progress: bool = True,
    conditions: dict | None = None,
    training_levels: dict | None = None,
    complete_columns=(),
    missing_rates: dict | None = None,
) -> SamplingResult:
    """Sample ``n_samples`` valid synthetic rows in batches, optionally under conditions.

    Each batch is generated under the columns' grammars, then parsed and validated against the
    dictionary; rejected texts are counted by reason and dropped. Attempts are bounded by
    ``max_batches``.

    Parameters
    ----------
    model, tokenizer
        A model and tokenizer from :func:`synthlib.models.load_trained_model`.
    dictionary : DataDictionary
        Declarations of the modelled columns.
    n_samples : int
        Rows to return.
    batch_size : int
        Texts generated per batch.
    settings : DecodingSettings
        Temperature, top-k and the token limit of one value.
    max_batches : int or None
        Batches tried at most; None allows twice the batches needed at a 50% valid rate, plus 3.
    allow_partial : bool
        Return fewer rows, with a warning, when the attempts run out; otherwise raise.
    random_state : int
        Seed of the first batch; batch ``b`` uses ``random_state + b``.
    progress : bool
        Show a progress bar.
    conditions : dict or None
        Column -> a value, a list of values or a ``(min, max)`` range that every sampled row
        takes, for example ``{"sex": "female", "age": (65, None)}`` (see
        :mod:`synthlib.conditions`). Conditioned columns are written first in every row, so the
        model samples the other columns given them.
    training_levels : dict or None
        Column -> levels seen in the training data (see
        :func:`synthlib.conditions.observed_levels`); unconditioned categorical and binary
        columns then take only these levels. None allows every declared level.
    complete_columns : collection of str
        Columns without a missing value in the training data
        (:func:`synthlib.conditions.complete_columns`); they never take the missing-value marker.
    missing_rates : dict or None
        Column -> share of missing values to hold the sampled rows at, usually
        :func:`synthlib.missing_rates.training_missing_rates` of the training split. From the
        second batch on, an offset on the log-odds of the missing-value marker steers the rate of
        all rows so far towards it (see :mod:`synthlib.missing_rates`). Ignored under
        ``conditions``, because the rate given the conditions differs from the overall rate.

    Returns
    -------
    SamplingResult

    Raises
    ------
    ConditionError
        When a condition or training level does not fit the dictionary.
    SamplingError
        When fewer than ``n_samples`` valid rows were produced within ``max_batches`` and
        ``allow_partial`` is False. The message lists the main rejection reasons.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if max_batches is None:
        max_batches = 2 * math.ceil(n_samples / (0.5 * batch_size)) + 3
    model.eval()
    grammars = column_grammars(dictionary, conditions, training_levels, complete_columns=complete_columns)
    constraints = RowConstraints(tokenizer, grammars, first=list(conditions or {}))
    prefix = row_prefix_ids(tokenizer)
    calibrator = _calibrator(missing_rates, conditions, grammars)

    started = time.perf_counter()
    frames, rejections, seeds = [], Counter(), []
    n_generated = n_valid = 0
    bar = tqdm(total=n_samples, desc="sampling", unit="row", disable=not progress)
    for batch in range(max_batches):
        if n_valid >= n_samples:
            break
        seed = random_state + batch
        seeds.append(seed)
        offsets = calibrator.offsets if calibrator else None
        texts, decoding_rejections = generate_rows(
            model, tokenizer, constraints, prefix, batch_size, settings, seed, missing_offsets=offsets
        )
        rejections.update(decoding_rejections)
        rows, batch_rejections = texts_to_rows([t for t in texts if t is not None], dictionary)
        rejections.update(batch_rejections)
        frames.append(rows)
        if calibrator:
            calibrator.update(rows)
        n_generated += len(texts)
        n_valid += len(rows)
        bar.update(min(len(rows), max(n_samples - bar.n, 0)))
        logger.debug("Batch %d: %d of %d texts valid", batch, len(rows), len(texts))
    bar.close()
    seconds = time.perf_counter() - started

    synthetic = pd.concat(frames, ignore_index=True).head(n_samples) if frames else pd.DataFrame()
    rejections = {reason: count for reason, count in rejections.items() if count}
    offsets = dict(calibrator.offsets) if calibrator else {}
    result = SamplingResult(synthetic, n_samples, n_generated, n_valid, rejections, seconds, seeds, offsets)
    logger.info(
        "Sampled %d of %d rows: %d texts generated, valid rate %.1f%%, %.1f s",
        len(synthetic), n_samples, n_generated, 100 * result.valid_rate, seconds,
    )
    if len(synthetic) < n_samples:
        _report_shortfall(result, max_batches, allow_partial)
    return result


def _calibrator(missing_rates, conditions, grammars: dict) -> MissingRateCalibrator | None:
    """Return the calibrator of the columns of ``missing_rates`` whose grammar has the marker."""
    if not missing_rates:
        return None
    if conditions:
        logger.info("Missing rates are not calibrated under conditions: the conditional rates are unknown.")
        return None
    unknown = sorted(set(missing_rates) - set(grammars))
    if unknown:
        raise ValueError(f"missing_rates names columns that are not modelled: {unknown}. Use modelled column names.")
    targets = {name: rate for name, rate in missing_rates.items() if 0 < rate < 1}
    return MissingRateCalibrator(targets) if targets else None


def _report_shortfall(result: SamplingResult, max_batches: int, allow_partial: bool) -> None:
    top = ", ".join(f"{reason}: {count}" for reason, count in Counter(result.rejections).most_common(5))
    message = (
        f"only {len(result.synthetic)} of {result.n_requested} valid rows after {max_batches} batches "
        f"({result.n_generated} texts, valid rate {result.valid_rate:.1%}). Main rejection reasons: "
        f"{top or 'none'}. Raise max_batches, or, when rows outgrow the model's context, use a model with "
        "a longer context."
    )
    if not allow_partial:
        raise SamplingError(message)
    import warnings

    warnings.warn(message, SynthlibWarning, stacklevel=3)


def impute(
    model,
    tokenizer,
    dictionary: DataDictionary,
    partial_rows: pd.DataFrame,
    batch_size: int = 256,
    settings: DecodingSettings = DecodingSettings(),
    training_levels: dict | None = None,
    max_attempts: int = 3,
    random_state=0,
    progress: bool = True,
) -> pd.DataFrame:
    """Fill the missing cells of partial rows with values sampled given the row's other cells.

    In each row the given cells are written first, in random order and without sampling, so
    the model samples the missing cells conditionally on them. Rows with the same missing
    columns are generated together in batches. Imputed cells never take the missing-value
    marker.

    Parameters
    ----------
    model, tokenizer
        A model and tokenizer from :func:`synthlib.models.load_trained_model`.
    dictionary : DataDictionary
        Declarations of the modelled columns.
    partial_rows : pandas.DataFrame
        Rows to complete, raw or typed. Missing cells (None, NaN, empty strings and the declared
        missing codes) are imputed; an absent modelled column is imputed in every row.
    batch_size : int
        Rows generated per batch.
    settings : DecodingSettings
        Temperature and top-k.
    training_levels : dict or None
        Column -> levels seen in the training data; imputed categorical and binary cells then
        take only these levels.
    max_attempts : int
        Times a rejected row is generated again, with a new seed, before sampling fails.
    random_state : int
        Seed of the first batch; each later batch adds one.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        ``partial_rows`` with its modelled columns typed and every missing cell filled, same index;
        other columns are kept as they are.

    Raises
    ------
    DataValidationError
        When a given cell is invalid against the dictionary.
    SamplingError
        When some rows are still rejected after ``max_attempts`` attempts.
    """
    if batch_size < 1 or max_attempts < 1:
        raise ValueError(f"batch_size and max_attempts must be at least 1, got {batch_size} and {max_attempts}")
    model.eval()
    columns = dictionary.modelled_columns
    typed = _typed_partial_rows(partial_rows, dictionary)
    missing = typed.isna().to_numpy()
    given_texts = [
        {name: format_value(typed.iat[i, k], dictionary.column(name)) for k, name in enumerate(columns) if not missing[i, k]}
        for i in range(len(typed))
    ]
    constraints = RowConstraints(tokenizer, column_grammars(dictionary, None, training_levels, allow_missing=False))
    job = _Imputation(model, tokenizer, dictionary, constraints, settings)

    pending = [i for i in range(len(typed)) if missing[i].any()]
    rejections, seed = Counter(), random_state
    bar = tqdm(total=len(pending), desc="imputing", unit="row", disable=not progress)
    for _ in range(max_attempts):
        if not pending:
            break
        failed = []
        for pattern, positions in _group_by_missing(missing, pending).items():
            given_columns = [name for name, absent in zip(columns, pattern) if not absent]
            for start in range(0, len(positions), batch_size):
                chunk = positions[start : start + batch_size]
                rows, chunk_rejections = job.generate([given_texts[i] for i in chunk], given_columns, seed)
                seed += 1
                rejections.update(chunk_rejections)
                done = [chunk[k] for k in rows.index]
                for k, name in enumerate(columns):
                    if pattern[k]:
                        typed.iloc[done, k] = rows[name].array
                failed.extend(i for k, i in enumerate(chunk) if k not in rows.index)
                bar.update(len(done))
        pending = failed
    bar.close()
    logger.info("Imputed %d rows; rejected texts by reason: %s", len(typed), dict(rejections) or "none")
    if pending:
        top = ", ".join(f"{reason}: {count}" for reason, count in rejections.most_common(5))
        raise SamplingError(
            f"{len(pending)} of {len(typed)} rows could not be imputed in {max_attempts} attempts "
            f"(rejection reasons: {top}); raise max_attempts, or use a model with a longer context"
        )
    return _merge_imputed(partial_rows, typed)


class _Imputation:
    """Generation of one batch of partial rows, with their given cells fixed."""

    def __init__(self, model, tokenizer, dictionary, constraints, settings):
        self.model = model
        self.tokenizer = tokenizer
        self.dictionary = dictionary
        self.constraints = constraints
        self.settings = settings
        self.prefix = row_prefix_ids(tokenizer)

    def generate(self, fixed: list, given_columns: list, seed: int):
        """Return the valid generated rows, indexed by position in ``fixed``, and the rejections."""
        texts, rejections = generate_rows(
            self.model, self.tokenizer, self.constraints, self.prefix, len(fixed), self.settings, seed,
            fixed=fixed, first=given_columns,
        )
        generated = [k for k, text in enumerate(texts) if text is not None]
        parsed = parse_rows([texts[k] for k in generated], self.dictionary)
        rejections.update(parsed.rejections)
        if parsed.rejections:
            # Find the rejected texts one by one, so that rows keep their positions.
            generated = [k for k in generated if not parse_rows([texts[k]], self.dictionary).rejections]
            parsed = parse_rows([texts[k] for k in generated], self.dictionary)
        converted = convert_values(parsed.values, self.dictionary.subset(self.dictionary.modelled_columns))
        rejections.update(converted.reasons[converted.reasons.notna()].tolist())
        rows = converted.data.set_axis(generated)
        return rows[converted.reasons.isna().to_numpy()], rejections


def _typed_partial_rows(partial_rows: pd.DataFrame, dictionary: DataDictionary) -> pd.DataFrame:
    """Convert the modelled columns of ``partial_rows`` (absent ones all missing), indexed by position.

    Raises DataValidationError naming each invalid given cell.
    """
    if not isinstance(partial_rows, pd.DataFrame):
        raise TypeError(f"partial_rows must be a pandas DataFrame, got {type(partial_rows).__name__}")
    columns = dictionary.modelled_columns
    raw = pd.DataFrame(
        {
            name: partial_rows[name].to_numpy() if name in partial_rows else [None] * len(partial_rows)
            for name in columns
        }
    )
    if raw.empty:
        raw = raw.astype(object)
    converted = convert_values(raw, dictionary.subset(columns))
    invalid = converted.reasons.notna().to_numpy()
    if invalid.any():
        labels = partial_rows.index[invalid]
        reasons = converted.reasons[invalid]
        raise DataValidationError(
            f"partial row {label!r}: {reason}; correct the value, or empty the cell to impute it"
            for label, reason in zip(labels, reasons)
        )
    return converted.data


def _group_by_missing(missing, positions) -> dict:
    """Group row positions by the tuple of their missing columns."""
    groups = {}
    for i in positions:
        groups.setdefault(tuple(bool(flag) for flag in missing[i]), []).append(i)
    return groups


def _merge_imputed(partial_rows: pd.DataFrame, typed: pd.DataFrame) -> pd.DataFrame:
    result = partial_rows.copy()
    for name in typed.columns:
        result[name] = typed[name].array
    return result
