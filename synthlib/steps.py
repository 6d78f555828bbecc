"""Step records: which notebooks of a run folder finished, and with which inputs.

After a notebook finishes, the pipeline writes ``<run folder>/steps/<notebook>.json`` with the
step's hash. The hash covers the bytes of the source notebook, its parameters and the hash of the
step before it in the same folder. It also covers the content of the files copied in from outside:
the data file, the dictionary, or the split copied into a candidate's folder. A rerun skips a
step whose executed notebook and record exist with the same hash, so a run that was stopped
continues where it stopped. A changed step changes the hash of every later one, so those run
again too.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from synthlib.artifacts import read_json, write_json

STEPS_FOLDER = "steps"
# Paths inside the run folder: the record lives there too, so a run folder that moved still matches.
UNHASHED_PARAMETERS = ("run_dir", "candidates_dir")
CHUNK_BYTES = 1 << 20


def file_digest(path) -> str:
    """Return the SHA-256 of a file's bytes, or of every file under a folder with its relative path."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)
    return digest.hexdigest()


def step_hash(source, parameters: dict, previous: str | None, inputs: dict | None = None) -> str:
    """Return the hash of one step: SHA-256 over the notebook, its parameters, the previous step and the inputs.

    Parameters
    ----------
    source : path-like
        The source notebook.
    parameters : dict
        The parameters papermill passes; ``run_dir`` and ``candidates_dir`` are left out.
    previous : str or None
        Hash of the step before it in the same run folder; None for the first.
    inputs : dict or None
        Name to content hash (:func:`file_digest`) of each file copied in from outside the folder.
    """
    hashed_parameters = {key: value for key, value in parameters.items() if key not in UNHASHED_PARAMETERS}
    return value_hash({
        "notebook_sha256": file_digest(source),
        "parameters": hashed_parameters,
        "previous": previous,
        "inputs": inputs or {},
    })


def value_hash(value) -> str:
    """Return the SHA-256 of ``value`` written as JSON with sorted keys (paths and other objects as text)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def record_path(run_dir, step: str) -> Path:
    """Return the record file of ``step`` (a notebook name such as ``02_fine_tuning``)."""
    return Path(run_dir) / STEPS_FOLDER / f"{step}.json"


def recorded_hash(run_dir, step: str) -> str | None:
    """Return the hash recorded for a finished step, or None when it has no readable record."""
    path = record_path(run_dir, step)
    return read_json(path).get("hash") if path.is_file() else None


def is_finished(run_dir, step: str, digest: str, outputs=()) -> bool:
    """Return whether ``step`` finished with hash ``digest`` and every file of ``outputs`` exists."""
    return recorded_hash(run_dir, step) == digest and all(Path(path).exists() for path in outputs)


def write_record(run_dir, step: str, digest: str, seconds: float, **details) -> Path:
    """Record that ``step`` finished with hash ``digest`` after ``seconds``; ``details`` are stored beside.

    The record is written to a temporary file that then replaces the record, so a process killed
    while writing leaves either no record or a whole one.
    """
    record = {
        "step": step,
        "hash": digest,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": seconds,
        **details,
    }
    path = record_path(run_dir, step)
    partial = write_json(path.with_suffix(".json.partial"), record)
    os.replace(partial, path)
    return path


def remove_record(run_dir, step: str) -> None:
    """Delete the record of ``step``, so a step stopped while it runs again is not taken as finished."""
    record_path(run_dir, step).unlink(missing_ok=True)
