"""Selection runs: train and score every candidate model, rank them, adopt the optimal one.

For a configuration with a ``selection`` section (:mod:`synthlib.grid`), the run folder
``runs/<run>/`` is filled in this order:

1. ``01_preprocessing`` runs once in the run folder.
2. Each candidate gets ``candidates/<candidate id>/``, a run folder with its own ``config.yaml``,
   a ``candidate.json`` and copies of the run's dictionary, split and ``truth.json``. The
   notebooks 02 to 05 run there: one synthesis of ``selection.n_samples`` rows, and the privacy
   notebook without the anonymization comparison and Anonymeter.
3. ``model_selection`` runs in the run folder and writes ``results/model_selection.json``, which
   names the optimal candidate.
4. The optimal candidate's ``model/``, ``results/training.json`` and executed
   ``02_fine_tuning`` notebook are copied into the run folder. Its ``config.yaml`` then takes
   that candidate's model, training and sampling settings, but keeps the run's own ``n_samples``
   and ``n_syntheses``. The notebooks 03 to 06 run there as in any run.

Every step is skipped when it finished before with the same hash (:mod:`synthlib.steps`).
"""

from __future__ import annotations

import copy
import logging
import shutil
import time
from pathlib import Path

import yaml

from synthlib import steps as step_records
from synthlib.artifacts import RunPaths, read_json, write_json
from synthlib.exceptions import ConfigError, NotebookError
from synthlib.grid import Candidate, expand_candidates
from synthlib.pipeline import (
    NOTEBOOKS,
    apply_overrides,
    check_no_real_rows,
    notebook_parameters,
    run_step,
    source_inputs,
    write_summary,
)

logger = logging.getLogger(__name__)

SELECTION_NOTEBOOK = "model_selection"
CANDIDATE_STEPS = ("02_fine_tuning", "03_sampling", "04_fidelity", "05_privacy")
CANDIDATES_FOLDER = "candidates"
ADOPTED_STEP = "02_fine_tuning"


def candidate_folder(paths: RunPaths, candidate_id: str) -> RunPaths:
    """Return the run folder of a candidate inside the selection run ``paths``."""
    return RunPaths(paths.run_dir / CANDIDATES_FOLDER / candidate_id)


def copied_inputs(paths: RunPaths) -> list:
    """Return the files of the run folder that every candidate's folder gets a copy of."""
    files = [paths.dictionary, paths.train, paths.holdout, paths.step_results("preprocessing")]
    return files + ([paths.truth] if paths.truth.is_file() else [])


def prepare_candidate(paths: RunPaths, candidate: Candidate) -> dict:
    """Write a candidate's folder: configuration, ``candidate.json`` and copies of the split.

    Returns
    -------
    dict
        Relative file name to content hash of every copied file, the inputs of the candidate's
        first step.
    """
    target = candidate_folder(paths, candidate.id)
    target.run_dir.mkdir(parents=True, exist_ok=True)
    target.config.write_text(yaml.safe_dump(candidate.config, sort_keys=False))
    write_json(target.run_dir / "candidate.json", candidate.record())
    if not paths.truth.is_file():
        target.truth.unlink(missing_ok=True)
    inputs = {}
    for source in copied_inputs(paths):
        relative = source.relative_to(paths.run_dir)
        (target.run_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target.run_dir / relative)
        inputs[relative.as_posix()] = step_records.file_digest(source)
    return inputs


def candidate_parameters(candidate: Candidate, run_dir: Path, overrides=None) -> dict:
    """Return the parameters of the notebooks 02 to 05 in a candidate's folder."""
    parameters = notebook_parameters(candidate.config, run_dir)
    parameters["05_privacy"]["compare_anonymization"] = False
    parameters = apply_overrides(parameters, overrides)
    return {name: parameters[name] for name in CANDIDATE_STEPS}


def run_candidate(paths: RunPaths, candidate: Candidate, notebooks_dir, overrides=None, force=False) -> str:
    """Train, sample and score one candidate in its folder; return the hash of its last step."""
    inputs = prepare_candidate(paths, candidate)
    folder = candidate_folder(paths, candidate.id)
    parameters = candidate_parameters(candidate, folder.run_dir, overrides)
    previous = None
    for name in CANDIDATE_STEPS:
        digest = run_step(
            name, notebooks_dir, folder.run_dir, parameters[name], previous_step=previous,
            inputs=inputs if previous is None else None, force=force,
        )
        previous = name
    _warn_budget_unused(folder, candidate)
    write_summary(folder)
    check_no_real_rows(folder)
    return digest


def _warn_budget_unused(folder: RunPaths, candidate: Candidate) -> None:
    """Warn when a candidate stopped before its time budget, so candidates did not get equal time."""
    if candidate.budget_seconds is None:
        return
    training = read_json(folder.step_results("training"))
    if not training.get("stopped_by_budget"):
        logger.warning(
            "Candidate %s finished %.2f epochs in %.0f s, before its budget of %.0f s, so it trained for less time "
            "than the others; raise its training.epochs (or training.max_steps) above what the budget allows",
            candidate.id, training.get("epochs", float("nan")), training.get("train_seconds", float("nan")),
            candidate.budget_seconds,
        )


def remove_stale_candidates(paths: RunPaths, candidates: list) -> None:
    """Delete the candidate folders of earlier runs whose candidate the configuration no longer lists.

    The ranking notebook reads every folder in ``candidates/``, so a stale folder would be ranked.
    """
    folder = paths.run_dir / CANDIDATES_FOLDER
    if not folder.is_dir():
        return
    current = {candidate.id for candidate in candidates}
    for stale in sorted(path for path in folder.iterdir() if path.is_dir() and path.name not in current):
        logger.warning("Removing %s: the configuration no longer lists candidate %s", stale, stale.name)
        shutil.rmtree(stale)


def selection_parameters(config: dict, paths: RunPaths) -> dict:
    """Return the parameters of ``notebooks/model_selection.ipynb``."""
    selection = config["selection"]
    return {
        "run_dir": str(paths.run_dir),
        "random_state": config["random_state"],
        "candidates_dir": str(paths.run_dir / CANDIDATES_FOLDER),
        "score": copy.deepcopy(selection["score"]),
        "budget_seconds": selection["budget_seconds"],
    }


def optimal_candidate(paths: RunPaths, candidates: list) -> Candidate:
    """Return the candidate that ``results/model_selection.json`` names optimal.

    Raises
    ------
    NotebookError
        When the file is missing or names no candidate of this run.
    ConfigError
        When no candidate met the thresholds of ``selection.score``.
    """
    path = paths.step_results(SELECTION_NOTEBOOK)
    if not path.is_file():
        raise NotebookError(f"{SELECTION_NOTEBOOK}.ipynb finished without writing {path}")
    optimal = read_json(path).get("optimal")
    if optimal is None:
        raise ConfigError(
            f"no candidate met the thresholds of selection.score (the ranking in {path} gives each reason); "
            "relax min_overfitting_protection or max_membership_auc, or add candidates"
        )
    by_id = {candidate.id: candidate for candidate in candidates}
    if optimal not in by_id:
        raise NotebookError(f"{path} names {optimal!r} optimal, which is not a candidate of this run: {sorted(by_id)}")
    return by_id[optimal]


def adopted_config(config: dict, candidate: Candidate) -> dict:
    """Return the run's configuration with the model, training and sampling settings of ``candidate``.

    The run keeps its own ``sampling.n_samples`` and ``sampling.n_syntheses``, because the
    candidates sample one small synthesis each for scoring.
    """
    adopted = copy.deepcopy(config)
    for section in ("model", "training", "sampling"):
        adopted[section] = copy.deepcopy(candidate.config[section])
    for key in ("n_samples", "n_syntheses"):
        adopted["sampling"][key] = config["sampling"][key]
    return adopted


def adopt_candidate(paths: RunPaths, candidate: Candidate, force=False) -> str:
    """Copy the optimal candidate's model, training results and executed fine-tuning notebook into the run.

    The copy is recorded as the run's ``02_fine_tuning`` step, so the steps after it chain to
    the adopted model. Its hash covers the candidate's id, the hash of the candidate's fine-tuning
    and the run's preprocessing, but not the ranking: when a changed ranking names the same
    optimal candidate, nothing is copied and the steps after it are skipped.

    Returns
    -------
    str
        The hash of the adoption.
    """
    folder = candidate_folder(paths, candidate.id)
    digest = step_records.value_hash({
        "adopted": candidate.id,
        "candidate_step": step_records.recorded_hash(folder.run_dir, ADOPTED_STEP),
        "preprocessing": step_records.recorded_hash(paths.run_dir, NOTEBOOKS[0]),
    })
    notebook = f"{ADOPTED_STEP}.ipynb"
    outputs = [paths.model_dir, paths.step_results("training"), paths.notebooks_dir / notebook]
    if not force and step_records.is_finished(paths.run_dir, ADOPTED_STEP, digest, outputs):
        logger.info(
            "Skipped %s in %s: finished before with the same parameters (hash %s); it is the copy of candidate %s",
            notebook, paths.run_dir, digest[:8], candidate.id,
        )
        return digest
    step_records.remove_record(paths.run_dir, ADOPTED_STEP)
    started = time.perf_counter()
    if paths.model_dir.exists():
        shutil.rmtree(paths.model_dir)
    shutil.copytree(folder.model_dir, paths.model_dir)
    paths.step_results("training").parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder.step_results("training"), paths.step_results("training"))
    paths.notebooks_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder.notebooks_dir / notebook, paths.notebooks_dir / notebook)
    step_records.write_record(
        paths.run_dir, ADOPTED_STEP, digest, time.perf_counter() - started, adopted_from=candidate.id
    )
    logger.info("Adopted candidate %s as the run's model", candidate.id)
    return digest


def run_selection(config: dict, paths: RunPaths, notebooks_dir, overrides=None, force=False) -> Candidate:
    """Execute a selection run in ``paths``: preprocessing, the candidates, the ranking, then the study.

    Parameters
    ----------
    config : dict
        Resolved configuration with a ``selection`` section.
    paths : RunPaths
        The run folder; ``config.yaml`` ends up holding the adopted configuration.
    notebooks_dir : path-like
        Folder of the study notebooks and ``model_selection.ipynb``.
    overrides : dict or None
        Per-notebook parameter overrides, applied in every folder.
    force : bool
        Execute every step, also those that finished before.

    Returns
    -------
    Candidate
        The optimal candidate.
    """
    ranking_notebook = Path(notebooks_dir) / f"{SELECTION_NOTEBOOK}.ipynb"
    if not ranking_notebook.is_file():
        raise ConfigError(f"notebook not found: {ranking_notebook}; a selection run needs it to rank the candidates")
    candidates = expand_candidates(config)
    remove_stale_candidates(paths, candidates)
    parameters = apply_overrides(notebook_parameters(config, paths.run_dir), overrides)
    run_step(
        NOTEBOOKS[0], notebooks_dir, paths.run_dir, parameters[NOTEBOOKS[0]],
        inputs=source_inputs(config), force=force,
    )
    finished = {}
    for number, candidate in enumerate(candidates, start=1):
        logger.info("Selection candidate %d of %d: %s", number, len(candidates), candidate.id)
        finished[candidate.id] = run_candidate(paths, candidate, notebooks_dir, overrides, force)

    ranking = apply_overrides({SELECTION_NOTEBOOK: selection_parameters(config, paths)}, overrides)
    run_step(
        SELECTION_NOTEBOOK, notebooks_dir, paths.run_dir, ranking[SELECTION_NOTEBOOK],
        previous_step=NOTEBOOKS[0], inputs=finished, force=force,
    )
    optimal = optimal_candidate(paths, candidates)
    adopt_candidate(paths, optimal, force)

    adopted = adopted_config(config, optimal)
    paths.config.write_text(yaml.safe_dump(adopted, sort_keys=False))
    parameters = apply_overrides(notebook_parameters(adopted, paths.run_dir), overrides)
    previous = ADOPTED_STEP
    for name in NOTEBOOKS[NOTEBOOKS.index(ADOPTED_STEP) + 1:]:
        run_step(name, notebooks_dir, paths.run_dir, parameters[name], previous_step=previous, force=force)
        previous = name
    return optimal
