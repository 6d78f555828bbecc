"""Time the distance to closest record (DCR) of N synthetic rows against N training rows.

Usage::

    .venv/bin/python benchmarks/privacy_scale.py --rows 50000 --columns 40

Both tables are drawn independently from one seeded generator of mixed columns (numeric,
integer, date, categorical and binary, about 5 % missing). The search computes the distance of
every pair of rows, so its time depends on the row and column counts, not on the values. The
script prints the wall-clock seconds of
:func:`synthlib.privacy.nearest_neighbours` (the DCR search) and the CPU seconds of all its
threads. It also prints the warm-up time on 50 rows, where numba compiles the kernel or loads it
from its cache, the peak memory traced by ``tracemalloc`` during the search and the peak
resident memory of the whole process. The CPU seconds over the wall-clock seconds show how much of the
cores the search got on a shared machine. The figures are also written as JSON to
``results/privacy_scale_<rows>x<columns>.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from synthlib.artifacts import write_json
from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.privacy import nearest_neighbours

logger = logging.getLogger("privacy_scale")
RESULTS = Path(__file__).resolve().parent / "results"
# Share of each column type among the columns, in this order.
TYPE_MIX = (("numeric", 0.4), ("integer", 0.2), ("date", 0.1), ("categorical", 0.2), ("binary", 0.1))
LEVELS = ("a", "b", "c", "d", "e")


def mixed_dictionary(n_columns: int) -> DataDictionary:
    """Return a dictionary of ``n_columns`` columns with the types of :data:`TYPE_MIX`."""
    types = []
    for column_type, share in TYPE_MIX:
        types += [column_type] * round(share * n_columns)
    types = (types + ["numeric"] * n_columns)[:n_columns]
    columns = []
    for position, column_type in enumerate(types):
        levels = LEVELS if column_type == "categorical" else None
        columns.append(ColumnSpec(f"{column_type}_{position}", column_type, levels=levels, decimals=2))
    return DataDictionary("privacy_scale", tuple(columns))


def random_table(dictionary: DataDictionary, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw a typed table with about 5 % missing values in every column."""
    data = {}
    for spec in dictionary.columns:
        missing = rng.random(n_rows) < 0.05
        if spec.type == "numeric":
            values = pd.Series(rng.normal(100.0, 15.0, n_rows).round(2)).mask(missing)
        elif spec.type == "integer":
            values = pd.Series(pd.array(rng.integers(18, 90, n_rows), dtype="Int64")).mask(missing)
        elif spec.type == "binary":
            values = pd.Series(pd.array(rng.integers(0, 2, n_rows), dtype="Int64")).mask(missing)
        elif spec.type == "date":
            days = pd.to_timedelta(rng.integers(0, 3650, n_rows), unit="D")
            values = pd.Series(pd.Timestamp("2015-01-01") + days).mask(missing)
        else:
            values = pd.Series(pd.Categorical(rng.choice(LEVELS, n_rows), categories=LEVELS)).mask(missing)
        data[spec.name] = values
    return pd.DataFrame(data)


def peak_rss_mb() -> float:
    """Return the peak resident memory of this process in MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> dict:
    """Run the benchmark and return its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="rows of each table (default 50000)")
    parser.add_argument("--columns", type=int, default=40, help="mixed columns (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator (default 0)")
    parser.add_argument("--engine", choices=("auto", "numba", "numpy"), default="auto",
                        help="nearest-neighbour engine (default auto: numba when installed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    dictionary = mixed_dictionary(args.columns)
    rng = np.random.default_rng(args.seed)
    synthetic = random_table(dictionary, args.rows, rng)
    train = random_table(dictionary, args.rows, rng)

    started = time.perf_counter()
    nearest_neighbours(synthetic.head(50), train.head(50), dictionary, engine=args.engine)
    warm_up_seconds = time.perf_counter() - started

    tracemalloc.start()
    cpu_started = time.process_time()
    started = time.perf_counter()
    result = nearest_neighbours(synthetic, train, dictionary, engine=args.engine)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    figures = {
        "rows_synthetic": args.rows,
        "rows_train": args.rows,
        "columns": args.columns,
        "engine": args.engine,
        "seconds": round(seconds, 2),
        "cpu_seconds_all_threads": round(cpu_seconds, 2),
        "warm_up_seconds_50_rows": round(warm_up_seconds, 2),
        "traced_peak_mb_during_search": round(traced_peak_mb, 1),
        "process_peak_rss_mb": round(peak_rss_mb(), 1),
        "dcr_median": float(np.median(result.distance)),
        "cpu_count": os.cpu_count(),
        "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default (one per core)"),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "machine": platform.processor() or platform.machine(),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    write_json(RESULTS / f"privacy_scale_{args.rows}x{args.columns}.json", figures)
    return figures


if __name__ == "__main__":
    main()
