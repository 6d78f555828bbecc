"""Data dictionaries: the declared type, unit, range, levels and role of each column."""

from __future__ import annotations

import datetime
import decimal
import difflib
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from synthlib.exceptions import DictionaryError

logger = logging.getLogger(__name__)

COLUMN_TYPES = ("numeric", "integer", "categorical", "binary", "date")
ROLES = ("identifier", "quasi_identifier", "sensitive", "outcome", "predictor")
# Decimals of numeric values when a column declares none; synthlib.encoding uses the same default.
DEFAULT_DECIMALS = 2


@dataclass(frozen=True)
class ColumnSpec:
    """Declaration of one column of a data dictionary.

    Attributes
    ----------
    name : str
        Column name as it appears in the data file.
    type : str
        One of ``numeric``, ``integer``, ``categorical``, ``binary`` or ``date``.
    unit : str or None
        Unit of measurement, for example ``mmol/L``.
    range : tuple or None
        Inclusive ``(min, max)`` allowed for numeric, integer and date columns
        (dates as ``pandas.Timestamp``). Either bound may be None.
    levels : tuple of str or None
        Allowed values of a categorical column. Binary columns always take 0 and 1.
    labels : dict or None
        Optional display labels of a binary column, ``{0: "no", 1: "yes"}``.
    decimals : int or None
        Precision at which numeric values are written as text; None means 2.
    missing_codes : tuple of str
        Raw values that mean "missing" (for example ``-99`` or ``missing``).
    role : str
        One of ``identifier``, ``quasi_identifier``, ``sensitive``, ``outcome`` or ``predictor``.
    description : str
        Free text shown in the book.
    required : bool
        Whether loading fails when the column is absent from the data file.
    """

    name: str
    type: str
    unit: str | None = None
    range: tuple | None = None
    levels: tuple | None = None
    labels: dict | None = None
    decimals: int | None = None
    missing_codes: tuple = ()
    role: str = "predictor"
    description: str = ""
    required: bool = True

    @property
    def is_numeric(self) -> bool:
        """Whether the column contains numbers (numeric or integer)."""
        return self.type in ("numeric", "integer")

    @property
    def is_categorical(self) -> bool:
        """Whether the column takes values from a finite set (categorical or binary)."""
        return self.type in ("categorical", "binary")


@dataclass(frozen=True)
class DataDictionary:
    """An ordered collection of column declarations.

    Attributes
    ----------
    name : str
        Short name of the data set.
    columns : tuple of ColumnSpec
        The declared columns, in file order.
    description : str
        Free text shown in the book.
    source : str
        Where the data come from (citation or URL).
    """

    name: str
    columns: tuple
    description: str = ""
    source: str = ""
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {c.name: c for c in self.columns})

    @property
    def names(self) -> list:
        """Names of all declared columns, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        """Return the declaration of column ``name``; raise KeyError naming the known columns."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(
                f"column {name!r} is not in data dictionary {self.name!r}; "
                f"known columns: {', '.join(self.names)}"
            ) from None

    def __contains__(self, name) -> bool:
        return name in self._index

    def by_role(self, *roles: str) -> list:
        """Names of the columns whose role is one of ``roles``."""
        return [c.name for c in self.columns if c.role in roles]

    def by_type(self, *types: str) -> list:
        """Names of the columns whose type is one of ``types``."""
        return [c.name for c in self.columns if c.type in types]

    def subset(self, names) -> "DataDictionary":
        """Return a dictionary with only the columns in ``names``, in that order."""
        return DataDictionary(
            name=self.name,
            columns=tuple(self.column(n) for n in names),
            description=self.description,
            source=self.source,
        )

    @property
    def modelled_columns(self) -> list:
        """Names of the columns a generator learns: all but identifiers."""
        return [c.name for c in self.columns if c.role != "identifier"]

    @classmethod
    def from_mapping(cls, mapping) -> "DataDictionary":
        """Build a dictionary from a parsed YAML mapping; raise DictionaryError listing every problem."""
        return _parse_dictionary(mapping)

    def to_mapping(self) -> dict:
        """Return the dictionary as a plain mapping that ``from_mapping`` reads back unchanged."""
        return _dictionary_to_mapping(self)


# --- Reading and writing dictionaries -------------------------------------------------------

TOP_LEVEL_KEYS = ("name", "description", "source", "columns")
COLUMN_KEYS = (
    "name",
    "type",
    "unit",
    "range",
    "levels",
    "labels",
    "decimals",
    "missing_codes",
    "role",
    "description",
    "required",
)


def read_dictionary(path) -> DataDictionary:
    """Read a data dictionary from a YAML file.

    The items of ``levels`` and ``missing_codes`` keep the text written in the file: YAML
    would read ``010`` as the octal number 8 and ``-99.00`` as ``-99.0``, but the cells of a
    table are compared with these items as text. Unquoted dates that do not exist, such as
    ``2019-13-01``, stay text, so that the column that contains them is reported.

    Parameters
    ----------
    path : str or pathlib.Path
        YAML file in the format described in ``data_templates/README.md``, encoded as UTF-8.

    Returns
    -------
    DataDictionary

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DictionaryError
        If the file is not UTF-8 or not valid YAML, repeats a key within one mapping, or
        declares invalid columns. The message lists every problem of the file at once.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data dictionary not found: {path}; pass the path of a YAML file")
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DictionaryError(f"data dictionary {utf8_error_message(path, exc)}") from exc
    try:
        mapping, duplicated_keys = _load_yaml(text, _DictionaryLoader)
        written, _ = _load_yaml(text, _TextLoader)
    except yaml.YAMLError as exc:
        raise DictionaryError(f"data dictionary {path} is not valid YAML: {exc}") from exc
    if duplicated_keys:
        raise _dictionary_error(duplicated_keys, str(path))
    _restore_written_text(mapping, written)
    return _parse_dictionary(mapping, origin=str(path))


def utf8_error_message(path, error: UnicodeDecodeError) -> str:
    """Describe a file that is not UTF-8: the path, the first invalid byte, its line and the fix.

    The message shows no content of the file, only the byte's value and position.
    """
    line = error.object[: error.start].count(b"\n") + 1
    byte = error.object[error.start]
    return (
        f"{path} is not UTF-8 text: byte 0x{byte:02x} at offset {error.start} (line {line}) is invalid "
        "in UTF-8, which is typical of files saved as Latin-1 or Windows-1252; save the file again as UTF-8 "
        "(Excel offers 'CSV UTF-8' in Save As, text editors an encoding setting) and load it again"
    )


# --- YAML loading --------------------------------------------------------------------------------

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Tags whose implicit resolution rewrites the text of an unquoted scalar.
_REWRITING_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", _TIMESTAMP_TAG}


class _DictionaryLoader(yaml.SafeLoader):
    """SafeLoader that records repeated mapping keys and keeps impossible dates as text.

    PyYAML keeps the last value of a repeated key without a message, so each repetition is
    stored in ``duplicated_keys`` with its lines.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicated_keys = []

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self._record_duplicated_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _record_duplicated_keys(self, node):
        first_lines = {}
        for key_node, _ in node.value:
            # A merge key (<<) may be overridden on purpose: YAML defines that case.
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue
            line = key_node.start_mark.line + 1
            if key in first_lines:
                lines = f"line {line}" if first_lines[key] == line else f"lines {first_lines[key]} and {line}"
                self.duplicated_keys.append(
                    f"key {key!r} appears twice in one mapping ({lines}); "
                    "PyYAML would keep only the last value: remove one of them"
                )
            else:
                first_lines[key] = line

    def construct_yaml_timestamp(self, node):
        # An unquoted 2019-13-01 matches YAML's date pattern, and PyYAML's own constructor
        # then raises a bare ValueError. Kept as text, it is reported with its column.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_DictionaryLoader.add_constructor(_TIMESTAMP_TAG, _DictionaryLoader.construct_yaml_timestamp)


class _TextLoader(_DictionaryLoader):
    """Loader that reads unquoted numbers and dates as the text written in the file."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REWRITING_TAGS]
        for first, resolvers in _DictionaryLoader.yaml_implicit_resolvers.items()
    }


def _load_yaml(text: str, loader_class) -> tuple:
    """Return ``(parsed document, messages about repeated keys)``."""
    loader = loader_class(text)
    try:
        return loader.get_single_data(), loader.duplicated_keys
    finally:
        loader.dispose()


def _restore_written_text(mapping, written) -> None:
    """Replace the ``levels`` and ``missing_codes`` of ``mapping`` by their text in ``written``.

    Both arguments are parses of the same file, so their structures match. Lists that are
    not where a valid dictionary has them are left for the parser to report.
    """
    if not isinstance(mapping, dict) or not isinstance(written, dict):
        return
    entries, written_entries = mapping.get("columns"), written.get("columns")
    if not isinstance(entries, list) or not isinstance(written_entries, list):
        return
    for entry, written_entry in zip(entries, written_entries):
        if not isinstance(entry, dict) or not isinstance(written_entry, dict):
            continue
        for key in ("levels", "missing_codes"):
            if isinstance(entry.get(key), list) and isinstance(written_entry.get(key), list):
                entry[key] = written_entry[key]


def write_dictionary(dictionary: DataDictionary, path) -> Path:
    """Write ``dictionary`` as YAML that :func:`read_dictionary` reads back unchanged; return the path."""
    path = Path(path)
    text = yaml.safe_dump(
        dictionary.to_mapping(), sort_keys=False, allow_unicode=True, default_flow_style=None
    )
    path.write_text(text, encoding="utf-8")
    logger.info("wrote data dictionary %r with %d columns to %s", dictionary.name, len(dictionary.columns), path)
    return path


def _suggestion(value, allowed) -> str:
    close = difflib.get_close_matches(str(value), allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dictionary_error(problems, origin) -> DictionaryError:
    where = f" {origin}" if origin else ""
    lines = [f"invalid data dictionary{where}: {len(problems)} problem(s):", *(f"- {p}" for p in problems)]
    error = DictionaryError("\n".join(lines))
    error.problems = list(problems)
    return error


def _parse_dictionary(mapping, origin: str = "") -> DataDictionary:
    """Build a DataDictionary from a parsed YAML mapping, collecting every problem before raising."""
    if not isinstance(mapping, dict):
        problem = (
            f"the file must contain a mapping with the keys {', '.join(TOP_LEVEL_KEYS)}; "
            f"got {type(mapping).__name__}"
        )
        raise _dictionary_error([problem], origin)

    problems = []
    for key in mapping:
        if key not in TOP_LEVEL_KEYS:
            problems.append(
                f"unknown top-level key {key!r}{_suggestion(key, TOP_LEVEL_KEYS)}; "
                f"allowed keys: {', '.join(TOP_LEVEL_KEYS)}"
            )
    name = mapping.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("the dictionary has no top-level 'name': add a short name, for example name: my_cohort")
    entries = mapping.get("columns")
    if not isinstance(entries, list) or not entries:
        problems.append("'columns' must be a non-empty list with one mapping per column")
        entries = []

    columns = []
    for position, entry in enumerate(entries, start=1):
        spec, column_problems = _parse_column(entry, position)
        problems.extend(column_problems)
        if spec is not None:
            columns.append(spec)
    problems.extend(_duplicated_name_problems(entries))

    if problems:
        raise _dictionary_error(problems, origin)
    return DataDictionary(
        name=name.strip(),
        columns=tuple(columns),
        description=str(mapping.get("description") or "").strip(),
        source=str(mapping.get("source") or "").strip(),
    )


def _duplicated_name_problems(entries) -> list:
    positions = {}
    for position, entry in enumerate(entries, start=1):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            positions.setdefault(entry["name"], []).append(position)
    return [
        f"column {name!r} is declared {len(where)} times (entries {', '.join(f'#{p}' for p in where)}); "
        "rename or remove all but one"
        for name, where in positions.items()
        if len(where) > 1
    ]


def _parse_column(entry, position: int):
    """Return ``(ColumnSpec or None, problems)`` for one entry of ``columns``."""
    if not isinstance(entry, dict):
        return None, [f"column #{position}: expected a mapping such as {{name: age, type: integer}}; got {entry!r}"]

    problems = []
    name = entry.get("name")
    if isinstance(name, str) and name.strip():
        where = f"column {name!r}"
    elif name is None or isinstance(name, str):
        where = f"column #{position}"
        problems.append(f"{where} has no 'name': add name: <the column header in the data file>")
    else:
        where = f"column #{position}"
        problems.append(f"{where}: name {name!r} is not text; quote it, for example name: '{name}'")
    for key in entry:
        if key not in COLUMN_KEYS:
            problems.append(
                f"{where}: unknown key {key!r}{_suggestion(key, COLUMN_KEYS)}; allowed keys: {', '.join(COLUMN_KEYS)}"
            )

    column_type = entry.get("type")
    if column_type not in COLUMN_TYPES:
        got = "no 'type'" if column_type is None else f"unknown type {column_type!r}{_suggestion(column_type, COLUMN_TYPES)}"
        problems.append(f"{where}: {got}; allowed types: {', '.join(COLUMN_TYPES)}")
        column_type = None

    fields = {
        "unit": _parse_text(entry.get("unit"), where, "unit", problems),
        "range": _parse_range(entry.get("range"), column_type, where, problems),
        "levels": _parse_levels(entry.get("levels"), column_type, where, problems),
        "labels": _parse_labels(entry.get("labels"), column_type, where, problems),
        "decimals": _parse_decimals(entry.get("decimals"), column_type, where, problems),
        "missing_codes": _parse_missing_codes(entry.get("missing_codes"), where, problems),
        "role": _parse_role(entry.get("role", "predictor"), where, problems),
        "description": _parse_text(entry.get("description"), where, "description", problems) or "",
        "required": _parse_required(entry.get("required", True), where, problems),
    }
    if fields["levels"] and fields["missing_codes"]:
        for level in set(fields["levels"]) & set(fields["missing_codes"]):
            problems.append(f"{where}: {level!r} is both a level and a missing code; remove it from one of the two lists")
    if column_type == "numeric" and fields["range"] is not None:
        problems.extend(_bound_precision_problems(fields["range"], fields["decimals"], where))
    if problems:
        return None, problems
    return ColumnSpec(name=name, type=column_type, **fields), problems


def _parse_text(value, where, key, problems):
    if value is None:
        return None
    if isinstance(value, (dict, list, bool)):
        problems.append(f"{where}: {key} must be text; got {value!r}")
        return None
    return str(value).strip()


def _parse_role(value, where, problems) -> str:
    role = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if role not in ROLES:
        problems.append(f"{where}: unknown role {value!r}{_suggestion(role, ROLES)}; allowed roles: {', '.join(ROLES)}")
    return role


def _parse_required(value, where, problems) -> bool:
    if not isinstance(value, bool):
        problems.append(f"{where}: required must be true or false; got {value!r}")
        return True
    return value


def _parse_decimals(value, column_type, where, problems):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{where}: decimals must be a whole number >= 0, for example decimals: 2; got {value!r}")
        return None
    if column_type is not None and column_type not in ("numeric", "integer"):
        problems.append(f"{where}: decimals applies only to numeric and integer columns, not {column_type}; remove it")
    return value


def _parse_scalar_list(value, where, key, problems) -> tuple:
    """Return the items of a YAML list as strings, rejecting booleans, nulls and nested values."""
    items = []
    for item in value:
        if isinstance(item, bool):
            problems.append(f"{where}: {key} item {item!r} was read by YAML as a boolean; quote it, for example 'yes'")
        elif item is None or isinstance(item, (dict, list)):
            problems.append(f"{where}: {key} item {item!r} is not a single value; write plain text or numbers")
        else:
            items.append(str(item))
    return tuple(items)


def _padded_item_problems(items, where, key) -> list:
    """Reject items with surrounding whitespace: cells are stripped before they are compared."""
    problems = []
    for item in items:
        if item.strip() and item != item.strip():
            problems.append(
                f"{where}: {key} item {item!r} has leading or trailing whitespace, but cells are stripped "
                f"before they are compared, so it can never match; write {item.strip()!r}"
            )
    return problems


def _parse_missing_codes(value, where, problems) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(f"{where}: missing_codes must be a list, for example missing_codes: [-99, 'NA']; got {value!r}")
        return ()
    codes = _parse_scalar_list(value, where, "missing_codes", problems)
    problems.extend(_padded_item_problems(codes, where, "missing_codes"))
    return codes


def _parse_levels(value, column_type, where, problems):
    if column_type != "categorical":
        if value is not None and column_type is not None:
            problems.append(
                f"{where}: levels apply only to categorical columns, but the type is {column_type}; "
                "remove levels or set type: categorical"
            )
        return None
    if not isinstance(value, list) or not value:
        problems.append(
            f"{where}: a categorical column needs levels, the list of its allowed values, "
            "for example levels: [never, former, current]"
        )
        return None
    levels = _parse_scalar_list(value, where, "levels", problems)
    problems.extend(_padded_item_problems(levels, where, "levels"))
    if any(not level.strip() for level in levels):
        problems.append(
            f"{where}: levels contain an empty or blank item, which can never match because empty cells "
            "are missing values; remove it, or declare a code such as 'none' as a level"
        )
    duplicated = sorted({level for level in levels if levels.count(level) > 1})
    if duplicated:
        problems.append(f"{where}: duplicated level(s) {', '.join(map(repr, duplicated))}; list each level once")
    return levels


def _parse_labels(value, column_type, where, problems):
    if value is None:
        return None
    if column_type is not None and column_type != "binary":
        problems.append(f"{where}: labels apply only to binary columns; a categorical column lists its values in levels")
        return None
    if not isinstance(value, dict) or {str(k) for k in value} != {"0", "1"} or any(isinstance(k, bool) for k in value):
        problems.append(f"{where}: labels must map 0 and 1 to text, for example labels: {{0: 'no', 1: 'yes'}}; got {value!r}")
        return None
    if any(isinstance(text, bool) or text is None for text in value.values()):
        problems.append(f"{where}: labels were read by YAML as booleans or nulls; quote them, for example {{0: 'no', 1: 'yes'}}")
        return None
    return {int(key): str(text) for key, text in value.items()}


def _parse_range(value, column_type, where, problems):
    if value is None:
        return None
    if column_type in ("categorical", "binary"):
        problems.append(f"{where}: range applies only to numeric, integer and date columns; remove it")
        return None
    if not isinstance(value, list) or len(value) != 2:
        problems.append(f"{where}: range must be a list [min, max] (null for an open bound); got {value!r}")
        return None
    low, high = (_parse_bound(bound, column_type, where, label, problems) for bound, label in zip(value, ("min", "max")))
    if low is not None and high is not None and low > high:
        problems.append(
            f"{where}: range min {format_bound(low)} is greater than max {format_bound(high)}; "
            f"swap them: range: [{format_bound(high)}, {format_bound(low)}]"
        )
    return (low, high)


def _parse_bound(bound, column_type, where, label, problems):
    if bound is None:
        return None
    if column_type == "date":
        # YAML reads an unquoted 2020-01-01 as a datetime.date; a number is rejected here
        # because pandas would read it as nanoseconds since 1970.
        if isinstance(bound, datetime.date):
            return pd.Timestamp(bound)
        if isinstance(bound, str) and _ISO_DATE.fullmatch(bound.strip()):
            try:
                return pd.Timestamp(bound.strip())
            except ValueError:
                problems.append(
                    f"{where}: range {label} {bound!r} is not a valid date; write an existing date as "
                    "YYYY-MM-DD, with the month from 01 to 12"
                )
                return None
        problems.append(f"{where}: range {label} {bound!r} is not an ISO date; write it as YYYY-MM-DD")
        return None
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
        problems.append(f"{where}: range {label} {bound!r} is not a finite number; write a number or null")
        return None
    return bound


def _bound_precision_problems(bounds, decimals, where) -> list:
    """Reject numeric bounds finer than the precision at which values are written.

    Values are rounded to ``decimals`` when encoded, so with a bound of 0.2 and decimals 0 the
    valid value 0.3 is written as 0 and sampled values fall below the range.
    """
    declared = "decimals" if decimals is not None else "the default decimals"
    decimals = DEFAULT_DECIMALS if decimals is None else decimals
    problems = []
    for label, bound in zip(("min", "max"), bounds):
        if bound is None:
            continue
        places = max(0, -decimal.Decimal(repr(bound)).normalize().as_tuple().exponent)
        if places > decimals:
            problems.append(
                f"{where}: range {label} {format_bound(bound)} has {places} decimal place(s), more than "
                f"{declared} ({decimals}) at which values are written, so values near the bound are "
                f"rounded outside the range; set decimals: {places} or round the bound to {decimals} decimal place(s)"
            )
    return problems


# ISO 8601 date, optionally with a time, as write_dictionary writes date bounds.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


def format_bound(bound) -> str:
    """Format a range bound or a value for messages: dates as YYYY-MM-DD, floats in ``%g`` form."""
    if isinstance(bound, pd.Timestamp):
        return bound.strftime("%Y-%m-%d") if bound == bound.normalize() else bound.isoformat()
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _plain_bound(bound):
    """Convert a range bound to a value that yaml.safe_dump writes (no numpy or pandas scalars)."""
    if bound is None:
        return None
    if isinstance(bound, pd.Timestamp):
        return format_bound(bound)
    return bound.item() if hasattr(bound, "item") else bound


def _column_to_mapping(spec: ColumnSpec) -> dict:
    entry = {"name": spec.name, "type": spec.type}
    if spec.unit is not None:
        entry["unit"] = spec.unit
    if spec.range is not None:
        entry["range"] = [_plain_bound(bound) for bound in spec.range]
    if spec.levels is not None:
        entry["levels"] = [str(level) for level in spec.levels]
    if spec.labels is not None:
        entry["labels"] = {int(key): str(text) for key, text in spec.labels.items()}
    if spec.decimals is not None:
        entry["decimals"] = int(spec.decimals)
    if spec.missing_codes:
        entry["missing_codes"] = [str(code) for code in spec.missing_codes]
    entry["role"] = spec.role
    if spec.description:
        entry["description"] = spec.description
    if not spec.required:
        entry["required"] = False
    return entry


def _dictionary_to_mapping(dictionary: DataDictionary) -> dict:
    return {
        "name": dictionary.name,
        "description": dictionary.description,
        "source": dictionary.source,
        "columns": [_column_to_mapping(spec) for spec in dictionary.columns],
    }
