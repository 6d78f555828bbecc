"""Compare synthlib with the GReaT baseline (be_great 0.0.14) on the same rows, model and epochs.

Both methods start from one local model directory: a GPT-2 from scratch with synthlib's BPE
tokenizer trained on the rows (``--model scratch``), or any local Hugging Face directory such as
the SmolLM2-135M one written by ``synthlib materialize-smollm2``. Both train for the same
epochs with the same batch size, learning rate, seed and, with ``--lora``, the same LoRA
adapters. Then both sample ``--n-samples`` rows. be_great runs in its own environment
(``benchmarks/setup_great.sh``) through ``benchmarks/run_great.py``, in a subprocess with a
timeout. Every row that be_great returns is validated against the data dictionary, and the
quality score of both synthetic tables is computed against the training rows with
:func:`synthlib.fidelity.quality_score`.

Run from the repository root with the project's environment::

    .venv/bin/python benchmarks/compare.py --data smart --epochs 4 --n-samples 500

The figures are printed and written to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from synthlib.benchmark_report import format_report, method_ratios

REPOSITORY = Path(__file__).resolve().parent.parent
BENCHMARKS = REPOSITORY / "benchmarks"
CONFIGS = {"smart": REPOSITORY / "configs" / "smart.yaml", "sams_cohort": REPOSITORY / "configs" / "sams.yaml"}
GREAT_PYTHON = BENCHMARKS / ".venv-great" / "bin" / "python"
RUN_GREAT = BENCHMARKS / "run_great.py"
GREAT_MISSING = ""
# be_great's progress bar while sampling, for example "[chug] 2.6% (13/500) [5:23]".
GREAT_PROGRESS = re.compile(r"\[chug\] [\d.]+% \((\d+)/\d+\) \[(?:(\d+):)?(\d+):(\d+)\]")

logger = logging.getLogger("compare")


# ---------------------------------------------------------------------------------------------
# Options


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])

    data = parser.add_argument_group("data and training")
    data.add_argument("--data", choices=sorted(CONFIGS), default="smart",
                      help="smart: the SMART training split; sams_cohort: the simulated SAMS cohort's training split")
    data.add_argument("--rows", type=int, default=None,
                      help="train on a seeded random subset of this many training rows (default: all)")
    data.add_argument("--epochs", type=float, default=None, help="training epochs (default: the data's config)")
    data.add_argument("--batch-size", type=int, default=None, help="training rows per step (default: the data's config)")
    data.add_argument("--learning-rate", type=float, default=None, help="peak learning rate (default: the data's config)")

    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--n-samples", type=int, default=500, help="rows each method is asked to sample")
    sampling.add_argument("--sample-batch-size", type=int, default=128, help="rows generated per batch by both methods")
    sampling.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of both methods")

    model = parser.add_argument_group("starting model")
    model.add_argument("--model", default="scratch",
                       help="'scratch' for a GPT-2 from random weights, or a local Hugging Face model directory")
    model.add_argument("--n-layer", type=int, default=None, help="scratch model depth (default: the data's config)")
    model.add_argument("--n-embd", type=int, default=None, help="scratch model width (default: the data's config)")
    model.add_argument("--n-head", type=int, default=None, help="scratch model attention heads (default: the data's config)")
    model.add_argument("--vocab-size", type=int, default=None, help="scratch tokenizer vocabulary (default: the data's config)")
    model.add_argument("--lora", action="store_true", help="train LoRA adapters (r=8, alpha=16, dropout=0.05, all linear layers)")
    model.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                       help="synthlib's training arithmetic (training.precision); be_great always trains in float32")

    run = parser.add_argument_group("run")
    run.add_argument("--timeout", type=float, default=3600, help="seconds the be_great subprocess may run")
    run.add_argument("--seed", type=int, default=0, help="seed of the split, the subset, the model and both methods")
    run.add_argument("--name", default=None, help="results file name without .json (default: built from the options)")
    run.add_argument("--results-dir", type=Path, default=BENCHMARKS / "results", help="folder of the results JSON")
    run.add_argument("--work-dir", type=Path, default=None,
                     help="keep the models, the inputs and the be_great log here (default: a temporary folder, removed)")
    run.add_argument("--great-python", type=Path, default=GREAT_PYTHON, help="Python of the be_great environment")
    run.add_argument("--skip-great", action="store_true", help="run the synthlib side only")
    run.add_argument("--baseline-from", type=Path, default=None, metavar="RESULTS_JSON",
                     help="take be_great's figures from this earlier results file instead of running be_great again; "
                          "its settings must equal these except the precision, the timeout and the name")
    run.add_argument("--rescore", type=Path, default=None, metavar="RESULTS_JSON",
                     help="only add the progress-log sampling rate of a timed-out be_great run to this results file")

    args = parser.parse_args(argv)
    if args.model != "scratch" and not (Path(args.model) / "config.json").is_file():
        parser.error(
            f"--model {args.model}: no Hugging Face model directory (config.json is missing); pass 'scratch' "
            "or a local model directory, for example the one written by `synthlib materialize-smollm2 DIR`"
        )
    for name in ("rows", "epochs", "batch_size", "learning_rate", "n_samples", "sample_batch_size", "temperature", "timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    return args


def resolve_settings(args: argparse.Namespace) -> dict:
    """Fill the options left unset from the data's run configuration; return the settings used."""
    from synthlib.config import load_config
    from synthlib.training import resolve_precision

    config = load_config(CONFIGS[args.data])
    model, training = config["model"], config["training"]
    pretrained = args.model != "scratch"
    return {
        "data": args.data,
        "config": str(CONFIGS[args.data].relative_to(REPOSITORY)),
        "dictionary": repository_path(config["data"]["dictionary"]),
        "holdout_fraction": config["data"]["holdout_fraction"],
        "n_cohort_rows": config["data"]["n_rows"],
        "rows": args.rows,
        "model": repository_path(args.model) if pretrained else "scratch",
        "n_layer": None if pretrained else args.n_layer or model["n_layer"],
        "n_embd": None if pretrained else args.n_embd or model["n_embd"],
        "n_head": None if pretrained else args.n_head or model["n_head"],
        "vocab_size": None if pretrained else args.vocab_size or model["vocab_size"],
        "lora": args.lora,
        "precision": resolve_precision(args.precision),
        "epochs": args.epochs or training["epochs"],
        "batch_size": args.batch_size or training["batch_size"],
        "learning_rate": args.learning_rate or training["learning_rate"],
        "n_samples": args.n_samples,
        # A batch larger than the request would only generate rows that are dropped.
        "sample_batch_size": min(args.sample_batch_size, args.n_samples),
        "temperature": args.temperature,
        "timeout": args.timeout,
        "seed": args.seed,
    }


def repository_path(path) -> str:
    """Return ``path`` relative to the repository root when it lies inside it, else absolute.

    Results then name no folder of the machine they ran on. ``REPOSITORY / result`` gives the
    path back in both cases.
    """
    path = Path(path).resolve()
    return str(path.relative_to(REPOSITORY)) if path.is_relative_to(REPOSITORY) else str(path)


def result_name(settings: dict) -> str:
    """Return the default results name, for example ``smart_scratch_200rows_1ep``."""
    model = "scratch" if settings["model"] == "scratch" else Path(settings["model"]).name
    rows = f"{settings['rows']}rows" if settings["rows"] else "allrows"
    lora = "_lora" if settings["lora"] else ""
    # Files written before the precision setting existed are float32 and carry no suffix.
    precision = "_bf16" if settings.get("precision") == "bf16" else ""
    return f"{settings['data']}_{model}{lora}_{rows}_{settings['epochs']:g}ep{precision}"


# ---------------------------------------------------------------------------------------------
# Data and the starting model


def load_training_rows(settings: dict):
    """Return the typed training rows (modelled columns) and their dictionary.

    The split is synthlib's train/holdout split of the data's configuration; ``rows`` then takes a
    seeded random subset of the training split.
    """
    from synthlib.data import train_holdout_split
    from synthlib.study import load_real_data

    real, dictionary, _ = load_real_data(
        settings["data"], REPOSITORY / settings["dictionary"], settings["n_cohort_rows"], settings["seed"]
    )
    modelled = dictionary.subset(dictionary.modelled_columns)
    train, _ = train_holdout_split(
        real[modelled.names], holdout_fraction=settings["holdout_fraction"], random_state=settings["seed"]
    )
    if settings["rows"] is not None and settings["rows"] < len(train):
        train = train.sample(n=settings["rows"], random_state=settings["seed"]).reset_index(drop=True)
    logger.info("Training rows: %d, modelled columns: %d", len(train), len(modelled.names))
    return train, modelled


def text_cells(train: pd.DataFrame, dictionary) -> pd.DataFrame:
    """Return every cell as synthlib writes it in a row text, missing cells as empty strings.

    be_great gets these texts too, so both methods see numbers at the dictionary's precision.
    """
    from synthlib.encoding import MISSING_MARKER, format_value

    cells = {}
    for name in dictionary.modelled_columns:
        spec = dictionary.column(name)
        texts = train[name].map(lambda value, spec=spec: format_value(value, spec))
        cells[name] = texts.where(texts != MISSING_MARKER, GREAT_MISSING)
    return pd.DataFrame(cells)


def great_dtypes(dictionary) -> dict:
    """Return the pandas dtype that be_great reads each column with, from its declared type.

    Numbers become numeric columns, which be_great checks after sampling; categories and dates
    stay text.
    """
    dtypes = {"numeric": "float64", "integer": "Int64", "binary": "Int64"}
    return {name: dtypes.get(dictionary.column(name).type, "string") for name in dictionary.modelled_columns}


def great_texts(cells: pd.DataFrame) -> list:
    """Write rows in be_great's ``name is value, ...`` format (missing as ``None``), to size its token budget."""
    return [
        ", ".join(f"{name} is {value if value != GREAT_MISSING else 'None'}" for name, value in row.items())
        for row in cells.to_dict("records")
    ]


def build_start_model(settings: dict, train: pd.DataFrame, dictionary, cells: pd.DataFrame, folder: Path) -> Path:
    """Write the scratch starting model (GPT-2 with a BPE tokenizer trained on the rows) to ``folder``.

    The context fits the longest row in synthlib's and in be_great's format, plus a quarter.
    """
    from synthlib.encoding import encode_table
    from synthlib.models import ScratchModelConfig, build_scratch_model, train_row_tokenizer

    texts = encode_table(train, dictionary, random_state=settings["seed"])
    tokenizer = train_row_tokenizer(texts, vocab_size=settings["vocab_size"])
    config = ScratchModelConfig(
        n_layer=settings["n_layer"], n_embd=settings["n_embd"], n_head=settings["n_head"], vocab_size=settings["vocab_size"]
    )
    model = build_scratch_model(tokenizer, config, texts + great_texts(cells), random_state=settings["seed"])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def great_max_length(model_dir: Path, cells: pd.DataFrame) -> int:
    """Return be_great's token budget per row: its longest training row plus a quarter, within the context.

    be_great learns no end-of-row token, so it always generates this many tokens.
    """
    from transformers import AutoConfig, AutoTokenizer

    from synthlib.models import POSITION_MULTIPLE, required_positions

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    needed = required_positions(tokenizer, great_texts(cells))
    budget = POSITION_MULTIPLE * math.ceil(needed * 1.25 / POSITION_MULTIPLE)
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    return min(budget, context) if context else budget


# ---------------------------------------------------------------------------------------------
# The two methods


def lora_settings(settings: dict):
    """Return synthlib's LoRA settings when ``--lora`` is on; run_great.py passes the same values to be_great."""
    from synthlib.models import LoraSettings

    return LoraSettings() if settings["lora"] else None


def run_synthlib(settings: dict, train: pd.DataFrame, dictionary, model_dir: Path, folder: Path):
    """Fine-tune and sample with synthlib; return its figures and its synthetic rows."""
    from synthlib.conditions import complete_columns, observed_levels
    from synthlib.decoding import DecodingSettings
    from synthlib.missing_rates import training_missing_rates
    from synthlib.models import load_pretrained_model, load_trained_model, quiet_transformers
    from synthlib.sampling import sample
    from synthlib.training import TrainingSettings, fine_tune

    quiet_transformers()
    model, tokenizer = load_pretrained_model(model_dir, lora=lora_settings(settings), random_state=settings["seed"])
    training = TrainingSettings(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        precision=settings["precision"],
    )
    trained = fine_tune(
        model, tokenizer, train, dictionary, folder, training, random_state=settings["seed"], progress=False
    )
    model, tokenizer = load_trained_model(folder)
    sampled = sample(
        model,
        tokenizer,
        dictionary,
        settings["n_samples"],
        batch_size=settings["sample_batch_size"],
        settings=DecodingSettings(temperature=settings["temperature"]),
        allow_partial=True,
        random_state=settings["seed"],
        progress=False,
        training_levels=observed_levels(train, dictionary),
        complete_columns=complete_columns(train),
        missing_rates=training_missing_rates(train, dictionary.modelled_columns),
    )
    figures = {
        "status": "complete",
        "train_seconds": trained.train_seconds,
        "epochs": trained.epochs,
        "seconds_per_epoch": trained.train_seconds / trained.epochs,
        "precision": trained.precision,
        "steps": trained.steps,
        "final_loss": trained.final_loss,
        "sample_seconds": sampled.seconds,
        "n_requested": sampled.n_requested,
        "n_generated": sampled.n_generated,
        "n_returned": len(sampled.synthetic),
        "n_valid": len(sampled.synthetic),
        "n_invalid_returned": 0,
        "valid_rate": sampled.valid_rate,
        "rejections": sampled.rejections,
    }
    return figures, sampled.synthetic


def write_great_inputs(cells: pd.DataFrame, dictionary, folder: Path) -> tuple:
    """Write the training CSV and its column dtypes for run_great.py; return both paths."""
    train_csv = folder / "great_train.csv"
    dtypes_json = folder / "great_dtypes.json"
    cells.to_csv(train_csv, index=False)
    dtypes_json.write_text(json.dumps(great_dtypes(dictionary), indent=2))
    return train_csv, dtypes_json


def great_command(settings: dict, python: Path, model_dir: Path, inputs: tuple, max_length: int, folder: Path) -> list:
    """Return the command line that runs run_great.py in the be_great environment."""
    train_csv, dtypes_json = inputs
    command = [
        str(python), str(RUN_GREAT),
        "--train", str(train_csv), "--dtypes", str(dtypes_json), "--model", str(model_dir),
        "--epochs", str(settings["epochs"]), "--batch-size", str(settings["batch_size"]),
        "--learning-rate", str(settings["learning_rate"]), "--n-samples", str(settings["n_samples"]),
        "--sample-batch-size", str(settings["sample_batch_size"]), "--max-length", str(max_length),
        "--temperature", str(settings["temperature"]), "--seed", str(settings["seed"]),
        "--output", str(folder / "great_figures.json"), "--sampled", str(folder / "great_sampled.csv"),
        "--experiment-dir", str(folder / "great_experiment"),
    ]
    if settings["lora"]:
        lora = lora_settings(settings)
        command += ["--lora", "--lora-r", str(lora.r), "--lora-alpha", str(lora.alpha), "--lora-dropout", str(lora.dropout)]
    return command


def run_great(command: list, timeout: float, folder: Path) -> dict:
    """Run be_great in its subprocess; return its figures with ``status`` complete, failed or timed_out.

    The subprocess writes its figures after training and again after sampling, so a run stopped
    by the timeout still reports the training time.
    """
    figures_path = folder / "great_figures.json"
    log_path = folder / "great.log"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    # The be_great environment must not import this checkout's packages.
    environment.pop("PYTHONPATH", None)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment, timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
    figures = json.loads(figures_path.read_text()) if figures_path.is_file() else {}
    figures["wall_seconds"] = time.perf_counter() - started
    figures["log"] = str(log_path)
    if timed_out:
        figures["stage_reached"] = figures.get("status", "not started")
        figures["status"] = "timed_out"
        logger.warning("be_great did not finish within %.0f s (stage reached: %s)", timeout, figures["stage_reached"])
        add_progress_rate(figures, log_path)
    elif completed.returncode != 0 and figures.get("status") != "failed":
        figures["status"] = "failed"
        figures.setdefault("error", f"run_great.py exited with code {completed.returncode}; see {log_path}")
    if figures["status"] == "failed":
        logger.warning("be_great failed: %s (log: %s)", figures.get("error"), log_path)
    return figures


def great_progress(log_path):
    """Return ``(valid rows, seconds)`` of the last sampling progress line of be_great's log, or None."""
    last = None
    with open(log_path, errors="replace") as log:
        for line in log:
            for match in GREAT_PROGRESS.finditer(line):
                last = match
    if last is None:
        return None
    hours, minutes, seconds = (int(part) if part else 0 for part in last.groups()[1:])
    return int(last.group(1)), 3600 * hours + 60 * minutes + seconds


def add_progress_rate(figures: dict, log_path) -> dict:
    """Take the sampling rate of a be_great run stopped by the timeout while sampling from its progress log.

    be_great returns its rows only at the end, so a stopped run returns none. Its progress bar
    still counts the rows it had accepted and the sampling time so far. Those rows are counted
    by be_great's own check (every column parsed, numbers numeric), not validated against the
    dictionary, and ``valid_rows_per_second_source`` states this.
    """
    if figures.get("status") != "timed_out" or figures.get("stage_reached") != "trained":
        return figures
    progress = great_progress(log_path) if Path(log_path).is_file() else None
    if progress is None:
        return figures
    rows, seconds = progress
    figures.update(
        progress_valid_rows=rows,
        progress_sample_seconds=seconds,
        valid_rows_per_second=rows / seconds if seconds else math.nan,
        valid_rows_per_second_source="be_great's progress log at the timeout (rows accepted by be_great's own check)",
    )
    return figures


def rescore(path: Path, results_dir: Path) -> dict:
    """Add the progress-log sampling rate to a results file whose be_great run timed out; rewrite it."""
    results = json.loads(Path(path).read_text())
    great = results["methods"].get("be_great", {})
    add_progress_rate(great, great.get("log", ""))
    results["ratios"] = method_ratios(results["methods"])
    write_results(results, results_dir)
    return results


def validate_great_rows(figures: dict, dictionary) -> pd.DataFrame:
    """Validate be_great's returned rows against the dictionary; add the counts to ``figures``.

    Returns
    -------
    pandas.DataFrame
        The valid rows, typed.
    """
    from synthlib.values import convert_values

    returned = pd.read_csv(figures["sampled_csv"], dtype=str, keep_default_na=False)
    absent = [name for name in dictionary.modelled_columns if name not in returned.columns]
    for name in absent:
        returned[name] = GREAT_MISSING
    converted = convert_values(returned[dictionary.modelled_columns], dictionary)
    invalid = converted.reasons.notna()
    figures["n_valid"] = int((~invalid).sum())
    figures["n_invalid_returned"] = int(invalid.sum())
    figures["invalid_reasons"] = converted.reasons[invalid].value_counts().to_dict()
    # NOTE: be_great drops the surplus rows of its last batch before returning any, so they count as
    # not valid here. The rate is then a lower bound.
    figures["valid_rate"] = figures["n_valid"] / figures["n_generated"] if figures.get("n_generated") else math.nan
    return converted.data[~invalid].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Figures


def add_rates_and_quality(figures: dict, train: pd.DataFrame, synthetic: pd.DataFrame, dictionary) -> None:
    """Add valid rows per second and the quality score of ``synthetic`` against ``train`` to ``figures``."""
    from synthlib.fidelity import quality_score

    seconds = figures.get("sample_seconds")
    figures["valid_rows_per_second"] = figures["n_valid"] / seconds if seconds else math.nan
    if len(synthetic) == 0:
        figures.update(quality_score=math.nan, column_shapes=math.nan, column_pair_trends=math.nan)
        return
    quality = quality_score(train, synthetic, dictionary)
    figures.update(
        quality_score=quality.value,
        column_shapes=quality.breakdown["column_shapes"],
        column_pair_trends=quality.breakdown["column_pair_trends"],
    )


def environment() -> dict:
    """Describe the machine and the versions behind the timings."""
    import torch

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        # The cores this process may run on (taskset narrows them).
        "cpus_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "versions": {name: version(name) for name in ("torch", "transformers", "peft")},
    }


# ---------------------------------------------------------------------------------------------
# Orchestration


def baseline_from(path: Path, settings: dict) -> dict:
    """Return be_great's figures from the results file ``path``, after checking its settings match.

    be_great trains in float32 whatever synthlib's precision is, so a synthlib rerun in another
    precision can reuse a baseline run that took an hour.
    """
    earlier = json.loads(Path(path).read_text())
    ignored = {"precision", "timeout", "name"}
    differing = sorted(
        key for key in set(settings) | set(earlier["settings"])
        if key not in ignored and settings.get(key) != earlier["settings"].get(key)
    )
    if differing:
        details = ", ".join(f"{key}: {earlier['settings'].get(key)!r} there, {settings.get(key)!r} here" for key in differing)
        raise SystemExit(f"--baseline-from {path}: its settings differ from this run's ({details}); rerun be_great instead")
    return {**earlier["methods"]["be_great"], "taken_from": Path(path).name}


def compare(settings: dict, folder: Path, great_python: Path, skip_great: bool, baseline=None) -> dict:
    """Run both methods in ``folder`` and return the results mapping written to JSON.

    ``baseline`` (be_great's figures from :func:`baseline_from`) replaces the be_great run.
    """
    machine = environment()
    train, dictionary = load_training_rows(settings)
    cells = text_cells(train, dictionary)
    if settings["model"] == "scratch":
        model_dir = build_start_model(settings, train, dictionary, cells, folder / "start_model")
    else:
        model_dir = REPOSITORY / settings["model"]

    logger.info("Training and sampling with synthlib")
    load_before = os.getloadavg()[0]
    ours, synthetic = run_synthlib(settings, train, dictionary, model_dir, folder / "synthlib_model")
    ours["load_average_before"] = load_before
    add_rates_and_quality(ours, train, synthetic, dictionary)
    methods = {"synthlib": ours}

    if baseline is not None:
        methods["be_great"] = baseline
    elif skip_great:
        methods["be_great"] = {"status": "skipped"}
    else:
        logger.info("Training and sampling with be_great (timeout %.0f s)", settings["timeout"])
        max_length = great_max_length(model_dir, cells)
        inputs = write_great_inputs(cells, dictionary, folder)
        command = great_command(settings, great_python, model_dir, inputs, max_length, folder)
        load_before = os.getloadavg()[0]
        baseline = run_great(command, settings["timeout"], folder)
        baseline["load_average_before"] = load_before
        # be_great 0.0.14 leaves the Trainer at its float32 default.
        baseline["precision"] = "fp32"
        valid = pd.DataFrame()
        if baseline["status"] == "complete":
            valid = validate_great_rows(baseline, dictionary)
            add_rates_and_quality(baseline, train, valid, dictionary)
        methods["be_great"] = baseline

    return {
        "name": settings["name"],
        "settings": settings,
        "n_train_rows": len(train),
        "n_columns": len(dictionary.modelled_columns),
        "methods": methods,
        "ratios": method_ratios(methods),
        "environment": machine,
    }


def write_results(results: dict, results_dir: Path) -> Path:
    """Write the results as ``<results_dir>/<name>.json``; NaN is written as null."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{results['name']}.json"
    path.write_text(json.dumps(_without_nan(results), indent=2, default=str) + "\n")
    return path


def _without_nan(value):
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    if args.rescore is not None:
        results = rescore(args.rescore, args.results_dir)
        print(format_report(results))
        return 0
    if not args.skip_great and args.baseline_from is None and not args.great_python.is_file():
        sys.exit(f"be_great environment not found at {args.great_python}: run `make bench-setup` first, "
                 "or pass --great-python, or --skip-great to run the synthlib side only")
    settings = resolve_settings(args)
    settings["name"] = args.name or result_name(settings)
    baseline = baseline_from(args.baseline_from, settings) if args.baseline_from else None

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="synthlib-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = compare(settings, work_dir, args.great_python, args.skip_great, baseline)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    path = write_results(results, args.results_dir)
    print(format_report(results))
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
