"""Sample N rows from a trained run and print validity, speed and per-column missing rates.

Usage::

    .venv/bin/python benchmarks/sampling_check.py runs/smart --n-samples 10000

The synthetic rows are validated against the run's dictionary, and each column's missing rate is
compared with that of the training split. Figures are printed and written as JSON next to this
script, in ``results/sampling_check_<run name>.json``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from synthlib.artifacts import RunPaths, write_json
from synthlib.conditions import complete_columns, observed_levels
from synthlib.missing_rates import training_missing_rates
from synthlib.models import load_trained_model
from synthlib.sampling import sample
from synthlib.study import load_run
from synthlib.validation import validate_table

logger = logging.getLogger("sampling_check")
RESULTS = Path(__file__).resolve().parent / "results"


def missing_rate_gaps(train, synthetic) -> dict:
    """Return, per column, the missing rates of the training split and of the synthetic table."""
    return {
        name: {"train": float(train[name].isna().mean()), "synthetic": float(synthetic[name].isna().mean())}
        for name in train.columns
    }


def main(argv=None) -> dict:
    """Run the check and return its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a finished run folder, for example runs/smart")
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--no-calibrate", action="store_true",
        help="sample without holding the missing rates at the training rates (synthlib.missing_rates)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    paths = RunPaths(Path(args.run_dir).resolve())
    run = load_run(paths.run_dir)
    model, tokenizer = load_trained_model(paths.model_dir)
    started = time.perf_counter()
    result = sample(
        model, tokenizer, run.dictionary, args.n_samples, batch_size=args.batch_size,
        random_state=args.random_state, progress=False,
        training_levels=observed_levels(run.train, run.dictionary),
        complete_columns=complete_columns(run.train),
        missing_rates=None if args.no_calibrate else training_missing_rates(run.train, run.dictionary.modelled_columns),
    )
    seconds = time.perf_counter() - started
    validate_table(result.synthetic, run.dictionary)
    gaps = missing_rate_gaps(run.train, result.synthetic)
    largest = max(gaps, key=lambda name: abs(gaps[name]["synthetic"] - gaps[name]["train"]))
    figures = {
        "run": paths.run_dir.name,
        "calibrate_missing": not args.no_calibrate,
        "n_requested": args.n_samples,
        "n_returned": len(result.synthetic),
        "n_generated": result.n_generated,
        "valid_rate": result.valid_rate,
        "rejections": result.rejections,
        "seconds": seconds,
        "valid_rows_per_second": len(result.synthetic) / seconds,
        "largest_missing_rate_gap_column": largest,
        "largest_missing_rate_gap": abs(gaps[largest]["synthetic"] - gaps[largest]["train"]),
        "columns_within_1_point": sum(abs(g["synthetic"] - g["train"]) <= 0.01 for g in gaps.values()),
        "n_columns": len(gaps),
        "missing_rates": gaps,
    }
    for key, value in figures.items():
        if key != "missing_rates":
            logger.info("%s: %s", key, round(value, 4) if isinstance(value, float) else value)
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"sampling_check_{paths.run_dir.name}.json"
    write_json(output, figures)
    logger.info("written to %s", output)
    return figures


if __name__ == "__main__":
    main()
