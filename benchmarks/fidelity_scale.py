"""Time every fidelity and utility metric on a large simulated table and print the seconds per step.

Usage::

    .venv/bin/python benchmarks/fidelity_scale.py                 # 100,000 rows x 40 columns
    .venv/bin/python benchmarks/fidelity_scale.py --rows 20000    # a quicker run

The real and synthetic tables each have ``--rows`` rows and 40 modelled columns. There are
16 numeric columns (4 with 10% missing values), 6 integer (2 with 5% missing) and 2 dates
(1 with 5% missing). There are 8 categorical columns with 3 to 6 levels, each with a rare level
and one with 5% missing, 7 binary columns and a binary outcome. One latent factor drives them
all, so that pairs are correlated. The synthetic table
is drawn from the same simulator with another seed and a small shift. The holdout for the utility
models has a fifth as many rows.

:func:`synthlib.fidelity_report.compute_fidelity_report` runs every metric as the study does.
The script prints the seconds of each step and the total, and writes them as JSON to
``results/fidelity_scale_<rows>.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from synthlib.artifacts import write_json
from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.exceptions import IncomputableMetricWarning
from synthlib.fidelity_report import compute_fidelity_report, fidelity_figures

logger = logging.getLogger("fidelity_scale")
RESULTS = Path(__file__).resolve().parent / "results"
N_NUMERIC, N_INTEGER, N_DATE, N_CATEGORICAL, N_BINARY = 16, 6, 2, 8, 7


def _numeric_columns(rng, latent, shift) -> tuple:
    columns, specs = {}, []
    for index in range(N_NUMERIC):
        values = 50.0 + 10.0 * (0.6 * latent + rng.normal(size=latent.size) + shift * (index % 3 == 0))
        if index < 4:
            values[rng.random(latent.size) < 0.1] = np.nan
        columns[f"numeric_{index}"] = values
        specs.append(ColumnSpec(f"numeric_{index}", "numeric"))
    for index in range(N_INTEGER):
        values = pd.array(rng.poisson(3.0 + (latent > 0)), dtype="Int64")
        if index < 2:
            values[rng.random(latent.size) < 0.05] = pd.NA
        columns[f"integer_{index}"] = values
        specs.append(ColumnSpec(f"integer_{index}", "integer"))
    for index in range(N_DATE):
        days = pd.to_timedelta(rng.integers(0, 5000, latent.size) + (latent * 100).astype(int), unit="D")
        values = pd.Series(pd.Timestamp("2000-01-01") + days)
        if index == 0:
            values[rng.random(latent.size) < 0.05] = pd.NaT
        columns[f"date_{index}"] = values.astype("datetime64[ns]").to_numpy()
        specs.append(ColumnSpec(f"date_{index}", "date"))
    return columns, specs


def _discrete_columns(rng, latent) -> tuple:
    columns, specs = {}, []
    for index in range(N_CATEGORICAL):
        n_levels = 3 + index % 4
        levels = tuple(f"level_{level}" for level in range(n_levels))
        shares = np.r_[np.full(n_levels - 1, 0.98 / (n_levels - 1)), 0.02]
        values = pd.Categorical(rng.choice(levels, latent.size, p=shares), categories=levels)
        if index == 0:
            values[rng.random(latent.size) < 0.05] = np.nan
        columns[f"categorical_{index}"] = values
        specs.append(ColumnSpec(f"categorical_{index}", "categorical", levels=levels))
    for index in range(N_BINARY):
        probability = 1.0 / (1.0 + np.exp(-latent - 0.2 * index))
        columns[f"binary_{index}"] = pd.array((rng.random(latent.size) < probability).astype(int), dtype="Int64")
        specs.append(ColumnSpec(f"binary_{index}", "binary"))
    probability = 1.0 / (1.0 + np.exp(-latent))
    columns["outcome"] = pd.array((rng.random(latent.size) < probability).astype(int), dtype="Int64")
    specs.append(ColumnSpec("outcome", "binary", role="outcome"))
    return columns, specs


def simulate_table(n_rows: int, random_state: int, shift: float = 0.0) -> tuple:
    """Return a typed table of 40 modelled columns and its data dictionary."""
    rng = np.random.default_rng(random_state)
    latent = rng.normal(size=n_rows)
    numeric, numeric_specs = _numeric_columns(rng, latent, shift)
    discrete, discrete_specs = _discrete_columns(rng, latent)
    dictionary = DataDictionary(name="fidelity_scale", columns=tuple(numeric_specs + discrete_specs))
    return pd.DataFrame({**numeric, **discrete}), dictionary


def main(argv=None) -> dict:
    """Run the benchmark and return its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the real and of the synthetic table")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="threads for the permuted trees of the CART pMSE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    real, dictionary = simulate_table(args.rows, args.random_state)
    synthetic, _ = simulate_table(args.rows, args.random_state + 1, shift=0.05)
    holdout, _ = simulate_table(max(args.rows // 5, 10), args.random_state + 2)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IncomputableMetricWarning)
        report = compute_fidelity_report(
            real, synthetic, holdout, dictionary, random_state=args.random_state, n_jobs=args.jobs
        )
    total = time.perf_counter() - started
    for warning in caught:
        logger.info("warning: %s", warning.message)

    figures = fidelity_figures(report)
    result = {
        "rows": args.rows,
        "columns": len(dictionary.modelled_columns),
        "cpu_count": os.cpu_count(),
        "jobs": args.jobs,
        "total_seconds": total,
        "seconds": report.seconds,
        "quality_score": figures["quality_score"],
        "s_pmse_logit": figures["s_pmse_logit"],
        "s_pmse_cart": figures["s_pmse_cart"],
        "n_significant_variables": figures["n_significant_variables"],
    }
    path = write_json(RESULTS / f"fidelity_scale_{args.rows}.json", result)
    for step, seconds in report.seconds.items():
        print(f"{step:28s} {seconds:8.1f} s")
    print(f"{'total':28s} {total:8.1f} s  ({args.rows:,} rows x {result['columns']} columns; written to {path})")
    return json.loads(path.read_text())


if __name__ == "__main__":
    main()
