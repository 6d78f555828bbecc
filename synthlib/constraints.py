"""Value grammars and the token masks that keep every sampled value valid.

After the sampler writes ``"<name> is"``, the model writes a leading space, the value as
:func:`synthlib.encoding.format_value` writes it, then a comma or its end-of-sequence token. A
grammar is the finite set of value texts a column may take. For a categorical column these are
its escaped levels, and for a binary one ``0`` and ``1``. For numbers they are the values in the
declared range at the declared precision, and for dates the ISO dates in the declared range. A
column may also take the missing-value marker, unless it had no missing value in training (see
:func:`synthlib.conditions.column_grammars`). Before each token is sampled, :class:`ValueMask`
masks every token that cannot continue the value into a member of the grammar, so every sampled
value is valid by construction.

Grammars work on UTF-8 bytes, because a byte-level BPE token can hold part of a character.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import logging
import math
import numbers
import re

import pandas as pd
import torch

from synthlib.encoding import DEFAULT_DECIMALS, MISSING_MARKER, escape
from synthlib.values import range_bounds

logger = logging.getLogger(__name__)

# Numbers of open range keep at most this many significant digits, so that every value
# survives the round trip through float64 and through format_value.
MAX_SIGNIFICANT_DIGITS = 15
_DIGITS = frozenset(b"0123456789")
_SPACE = b" "
_COMMA = ord(",")
_BACKSLASH = ord("\\")


class ValueGrammar:
    """Finite set of value texts (UTF-8 bytes), queried by prefix.

    Attributes
    ----------
    max_length : int
        Length in bytes of the longest member.
    alphabet : frozenset of int
        Bytes that occur in members.
    """

    max_length: int = 0
    alphabet: frozenset = frozenset()

    def completions(self, prefix: bytes, limit: int) -> list:
        """Return at most ``limit`` members that start with ``prefix``."""
        raise NotImplementedError

    def accepts(self, text: bytes) -> bool:
        """Return whether ``text`` is a member."""
        raise NotImplementedError

    def may_contain(self, fragment: bytes) -> bool:
        """Return False when ``fragment`` occurs in no member written after its leading space.

        This default only checks the bytes against :attr:`alphabet`, so it may return True for
        fragments that occur in no member.
        """
        return set(fragment) <= self.alphabet | set(_SPACE)


class LevelGrammar(ValueGrammar):
    """Grammar of an explicit list of texts, stored as a prefix trie over their bytes.

    Parameters
    ----------
    texts : iterable of str or bytes
        The members, already escaped as the encoder writes them.
    """

    _END = -1

    def __init__(self, texts):
        members = [text.encode("utf-8") if isinstance(text, str) else bytes(text) for text in texts]
        self.members = tuple(dict.fromkeys(members))
        self._root = {}
        for member in self.members:
            node = self._root
            for byte in member:
                node = node.setdefault(byte, {})
            node[self._END] = True
        self.max_length = max((len(member) for member in self.members), default=0)
        self.alphabet = frozenset(byte for member in self.members for byte in member)
        # Members after their leading space, joined by a byte that no text member contains.
        self._haystack = b"\0".join(_SPACE + member for member in self.members)

    def _node(self, prefix: bytes):
        node = self._root
        for byte in prefix:
            node = node.get(byte)
            if node is None:
                return None
        return node

    def completions(self, prefix: bytes, limit: int) -> list:
        node = self._node(prefix)
        found = []
        stack = [] if node is None else [(node, prefix)]
        while stack and len(found) < limit:
            node, text = stack.pop()
            if self._END in node:
                found.append(text)
            children = [(child, text + bytes([byte])) for byte, child in node.items() if byte != self._END]
            stack.extend(reversed(children))
        return found

    def accepts(self, text: bytes) -> bool:
        node = self._node(text)
        return node is not None and self._END in node

    def may_contain(self, fragment: bytes) -> bool:
        return fragment in self._haystack


def _scaled_bound(bound, decimals: int, rounding) -> int:
    """Return ``bound * 10**decimals`` rounded to an integer with ``rounding`` (a decimal mode)."""
    if isinstance(bound, numbers.Integral):
        exact = decimal.Decimal(int(bound))
    else:
        exact = decimal.Decimal(repr(float(bound)))
    return int(exact.scaleb(decimals).to_integral_value(rounding=rounding))


class NumberGrammar(ValueGrammar):
    """Numbers in ``[low, high]`` written with exactly ``decimals`` digits after the point.

    Members are the texts ``format_value`` writes: an optional minus sign, an integer part
    without leading zeros, and for ``decimals > 0`` a point and ``decimals`` digits. Negative zero
    (``-0``, ``-0.00``) is not a member. Values are handled as integers scaled by
    ``10**decimals``, so bounds are exact.

    Parameters
    ----------
    low, high : float, int or None
        Inclusive bounds; None for an open bound, limited to :data:`MAX_SIGNIFICANT_DIGITS` digits.
    decimals : int
        Digits after the decimal point; 0 for integers.
    """

    def __init__(self, low, high, decimals: int):
        self.decimals = int(decimals)
        self._unit = 10**self.decimals
        widest = 10**MAX_SIGNIFICANT_DIGITS - 1
        self.low = -widest if low is None else _scaled_bound(low, self.decimals, decimal.ROUND_CEILING)
        self.high = widest if high is None else _scaled_bound(high, self.decimals, decimal.ROUND_FLOOR)
        largest = max(abs(self.low), abs(self.high)) // self._unit
        self._max_integer_digits = len(str(largest))
        fraction_length = self.decimals + 1 if self.decimals else 0
        self.max_length = int(self.low < 0) + self._max_integer_digits + fraction_length
        alphabet = set(_DIGITS)
        if self.low < 0:
            alphabet.add(ord("-"))
        if self.decimals:
            alphabet.add(ord("."))
        self.alphabet = frozenset(alphabet)
        fraction = rf"\.\d{{{self.decimals}}}" if self.decimals else ""
        self._member_pattern = re.compile(rf"-?(0|[1-9]\d*){fraction}")

    @property
    def is_empty(self) -> bool:
        """Whether no number at this precision lies in the range."""
        return self.low > self.high

    def format(self, scaled: int) -> bytes:
        """Write ``scaled / 10**decimals`` as a member text."""
        sign = "-" if scaled < 0 else ""
        whole, fraction = divmod(abs(scaled), self._unit)
        text = f"{sign}{whole}" + (f".{fraction:0{self.decimals}d}" if self.decimals else "")
        return text.encode("ascii")

    def completions(self, prefix: bytes, limit: int) -> list:
        parts = _split_number_prefix(prefix)
        if parts is None or not self._is_canonical_prefix(*parts[1:]):
            return []
        sign, integer, point, fraction = parts
        signs = [sign] if (sign or integer or point) else ["", "-"]
        found = []
        for candidate_sign in signs:
            for start, stop in self._magnitude_intervals(integer, point, fraction):
                if candidate_sign:
                    # Negative zero is not written, so the largest negative member is -1 (scaled).
                    start, stop = -stop, min(-start, -1)
                start, stop = max(start, self.low), min(stop, self.high)
                for scaled in range(start, min(stop, start + limit - len(found) - 1) + 1):
                    found.append(self.format(scaled))
                if len(found) >= limit:
                    return found
        return found

    def accepts(self, text: bytes) -> bool:
        try:
            decoded = text.decode("ascii")
        except UnicodeDecodeError:
            return False
        match = self._member_pattern.fullmatch(decoded)
        if match is None or len(match.group(1)) > self._max_integer_digits:
            return False
        scaled = int(decoded.replace(".", ""))
        if decoded.startswith("-") and scaled == 0:
            return False
        return self.low <= scaled <= self.high

    def _is_canonical_prefix(self, integer: str, point: str, fraction: str) -> bool:
        if point and (not integer or not self.decimals or len(fraction) > self.decimals):
            return False
        if len(integer) > 1 and integer.startswith("0"):
            return False
        return len(integer) <= self._max_integer_digits

    def _magnitude_intervals(self, integer: str, point: str, fraction: str) -> list:
        """Return the ``(first, last)`` scaled magnitudes of the members with this prefix."""
        unit = self._unit
        if point:
            step = 10 ** (self.decimals - len(fraction))
            first = int(integer) * unit + (int(fraction) if fraction else 0) * step
            return [(first, first + step - 1)]
        if not integer:
            return [(0, 10**self._max_integer_digits * unit - 1)]
        if integer == "0":
            return [(0, unit - 1)]
        head = int(integer)
        extra_digits = range(self._max_integer_digits - len(integer) + 1)
        return [(head * 10**k * unit, (head + 1) * 10**k * unit - 1) for k in extra_digits]


_NUMBER_PREFIX = re.compile(r"(-?)(\d*)(\.?)(\d*)")


def _split_number_prefix(prefix: bytes):
    """Split a number prefix into ``(sign, integer digits, point, fraction digits)``, or None."""
    try:
        text = prefix.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _NUMBER_PREFIX.fullmatch(text)
    if match is None or (match.group(4) and not match.group(3)):
        return None
    return match.groups()


_DATE_SHAPE = "dddd-dd-dd"


class DateGrammar(ValueGrammar):
    """Existing dates in ``[low, high]`` written as ``YYYY-MM-DD``.

    Open bounds fall back to the days pandas can store (about 1677-09-22 to 2262-04-11), because
    :mod:`synthlib.values` reads dates into ``datetime64[ns]``.

    Parameters
    ----------
    low, high : pandas.Timestamp or None
        Inclusive bounds; a bound with a time of day keeps only the whole days inside it.
    """

    max_length = len(_DATE_SHAPE)
    alphabet = frozenset(_DIGITS | {ord("-")})

    def __init__(self, low=None, high=None):
        earliest = pd.Timestamp.min.ceil("D").date()
        latest = pd.Timestamp.max.floor("D").date()
        self.low = earliest if low is None else max(pd.Timestamp(low).ceil("D").date(), earliest)
        self.high = latest if high is None else min(pd.Timestamp(high).floor("D").date(), latest)

    @property
    def is_empty(self) -> bool:
        """Whether no day lies in the range."""
        return self.low > self.high

    def completions(self, prefix: bytes, limit: int) -> list:
        block = _date_block(prefix)
        if block is None:
            return []
        start, stop = max(block[0], self.low), min(block[1], self.high)
        if start > stop:
            return []
        count = min(limit, (stop - start).days + 1)
        return [(start + datetime.timedelta(days=k)).isoformat().encode("ascii") for k in range(count)]

    def accepts(self, text: bytes) -> bool:
        return len(text) == len(_DATE_SHAPE) and self.completions(text, 1) == [text]


def _date_block(prefix: bytes):
    """Return the first and last existing dates whose text starts with ``prefix``, or None.

    ``YYYY-MM-DD`` texts sort like their dates, so the dates that share a prefix are one
    contiguous block of days.
    """
    try:
        text = prefix.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(text) > len(_DATE_SHAPE):
        return None
    for char, shape in zip(text, _DATE_SHAPE):
        if (shape == "d" and char not in "0123456789") or (shape == "-" and char != "-"):
            return None
    year = text[:4]
    if len(year) < 4:
        first_year, last_year = max(int(year.ljust(4, "0")), 1), int(year.ljust(4, "9"))
        if first_year > last_year:
            return None
        return datetime.date(first_year, 1, 1), datetime.date(last_year, 12, 31)
    if int(year) == 0:
        return None
    year = int(year)
    months = [month for month in range(1, 13) if f"{month:02d}".startswith(text[5:7])]
    if not months:
        return None
    if len(text) < 7:
        return datetime.date(year, months[0], 1), datetime.date(year, months[-1], _days_in(year, months[-1]))
    month = months[0]
    days = [day for day in range(1, _days_in(year, month) + 1) if f"{day:02d}".startswith(text[8:10])]
    if not days:
        return None
    return datetime.date(year, month, days[0]), datetime.date(year, month, days[-1])


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


class UnionGrammar(ValueGrammar):
    """Members of several grammars whose members differ, for example values and the missing marker."""

    def __init__(self, parts):
        self.parts = tuple(parts)
        self.max_length = max(part.max_length for part in self.parts)
        self.alphabet = frozenset().union(*(part.alphabet for part in self.parts))

    def completions(self, prefix: bytes, limit: int) -> list:
        found = []
        for part in self.parts:
            found.extend(part.completions(prefix, limit - len(found)))
            if len(found) >= limit:
                break
        return found

    def accepts(self, text: bytes) -> bool:
        return any(part.accepts(text) for part in self.parts)

    def may_contain(self, fragment: bytes) -> bool:
        return any(part.may_contain(fragment) for part in self.parts)


class _SpacedGrammar(ValueGrammar):
    """The members of ``grammar`` after the space that follows ``" is"``."""

    def __init__(self, grammar: ValueGrammar):
        self.grammar = grammar
        self.max_length = grammar.max_length + len(_SPACE)
        self.alphabet = grammar.alphabet | frozenset(_SPACE)

    def completions(self, prefix: bytes, limit: int) -> list:
        if not _SPACE.startswith(prefix[:1]):
            return []
        return [_SPACE + member for member in self.grammar.completions(prefix[1:], limit)]

    def accepts(self, text: bytes) -> bool:
        return text.startswith(_SPACE) and self.grammar.accepts(text[1:])


MISSING = LevelGrammar([MISSING_MARKER])


def _split_missing(grammar: ValueGrammar):
    """Return ``(values, MISSING)`` when ``grammar`` is a union with the missing marker, else None."""
    if not isinstance(grammar, UnionGrammar) or MISSING not in grammar.parts:
        return None
    others = [part for part in grammar.parts if part is not MISSING]
    values = others[0] if len(others) == 1 else UnionGrammar(others)
    return values, MISSING


def unescaped_comma(value: bytes, token: bytes) -> int | None:
    """Return the index in ``token`` of its first comma that no backslash escapes, or None.

    ``value`` is the text before ``token``; its trailing backslashes can escape a comma that
    starts the token.
    """
    backslashes = len(value) - len(value.rstrip(b"\\"))
    for index, byte in enumerate(token):
        if byte == _COMMA and backslashes % 2 == 0:
            return index
        backslashes = backslashes + 1 if byte == _BACKSLASH else 0
    return None


def _bytes_to_unicode_map() -> dict:
    """Return the character that byte-level BPE uses for each byte, inverted: character -> byte.

    This is the table of GPT-2's byte-level BPE. Printable Latin-1 bytes keep their own
    character. The other bytes are mapped, in byte order, to the characters from 256 on, so that
    no token string contains whitespace or control characters.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    mapping = {}
    shifted = 0
    for byte in range(256):
        if byte in printable:
            mapping[chr(byte)] = byte
        else:
            mapping[chr(256 + shifted)] = byte
            shifted += 1
    return mapping


_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class TokenTable:
    """Bytes of every vocabulary entry, to match tokens against grammars.

    Byte-level BPE tokens (GPT-2, SmolLM2) are read from their byte-level characters. Other
    tokenizers are read from their token strings, with ``▁`` as a space and ``<0xNN>`` as byte NN.

    Attributes
    ----------
    token_bytes : list of bytes or None
        Bytes of each token id; None for special tokens.
    eos : int
        End-of-sequence token id.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.eos = tokenizer.eos_token_id
        self.token_bytes = _vocabulary_bytes(tokenizer)
        self._single_byte = {}
        for token_id, data in enumerate(self.token_bytes):
            if data is not None and len(data) == 1:
                self._single_byte.setdefault(data[0], token_id)
        self._encodings = {}

    def encode(self, data: bytes):
        """Return token ids whose bytes are exactly ``data``, or None when the vocabulary cannot spell it.

        The tokenizer's own split is used when it reproduces the bytes, else one token per byte.
        """
        if data not in self._encodings:
            self._encodings[data] = self._encode(data)
        return self._encodings[data]

    def _encode(self, data: bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if b"".join(self.token_bytes[i] or b"\0" for i in ids) == data:
                return ids
        if all(byte in self._single_byte for byte in data):
            return [self._single_byte[byte] for byte in data]
        return None


def _vocabulary_bytes(tokenizer) -> list:
    from tokenizers import decoders

    special = set(tokenizer.all_special_ids)
    added = set(tokenizer.get_added_vocab().values())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    byte_level = backend is not None and isinstance(backend.decoder, decoders.ByteLevel)
    byte_map = _bytes_to_unicode_map()
    token_bytes = []
    for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if token_id in special or token is None:
            token_bytes.append(None)
        elif token_id in added:
            token_bytes.append(tokenizer.decode([token_id]).encode("utf-8"))
        elif byte_level and all(char in byte_map for char in token):
            token_bytes.append(bytes(byte_map[char] for char in token))
        elif _BYTE_FALLBACK.fullmatch(token):
            token_bytes.append(bytes([int(_BYTE_FALLBACK.fullmatch(token).group(1), 16)]))
        else:
            # NOTE: only byte-level BPE tokenizers are tested; SentencePiece tokens are read here
            # with their word-start mark "▁" as a space.
            token_bytes.append(token.replace("\u2581", " ").encode("utf-8"))
    return [data if data else None for data in token_bytes]


def token_table(tokenizer) -> TokenTable:
    """Return the :class:`TokenTable` of ``tokenizer``, built once and kept on the tokenizer."""
    table = getattr(tokenizer, "_synthlib_token_table", None)
    if table is None:
        table = TokenTable(tokenizer)
        tokenizer._synthlib_token_table = table
    return table


# Decisions of ValueMask.decide for the value text written so far.
SAMPLE = "sample"  # sample a token among the allowed ones
FORCE = "force"  # one member is left: append its remaining tokens without sampling
END = "end"  # the text is a member that no other member extends: the value is complete
DEAD_END = "dead end"  # no token continues the text (a vocabulary that cannot spell the value)


class ValueMask:
    """Logits mask of one column: which tokens may follow the value text written so far.

    The text starts after ``" is"``: a space, then a member of the grammar, then a comma or
    the end-of-sequence token once the text is a complete member. Only the column's candidate
    tokens are checked: tokens whose bytes before their first comma may occur in a member. The
    decision for each text is cached, so a text seen once costs a dictionary lookup afterwards.

    Parameters
    ----------
    grammar : ValueGrammar
        Values the column may take, without the leading space.
    table : TokenTable
        Token bytes of the model's tokenizer.
    """

    def __init__(self, grammar: ValueGrammar, table: TokenTable):
        self.grammar = _SpacedGrammar(grammar)
        self.table = table
        # Each sampled token adds at least one byte; one more step samples the comma or EOS.
        self.max_steps = self.grammar.max_length + 1
        self._candidates = None
        self._candidate_ids = None
        self._decisions = {}
        self._marker_tokens = {}
        self._split = _split_missing(grammar)

    @property
    def candidate_ids(self) -> torch.Tensor:
        """Token ids that can occur in a value of this column, the end-of-sequence id last."""
        if self._candidates is None:
            self._find_candidates()
        return self._candidate_ids

    def _find_candidates(self) -> None:
        # Computed on first use, because the masks of fixed values (imputation) never sample.
        # A token that continues a value has its bytes up to its first comma inside a member.
        grammar = self.grammar.grammar
        self._candidates = [
            (token_id, data)
            for token_id, data in enumerate(self.table.token_bytes)
            if data is not None and grammar.may_contain(data.split(b",", 1)[0])
        ]
        ids = [token_id for token_id, _ in self._candidates] + [self.table.eos]
        self._candidate_ids = torch.tensor(ids, dtype=torch.long)

    def decide(self, text: bytes) -> tuple:
        """Return the decision for the value text ``text``, computed once per text.

        The result is ``(SAMPLE, allowed)`` with a boolean tensor over :attr:`candidate_ids`,
        ``(FORCE, (member, ids))``, ``(END, None)`` or ``(DEAD_END, None)``.
        """
        if text not in self._decisions:
            self._decisions[text] = self._decide(text)
        return self._decisions[text]

    def _decide(self, text: bytes) -> tuple:
        members = self.grammar.completions(text, 2)
        complete = self.grammar.accepts(text)
        if complete and len(members) == 1:
            return END, None
        if len(members) == 1:
            ids = self.table.encode(members[0][len(text) :])
            if ids is not None:
                return FORCE, (members[0], ids)
        if not members:
            return DEAD_END, None
        allowed = self._allowed_tokens(text, complete)
        return (SAMPLE, allowed) if bool(allowed.any()) else (DEAD_END, None)

    def marker_tokens(self, text: bytes) -> torch.Tensor | None:
        """Return which candidate tokens commit the value text ``text`` to the missing-value marker.

        The result is a boolean tensor over :attr:`candidate_ids`. It is None where ``text`` no
        longer leaves the choice between the marker and a real value, or where the column has no
        marker. Offsetting these tokens' logits changes how often the column is missing (see
        :mod:`synthlib.missing_rates`).
        """
        if self._split is None:
            return None
        if text not in self._marker_tokens:
            self._marker_tokens[text] = self._find_marker_tokens(text)
        return self._marker_tokens[text]

    def _find_marker_tokens(self, text: bytes) -> torch.Tensor | None:
        values, marker = (_SpacedGrammar(part) for part in self._split)
        if not (values.completions(text, 1) and marker.completions(text, 1)):
            return None
        if self._candidates is None:
            self._find_candidates()
        chosen = []
        for _, data in self._candidates:
            cut = unescaped_comma(text, data)
            if cut is None:
                extended = text + data
                chosen.append(bool(marker.completions(extended, 1)) and not values.completions(extended, 1))
            else:
                extended = text + data[:cut]
                chosen.append(marker.accepts(extended) and not values.accepts(extended))
        chosen.append(False)
        return torch.tensor(chosen, dtype=torch.bool)

    def _allowed_tokens(self, text: bytes, complete: bool) -> torch.Tensor:
        if self._candidates is None:
            self._find_candidates()
        allowed = []
        for _, data in self._candidates:
            cut = unescaped_comma(text, data)
            if cut is None:
                allowed.append(bool(self.grammar.completions(text + data, 1)))
            else:
                allowed.append(self.grammar.accepts(text + data[:cut]))
        allowed.append(complete)
        return torch.tensor(allowed, dtype=torch.bool)


def column_grammar(spec, texts=None, allow_missing: bool = True) -> ValueGrammar:
    """Return the grammar of a column declared by ``spec``: its valid values and the missing marker.

    Parameters
    ----------
    spec : ColumnSpec
        Declaration of the column.
    texts : list of str or None
        For categorical and binary columns, the allowed values as ``format_value`` writes them
        (for example the levels seen in training); None allows every declared level.
    allow_missing : bool
        Whether the missing-value marker is a member.

    Returns
    -------
    ValueGrammar
    """
    if spec.type in ("categorical", "binary"):
        if texts is None:
            texts = [escape(str(level)) for level in spec.levels] if spec.type == "categorical" else ["0", "1"]
        values = LevelGrammar(texts)
    elif spec.type == "date":
        values = DateGrammar(*range_bounds(spec))
    else:
        values = NumberGrammar(*range_bounds(spec), column_decimals(spec))
    return UnionGrammar([values, MISSING]) if allow_missing else values


def column_decimals(spec) -> int:
    """Return the digits after the decimal point of a numeric or integer column's values."""
    if spec.type == "integer":
        return 0
    return DEFAULT_DECIMALS if spec.decimals is None else spec.decimals


class RowConstraints:
    """Value masks of every modelled column, for one tokenizer.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerBase
        Tokenizer of the model that samples.
    grammars : dict
        Column name -> :class:`ValueGrammar`, in the order of the modelled columns.
    first : iterable of str
        Columns written before the others in every row (the conditioned ones), so that the
        model samples the other columns given them.
    """

    def __init__(self, tokenizer, grammars: dict, first=()):
        self.table = token_table(tokenizer)
        self.columns = list(grammars)
        first = set(first)
        self.first = [name for name in self.columns if name in first]
        self._masks = {name: ValueMask(grammar, self.table) for name, grammar in grammars.items()}
        self._fixed = {}

    def mask(self, name: str, fixed_text: str | None = None) -> ValueMask:
        """Return the mask of column ``name``, or the mask that allows only ``fixed_text``."""
        if fixed_text is None:
            return self._masks[name]
        if fixed_text not in self._fixed:
            self._fixed[fixed_text] = ValueMask(LevelGrammar([fixed_text]), self.table)
        return self._fixed[fixed_text]

    def column_order(self, rng, first=()) -> list:
        """Draw a column order: :attr:`first` and ``first`` columns in random order, then the others."""
        leading = [name for name in self.columns if name in self.first or name in first]
        rest = [name for name in self.columns if name not in leading]
        return [str(name) for name in (*rng.permutation(leading), *rng.permutation(rest))]
