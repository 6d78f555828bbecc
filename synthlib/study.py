"""The study's steps as functions: each notebook calls one or two of them and shows the results.

Every step reads its inputs from the run folder (see :class:`synthlib.artifacts.RunPaths`) and
writes its outputs and a JSON file of results there, so the notebooks can run one by one with
papermill and the pipeline can collect ``summary.json``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from synthlib.artifacts import RunPaths, write_json
from synthlib.dictionary import DataDictionary, read_dictionary, write_dictionary
from synthlib.exceptions import ConfigError
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
    from synthlib.distributed import on_main_process
    from synthlib.encoding import encode_table
    from synthlib.models import LoraSettings, build_scratch_model, load_pretrained_model, train_row_tokenizer

    if model_kind == "scratch":
        texts = encode_table(train, dictionary, random_state=random_state)
        # With several processes every rank must encode rows with the same vocabulary: rank 0's.
        tokenizer = on_main_process(train_row_tokenizer, texts, vocab_size=scratch_config.vocab_size)
        model = build_scratch_model(tokenizer, scratch_config, texts, random_state=random_state)
        return model, tokenizer
    lora_settings = LoraSettings(**lora) if lora else None
    return load_pretrained_model(model_path, lora=lora_settings, random_state=random_state)


def train_model(run_dir, model_kind="scratch", model_path=None, lora=None, scratch_config=None,
                settings=None, random_state=0, progress=False, resume=False):
    """Fine-tune the configured model on the run's training split and save it in ``model/``.

    Under ``torchrun`` with several processes (see :mod:`synthlib.finetune`), rank 0 builds the
    tokenizer of a scratch model for every rank and writes every file.

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
    from synthlib.distributed import join_process_group, on_main_process
    from synthlib.models import ScratchModelConfig, quiet_transformers
    from synthlib.training import TrainingSettings, fine_tune

    paths = RunPaths(run_dir)
    data = load_run(run_dir)
    if not progress:
        quiet_transformers()
    join_process_group()
    scratch_config = scratch_config or ScratchModelConfig()
    if settings is None:
        settings = TrainingSettings()
    elif isinstance(settings, dict):
        settings = TrainingSettings(**settings)
    if paths.model_dir.exists() and not resume:
        on_main_process(shutil.rmtree, paths.model_dir)
    model, tokenizer = build_model(model_kind, model_path, lora, scratch_config, data.train, data.dictionary, random_state)
    result = fine_tune(
        model, tokenizer, data.train, data.dictionary, paths.model_dir, settings, random_state, progress, resume=resume
    )
    on_main_process(
        write_json,
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


SYNTHESIS_SEED_STRIDE = 1_000_000
"""Distance between the first seeds of consecutive syntheses.

Synthesis k (from 1) starts at ``random_state + (k - 1) * SYNTHESIS_SEED_STRIDE`` and its batch b
uses that seed + b, so syntheses share no batch seed while each needs fewer batches than the stride.
Synthesis 1 keeps the seeds of a single-synthesis run.
"""


def synthesis_seeds(random_state: int, n_syntheses: int) -> list:
    """Return the first seed of each of ``n_syntheses`` syntheses."""
    return [int(random_state) + k * SYNTHESIS_SEED_STRIDE for k in range(n_syntheses)]


def model_fingerprint(model_dir) -> str:
    """Return the SHA-256 of the files of a saved model (checkpoints excluded), to show that it did not change."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).iterdir() if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def sample_syntheses(run_dir, n_syntheses=5, n_samples=None, batch_size=256, temperature=1.0, top_k=0,
                     max_batches=None, random_state=0, progress=False, conditions=None,
                     calibrate_missing=True) -> list:
    """Sample ``n_syntheses`` independent synthetic tables from the run's one trained model.

    The model is loaded once and never trained again: the syntheses differ only by their seeds
    (:func:`synthesis_seeds`). Synthesis k is written to ``syntheses/synthetic_k.parquet`` and the first
    also to ``synthetic.parquet`` and ``synthetic.csv``, the table of the fidelity and privacy steps.
    ``results/sampling.json`` records the totals, each synthesis's seed, batch seeds and figures, and
    the fingerprint of the model files. Categorical and binary columns take only the levels seen in
    the training split. ``conditions`` fixes columns as in :func:`synthlib.sampling.sample`. With
    ``calibrate_missing``, each column's share of missing values is held at its training rate
    (see :mod:`synthlib.missing_rates`).

    Returns
    -------
    list of synthlib.sampling.SamplingResult
        One result per synthesis, in order.

    Raises
    ------
    ConfigError
        If ``n_syntheses`` is below 1.
    SamplingError
        If a synthesis needs more batches than :data:`SYNTHESIS_SEED_STRIDE`, so that its batch seeds
        would reach those of the next synthesis.
    """
    from synthlib.conditions import complete_columns, observed_levels
    from synthlib.decoding import DecodingSettings
    from synthlib.exceptions import ConfigError, SamplingError
    from synthlib.missing_rates import training_missing_rates
    from synthlib.models import load_trained_model, quiet_transformers
    from synthlib.sampling import sample

    if int(n_syntheses) < 1:
        raise ConfigError(f"n_syntheses must be at least 1, got {n_syntheses!r}")
    paths = RunPaths(run_dir)
    data = load_run(run_dir)
    if not progress:
        quiet_transformers()
    n_samples = len(data.train) if n_samples is None else int(n_samples)
    fingerprint = model_fingerprint(paths.model_dir)
    model, tokenizer = load_trained_model(paths.model_dir)
    levels, complete = observed_levels(data.train, data.dictionary), complete_columns(data.train)
    rates = training_missing_rates(data.train, data.dictionary.modelled_columns) if calibrate_missing else None

    results = []
    for number, seed in enumerate(synthesis_seeds(random_state, int(n_syntheses)), start=1):
        result = sample(
            model, tokenizer, data.dictionary, n_samples, batch_size=batch_size,
            settings=DecodingSettings(temperature=temperature, top_k=top_k), max_batches=max_batches,
            random_state=seed, progress=progress, conditions=conditions, training_levels=levels,
            complete_columns=complete, missing_rates=rates,
        )
        if len(result.seeds) > SYNTHESIS_SEED_STRIDE:
            raise SamplingError(
                f"synthesis {number} used {len(result.seeds)} batches, more than the seed stride "
                f"{SYNTHESIS_SEED_STRIDE}; raise batch_size or lower n_samples"
            )
        paths.synthesis(number).parent.mkdir(parents=True, exist_ok=True)
        result.synthetic.to_parquet(paths.synthesis(number))
        results.append(result)
        logger.info("Synthesis %d of %d: %d rows, seed %d", number, n_syntheses, len(result.synthetic), seed)

    _remove_stale_syntheses(paths, len(results))
    results[0].synthetic.to_parquet(paths.synthetic)
    results[0].synthetic.to_csv(paths.synthetic_csv, index=False)
    if model_fingerprint(paths.model_dir) != fingerprint:
        raise SamplingError(f"the model files in {paths.model_dir} changed while sampling; sample again")
    write_json(paths.step_results("sampling"), sampling_figures(results, random_state, fingerprint,
                                                                temperature, top_k))
    return results


def _remove_stale_syntheses(paths: RunPaths, n_syntheses: int) -> None:
    """Delete synthesis files numbered above ``n_syntheses`` left by an earlier run with a larger m."""
    number = n_syntheses + 1
    while paths.synthesis(number).is_file():
        paths.synthesis(number).unlink()
        number += 1


def sampling_figures(results, random_state, fingerprint, temperature, top_k) -> dict:
    """Return the figures of ``results/sampling.json``: totals over the syntheses, then one entry each."""
    from collections import Counter

    seconds = sum(result.seconds for result in results)
    n_generated = sum(result.n_generated for result in results)
    n_valid = sum(result.n_valid for result in results)
    n_returned = min(len(result.synthetic) for result in results)
    rejections = sum((Counter(result.rejections) for result in results), Counter())
    return {
        "n_syntheses": len(results),
        "synthesis_seeds": synthesis_seeds(random_state, len(results)),
        "model_fingerprint": fingerprint,
        "n_requested": results[0].n_requested,
        "n_returned": n_returned,
        "n_generated": n_generated,
        "n_valid": n_valid,
        "valid_rate": n_valid / n_generated if n_generated else None,
        "seconds": seconds,
        "rows_per_second": sum(len(result.synthetic) for result in results) / seconds if seconds else None,
        "rejections": dict(rejections),
        "temperature": temperature,
        "top_k": top_k,
        "syntheses": [
            {
                "synthesis": number,
                "random_state": seed,
                "path": f"syntheses/synthetic_{number}.parquet",
                "n_returned": len(result.synthetic),
                "n_generated": result.n_generated,
                "valid_rate": result.valid_rate,
                "seconds": result.seconds,
                "batch_seeds": result.seeds,
                "missing_offsets": result.missing_offsets,
            }
            for number, (seed, result) in enumerate(
                zip(synthesis_seeds(random_state, len(results)), results), start=1
            )
        ],
    }


def sample_synthetic(run_dir, n_samples=None, batch_size=256, temperature=1.0, top_k=0, max_batches=None,
                     random_state=0, progress=False, conditions=None):
    """Sample one synthetic table from the run's model: :func:`sample_syntheses` with one synthesis.

    Returns
    -------
    synthlib.sampling.SamplingResult
    """
    return sample_syntheses(run_dir, 1, n_samples, batch_size, temperature, top_k, max_batches, random_state,
                            progress, conditions)[0]


def load_syntheses(run_dir) -> list:
    """Read the run's syntheses in order.

    A run sampled before syntheses were numbered has only ``synthetic.parquet``, which is returned alone.
    """
    paths = RunPaths(run_dir)
    tables = []
    while paths.synthesis(len(tables) + 1).is_file():
        tables.append(pd.read_parquet(paths.synthesis(len(tables) + 1)))
    if not tables and paths.synthetic.is_file():
        tables.append(pd.read_parquet(paths.synthetic))
    return tables


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


def check_syntheses(run_dir) -> list:
    """Validate every saved synthesis against the run's dictionary, and raise on any invalid value.

    Returns
    -------
    list of pandas.DataFrame
        The validated syntheses, in order.
    """
    dictionary = read_dictionary(RunPaths(run_dir).dictionary)
    return [validate_table(table, dictionary) for table in load_syntheses(run_dir)]


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
    """Compute DCR, overfitting protection, membership inference, exact matches and NNDR; write ``results/privacy.json``.

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


def _capped(table: pd.DataFrame, max_rows, random_state) -> pd.DataFrame:
    if max_rows is None or len(table) <= max_rows:
        return table
    return table.sample(n=max_rows, random_state=random_state).reset_index(drop=True)


def synthetic_releases(run_dir, other_runs=(), max_rows=None, random_state=0) -> dict:
    """Return the synthetic tables of a run and of ``other_runs``, labelled ``synthetic (<run folder>)``.

    Other runs must share the run's training split, so that all tables face the same attacks.
    """
    data = load_run(run_dir)
    releases = {}
    for folder in (run_dir, *other_runs):
        other = data if folder == run_dir else load_run(folder)
        if not other.train.equals(data.train):
            raise ConfigError(f"run {folder} has another training split than {run_dir}; compare runs of one split only")
        releases[f"synthetic ({Path(folder).name})"] = _capped(other.synthetic, max_rows, random_state)
    return releases


@dataclass(frozen=True)
class PrivacyUtilityReport:
    """Anonymized copies of the training split and every release on the privacy-utility plane."""

    anonymization: pd.DataFrame
    points: pd.DataFrame
    verdict: dict


def evaluate_privacy_utility(run_dir, settings=None, other_runs=(), max_rows=None, random_state=0) -> PrivacyUtilityReport:
    """Anonymize the training split, score it beside the synthetic tables and write ``results/privacy_utility.json``.

    ``settings`` defaults to :data:`synthlib.anonymize.DEFAULT_SETTINGS`. The anonymized tables
    are written to ``anonymized/`` (read them with :func:`synthlib.anonymize.load_anonymized`);
    ``max_rows`` caps the synthetic tables only.
    """
    from synthlib import anonymize, tradeoff

    data = load_run(run_dir)
    settings = anonymize.DEFAULT_SETTINGS if settings is None else settings
    results = anonymize.anonymize_all(data.train, data.dictionary, settings, random_state=random_state)
    report = anonymize.anonymization_report(results)
    anonymize.write_anonymized(results, run_dir, report)
    points = tradeoff.privacy_utility_points(
        synthetic_releases(run_dir, other_runs, max_rows, random_state),
        {name: result.table for name, result in results.items()},
        data.train, data.holdout, data.dictionary, random_state,
    )
    verdict = tradeoff.compare_methods(points)
    write_json(RunPaths(run_dir).step_results("privacy_utility"), {
        "points": tradeoff.compact_points(points), "verdict": verdict,
        "anonymization": anonymize.report_records(report), "scores": points.to_dict("records"),
    })
    return PrivacyUtilityReport(report, points, verdict)


def evaluate_anonymeter(run_dir, seeds=(0, 1, 2), n_attacks=500, max_rows=None, random_state=0):
    """Run Anonymeter on the synthetic and anonymized tables; write ``results/anonymeter.json``.

    Anonymeter draws its targets from the training split and its control rows from the
    holdout, so ``n_attacks`` is capped at the smaller of the two. A release whose attack
    fails is logged, listed under ``failed`` in the JSON and left out of the table, for
    example when fewer singling-out queries than ``n_attacks`` exist. The other releases are
    still scored.

    Returns
    -------
    pandas.DataFrame or None
        :func:`synthlib.attacks.summarise_anonymeter` per release, with a ``release`` column
        (empty when every release failed); None when the ``anonymeter`` package is not installed.
    """
    from synthlib import attacks
    from synthlib.anonymize import load_anonymized
    from synthlib.exceptions import PrivacyAttackError

    path = RunPaths(run_dir).step_results("anonymeter")
    if not attacks.anonymeter_available():
        write_json(path, {"available": False})
        return None
    data = load_run(run_dir)
    n_used = min(int(n_attacks), len(data.train), len(data.holdout))
    if n_used < n_attacks:
        logger.info("Anonymeter attacks capped at %d, the size of the smaller of train and holdout", n_used)
    releases = {**synthetic_releases(run_dir, (), max_rows, random_state), **load_anonymized(run_dir)}
    summaries, failed = [], {}
    for label, table in releases.items():
        try:
            runs = attacks.anonymeter_risks(table, data.train, data.holdout, data.dictionary, seeds=seeds, n_attacks=n_used)
        except PrivacyAttackError as error:
            logger.warning("Anonymeter could not score %s: %s", label, error)
            failed[label] = str(error)
            continue
        summaries.append(attacks.summarise_anonymeter(runs).assign(release=label))
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(columns=["release", "attack", "secret"])
    write_json(path, {
        "available": True, "seeds": list(seeds), "n_attacks": n_used, "n_attacks_requested": int(n_attacks),
        "risks": summary.to_dict("records"), "failed": failed,
    })
    return summary


@dataclass(frozen=True)
class ReplicationReport:
    """The clinical analyses fitted on real data, on the syntheses and on anonymized tables.

    Attributes
    ----------
    real_fit, synthetic_fit : synthlib.replication.FitResult
        The default analysis fitted on the real training split, and its fits on the syntheses
        combined with Reiter's rules.
    comparison : pandas.DataFrame
        :func:`synthlib.replication.compare_fits` of those two fits, with the truth for a simulated cohort.
    summary : dict
        Headline figures of the default analysis, as written to ``results/replication.json``.
    analyses : dict of str to synthlib.replication_verdict.AnalysisReplication
        Every analysis by name, the default first.
    ml : synthlib.ml_replication.MLReplication or None
        The machine-learning replication of the default outcome, None when it could not run.
    """

    real_fit: object
    synthetic_fit: object
    comparison: pd.DataFrame
    summary: dict
    analyses: dict = field(default_factory=dict)
    ml: object = None

    @property
    def default(self):
        """The default analysis (an ``AnalysisReplication``)."""
        return next(iter(self.analyses.values()))


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


def truth_coverage(comparison: pd.DataFrame) -> dict:
    """Return the share of non-intercept terms whose real and synthetic 95% CIs cover the truth."""
    rows = comparison[(comparison["term"] != "Intercept") & comparison["truth"].notna()]
    return {
        f"truth_coverage_{side}": float(rows[f"{side}_ci_covers_truth"].astype(float).mean()) if len(rows) else None
        for side in ("real", "synthetic")
    }


def load_anonymized_tables(run_dir) -> dict:
    """Return the run's anonymized tables by name, or an empty dict when the privacy step wrote none.

    The replication step fits its analyses on these tables too. A run whose privacy step has
    not run (or was skipped with ``--steps``) is replicated on the syntheses alone, with a log line.
    """
    from synthlib.anonymize import load_anonymized

    try:
        return dict(load_anonymized(run_dir))
    except FileNotFoundError as error:
        logger.info("Replication without anonymized tables: %s", error)
        return {}


def _analysis_specs(run_dir, dictionary, formula, family, event, analyses) -> list:
    """Return the analyses to run, the default first, each with its true model or None."""
    truth = true_model(run_dir, formula)
    default = {
        "name": "default",
        "formula": formula or (truth["formula"] if truth else default_formula(dictionary)),
        "family": family or (truth["family"] if truth else "logistic"),
        "event": event,
        "truth": truth,
    }
    specs = [default]
    for spec in analyses or ():
        spec_truth = true_model(run_dir, spec["formula"])
        if spec_truth is not None and spec_truth["family"] != spec["family"]:
            spec_truth = None
        specs.append({"event": None, **spec, "truth": spec_truth})
    return specs


def _ml_replication(data: RunData, syntheses, analysis, random_state):
    """Run the machine-learning replication of the default analysis's outcome, or return None with a warning."""
    import warnings

    from synthlib.exceptions import SynthlibError, SynthlibWarning
    from synthlib.ml_replication import OUTCOME_TYPES, ml_replication
    from synthlib.replication import _formula_columns

    fit = analysis.real_fit
    outcome, predictors = _formula_columns(fit.formula, data.train.columns)
    if fit.family == "cox" or data.dictionary.column(outcome).type not in OUTCOME_TYPES:
        return None
    try:
        return ml_replication(
            data.train, syntheses, data.holdout, outcome, data.dictionary, features=predictors,
            random_state=random_state,
        )
    except SynthlibError as error:
        warnings.warn(f"the machine-learning replication was skipped: {error}", SynthlibWarning, stacklevel=3)
        return None


def replicate(run_dir, formula=None, family=None, event=None, analyses=None, random_state=0,
              anonymized=None) -> ReplicationReport:
    """Fit each analysis on the training split, on every synthesis and on anonymized tables, and judge it.

    The default analysis is ``formula`` with ``family`` (and ``event`` for a Cox model). For a simulated
    cohort a null ``formula`` or ``family`` takes the simulator's main true model, and the comparison
    gains the true coefficients and whether each interval covers them. Otherwise the defaults are
    :func:`default_formula` and a logistic model. ``analyses`` adds more models, each a mapping with
    ``name``, ``formula``, ``family`` and, for a Cox model, ``event``. Each analysis is replicated by
    :func:`synthlib.replication_verdict.replicate_analysis`, and the default analysis's outcome also by
    :func:`synthlib.ml_replication.ml_replication` (models trained on the syntheses, tested on the
    holdout). Results are written to ``results/replication.json``.

    Parameters
    ----------
    anonymized : dict of str to pandas.DataFrame, optional
        Anonymized tables; None reads them with :func:`load_anonymized_tables`.

    Raises
    ------
    SynthlibError
        If the run has no synthetic table yet.
    """
    from synthlib.exceptions import SynthlibError
    from synthlib.replication_verdict import add_truth, analysis_figures, replicate_analysis

    data = load_run(run_dir)
    syntheses = load_syntheses(run_dir)
    if not syntheses:
        raise SynthlibError(f"no synthetic table in {run_dir}; run the sampling step first")
    anonymized = load_anonymized_tables(run_dir) if anonymized is None else anonymized
    results = {}
    for spec in _analysis_specs(run_dir, data.dictionary, formula, family, event, analyses):
        results[spec["name"]] = replicate_analysis(
            data.train, syntheses, spec["formula"], spec["family"], event=spec["event"], anonymized=anonymized,
            truth=spec["truth"], name=spec["name"],
        )
    default = results["default"]
    ml = _ml_replication(data, syntheses, default, random_state)

    summary = {**analysis_figures(default), "n_syntheses": len(syntheses)}
    comparison = default.comparison
    if default.truth is not None:
        summary.update(truth_coverage(comparison))
        with_syntheses = add_truth(default.per_fit[default.per_fit["dataset"] == "synthetic"], default.truth)
        summary["truth_coverage_syntheses"] = truth_coverage(with_syntheses)["truth_coverage_synthetic"]
    write_json(RunPaths(run_dir).step_results("replication"), replication_results(default, results, ml, summary))
    return ReplicationReport(default.real_fit, default.combined_fit, comparison, summary, results, ml)


def replication_results(default, analyses: dict, ml, summary: dict) -> dict:
    """Return the content of ``results/replication.json``: the default analysis's figures, then every analysis."""
    from synthlib.replication_verdict import analysis_figures, truth_coverage as fit_truth_coverage

    return {
        **summary,
        "formula": default.real_fit.formula,
        "family": default.real_fit.family,
        "n_real": default.real_fit.n,
        "n_synthetic": default.combined_fit.n,
        "coefficients": default.comparison.to_dict("records"),
        "analyses": {
            name: {
                "formula": analysis.real_fit.formula,
                "family": analysis.real_fit.family,
                "event": analysis.real_fit.event,
                "verdicts": analysis.verdicts.to_dict("records"),
                "figures": analysis_figures(analysis),
                "agreement": analysis.agreement.to_dict("records"),
                "combined": analysis.combined_fit.coefficients.to_dict("records"),
                "truth_coverage": fit_truth_coverage(analysis).to_dict("records"),
                "failures": analysis.failures,
            }
            for name, analysis in analyses.items()
        },
        "ml": ml.figures() if ml is not None else None,
    }
