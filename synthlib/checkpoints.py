"""Epoch checkpoints of a fine-tuning run, and resuming from the last complete one.

:func:`synthlib.training.fine_tune` lets the Hugging Face Trainer write ``checkpoint-<step>``
folders under ``<output_dir>/checkpoints`` at the end of every epoch. Beside them it keeps
``fine_tune.json``, which identifies the run (settings, seed and a hash of the training rows), so
that a resumed run cannot silently continue with other data or settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pandas as pd

from synthlib.exceptions import ConfigError

logger = logging.getLogger(__name__)

RUN_IDENTITY = "fine_tune.json"
TRAINER_STATE = "trainer_state.json"
CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")


def table_fingerprint(table: pd.DataFrame) -> str:
    """Return a SHA-256 hex digest of a table's column names and values (not its index)."""
    digest = hashlib.sha256("\x1f".join(map(str, table.columns)).encode("utf-8"))
    digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def checkpoint_step(path: Path) -> int | None:
    """Return the step number of a ``checkpoint-<step>`` folder, or None for other names."""
    match = CHECKPOINT_NAME.fullmatch(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def last_complete_checkpoint(folder) -> Path | None:
    """Return the newest checkpoint that contains ``trainer_state.json``, or None.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint without it was cut off while
    being written (for example by a killed process) and cannot be resumed from.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    complete = [path for path in folder.iterdir() if checkpoint_step(path) is not None and (path / TRAINER_STATE).is_file()]
    return max(complete, key=checkpoint_step, default=None)


def checkpoint_epoch(checkpoint: Path) -> float:
    """Return the epoch count recorded in a checkpoint's trainer state."""
    return float(json.loads((checkpoint / TRAINER_STATE).read_text())["epoch"])


def _start_afresh(folder: Path, identity: dict) -> None:
    if folder.exists():
        logger.info("Removing the checkpoints of an earlier run in %s", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / RUN_IDENTITY).write_text(json.dumps(identity, indent=2))


def _check_identity(folder: Path, identity: dict) -> None:
    """Raise ConfigError when the checkpoints in ``folder`` come from another run."""
    path = folder / RUN_IDENTITY
    stored = json.loads(path.read_text()) if path.is_file() else None
    if stored == identity:
        return
    if stored is None:
        differences = f"{RUN_IDENTITY} is missing"
    else:
        keys = sorted(key for key in set(stored) | set(identity) if stored.get(key) != identity.get(key))
        differences = "these entries differ: " + ", ".join(keys)
    raise ConfigError(
        f"cannot resume from the checkpoints in {folder}: they come from another run ({differences}). "
        "Pass the same training rows, settings and random_state as the interrupted run, or resume=False "
        "to start over."
    )


def _remove_incomplete(folder: Path, checkpoint: Path) -> None:
    """Remove checkpoints newer than ``checkpoint``, which were cut off while being written."""
    for path in folder.iterdir():
        step = checkpoint_step(path)
        if step is not None and step > checkpoint_step(checkpoint):
            logger.warning("Removing the incomplete checkpoint %s", path)
            shutil.rmtree(path)


def prepare_checkpoints(folder, identity: dict, resume: bool) -> Path | None:
    """Get the checkpoint folder ready and return the checkpoint to resume from, if any.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder of the ``checkpoint-<step>`` folders.
    identity : dict
        Flat, JSON-serialisable description of the run; resuming requires the stored one to be equal.
    resume : bool
        Continue from the last complete checkpoint when there is one. Without ``resume``, or
        without a complete checkpoint, earlier checkpoints are removed and training starts afresh.

    Returns
    -------
    pathlib.Path or None
        The checkpoint to pass to ``Trainer.train(resume_from_checkpoint=...)``.

    Raises
    ------
    ConfigError
        When resuming from checkpoints written with other data, settings or seed.
    """
    folder = Path(folder)
    checkpoint = last_complete_checkpoint(folder) if resume else None
    if checkpoint is None:
        if resume:
            logger.info("No complete checkpoint in %s: training starts from the first epoch", folder)
        _start_afresh(folder, identity)
        return None
    _check_identity(folder, identity)
    _remove_incomplete(folder, checkpoint)
    logger.info("Resuming from %s (epoch %.2f)", checkpoint.name, checkpoint_epoch(checkpoint))
    return checkpoint
