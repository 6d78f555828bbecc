"""Tables of the benchmark results in ``benchmarks/results/``, as plain text and as a book page.

``benchmarks/compare.py`` writes one JSON file per comparison of synthlib with the GReaT
baseline (be_great), and ``benchmarks/sampling_check.py`` one per check of a run's sampler. This
module reads them back, computes synthlib / be_great ratios and renders the tables that the
script prints and that the book's benchmark chapter shows. The files hold aggregate figures
only, never a row of data.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

logger = logging.getLogger(__name__)

METHODS = ("synthlib", "be_great")
# Figures compared as synthlib / be_great, and whether a higher value is better.
RATIO_FIGURES = {
    "seconds_per_epoch": False,
    "valid_rows_per_second": True,
    "valid_rate": True,
    "quality_score": True,
    "column_shapes": True,
    "column_pair_trends": True,
}
# Rows of the comparison table: label, figure key, format.
REPORT_ROWS = (
    ("status", "status", "{}"),
    ("training seconds per epoch", "seconds_per_epoch", "{:.2f}"),
    ("training arithmetic", "precision", "{}"),
    ("sampling seconds", "sample_seconds", "{:.2f}"),
    ("valid rows per second", "valid_rows_per_second", "{:.3g}"),
    ("rows requested", "n_requested", "{}"),
    ("rows returned", "n_returned", "{}"),
    ("sequences generated", "n_generated", "{}"),
    ("valid rows returned", "n_valid", "{}"),
    ("invalid rows returned", "n_invalid_returned", "{}"),
    ("valid-row rate (valid / generated)", "valid_rate", "{:.3f}"),
    ("quality score", "quality_score", "{:.3f}"),
    ("  column shapes", "column_shapes", "{:.3f}"),
    ("  column pair trends", "column_pair_trends", "{:.3f}"),
)
SAMPLING_CHECK_PREFIX = "sampling_check_"


def method_ratios(methods: dict) -> dict:
    """Return synthlib / be_great for each figure of :data:`RATIO_FIGURES`.

    A ratio is None where either side lacks the figure or be_great's value is 0. A ratio below
    1 for ``seconds_per_epoch`` means synthlib trains faster; above 1 for the other figures
    means synthlib scores higher.
    """
    ours, baseline = methods.get("synthlib", {}), methods.get("be_great", {})
    ratios = {}
    for figure in RATIO_FIGURES:
        numerator, denominator = ours.get(figure), baseline.get(figure)
        usable = all(_is_number(value) for value in (numerator, denominator))
        ratios[figure] = numerator / denominator if usable and denominator != 0 else None
    return ratios


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_results(path) -> dict:
    """Read a comparison written by ``benchmarks/compare.py`` and recompute its ratios."""
    results = json.loads(Path(path).read_text())
    results["ratios"] = method_ratios(results["methods"])
    return results


def _cell(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)


def _rows(results: dict) -> list:
    """Return ``(label, synthlib cell, be_great cell, ratio cell)`` per row of :data:`REPORT_ROWS`."""
    methods = results["methods"]
    rows = []
    for label, key, pattern in REPORT_ROWS:
        cells = [_cell(methods.get(method, {}).get(key), pattern) for method in METHODS]
        rows.append((label, *cells, _cell(results["ratios"].get(key), "{:.2f}")))
    return rows


def _title(results: dict) -> str:
    return f"{results['name']}: {results['n_train_rows']} training rows, {results['settings']['epochs']:g} epochs"


def format_report(results: dict) -> str:
    """Return the figures of both methods and their ratios as a plain-text table."""
    lines = [_title(results), f"{'':38}{'synthlib':>14}{'be_great':>14}{'ratio':>10}"]
    for label, ours, baseline, ratio in _rows(results):
        lines.append(f"{label:38}{ours:>14}{baseline:>14}{ratio:>10}")
    return "\n".join(lines)


def _markdown_table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def describe_settings(settings: dict) -> str:
    """Return one sentence naming the data, the starting model and the shared training settings."""
    if settings.get("model") == "scratch":
        model = (
            f"GPT-2 from scratch ({settings['n_layer']} layers, width {settings['n_embd']}, "
            f"vocabulary {settings['vocab_size']})"
        )
    else:
        model = f"the local model `{Path(str(settings.get('model'))).name}`"
    if settings.get("lora"):
        model += " with LoRA adapters"
    rows = f"a {settings['rows']}-row subset of " if settings.get("rows") else ""
    return (
        f"Data: {rows}the `{settings['data']}` training split. Model: {model}. "
        f"Epochs: {settings['epochs']:g}; batch size {settings['batch_size']}, learning rate "
        f"{settings['learning_rate']:g}, {settings['n_samples']} rows requested at temperature "
        f"{settings['temperature']:g}; be_great timeout {settings['timeout']:g} s."
    )


def comparison_section(results: dict) -> str:
    """Return the Markdown section of one comparison: its settings, the table and be_great's status."""
    table = _markdown_table(["figure", "synthlib", "be_great", "synthlib / be_great"], _rows(results))
    parts = [f"## {results['name']}", "", describe_settings(results["settings"]), "", table, ""]
    great = results["methods"].get("be_great", {})
    if great.get("status") == "timed_out":
        parts += [f"be_great was stopped by the timeout at stage `{great.get('stage_reached', 'unknown')}`.", ""]
    if great.get("valid_rows_per_second_source"):
        parts += [
            f"be_great's valid rows per second come from {great['valid_rows_per_second_source']}: "
            f"{great.get('progress_valid_rows')} rows in {great.get('progress_sample_seconds')} s of sampling.",
            "",
        ]
    elif great.get("status") == "failed":
        parts += [f"be_great failed: {great.get('error', 'no message recorded')}.", ""]
    if great.get("taken_from"):
        parts += [f"be_great's figures are those of its run recorded in `{great['taken_from']}`; be_great was "
                  "not run again.", ""]
    parts += _machine_lines(results.get("environment", {}))
    return "\n".join(parts)


def _machine_lines(environment: dict) -> list:
    """Return the sentence on the cores, threads and versions behind the timings, if recorded."""
    if not environment:
        return []
    versions = ", ".join(f"{name} {value}" for name, value in environment.get("versions", {}).items())
    cores = f"{environment.get('cpu_count')} CPU cores"
    usable = environment.get("cpus_usable")
    if usable is not None and usable != environment.get("cpu_count"):
        cores += f", of which the run was pinned to {usable}"
    return [f"Machine: {cores}, {environment.get('torch_threads')} torch threads; {versions}.", ""]


def sampling_check_section(figures: dict) -> str:
    """Return the Markdown section of one sampling check of ``benchmarks/sampling_check.py``."""
    rows = [
        ("rows requested", figures["n_requested"]),
        ("rows returned", figures["n_returned"]),
        ("sequences generated", figures["n_generated"]),
        ("valid-row rate", _cell(figures["valid_rate"], "{:.3f}")),
        ("valid rows per second", _cell(figures["valid_rows_per_second"], "{:.1f}")),
        ("missing rates held at the training rates", "yes" if figures.get("calibrate_missing") else "no"),
        ("columns within 1 point of the training missing rate",
         f"{figures['columns_within_1_point']} of {figures['n_columns']}"),
        ("largest missing-rate gap (points)",
         f"{100 * figures['largest_missing_rate_gap']:.2f} (`{figures['largest_missing_rate_gap_column']}`)"),
    ]
    return "\n".join([f"## Sampling check: run `{figures['run']}`", "", _markdown_table(["figure", "value"], rows), ""])


def _flat_figures(figures: dict, prefix: str = "") -> list:
    """Return ``(name, value)`` for every figure, naming nested ones ``outer.inner``."""
    rows = []
    for key, value in figures.items():
        if isinstance(value, dict):
            rows += _flat_figures(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            rows.append((f"{prefix}{key}", _cell(value, "{:.4g}" if _is_number(value) and isinstance(value, float) else "{}")))
    return rows


def figures_section(name: str, figures: dict) -> str:
    """Return the Markdown section of any other result file (the scale benchmarks): one row per figure."""
    return "\n".join([f"## {name}", "", _markdown_table(["figure", "value"], _flat_figures(figures)), ""])


BENCHMARK_INTRO = """# Benchmarks

These figures come from the scripts in `benchmarks/` of this checkout. They are not recomputed when
the book is built. `benchmarks/compare.py` trains synthlib and the GReaT baseline (be_great 0.0.14)
on the same training rows, from the same starting model, for the same epochs, with the same batch
size, learning rate and seed. Then it requests the same number of rows from each. Every row returned is
validated against the data dictionary. The quality score is `synthlib.fidelity.quality_score`, the
SDMetrics quality report (column shapes and column pair trends), of the valid rows against the
training rows. For the valid-row rate, valid rows per second and the quality scores, a ratio above 1
means synthlib does better. For training seconds per epoch, a ratio below 1 means synthlib trains
faster. `benchmarks/README.md` states what each method keeps as its own default.

Timings depend on the machine and on what else it ran at the time. Each section names the cores
and threads it used.
"""


def benchmark_page(results_dir) -> str:
    """Return the Markdown page of every result file in ``results_dir``.

    Comparisons come first, then sampling checks, then any other figures (the scale benchmarks of
    fidelity and privacy).

    A file that cannot be read is skipped with a warning that names it, so one damaged file does
    not stop the book.
    """
    results_dir = Path(results_dir)
    comparisons, checks, others = [], [], []
    for path in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        try:
            figures = json.loads(path.read_text())
            if "methods" in figures:
                comparisons.append(comparison_section(read_results(path)))
            elif path.name.startswith(SAMPLING_CHECK_PREFIX):
                checks.append(sampling_check_section(figures))
            else:
                others.append(figures_section(path.stem, figures))
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("Skipped the benchmark result %s: %s", path.name, error)
    if not comparisons and not checks and not others:
        return BENCHMARK_INTRO + (
            "\nNo benchmark results are recorded in this checkout. Run the commands of `benchmarks/README.md` "
            "to produce them.\n"
        )
    return "\n".join([BENCHMARK_INTRO, *comparisons, *checks, *others])
