"""Structure-guided, grammar-constrained decoding: the sampler writes the column names, the model the values.

Sampling a row token by token lets a model skip a column, repeat one or invent one. Here every
column name is appended by the sampler, in a random order drawn per batch, and processed in one
forward pass with the key-value cache. The model samples only the value tokens, and only the
tokens that the column's grammar allows (see :mod:`synthlib.constraints`). A value is therefore a
declared level, a number in range at the column's precision, a date or the missing-value marker,
followed by a comma or the end-of-sequence token. Where the grammar leaves one possible value, its remaining
tokens are appended without sampling, and a value that no other value extends ends without a
sampled comma.

Rows of a batch advance in lockstep: a row whose value is complete waits on masked padding while
the others finish theirs, and position ids skip the padding, so each row receives exactly the token
sequence it was trained on. Rows can still fail when they outgrow the model's context.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from synthlib.constraints import DEAD_END, FORCE, SAMPLE, RowConstraints, ValueMask, unescaped_comma
from synthlib.encoding import IS, SEPARATOR, escape
from synthlib.models import context_length

logger = logging.getLogger(__name__)

CONTEXT_FULL = "row longer than the model's context"
NO_VALID_TOKEN = "no token of the vocabulary continues the value"
VALUE_TOO_LONG = "value longer than the token limit"


@dataclass(frozen=True)
class DecodingSettings:
    """Sampling knobs of :func:`generate_rows`.

    Attributes
    ----------
    temperature : float
        Softmax temperature; 1 samples from the model's distribution over the allowed tokens.
    top_k : int
        Keep only the ``top_k`` most likely allowed tokens at each step; 0 keeps all.
    """

    temperature: float = 1.0
    top_k: int = 0


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


class _Rows:
    """Decoding state of the rows of a batch.

    Attributes
    ----------
    values : list of list of bytes
        Text of each row's values, in column order, each with its leading space.
    failed : list of str or None
        Rejection reason of each row; None while the row is valid.
    pending : list of list of int
        Value tokens decided but not yet fed, fed before the next column's name.
    comma_fed : numpy.ndarray
        Rows whose last fed token ended with the comma of the separator.
    """

    def __init__(self, n_rows: int, n_columns: int):
        self.values = [[b""] * n_columns for _ in range(n_rows)]
        self.failed = [None] * n_rows
        self.pending = [[] for _ in range(n_rows)]
        self.comma_fed = np.zeros(n_rows, dtype=bool)

    def separator_sequences(self, after_comma: list, full: list) -> list:
        """Return, per row, its pending tokens and the next ``[", "]name is``; clear both."""
        sequences = []
        for i, pending in enumerate(self.pending):
            sequences.append(pending + (after_comma if self.comma_fed[i] else full))
        self.pending = [[] for _ in self.pending]
        self.comma_fed[:] = False
        return sequences


def _feed_sequences(batch: _Batch, rows: _Rows, sequences: list, limit: int, pad: int):
    """Feed each valid row its own token sequence, left-padded; return the logits, or None when nothing was fed.

    A row whose sequence would pass ``limit`` positions is rejected, and failed rows are fed
    only masked padding from then on.
    """
    used = batch.positions_used()
    for i, sequence in enumerate(sequences):
        if rows.failed[i] is None and used[i] + len(sequence) > limit:
            rows.failed[i] = CONTEXT_FULL
    sequences = [sequence if rows.failed[i] is None else [] for i, sequence in enumerate(sequences)]
    width = max(len(sequence) for sequence in sequences)
    if width == 0:
        return None
    ids = [[pad] * (width - len(sequence)) + sequence for sequence in sequences]
    mask = [[0] * (width - len(sequence)) + [1] * len(sequence) for sequence in sequences]
    device = batch.model.device
    return batch.feed(torch.tensor(ids, device=device), torch.tensor(mask, device=device))


def _sample_tokens(logits: torch.Tensor, settings: DecodingSettings, generator: torch.Generator,
                   offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Sample one column index per row of ``logits``, in which disallowed entries are ``-inf``.

    ``offsets`` are added to the logits after the temperature is applied.
    """
    logits = logits / max(settings.temperature, 1e-6)
    if offsets is not None:
        logits = logits + offsets.to(logits.device)
    if settings.top_k:
        kth = torch.topk(logits, min(settings.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    return torch.multinomial(probabilities.cpu(), 1, generator=generator).squeeze(1)


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
    constraints: RowConstraints,
    prefix_ids,
    n_rows: int,
    settings: DecodingSettings = DecodingSettings(),
    seed: int = 0,
    fixed=None,
    first=(),
    missing_offsets=None,
):
    """Generate ``n_rows`` encoded rows with structure-guided, grammar-constrained decoding.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Causal language model in eval mode.
    tokenizer : transformers.PreTrainedTokenizerBase
        Its tokenizer.
    constraints : RowConstraints
        Value masks of the modelled columns, built for this tokenizer.
    prefix_ids : list of int
        Token ids that start every row (see :func:`synthlib.training.row_prefix_ids`).
    n_rows : int
        Rows in the batch.
    settings : DecodingSettings
        Temperature and top-k.
    seed : int
        Seed of the column order and of the token sampling.
    fixed : list of dict or None
        Per row, column -> value text (as ``format_value`` writes it) to write without sampling.
    first : iterable of str
        Columns written before the others, after the conditioned columns of ``constraints``.
    missing_offsets : dict or None
        Column -> offset added to the log-odds of the missing-value marker where a value may
        still become the marker or a real value (see :mod:`synthlib.missing_rates`).

    Returns
    -------
    texts : list of str or None
        Encoded rows (``"name is value, ..."``) in the column order of ``constraints``; None for a
        rejected row.
    rejections : collections.Counter
        Rejected rows by reason.
    """
    generator = torch.Generator().manual_seed(seed)
    order = constraints.column_order(np.random.default_rng(seed), first)
    masks = {
        name: [constraints.mask(name, None if fixed is None else fixed[i].get(name)) for i in range(n_rows)]
        for name in order
    }
    full = {name: _forced_ids(tokenizer, name, first=j == 0, after_comma=False) for j, name in enumerate(order)}
    # Per column: its name and at most max_steps value tokens, because every row feeds one
    # token per step and a row's value and comma take at most max_steps tokens.
    max_length = len(prefix_ids) + sum(
        len(full[name]) + max(mask.max_steps for mask in masks[name]) for name in order
    )
    limit = context_length(model) or max_length
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    batch = _Batch(model, n_rows, max_length)
    rows = _Rows(n_rows, len(order))
    for j, name in enumerate(order):
        if j == 0:
            sequences = [list(prefix_ids) + full[name] for _ in range(n_rows)]
        else:
            after_comma = _forced_ids(tokenizer, name, first=False, after_comma=True)
            sequences = rows.separator_sequences(after_comma, full[name])
        logits = _feed_sequences(batch, rows, sequences, limit, pad)
        if logits is None:
            break
        offset = (missing_offsets or {}).get(name, 0.0)
        _sample_value(batch, logits, masks[name], rows, j, generator, limit, settings, pad, offset)

    texts = [_row_text(rows, i, order, constraints.columns) for i in range(n_rows)]
    rejections = Counter(reason for reason in rows.failed if reason is not None)
    return texts, rejections


def _row_text(rows: _Rows, i: int, order: list, columns: list):
    if rows.failed[i] is not None:
        return None
    # Every value starts with the space after " is", which the grammar requires.
    values = {name: rows.values[i][j][1:].decode("utf-8", errors="replace") for j, name in enumerate(order)}
    return SEPARATOR.join(f"{escape(name)}{IS}{values[name]}" for name in columns)


def _sample_value(batch, logits, masks, rows: _Rows, j: int, generator, limit: int, settings, pad: int,
                  missing_offset: float = 0.0) -> None:
    """Write value ``j`` of every valid row, sampling only the tokens its mask allows.

    Every row feeds one token per step while others sample: its sampled token, or the next
    token of a value decided without sampling. Tokens still pending when no row samples any
    more are fed with the next column's name. A row is rejected when it reaches ``limit``
    positions, the model's context length.
    """
    sampling = {}
    for i in range(batch.n_rows):
        if rows.failed[i] is None:
            _advance(rows, i, j, masks[i], b"", sampling)
    steps = max((masks[i].max_steps for i in sampling), default=0)
    for _ in range(steps):
        used = batch.positions_used()
        for i in [i for i in sampling if used[i] >= limit]:
            rows.failed[i] = CONTEXT_FULL
            del sampling[i]
        if not sampling:
            break
        feed_ids, feed_mask = [pad] * batch.n_rows, [0] * batch.n_rows
        for i in range(batch.n_rows):
            if i not in sampling and rows.pending[i] and rows.failed[i] is None and used[i] < limit:
                feed_ids[i], feed_mask[i] = rows.pending[i][0], 1
                rows.pending[i] = rows.pending[i][1:]
        offset = (rows, j, missing_offset) if missing_offset else None
        for i, token in _sample_allowed(logits, sampling, masks, settings, generator, offset).items():
            if _consume(rows, i, j, masks[i], token, sampling):
                feed_ids[i], feed_mask[i] = token, 1
        if any(feed_mask):
            logits = batch.feed(
                torch.tensor(feed_ids, device=batch.model.device).unsqueeze(1),
                torch.tensor(feed_mask, device=batch.model.device).unsqueeze(1),
            )
    for i in sampling:
        rows.failed[i] = VALUE_TOO_LONG


def _sample_allowed(logits, sampling: dict, masks, settings, generator, missing_offset=None) -> dict:
    """Sample one token per sampling row among its allowed tokens; return row -> token id.

    Rows are grouped by mask, and each group samples among its mask's candidate tokens only.
    ``missing_offset`` is None or ``(rows, j, offset)``: add ``offset`` to the tokens that commit
    value ``j`` of a row to the missing-value marker.
    """
    groups = {}
    for i in sorted(sampling):
        groups.setdefault(id(masks[i]), (masks[i], []))[1].append(i)
    tokens = {}
    for mask, members in groups.values():
        candidates = mask.candidate_ids
        index = torch.tensor(members, device=logits.device)
        scores = logits.index_select(0, index).index_select(1, candidates.to(logits.device))
        allowed = torch.stack([sampling[i] for i in members]).to(logits.device)
        offsets = None if missing_offset is None else _marker_offsets(mask, members, missing_offset)
        positions = _sample_tokens(scores.masked_fill(~allowed, float("-inf")), settings, generator, offsets)
        tokens.update(zip(members, candidates[positions].tolist()))
    return tokens


def _marker_offsets(mask: ValueMask, members: list, missing_offset: tuple) -> torch.Tensor | None:
    """Return the offsets of ``members``' candidate tokens that commit their value to the marker."""
    rows, j, offset = missing_offset
    markers = [mask.marker_tokens(rows.values[i][j]) for i in members]
    if all(marker is None for marker in markers):
        return None
    empty = torch.zeros(len(mask.candidate_ids), dtype=torch.bool)
    chosen = torch.stack([empty if marker is None else marker for marker in markers])
    return chosen.to(torch.float32) * offset


def _advance(rows: _Rows, i: int, j: int, mask: ValueMask, text: bytes, sampling: dict) -> None:
    """Set value ``j`` of row ``i`` to ``text`` and decide what comes next (see :meth:`ValueMask.decide`).

    The row stays in ``sampling``, with its allowed tokens, only while it must sample.
    """
    rows.values[i][j] = text
    sampling.pop(i, None)
    decision, payload = mask.decide(text)
    if decision == SAMPLE:
        sampling[i] = payload
    elif decision == FORCE:
        member, ids = payload
        rows.values[i][j] = member
        rows.pending[i] = rows.pending[i] + ids
    elif decision == DEAD_END:
        rows.failed[i] = NO_VALID_TOKEN
    # END needs nothing more: the value is complete and no other value extends it.


def _consume(rows: _Rows, i: int, j: int, mask: ValueMask, token: int, sampling: dict) -> bool:
    """Add a sampled token to value ``j`` of row ``i``; return whether the token goes into the model's context.

    The end-of-sequence token ends the value and is not fed. A token with an unescaped comma
    ends the value at the comma: it is fed when nothing follows the comma, else its part before
    the comma is fed with the next column's name and the separator is written in full.
    """
    text = rows.values[i][j]
    if token == mask.table.eos:
        del sampling[i]
        return False
    data = mask.table.token_bytes[token]
    cut = unescaped_comma(text, data)
    if cut is None:
        _advance(rows, i, j, mask, text + data, sampling)
        return True
    del sampling[i]
    rows.values[i][j] = text + data[:cut]
    if data[cut:] == b",":
        rows.comma_fed[i] = True
        return True
    if cut:
        rows.pending[i] = rows.pending[i] + (mask.table.encode(data[:cut]) or [])
    return False
