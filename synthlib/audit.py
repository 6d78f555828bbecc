"""Check that executed notebooks and built book pages show no row of the real input.

A shown row is found by its values: each output line (a line of text, or a table row of HTML) is
compared with every real row on the high-cardinality numeric columns (at least
:data:`MIN_DISTINCT` distinct values; low-cardinality columns such as sex or 0/1 flags identify no
one). A line that contains the values of at least :data:`MIN_MATCHES` such columns of one real row
counts as showing that row. The threshold is all of them when there are fewer, and half of them
when there are more than twice as many. With fewer than :data:`MIN_IDENTIFYING` such columns the
check is skipped. Aggregates
(means, quantiles, counts) match a real row on one column at most by chance, and a synthetic row
matches six columns of one real row only if the model copied it, which is itself worth flagging.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

MIN_DISTINCT = 10
MIN_MATCHES = 6
MIN_IDENTIFYING = 3
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_HTML_ROW = re.compile(r"<tr\b", re.IGNORECASE)


def _identifying_matrix(real: pd.DataFrame) -> np.ndarray:
    columns = []
    for name in real.columns:
        values = real[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            if numbers.nunique() >= MIN_DISTINCT:
                columns.append(numbers.to_numpy())
    return np.column_stack(columns) if columns else np.empty((len(real), 0))


def _output_lines(notebook: dict):
    """Yield ``(cell index, line)`` for every text and HTML line of every output."""
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            texts = []
            if "text" in output:
                texts.append(("plain", output["text"]))
            for mime, payload in output.get("data", {}).items():
                if mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                    texts.append((mime, payload))
            for mime, payload in texts:
                text = "".join(payload) if isinstance(payload, list) else str(payload)
                pieces = _html_lines(text) if mime == "text/html" else text.splitlines()
                for piece in pieces:
                    yield index, piece


def _html_lines(text: str):
    """Yield each HTML table row as one line, and every other line of the text as it is."""
    for index, piece in enumerate(_HTML_ROW.split(text)):
        row, _, rest = piece.partition("</tr>") if index else ("", "", piece)
        if row:
            yield row
        yield from rest.splitlines()


def _page_lines(path: Path):
    """Yield ``(0, line)`` for every table row and text line of an HTML or text file."""
    for line in _html_lines(path.read_text(errors="replace")):
        yield 0, line


def count_matches(line: str, identifying: np.ndarray) -> int:
    """Return the largest number of identifying values of one real row found in ``line``."""
    numbers = {float(token) for token in _NUMBER.findall(line)}
    if len(numbers) < 2 or identifying.shape[1] == 0:
        return 0
    found = np.isin(identifying, np.fromiter(numbers, dtype=float))
    return int(found.sum(axis=1).max())


def find_real_rows(notebook_paths, paths) -> list:
    """Return a description of every output line that shows a real row; an empty list is clean.

    Parameters
    ----------
    notebook_paths : iterable of path-like
        Executed notebooks (``.ipynb``), or HTML pages of the built book.
    paths : synthlib.artifacts.RunPaths
        The run, whose training and holdout splits are the real input.

    Returns
    -------
    list of str
        ``"<notebook> cell <n>: <k> values of one real row"``, without the values themselves.
    """
    frames = [pd.read_parquet(p) for p in (paths.train, paths.holdout) if Path(p).is_file()]
    if not frames:
        return []
    identifying = _identifying_matrix(pd.concat(frames, ignore_index=True))
    n_identifying = identifying.shape[1]
    if n_identifying < MIN_IDENTIFYING:
        logger.warning("Real data have %d identifying columns: the row check is skipped", n_identifying)
        return []
    threshold = max(min(MIN_MATCHES, n_identifying), n_identifying // 2)
    leaks = []
    for notebook_path in map(Path, notebook_paths):
        if notebook_path.suffix == ".ipynb":
            lines = _output_lines(json.loads(notebook_path.read_text()))
        else:
            lines = _page_lines(notebook_path)
        for index, line in lines:
            matches = count_matches(line, identifying)
            if matches >= threshold:
                leaks.append(f"{notebook_path.name} cell {index}: {matches} values of one real row")
    return leaks
