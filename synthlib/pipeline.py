"""Run the study's notebooks in order with papermill and summarise the run.

``run_study`` executes ``notebooks/01_preprocessing.ipynb`` ... ``06_clinical_replication.ipynb``
into ``runs/<run name>/notebooks/``, passing each notebook the parameters it declares from the
configuration, then writes ``summary.json`` and checks that no executed notebook shows a row of
the real input. :mod:`synthlib.book` builds the run's book from the executed notebooks.

A notebook that finished before with the same parameters and inputs is skipped
(:mod:`synthlib.steps`), so a stopped run continues where it stopped. A configuration with a
``selection`` section first trains and scores every candidate model (:mod:`synthlib.candidates`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import yaml

from synthlib import steps as step_records
from synthlib.artifacts import RunPaths, read_json, write_json
from synthlib.config import BUILT_IN_SOURCES, load_config
from synthlib.exceptions import ConfigError, DisclosureError, NotebookError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = (
    "01_preprocessing",
    "02_fine_tuning",
    "03_sampling",
    "04_fidelity",
    "05_privacy",
    "06_clinical_replication",
)
KERNEL_NAME = "python3"


def notebook_parameters(config: dict, run_dir: Path) -> dict:
    """Map a resolved configuration to the parameters of each notebook.

    Returns
    -------
    dict
        Notebook name -> parameters dict.
    """
    seed = config["random_state"]
    data, model, training = config["data"], config["model"], config["training"]
    sampling, replication = config["sampling"], config["replication"]
    common = {"run_dir": str(run_dir), "random_state": seed}
    return {
        "01_preprocessing": {
            **common,
            "data_source": data["source"],
            "dictionary_path": data["dictionary"],
            "holdout_fraction": data["holdout_fraction"],
            "stratify": data["stratify"],
            "n_rows": data["n_rows"],
        },
        "02_fine_tuning": {
            **common,
            "model_kind": model["kind"],
            "model_path": model["path"],
            "lora": model["lora"],
            "n_layer": model["n_layer"],
            "n_embd": model["n_embd"],
            "n_head": model["n_head"],
            "vocab_size": model["vocab_size"],
            "n_positions": model["n_positions"],
            "training": dict(training),
        },
        "03_sampling": {
            **common,
            "n_samples": sampling["n_samples"],
            "batch_size": sampling["batch_size"],
            "temperature": sampling["temperature"],
            "top_k": sampling["top_k"],
            "max_batches": sampling["max_batches"],
            "calibrate_missing": sampling["calibrate_missing"],
            "n_syntheses": sampling["n_syntheses"],
        },
        "04_fidelity": {**common, "outcome": config["fidelity"]["outcome"]},
        "05_privacy": {
            **common,
            "max_rows": config["privacy"]["max_rows"],
            "anonymeter_attacks": config["privacy"]["anonymeter_attacks"],
            "anonymeter_seeds": config["privacy"]["anonymeter_seeds"],
            "compare_anonymization": True,
        },
        "06_clinical_replication": {
            **common,
            "formula": replication["formula"],
            "family": replication["family"],
            "event": replication["event"],
            "analyses": replication["analyses"],
        },
    }


def preflight(config: dict) -> None:
    """Check the inputs a run needs before any notebook starts, so a typo fails in seconds.

    Raises
    ------
    ConfigError
        When the data file, the dictionary or a pre-trained model (of any candidate, in a
        selection run) is missing, or the fidelity outcome or the replication formula names a
        column the dictionary does not declare.
    """
    from synthlib.dictionary import read_dictionary
    from synthlib.replication import check_formula_columns

    data = config["data"]
    if not Path(data["dictionary"]).is_file():
        raise ConfigError(f"data.dictionary: file not found: {data['dictionary']}")
    if data["source"] not in BUILT_IN_SOURCES and not Path(data["source"]).is_file():
        name = Path(data["source"]).name.lower()
        hint = f" (the built-in source is written {name!r})" if name in BUILT_IN_SOURCES else ""
        raise ConfigError(f"data.source: file not found: {data['source']}{hint}")
    for where, model in _trained_models(config):
        if model["kind"] == "pretrained" and not (Path(model["path"]) / "config.json").is_file():
            raise ConfigError(
                f"{where}model.path: no Hugging Face model in {model['path']} (config.json is missing). "
                "Write SmolLM2-135M there with `synthlib materialize-smollm2 DIR`, or point at another local model."
            )
    modelled = read_dictionary(data["dictionary"]).modelled_columns
    outcome = config["fidelity"]["outcome"]
    if outcome is not None and outcome not in modelled:
        raise ConfigError(f"fidelity.outcome {outcome!r} is not a modelled column of the dictionary: {modelled}")
    replication = config["replication"]
    for analysis in [replication, *replication["analyses"]]:
        if analysis["formula"] is not None:
            check_formula_columns(analysis["formula"], modelled)
        if analysis.get("event") is not None and analysis["event"] not in modelled:
            raise ConfigError(f"replication event column {analysis['event']!r} is not a modelled column: {modelled}")


def _trained_models(config: dict) -> list:
    """Return (label, model section) of every model a run trains: the candidates of a selection run."""
    if "selection" not in config:
        return [("", config["model"])]
    from synthlib.grid import expand_candidates

    return [(f"selection candidate {c.id}: ", c.config["model"]) for c in expand_candidates(config)]


def execute_notebook(source: Path, target: Path, parameters: dict, cwd: Path) -> None:
    """Execute one notebook with papermill, writing the executed copy to ``target``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    logger.info("Executing %s", source.name)
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(cwd),
            progress_bar=False,
            log_output=False,
            report_mode=False,
        )
    except PapermillExecutionError as error:
        raise NotebookError(
            f"{source.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}. "
            f"The executed notebook with the full traceback is {target}."
        ) from None
    logger.info("Executed %s in %.0f s", source.name, time.perf_counter() - started)


def run_step(name: str, notebooks_dir, run_dir, parameters: dict, previous_step=None, inputs=None,
             force=False) -> str:
    """Execute notebook ``name`` in a run folder unless it finished before with the same hash.

    Parameters
    ----------
    name : str
        Notebook name without suffix, for example ``"03_sampling"``.
    notebooks_dir, run_dir : path-like
        Folder of the source notebooks, and the run folder the notebook runs in.
    parameters : dict
        Papermill parameters.
    previous_step : str or None
        The step before it in this folder; its recorded hash enters this step's hash.
    inputs : dict or None
        Name to content hash of the files copied in from outside the folder.
    force : bool
        Execute even when a matching record exists.

    Returns
    -------
    str
        The step's hash (:func:`synthlib.steps.step_hash`).
    """
    source = Path(notebooks_dir) / f"{name}.ipynb"
    if not source.is_file():
        raise ConfigError(f"notebook not found: {source}; pass the folder of the study notebooks as notebooks_dir")
    paths = RunPaths(run_dir)
    executed = paths.notebooks_dir / source.name
    previous = step_records.recorded_hash(run_dir, previous_step) if previous_step else None
    digest = step_records.step_hash(source, parameters, previous, inputs)
    if not force and step_records.is_finished(run_dir, name, digest, [executed]):
        logger.info(
            "Skipped %s in %s: finished before with the same parameters (hash %s)", source.name, run_dir, digest[:8]
        )
        return digest
    step_records.remove_record(run_dir, name)
    started = time.perf_counter()
    execute_notebook(source, executed, parameters, cwd=Path(run_dir))
    step_records.write_record(run_dir, name, digest, time.perf_counter() - started, notebook=source.name)
    return digest


def source_inputs(config: dict) -> dict:
    """Return the content hashes of the data file and the dictionary that preprocessing reads."""
    data = config["data"]
    inputs = {"dictionary": step_records.file_digest(data["dictionary"])}
    if data["source"] not in BUILT_IN_SOURCES:
        inputs["data"] = step_records.file_digest(data["source"])
    return inputs


def apply_overrides(parameters: dict, overrides) -> dict:
    """Update each notebook's parameters with ``overrides``, ``{notebook name: {parameter: value}}``."""
    for name, extra in (overrides or {}).items():
        if name in parameters:
            parameters[name].update(extra)
    return parameters


def run_study(config_path, runs_dir=None, notebooks_dir=None, steps=None, overrides=None, force=False) -> Path:
    """Execute the study notebooks for one configuration and write ``summary.json``.

    Parameters
    ----------
    config_path : path-like
        YAML configuration (see :mod:`synthlib.config`).
    runs_dir : path-like or None
        Parent of the run folder; default ``runs/`` in the repository.
    notebooks_dir : path-like or None
        Folder holding the source notebooks; default ``notebooks/`` in the repository.
    steps : list of str or None
        Notebook names to execute (for example ``["04_fidelity"]``); None runs all, in order.
    overrides : dict or None
        Per-notebook parameter overrides, ``{notebook name: {parameter: value}}``; tests use it
        for tiny runs. In a selection run they apply to the candidates' notebooks too.
    force : bool
        Execute every notebook, also those that finished before with the same parameters.

    Returns
    -------
    pathlib.Path
        The run folder.
    """
    config = load_config(config_path)
    preflight(config)
    runs_dir = Path(runs_dir) if runs_dir is not None else REPO_ROOT / "runs"
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else REPO_ROOT / "notebooks"
    paths = RunPaths((runs_dir / config["run_name"]).resolve())
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(yaml.safe_dump(config, sort_keys=False))

    if "selection" in config:
        if steps:
            raise ConfigError(
                "--steps cannot be combined with a selection section: rerun the whole configuration, "
                "finished steps are skipped"
            )
        from synthlib.candidates import run_selection

        run_selection(config, paths, notebooks_dir, overrides, force)
    else:
        parameters = apply_overrides(notebook_parameters(config, paths.run_dir), overrides)
        for name in steps or NOTEBOOKS:
            if name not in parameters:
                raise ConfigError(f"unknown step {name!r}; steps are {', '.join(NOTEBOOKS)}")
            index = NOTEBOOKS.index(name)
            run_step(
                name, notebooks_dir, paths.run_dir, parameters[name],
                previous_step=NOTEBOOKS[index - 1] if index else None,
                inputs=source_inputs(config) if index == 0 else None,
                force=force,
            )
    summary = write_summary(paths)
    check_no_real_rows(paths)
    logger.info("Run %s finished: %s", config["run_name"], summary)
    return paths.run_dir


def write_summary(paths: RunPaths) -> dict:
    """Collect the headline figures of every finished step into ``summary.json``."""

    def results(step):
        path = paths.step_results(step)
        return read_json(path) if path.is_file() else {}

    config = yaml.safe_load(paths.config.read_text())
    sampling, training = results("sampling"), results("training")
    fidelity, privacy, replication = results("fidelity"), results("privacy"), results("replication")
    selection = results("model_selection")
    summary = {
        "run_name": config["run_name"],
        "random_state": config["random_state"],
        "data_source": config["data"]["source"],
        "model_kind": config["model"]["kind"],
        "rows_train": results("preprocessing").get("n_train"),
        "rows_holdout": results("preprocessing").get("n_holdout"),
        "rows_requested": sampling.get("n_requested"),
        "rows_returned": sampling.get("n_returned"),
        "valid_row_rate": sampling.get("valid_rate"),
        "sampling_seconds": sampling.get("seconds"),
        "training_seconds": training.get("train_seconds"),
        "training_epochs": training.get("epochs"),
        "fidelity_score": fidelity.get("quality_score"),
        "column_shapes_score": fidelity.get("column_shapes"),
        "column_pair_trends_score": fidelity.get("column_pair_trends"),
        "detection_auc": fidelity.get("detection_auc"),
        "s_pmse_cart": fidelity.get("s_pmse_cart"),
        "s_pmse_logit": fidelity.get("s_pmse_logit"),
        "n_significant_variables": fidelity.get("n_significant_variables"),
        "importance_rank_agreement": fidelity.get("mean_importance_rank_agreement"),
        "dcr_synthetic_train_median": privacy.get("dcr_synthetic_train_median"),
        "dcr_holdout_train_median": privacy.get("dcr_holdout_train_median"),
        "exact_match_rate": privacy.get("exact_match_rate"),
        "n_syntheses": sampling.get("n_syntheses"),
        "synthesis_seeds": sampling.get("synthesis_seeds"),
        "replication_verdict": replication.get("verdict"),
        "membership_inference_auc": privacy.get("membership_inference_auc"),
        "overfitting_protection": privacy.get("overfitting_protection"),
        "privacy_utility_points": results("privacy_utility").get("points"),
        "privacy_utility_winners": results("privacy_utility").get("verdict", {}).get("winners"),
        "mean_ci_overlap": replication.get("mean_ci_overlap"),
        "sign_agreement": replication.get("sign_agreement"),
        "key_predictors": replication.get("key_predictors"),
        "ml_replication_verdict": (replication.get("ml") or {}).get("verdict"),
        "truth_coverage_real": replication.get("truth_coverage_real"),
        "truth_coverage_synthetic": replication.get("truth_coverage_synthetic"),
    }
    if selection:
        summary.update(
            selection_optimal=selection.get("optimal"),
            selection_n_candidates=len(selection.get("ranking", [])),
            selection_budget_seconds=selection.get("budget_seconds"),
        )
    write_json(paths.summary, summary)
    return summary


def check_no_real_rows(paths: RunPaths, files=None) -> None:
    """Raise when a file shows a row of the run's real training or holdout data.

    Parameters
    ----------
    paths : RunPaths
        The run.
    files : iterable of path-like or None
        Executed notebooks or HTML pages; None checks the run's executed notebooks.
    """
    from synthlib.audit import find_real_rows

    if not paths.train.is_file():
        return
    files = sorted(paths.notebooks_dir.glob("*.ipynb")) if files is None else list(files)
    leaks = find_real_rows(files, paths)
    if leaks:
        raise DisclosureError(
            "executed notebooks or book pages show rows of the real input: "
            + "; ".join(leaks)
            + ". Display aggregates or synthetic rows only."
        )
