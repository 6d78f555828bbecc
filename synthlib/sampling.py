"""Sampling synthetic rows from a fine-tuned model, with bounded attempts and rejection reasons."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from synthlib.dictionary import DataDictionary
from synthlib.encoding import parse_rows
from synthlib.exceptions import SamplingError, SynthlibWarning
from synthlib.decoding import DecodingSettings, generate_rows
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
    """

    synthetic: pd.DataFrame
    n_requested: int
    n_generated: int
    n_valid: int
    rejections: dict = field(default_factory=dict)
    seconds: float = 0.0
    seeds: list = field(default_factory=list)

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
) -> SamplingResult:
    """Sample ``n_samples`` valid synthetic rows in batches.

    Each batch is generated, parsed and validated against the dictionary; invalid texts are
    counted by reason and dropped. Attempts are bounded by ``max_batches``.

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

    Returns
    -------
    SamplingResult

    Raises
    ------
    SamplingError
        When fewer than ``n_samples`` valid rows were produced within ``max_batches`` and
        ``allow_partial`` is False. The message lists the main rejection reasons.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if max_batches is None:
        max_batches = 2 * math.ceil(n_samples / (0.5 * batch_size)) + 3
    model.eval()
    modelled = dictionary.subset(dictionary.modelled_columns)
    prefix = row_prefix_ids(tokenizer)

    started = time.perf_counter()
    frames, rejections, seeds = [], Counter(), []
    n_generated = n_valid = 0
    bar = tqdm(total=n_samples, desc="sampling", unit="row", disable=not progress)
    for batch in range(max_batches):
        if n_valid >= n_samples:
            break
        seed = random_state + batch
        seeds.append(seed)
        texts, decoding_rejections = generate_rows(model, tokenizer, modelled, prefix, batch_size, settings, seed)
        rejections.update(decoding_rejections)
        rows, batch_rejections = texts_to_rows([t for t in texts if t is not None], dictionary)
        rejections.update(batch_rejections)
        frames.append(rows)
        n_generated += len(texts)
        n_valid += len(rows)
        bar.update(min(len(rows), max(n_samples - bar.n, 0)))
        logger.debug("Batch %d: %d of %d texts valid", batch, len(rows), len(texts))
    bar.close()
    seconds = time.perf_counter() - started

    synthetic = pd.concat(frames, ignore_index=True).head(n_samples) if frames else pd.DataFrame()
    rejections = {reason: count for reason, count in rejections.items() if count}
    result = SamplingResult(synthetic, n_samples, n_generated, n_valid, rejections, seconds, seeds)
    logger.info(
        "Sampled %d of %d rows: %d texts generated, valid rate %.1f%%, %.1f s",
        len(synthetic), n_samples, n_generated, 100 * result.valid_rate, seconds,
    )
    if len(synthetic) < n_samples:
        _report_shortfall(result, max_batches, allow_partial)
    return result


def _report_shortfall(result: SamplingResult, max_batches: int, allow_partial: bool) -> None:
    top = ", ".join(f"{reason}: {count}" for reason, count in Counter(result.rejections).most_common(5))
    message = (
        f"only {len(result.synthetic)} of {result.n_requested} valid rows after {max_batches} batches "
        f"({result.n_generated} texts, valid rate {result.valid_rate:.1%}). Main rejection reasons: "
        f"{top or 'none'}. Train longer, lower the temperature, or raise max_batches."
    )
    if not allow_partial:
        raise SamplingError(message)
    import warnings

    warnings.warn(message, SynthlibWarning, stacklevel=3)
