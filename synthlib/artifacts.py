"""File layout of a run folder, shared by the notebooks and the pipeline.

``runs/<run name>/`` contains the resolved configuration, the data dictionary, the real splits (they
never leave the run folder and are never displayed), the model, the synthetic table, one JSON file of
results per step, the executed notebooks and ``summary.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RunPaths:
    """Paths of the files of one run.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        The run folder.
    """

    run_dir: Path

    def __post_init__(self):
        object.__setattr__(self, "run_dir", Path(self.run_dir))

    @property
    def config(self) -> Path:
        return self.run_dir / "config.yaml"

    @property
    def dictionary(self) -> Path:
        return self.run_dir / "dictionary.yaml"

    @property
    def train(self) -> Path:
        return self.run_dir / "data" / "train.parquet"

    @property
    def holdout(self) -> Path:
        return self.run_dir / "data" / "holdout.parquet"

    @property
    def truth(self) -> Path:
        return self.run_dir / "truth.json"

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"

    @property
    def synthetic(self) -> Path:
        return self.run_dir / "synthetic.parquet"

    @property
    def synthetic_csv(self) -> Path:
        return self.run_dir / "synthetic.csv"

    def synthesis(self, number: int) -> Path:
        """Return the Parquet file of synthesis ``number`` (from 1); ``synthetic`` is a copy of the first."""
        return self.run_dir / "syntheses" / f"synthetic_{number}.parquet"

    @property
    def notebooks_dir(self) -> Path:
        return self.run_dir / "notebooks"

    @property
    def figures_dir(self) -> Path:
        return self.run_dir / "figures"

    @property
    def summary(self) -> Path:
        return self.run_dir / "summary.json"

    def step_results(self, step: str) -> Path:
        """Return the JSON file holding the results of ``step`` (for example ``"sampling"``)."""
        return self.run_dir / "results" / f"{step}.json"


def json_number(value) -> float | None:
    """Return ``value`` as a float, or None when it is NaN or infinite, which JSON cannot represent."""
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return json_number(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path, data: dict) -> Path:
    """Write ``data`` as indented JSON, with NaN and infinity as null and numpy scalars as numbers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    return path


def read_json(path) -> dict:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text())
