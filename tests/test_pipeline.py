"""End-to-end: every notebook executed by papermill on a small cohort, then a real Jupyter Book build."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from synthlib.artifacts import RunPaths
from synthlib.audit import find_real_rows
from synthlib.config import load_config
from synthlib.dictionary import read_dictionary
from synthlib.book import build_book, describe_run
from synthlib.exceptions import ConfigError, DisclosureError
from synthlib.pipeline import NOTEBOOKS, check_no_real_rows, run_study

pytestmark = pytest.mark.slow

SUMMARY_KEYS = [
    "rows_requested",
    "rows_returned",
    "valid_row_rate",
    "training_seconds",
    "fidelity_score",
    "dcr_synthetic_train_median",
    "dcr_holdout_train_median",
    "mean_ci_overlap",
]


@pytest.fixture(scope="module")
def toy_run(toy_study_files):
    """Run the whole study once on the toy cohort; shared by the tests of this module."""
    return run_study(toy_study_files["config"], runs_dir=toy_study_files["dir"] / "runs")


def test_run_executes_every_notebook(toy_run):
    executed = sorted(p.stem for p in (toy_run / "notebooks").glob("*.ipynb"))
    assert executed == list(NOTEBOOKS)


def test_run_writes_summary(toy_run):
    summary = json.loads((toy_run / "summary.json").read_text())
    for key in SUMMARY_KEYS:
        assert summary[key] is not None, key
    assert summary["rows_requested"] == 150
    assert summary["rows_returned"] == 150
    assert 0 < summary["valid_row_rate"] <= 1


def test_synthetic_rows_valid_against_dictionary(toy_run):
    paths = RunPaths(toy_run)
    from synthlib.validation import load_table

    synthetic = load_table(paths.synthetic_csv, read_dictionary(paths.dictionary))
    assert len(synthetic) == 150


def test_executed_notebooks_show_no_real_row(toy_run):
    paths = RunPaths(toy_run)
    assert find_real_rows(sorted(paths.notebooks_dir.glob("*.ipynb")), paths) == []


def test_audit_finds_displayed_real_row(toy_run, tmp_path):
    paths = RunPaths(toy_run)
    train = pd.read_parquet(paths.train)
    notebook = {
        "cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": train.head(3).to_string()}]}]
    }
    leaking = tmp_path / "leak.ipynb"
    leaking.write_text(json.dumps(notebook))
    assert len(find_real_rows([leaking], paths)) >= 1


def test_audit_ignores_aggregates(toy_run, tmp_path):
    paths = RunPaths(toy_run)
    train = pd.read_parquet(paths.train)
    text = train.describe().to_string()
    notebook = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": text}]}]}
    clean = tmp_path / "clean.ipynb"
    clean.write_text(json.dumps(notebook))
    assert find_real_rows([clean], paths) == []


def test_replication_fits_on_both_sides(toy_run):
    paths = RunPaths(toy_run)
    results = json.loads(paths.step_results("replication").read_text())
    terms = [row["term"] for row in results["coefficients"]]
    assert "age" in terms
    assert "ldl_c" in terms


def test_book_builds_from_run(toy_run, tmp_path):
    book = tmp_path / "book"
    index = build_book(toy_run, book_dir=book)
    assert index == book / "_build" / "html" / "index.html"
    html = book / "_build" / "html" / "chapters"
    for name in NOTEBOOKS:
        page = (html / f"{name}.html").read_text()
        assert "<figcaption" in page, name
    intro = (index.parent / "intro.html").read_text()
    assert "This book was built from the run" in intro
    assert "toy.csv" in intro
    assert str(toy_run.parent) not in intro
    benchmarks = (html / "benchmarks.html").read_text()
    assert "synthlib / be_great" in benchmarks
    assert "Sampling check" in benchmarks


def test_book_of_unfinished_run_names_missing_notebooks(toy_run, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(toy_run, partial, ignore=shutil.ignore_patterns("05_privacy.ipynb", "06_*", "book"))
    with pytest.raises(ConfigError, match=r"05_privacy.ipynb, 06_clinical_replication.ipynb missing\): run `synthlib run"):
        build_book(partial, book_dir=tmp_path / "book")


def test_load_config_resolves_relative_paths(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "x.yaml").write_text("run_name: x\ndata: {source: data/x.csv, dictionary: d.yaml}\n")
    config = load_config(configs / "x.yaml")
    assert Path(config["data"]["source"]) == (tmp_path / "data" / "x.csv").resolve()


def test_check_no_real_rows_raises_on_leak(toy_run, tmp_path):
    paths = RunPaths(toy_run)
    copy = RunPaths(tmp_path / "run")
    copy.notebooks_dir.mkdir(parents=True)
    copy.train.parent.mkdir(parents=True)
    shutil.copyfile(paths.train, copy.train)
    shutil.copyfile(paths.holdout, copy.holdout)
    train = pd.read_parquet(paths.train)
    notebook = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": train.to_string()}]}]}
    (copy.notebooks_dir / "leak.ipynb").write_text(json.dumps(notebook))
    with pytest.raises(DisclosureError, match="rows of the real input"):
        check_no_real_rows(copy)


def test_audit_finds_real_row_in_html_page(toy_run, tmp_path):
    paths = RunPaths(toy_run)
    train = pd.read_parquet(paths.train)
    page = tmp_path / "page.html"
    page.write_text("<table>" + train.head(2).to_html() + "</table>")
    assert len(find_real_rows([page], paths)) >= 1
