"""The study's steps as functions: each notebook calls one or two of them and shows the results.

Every step reads its inputs from the run folder (see :class:`synthlib.artifacts.RunPaths`) and
writes its outputs and a JSON file of results there, so the notebooks can run one by one with
papermill and the pipeline can collect ``summary.json``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass

import pandas as pd

from synthlib.artifacts import RunPaths, write_json
from synthlib.dictionary import DataDictionary, read_dictionary, write_dictionary
from synthlib.fidelity_report import FidelityReport, fidelity_figures
from synthlib.validation import load_table, validate_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunData:
    """The tables of a run, typed by its dictionary.

    Attributes
    ----------
    dictionary : DataDictionary
        Declarations of the modelled columns (identifiers removed).
    train, holdout : pandas.DataFrame
        Real splits.
    synthetic : pandas.DataFrame or None
        Synthetic table, once sampled.
    """

    dictionary: DataDictionary
    train: pd.DataFrame
    holdout: pd.DataFrame
    synthetic: pd.DataFrame | None


def simulate_cohort(name: str, n_rows=None, random_state=0):
    """Simulate the built-in cohort ``name`` (``"sams_cohort"`` or ``"ldl_response"``).

    Returns
    -------
    synthlib.cohorts.SimulatedCohort
    """
    from synthlib import cohorts

    simulators = {"sams_cohort": cohorts.simulate_sams_cohort, "ldl_response": cohorts.simulate_ldl_response}
    arguments = {"random_state": random_state} if n_rows is None else {"n_rows": n_rows, "random_state": random_state}
    return simulators[name](**arguments)


def load_real_data(data_source: str, dictionary_path, n_rows=None, random_state=0) -> tuple:
    """Load or simulate the real table and validate it against its dictionary.

    Parameters
    ----------
    data_source : str
        ``"smart"`` for the SMART cohort from the ``survset`` package, ``"sams_cohort"`` or
        ``"ldl_response"`` for a simulated cohort, else a CSV or Parquet path.
    dictionary_path : path-like
        Its data dictionary (YAML).
    n_rows : int or None
        Rows of a simulated cohort; None keeps the simulator's default.
    random_state : int
        Seed of a simulated cohort.

    Returns
    -------
    real : pandas.DataFrame
        Typed table.
    dictionary : DataDictionary
    truth : dict or None
        Ground truth of a simulated cohort (``SimulatedCohort.truth_mapping()``), else None.
    """
    dictionary = read_dictionary(dictionary_path)
    truth = None
    if data_source == "smart":
        from synthlib.data import load_smart

        real = validate_table(load_smart(), dictionary)
    elif data_source in ("sams_cohort", "ldl_response"):
        cohort = simulate_cohort(data_source, n_rows, random_state)
        real = validate_table(cohort.data, dictionary)
        truth = cohort.truth_mapping()
    else:
        real = load_table(data_source, dictionary)
    logger.info("Loaded %d rows and %d columns from %s", len(real), real.shape[1], data_source)
    return real, dictionary, truth


def prepare_data(run_dir, data_source, dictionary_path, holdout_fraction=0.2, stratify=None, random_state=0,
                 n_rows=None):
    """Validate the real table, split it into train and holdout, and write both to the run folder.

    Identifier columns are dropped before the split is written. For a simulated cohort the
    ground truth is written to ``truth.json``.

    Returns
    -------
    real : pandas.DataFrame
        The full typed table, identifiers included, for the summary table.
    dictionary : DataDictionary
        The full dictionary.
    """
    from synthlib.data import train_holdout_split

    paths = RunPaths(run_dir)
    real, dictionary, truth = load_real_data(data_source, dictionary_path, n_rows, random_state)
    if truth is not None:
        write_json(paths.truth, truth)
    elif paths.truth.exists():
        paths.truth.unlink()
    modelled = dictionary.subset(dictionary.modelled_columns)
    train, holdout = train_holdout_split(
        real[modelled.names], holdout_fraction=holdout_fraction, random_state=random_state, stratify=stratify
    )
    paths.train.parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(paths.train)
    holdout.to_parquet(paths.holdout)
    write_dictionary(modelled, paths.dictionary)
    write_json(
        paths.step_results("preprocessing"),
        {
            "n_rows": len(real),
            "n_columns": len(dictionary.names),
            "n_modelled_columns": len(modelled.names),
            "dropped_identifiers": dictionary.by_role("identifier"),
            "n_train": len(train),
            "n_holdout": len(holdout),
            "holdout_fraction": holdout_fraction,
            "random_state": random_state,
        },
    )
    return real, dictionary


def load_run(run_dir) -> RunData:
    """Read the dictionary, the real splits and, when present, the synthetic table of a run."""
    paths = RunPaths(run_dir)
    dictionary = read_dictionary(paths.dictionary)
    synthetic = pd.read_parquet(paths.synthetic) if paths.synthetic.is_file() else None
    return RunData(dictionary, pd.read_parquet(paths.train), pd.read_parquet(paths.holdout), synthetic)


def build_model(model_kind, model_path, lora, scratch_config, train, dictionary, random_state=0):
    """Create the model and tokenizer to fine-tune: GPT-2 from scratch or a local pre-trained model."""
    from synthlib.encoding import encode_table
    from synthlib.models import LoraSettings, build_scratch_model, load_pretrained_model, train_row_tokenizer

    if model_kind == "scratch":
        texts = encode_table(train, dictionary, random_state=random_state)
        tokenizer = train_row_tokenizer(texts, vocab_size=scratch_config.vocab_size)
        model = build_scratch_model(tokenizer, scratch_config, texts, random_state=random_state)
        return model, tokenizer
    lora_settings = LoraSettings(**lora) if lora else None
    return load_pretrained_model(model_path, lora=lora_settings, random_state=random_state)


def train_model(run_dir, model_kind="scratch", model_path=None, lora=None, scratch_config=None,
                settings=None, random_state=0, progress=False, resume=False):
    """Fine-tune the configured model on the run's training split and save it in ``model/``.

    Parameters
    ----------
    settings : synthlib.training.TrainingSettings or dict or None
        Training settings, or the ``training`` section of a resolved configuration; None takes
        the defaults.
    resume : bool
        Continue an interrupted fine-tune from the last epoch checkpoint in ``model/checkpoints``
        (see :func:`synthlib.training.fine_tune`). Otherwise ``model/`` is emptied first.

    Returns
    -------
    synthlib.training.TrainingResult
    """
    from synthlib.models import ScratchModelConfig, quiet_transformers
    from synthlib.training import TrainingSettings, fine_tune

    paths = RunPaths(run_dir)
    data = load_run(run_dir)
    if not progress:
        quiet_transformers()
    scratch_config = scratch_config or ScratchModelConfig()
    if settings is None:
        settings = TrainingSettings()
    elif isinstance(settings, dict):
        settings = TrainingSettings(**settings)
    if paths.model_dir.exists() and not resume:
        shutil.rmtree(paths.model_dir)
    model, tokenizer = build_model(model_kind, model_path, lora, scratch_config, data.train, data.dictionary, random_state)
    result = fine_tune(
        model, tokenizer, data.train, data.dictionary, paths.model_dir, settings, random_state, progress, resume=resume
    )
    write_json(
        paths.step_results("training"),
        {
            **asdict(result),
            "model_kind": model_kind,
            "model_path": model_path,
            "lora": lora,
            "n_parameters": int(sum(p.numel() for p in model.parameters())),
            "n_trainable_parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        },
    )
    return result


def sample_synthetic(run_dir, n_samples=None, batch_size=256, temperature=1.0, top_k=0, max_batches=None,
                     random_state=0, progress=False, conditions=None):
    """Sample synthetic rows from the run's model and write them to the run folder.

    Categorical and binary columns take only the levels seen in the training split.
    ``conditions`` fixes columns as in :func:`synthlib.sampling.sample`.

    Returns
    -------
    synthlib.sampling.SamplingResult
    """
    from synthlib.conditions import complete_columns, observed_levels
    from synthlib.decoding import DecodingSettings
    from synthlib.models import load_trained_model, quiet_transformers
    from synthlib.sampling import sample

    paths = RunPaths(run_dir)
    data = load_run(run_dir)
    if not progress:
        quiet_transformers()
    n_samples = len(data.train) if n_samples is None else int(n_samples)
    model, tokenizer = load_trained_model(paths.model_dir)
    result = sample(
        model,
        tokenizer,
        data.dictionary,
        n_samples,
        batch_size=batch_size,
        settings=DecodingSettings(temperature=temperature, top_k=top_k),
        max_batches=max_batches,
        random_state=random_state,
        progress=progress,
        conditions=conditions,
        training_levels=observed_levels(data.train, data.dictionary),
        complete_columns=complete_columns(data.train),
    )
    result.synthetic.to_parquet(paths.synthetic)
    result.synthetic.to_csv(paths.synthetic_csv, index=False)
    write_json(
        paths.step_results("sampling"),
        {
            "n_requested": result.n_requested,
            "n_returned": len(result.synthetic),
            "n_generated": result.n_generated,
            "n_valid": result.n_valid,
            "valid_rate": result.valid_rate,
            "seconds": result.seconds,
            "rows_per_second": result.rows_per_second,
            "rejections": result.rejections,
            "seeds": result.seeds,
            "temperature": temperature,
            "top_k": top_k,
        },
    )
    return result


def check_synthetic(run_dir) -> pd.DataFrame:
    """Validate the saved synthetic table against the run's dictionary; raise on any invalid value.

    Returns
    -------
    pandas.DataFrame
        The synthetic table as read back from CSV and validated.
    """
    paths = RunPaths(run_dir)
    dictionary = read_dictionary(paths.dictionary)
    return load_table(paths.synthetic_csv, dictionary)


def default_outcome(dictionary: DataDictionary) -> str | None:
    """Return the first binary or numeric outcome column of the dictionary, or None."""
    for name in dictionary.by_role("outcome"):
        if dictionary.column(name).type in ("binary", "numeric", "integer"):
            return name
    return None


def evaluate_fidelity(run_dir, outcome=None, random_state=0) -> FidelityReport:
    """Compute every fidelity and utility metric of the run (see :mod:`synthlib.fidelity_report`).

    The synthetic table is compared with the training split; utility models are tested on the
    holdout split, for ``outcome`` or, when it is None, for every binary or numeric outcome of
    the dictionary. Results are written to ``results/fidelity.json``.
    """
    from synthlib.fidelity_report import compute_fidelity_report

    data = load_run(run_dir)
    outcomes = None if outcome is None else [outcome]
    report = compute_fidelity_report(
        data.train, data.synthetic, data.holdout, data.dictionary, outcomes, random_state=random_state
    )
    write_json(RunPaths(run_dir).step_results("fidelity"), fidelity_figures(report))
    return report


@dataclass(frozen=True)
class PrivacyReport:
    """Distance-based privacy figures of a run's synthetic table."""

    dcr: object
    summary: dict


def evaluate_privacy(run_dir, max_rows=None, random_state=0) -> PrivacyReport:
    """Compute distances to closest record, the exact-match rate and NNDR; write ``results/privacy.json``.

    Parameters
    ----------
    max_rows : int or None
        Subsample the synthetic table to this many rows (seeded) to bound the run time.
    """
    from synthlib import privacy

    data = load_run(run_dir)
    synthetic = data.synthetic
    if max_rows is not None and len(synthetic) > max_rows:
        synthetic = synthetic.sample(n=max_rows, random_state=random_state).reset_index(drop=True)
    dcr = privacy.distance_to_closest_record(synthetic, data.train, data.holdout, data.dictionary)
    summary = privacy.privacy_summary(synthetic, data.train, data.holdout, data.dictionary)
    write_json(RunPaths(run_dir).step_results("privacy"), summary)
    return PrivacyReport(dcr=dcr, summary=summary)


@dataclass(frozen=True)
class ReplicationReport:
    """The same regression fitted on real and synthetic data, and their comparison."""

    real_fit: object
    synthetic_fit: object
    comparison: pd.DataFrame
    summary: dict


def default_formula(dictionary: DataDictionary) -> str:
    """Return ``outcome ~ predictors`` over the quasi-identifiers and predictors of a dictionary.

    Categorical predictors are wrapped in ``C()``; date columns and columns of other roles are left
    out. Used when a configuration gives no formula.
    """
    outcome = default_outcome(dictionary)
    if outcome is None:
        raise ValueError("the dictionary declares no binary or numeric outcome; set replication.formula")
    terms = []
    for spec in dictionary.columns:
        if spec.role not in ("predictor", "quasi_identifier") or spec.type == "date":
            continue
        name = formula_name(spec.name)
        terms.append(f"C({name})" if spec.type == "categorical" else name)
    return f"{formula_name(outcome)} ~ " + " + ".join(terms)


def formula_name(name: str) -> str:
    """Return a column name as a formula term: as it is when it is an identifier, else ``Q("name")``."""
    if name.isidentifier():
        return name
    return "Q(" + repr(name) + ")"


def true_model(run_dir, formula=None) -> dict | None:
    """Return the simulator's true model of a run (a ``ModelTruth`` mapping), or None.

    With ``formula`` None the cohort's main model is returned. Otherwise the model whose formula
    equals ``formula`` up to spaces is returned. The result is None when the run's data are not
    simulated or no true model has that formula.
    """
    from synthlib.artifacts import read_json

    path = RunPaths(run_dir).truth
    if not path.is_file():
        return None
    models = read_json(path)["models"]
    if formula is None:
        return models[0]
    requested = "".join(formula.split())
    return next((model for model in models if "".join(model["formula"].split()) == requested), None)


def add_truth(comparison: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Add the true coefficient of each term and whether each 95% CI covers it."""
    comparison = comparison.copy()
    comparison["truth"] = comparison["term"].map(truth["coefficients"])
    for side in ("real", "synthetic"):
        covers = (comparison[f"ci_low_{side}"] <= comparison["truth"]) & (comparison["truth"] <= comparison[f"ci_high_{side}"])
        comparison[f"{side}_ci_covers_truth"] = covers.where(comparison["truth"].notna())
    return comparison


def truth_coverage(comparison: pd.DataFrame) -> dict:
    """Return the share of non-intercept terms whose real and synthetic 95% CIs cover the truth."""
    rows = comparison[(comparison["term"] != "Intercept") & comparison["truth"].notna()]
    return {
        f"truth_coverage_{side}": float(rows[f"{side}_ci_covers_truth"].astype(float).mean()) if len(rows) else None
        for side in ("real", "synthetic")
    }


def replicate(run_dir, formula=None, family=None) -> ReplicationReport:
    """Fit ``formula`` on the training split and on the synthetic table and compare the coefficients.

    For a simulated cohort, a null ``formula`` or ``family`` takes the simulator's main true
    model, and the comparison gains the true coefficients and whether each interval covers them.
    Otherwise the defaults are :func:`default_formula` and a logistic model. Results are written
    to ``results/replication.json``.
    """
    from synthlib import replication

    data = load_run(run_dir)
    truth = true_model(run_dir, formula)
    formula = formula or (truth["formula"] if truth else default_formula(data.dictionary))
    family = family or (truth["family"] if truth else "logistic")
    real_fit = replication.fit_model(data.train, formula, family)
    synthetic_fit = replication.fit_model(data.synthetic, formula, family)
    comparison = replication.compare_fits(real_fit, synthetic_fit)
    summary = replication.replication_summary(comparison, include_intercept=False)
    if truth is not None:
        comparison = add_truth(comparison, truth)
        summary.update(truth_coverage(comparison))
    write_json(
        RunPaths(run_dir).step_results("replication"),
        {**summary, "formula": formula, "family": family, "n_real": real_fit.n, "n_synthetic": synthetic_fit.n,
         "coefficients": comparison.to_dict("records")},
    )
    return ReplicationReport(real_fit, synthetic_fit, comparison, summary)
