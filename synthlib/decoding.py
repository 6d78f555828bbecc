"""Structure-guided decoding: the sampler writes the column names, the model writes the values.

Sampling a row token by token lets a model skip a column, repeat one or invent one. With permuted
column orders that is the most common reason to reject a generated row. Here every column name is
appended by the sampler, in a random order drawn per batch, and processed in one forward pass with
the key-value cache; the model samples only the value tokens, until it emits an unescaped comma or
its end-of-sequence token. Rows of a batch advance in lockstep: a row whose value is complete waits
on masked padding while the others finish theirs, and position ids skip the padding, so each row
sees exactly the token sequence it was trained on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from synthlib.encoding import IS, SEPARATOR, escape
from synthlib.models import context_length

logger = logging.getLogger(__name__)

VALUE_TOO_LONG = "value longer than the token limit"
CONTEXT_FULL = "row longer than the model's context"
DANGLING_ESCAPE = "value ends with a lone backslash"


@dataclass(frozen=True)
class DecodingSettings:
    """Sampling knobs of :func:`generate_rows`.

    Attributes
    ----------
    temperature : float
        Softmax temperature; 1 samples from the model's distribution.
    top_k : int
        Keep only the ``top_k`` most likely tokens at each step; 0 keeps all.
    max_value_tokens : int
        Tokens one value may take before the row is rejected, for columns whose dictionary
        entry gives no tighter bound (see :func:`value_token_limits`).
    """

    temperature: float = 1.0
    top_k: int = 0
    max_value_tokens: int = 24


class _TokenTable:
    """Decoded text of every vocabulary entry, to find value ends without decoding whole rows."""

    def __init__(self, tokenizer):
        self.texts = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        self.comma = {i for i, text in enumerate(self.texts) if "," in text}


def _unescaped_comma(value_text: str, token_text: str) -> int | None:
    """Return the index in ``token_text`` of its first comma not escaped by a backslash, or None."""
    text = value_text + token_text
    i = len(value_text)
    while i < len(text):
        if text[i] == ",":
            backslashes = len(text[:i]) - len(text[:i].rstrip("\\"))
            if backslashes % 2 == 0:
                return i - len(value_text)
        i += 1
    return None


class _Batch:
    """Static key-value cache and attention mask of a batch of rows decoded in lockstep.

    A static cache is preallocated to the longest possible row, because growing a dynamic cache
    copies all keys and values at every step, which dominates the sampling time of long rows.
    """

    def __init__(self, model, n_rows: int, max_length: int):
        from transformers import StaticCache

        self.model = model
        self.n_rows = n_rows
        self.max_length = max_length
        self.cache = StaticCache(config=model.config, max_cache_len=max_length)
        self.mask = torch.zeros((n_rows, max_length), dtype=torch.long, device=model.device)
        self.length = 0

    def positions_used(self) -> np.ndarray:
        """Return the number of real (unmasked) tokens of each row."""
        return self.mask.sum(dim=1).cpu().numpy()

    def feed(self, input_ids: torch.Tensor, new_mask: torch.Tensor) -> torch.Tensor:
        """Process new tokens and return the logits after the last one."""
        start, end = self.length, self.length + input_ids.shape[1]
        if end > self.max_length:
            raise RuntimeError(f"decoding needs {end} cache positions but {self.max_length} were allocated")
        self.mask[:, start:end] = new_mask
        positions = (self.mask[:, :end].cumsum(dim=1) - 1).clamp(min=0)[:, start:end]
        output = self.model(
            input_ids=input_ids,
            attention_mask=self.mask,
            position_ids=positions,
            cache=self.cache,
            cache_position=torch.arange(start, end, device=self.model.device),
            use_cache=True,
        )
        self.length = end
        return output.logits[:, -1, :].float()

    def force(self, token_ids: list) -> torch.Tensor:
        """Append the same tokens to every row."""
        ids = torch.tensor([token_ids] * self.n_rows, dtype=torch.long, device=self.model.device)
        return self.feed(ids, torch.ones_like(ids))


def value_token_limits(dictionary, max_value_tokens: int) -> dict:
    """Return, per column, the most tokens a valid value can take, plus one for the separator.

    The bound is the length in characters of the longest valid value written as text (a range
    bound at the declared precision, a level, a date, or the missing marker), plus its leading
    space: a byte-level token covers at least one character of ASCII text. Columns without a
    finite bound get ``max_value_tokens``.
    """
    from synthlib.encoding import MISSING_MARKER, format_value

    limits = {}
    for spec in dictionary.columns:
        if spec.type in ("categorical",):
            texts = [escape(str(level)) for level in spec.levels or ()]
        elif spec.type == "binary":
            texts = ["0", "1"]
        elif spec.type == "date":
            texts = ["YYYY-MM-DD"]
        elif spec.range is not None and None not in spec.range:
            texts = [format_value(bound, spec) for bound in spec.range]
        else:
            texts = []
        if not texts:
            limits[spec.name] = max_value_tokens
            continue
        longest = max(len(text) for text in [*texts, MISSING_MARKER])
        limits[spec.name] = min(longest + 2, max_value_tokens)
    return limits


def _sample_tokens(logits: torch.Tensor, settings: DecodingSettings, generator: torch.Generator) -> torch.Tensor:
    logits = logits / max(settings.temperature, 1e-6)
    if settings.top_k:
        kth = torch.topk(logits, min(settings.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    return torch.multinomial(probabilities.cpu(), 1, generator=generator).squeeze(1).to(logits.device)


def _forced_ids(tokenizer, name: str, first: bool, after_comma: bool) -> list:
    """Token ids the sampler appends before a value: ``[", "]name is``.

    ``" is"`` is written without its trailing space, because the byte-level tokenizers used here
    attach that space to the value's first token.
    """
    text = escape(name) + IS.rstrip()
    if not first:
        text = (" " if after_comma else SEPARATOR) + text
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def generate_rows(
    model,
    tokenizer,
    dictionary,
    prefix_ids,
    n_rows: int,
    settings: DecodingSettings = DecodingSettings(),
    seed: int = 0,
):
    """Generate ``n_rows`` encoded rows with structure-guided decoding.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Causal language model in eval mode.
    tokenizer : transformers.PreTrainedTokenizerBase
        Its tokenizer.
    dictionary : DataDictionary
        Declarations of the modelled columns.
    prefix_ids : list of int
        Token ids that start every row (see :func:`synthlib.training.row_prefix_ids`).
    n_rows : int
        Rows in the batch.
    settings : DecodingSettings
        Temperature, top-k and value length limit.
    seed : int
        Seed of the column order and of the token sampling.

    Returns
    -------
    texts : list of str or None
        Encoded rows (``"name is value, ..."``); None for a rejected row.
    rejections : collections.Counter
        Rejected rows by reason.
    """
    table = getattr(tokenizer, "_synthlib_token_table", None)
    if table is None:
        table = _TokenTable(tokenizer)
        tokenizer._synthlib_token_table = table
    generator = torch.Generator().manual_seed(seed)
    columns = dictionary.modelled_columns
    order = list(np.random.default_rng(seed).permutation(columns))
    limits = value_token_limits(dictionary, settings.max_value_tokens)
    forced = {
        name: _forced_ids(tokenizer, name, first=j == 0, after_comma=False) for j, name in enumerate(order)
    }
    max_length = len(prefix_ids) + sum(len(forced[name]) + limits[name] for name in order)
    limit = context_length(model) or max_length
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos

    batch = _Batch(model, n_rows, max_length)
    values = [[""] * len(order) for _ in range(n_rows)]
    failed = [None] * n_rows
    comma_emitted = np.zeros(n_rows, dtype=bool)
    for j, name in enumerate(order):
        # Rows that ended their previous value on a bare comma token already hold the comma.
        forced_after_comma = _forced_ids(tokenizer, name, first=j == 0, after_comma=True)
        forced_full = forced[name]
        if j == 0:
            logits = batch.force(list(prefix_ids) + forced_full)
        else:
            logits = _force_separators(batch, forced_after_comma, forced_full, comma_emitted, pad)
        comma_emitted = _sample_value(
            batch, logits, table, values, j, failed, (eos, pad), limits[name], generator, limit, settings
        )

    texts = []
    for i in range(n_rows):
        if failed[i] is None and any(_ends_with_escape(value) for value in values[i]):
            failed[i] = DANGLING_ESCAPE
        if failed[i] is not None:
            texts.append(None)
            continue
        segments = {name: values[i][j] for j, name in enumerate(order)}
        texts.append(SEPARATOR.join(f"{escape(name)}{IS}{segments[name]}" for name in columns))
    rejections = Counter(reason for reason in failed if reason is not None)
    return texts, rejections


def _ends_with_escape(value: str) -> bool:
    return (len(value) - len(value.rstrip("\\"))) % 2 == 1


def _force_separators(batch: _Batch, after_comma, full, comma_emitted, pad):
    """Append the next column's name to every row; rows without a comma get ``", "`` too.

    The two token sequences differ in length, so the shorter one is left-padded with masked
    padding and both are processed in one forward pass.
    """
    width = max(len(after_comma), len(full))
    rows = []
    masks = []
    for emitted in comma_emitted:
        ids = after_comma if emitted else full
        rows.append([pad] * (width - len(ids)) + ids)
        masks.append([0] * (width - len(ids)) + [1] * len(ids))
    device = batch.model.device
    return batch.feed(torch.tensor(rows, device=device), torch.tensor(masks, device=device))


def _sample_value(batch, logits, table, values, j, failed, special_ids, max_tokens, generator, limit, settings):
    """Sample the tokens of value ``j`` for every row; return which rows ended on a bare comma.

    A row is rejected when its value takes more than ``max_tokens`` tokens or when the row
    reaches ``limit`` positions, the model's context length.
    """
    eos, pad = special_ids
    n_rows = batch.n_rows
    active = np.array([reason is None for reason in failed])
    comma_emitted = np.zeros(n_rows, dtype=bool)
    for _ in range(max_tokens):
        full = active & (batch.positions_used() >= limit)
        for i in np.flatnonzero(full):
            failed[i] = CONTEXT_FULL
        active &= ~full
        if not active.any():
            break
        tokens = _sample_tokens(logits, settings, generator).tolist()
        feed_ids, feed_mask = [], []
        for i in range(n_rows):
            token = tokens[i]
            if not active[i]:
                feed_ids.append(pad)
                feed_mask.append(0)
                continue
            feed, ended = _consume(token, table, values[i], j, eos)
            if ended:
                active[i] = False
                comma_emitted[i] = feed
            feed_ids.append(token if feed else pad)
            feed_mask.append(1 if feed else 0)
        logits = batch.feed(
            torch.tensor(feed_ids, device=batch.model.device).unsqueeze(1),
            torch.tensor(feed_mask, device=batch.model.device).unsqueeze(1),
        )
    for i in np.flatnonzero(active):
        failed[i] = VALUE_TOO_LONG
    return comma_emitted


def _consume(token: int, table: _TokenTable, row_values: list, j: int, eos: int):
    """Add a sampled token to value ``j``.

    Returns
    -------
    feed : bool
        Whether the token goes into the model's context (False for end-of-sequence and for
        tokens that merge the separator with other text, which are cut at the comma).
    ended : bool
        Whether the value is complete.
    """
    if token == eos:
        row_values[j] = row_values[j].strip()
        return False, True
    text = table.texts[token]
    cut = _unescaped_comma(row_values[j], text) if token in table.comma else None
    if cut is None:
        row_values[j] += text
        return True, False
    row_values[j] = (row_values[j] + text[:cut]).strip()
    return text == ",", True
