"""Batch reruns: execute the study for several configurations and combine their summaries.

``run_batch(["configs/smart.yaml", "configs/sams.yaml"])`` runs each configuration into its own
run folder (``<runs dir>/<run_name>/``), keeps going when one fails, and writes one row per run
to ``<runs dir>/batch_summary.csv`` and ``batch_summary.md``. Finished steps are skipped as in any
run, so a batch that was stopped continues where it stopped when it is started again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from synthlib.artifacts import read_json
from synthlib.config import BUILT_IN_SOURCES, load_config
from synthlib.exceptions import ConfigError, SynthlibError

logger = logging.getLogger(__name__)

SUMMARY_NAME = "batch_summary"
# Column of the combined table -> key of a run's summary.json.
SUMMARY_COLUMNS = {
    "rows_train": "rows_train",
    "rows_synthetic": "rows_returned",
    "fidelity_quality": "fidelity_score",
    "detection_auc": "detection_auc",
    "membership_auc": "membership_inference_auc",
    "overfitting_protection": "overfitting_protection",
    "replication_verdict": "replication_verdict",
    "mean_ci_overlap": "mean_ci_overlap",
    "optimal_candidate": "selection_optimal",
}
TABLE_COLUMNS = ["run_name", "config", "data_source", "model", *SUMMARY_COLUMNS, "status"]


@dataclass(frozen=True)
class BatchRun:
    """Outcome of one configuration of a batch.

    Attributes
    ----------
    config : pathlib.Path
        The configuration file.
    run_name : str or None
        Its ``run_name``; None when the file could not be read.
    run_dir : pathlib.Path or None
        The run folder.
    error : str or None
        Why the run failed; None when it finished.
    """

    config: Path
    run_name: str | None
    run_dir: Path | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run finished."""
        return self.error is None

    @property
    def one_line_error(self) -> str | None:
        """The error on one line, for a table cell or a log line."""
        return " ".join(self.error.split()) if self.error is not None else None


def check_run_names(configs: dict) -> None:
    """Raise ConfigError when two configurations share a ``run_name`` and so one run folder.

    Parameters
    ----------
    configs : dict
        Configuration path to resolved configuration.
    """
    folders = {}
    for path, config in configs.items():
        folders.setdefault(config["run_name"], []).append(str(path))
    shared = {name: paths for name, paths in folders.items() if len(paths) > 1}
    if shared:
        listed = "; ".join(f"{name!r} in {', '.join(paths)}" for name, paths in shared.items())
        raise ConfigError(
            f"configurations share a run_name and would write into one run folder: {listed}. "
            "Give each configuration its own run_name"
        )


def describe_model(config: dict) -> str:
    """Return a short label of a configuration's model, such as ``scratch 4x256`` or ``smollm2-135m + LoRA``."""
    model = config["model"]
    if model["kind"] == "scratch":
        return f"scratch {model['n_layer']}x{model['n_embd']}"
    return Path(model["path"]).name + (" + LoRA" if model.get("lora") else "")


def describe_source(source: str) -> str:
    """Return a built-in source's name, or a data file's name without its folder."""
    return source if source in BUILT_IN_SOURCES else Path(source).name


def run_batch(config_paths, runs_dir=None, notebooks_dir=None, book=True, force=False, overrides=None) -> list:
    """Run the study for every configuration, one run folder each, and write the combined summary.

    A configuration that fails to load, or whose run or book fails, is logged with its error and
    the batch goes on with the next one.

    Parameters
    ----------
    config_paths : list of path-like
        The configurations, run in the given order.
    runs_dir, notebooks_dir : path-like or None
        As for :func:`synthlib.pipeline.run_study`; ``runs_dir`` also receives the combined table.
    book : bool
        Build each run's book after its notebooks.
    force : bool
        Execute every notebook, also those that finished before.
    overrides : dict or None
        Per-notebook parameter overrides, passed to every run (for tests).

    Returns
    -------
    list of BatchRun
        One per configuration, in order.

    Raises
    ------
    ConfigError
        Before anything runs, when two configurations share a ``run_name``.
    """
    from synthlib.pipeline import REPO_ROOT, run_study

    runs_dir = Path(runs_dir) if runs_dir is not None else REPO_ROOT / "runs"
    loaded, results = {}, {}
    for path in map(Path, config_paths):
        try:
            loaded[path] = load_config(path)
        except ConfigError as error:
            logger.error("Configuration %s is invalid: %s", path, error)
            results[path] = BatchRun(path, None, None, str(error))
    check_run_names(loaded)

    for number, path in enumerate(map(Path, config_paths), start=1):
        if path in results:
            continue
        run_dir = (runs_dir / loaded[path]["run_name"]).resolve()
        logger.info("Batch run %d of %d: %s into %s", number, len(config_paths), path, run_dir)
        results[path] = _run_one(path, run_dir, runs_dir, notebooks_dir, book, force, overrides, run_study)
    runs = [results[path] for path in map(Path, config_paths)]
    write_batch_summary(batch_table(runs), runs_dir)
    return runs


def _run_one(path, run_dir, runs_dir, notebooks_dir, book, force, overrides, run_study) -> BatchRun:
    from synthlib.book import build_book

    name = run_dir.name
    try:
        run_study(path, runs_dir=runs_dir, notebooks_dir=notebooks_dir, overrides=overrides, force=force)
        if book:
            build_book(run_dir)
    except SynthlibError as error:
        logger.error("Batch run %s (%s) failed: %s", name, path, error)
        return BatchRun(path, name, run_dir, str(error))
    except Exception as error:  # noqa: BLE001
        # A batch runs unattended: an unexpected error ends this run only, with its traceback in the log.
        logger.exception("Batch run %s (%s) failed with an unexpected error", name, path)
        return BatchRun(path, name, run_dir, f"{type(error).__name__}: {error}")
    return BatchRun(path, name, run_dir)


def batch_row(run: BatchRun) -> dict:
    """Return one row of the combined table: the run's settings, its headline figures and its status."""
    row = dict.fromkeys(TABLE_COLUMNS)
    row.update(run_name=run.run_name, config=run.config.name)
    if run.error is None:
        row["status"] = "finished"
    else:
        row["status"] = "failed: " + run.one_line_error
    folder = run.run_dir
    if folder is None or not (folder / "config.yaml").is_file():
        return row
    config = yaml.safe_load((folder / "config.yaml").read_text())
    row.update(data_source=describe_source(config["data"]["source"]), model=describe_model(config))
    # A failed run's folder may still hold the summary of an earlier run, which would mislead here.
    if run.ok and (folder / "summary.json").is_file():
        summary = read_json(folder / "summary.json")
        row.update({column: summary.get(key) for column, key in SUMMARY_COLUMNS.items()})
    return row


def batch_table(runs) -> pd.DataFrame:
    """Return the combined table of a batch: one row per run (:func:`batch_row`)."""
    table = pd.DataFrame([batch_row(run) for run in runs], columns=TABLE_COLUMNS)
    # Whole numbers that may be missing, so a failed run does not turn the counts into floats.
    return table.astype({"rows_train": "Int64", "rows_synthetic": "Int64"})


def markdown_table(table: pd.DataFrame) -> str:
    """Return ``table`` as a Markdown table, numbers to 3 decimals and missing values as an empty cell."""

    def cell(value) -> str:
        if pd.api.types.is_scalar(value) and pd.isna(value):
            return ""
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def write_batch_summary(table: pd.DataFrame, runs_dir) -> Path:
    """Write ``batch_summary.csv`` and ``batch_summary.md`` into ``runs_dir``; return the CSV path."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    csv = runs_dir / f"{SUMMARY_NAME}.csv"
    table.to_csv(csv, index=False)
    (runs_dir / f"{SUMMARY_NAME}.md").write_text(markdown_table(table))
    logger.info("Batch summary written to %s and %s", csv, csv.with_suffix(".md"))
    return csv
