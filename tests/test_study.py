"""Study steps on a simulated cohort: the truth travels from the simulator to the replication table."""

import json

import pandas as pd
import pytest

from synthlib import study, tables
from synthlib.artifacts import RunPaths
from synthlib.pipeline import REPO_ROOT

SAMS_DICTIONARY = REPO_ROOT / "data_templates" / "sams_cohort.yaml"


@pytest.fixture(scope="module")
def sams_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("sams_run")
    study.prepare_data(run_dir, "sams_cohort", SAMS_DICTIONARY, holdout_fraction=0.5, random_state=0, n_rows=1200)
    paths = RunPaths(run_dir)
    # The holdout half replaces a synthetic table: real rows drawn from the same model.
    pd.read_parquet(paths.holdout).to_parquet(paths.synthetic)
    return run_dir


def test_prepare_writes_truth_for_simulated_source(sams_run):
    truth = json.loads(RunPaths(sams_run).truth.read_text())
    assert truth["name"] == "sams_cohort"
    assert truth["n_rows"] == 1200
    assert truth["models"][0]["name"] == "sams"


def test_replicate_uses_true_model_by_default(sams_run):
    report = study.replicate(sams_run)
    truth = study.true_model(sams_run)
    assert report.real_fit.formula == truth["formula"]
    assert report.real_fit.family == "logistic"


def test_replicate_reports_truth_coverage(sams_run):
    report = study.replicate(sams_run)
    assert "truth" in report.comparison
    assert report.comparison["truth"].notna().all()
    assert 0.5 <= report.summary["truth_coverage_real"] <= 1
    assert 0.5 <= report.summary["truth_coverage_synthetic"] <= 1


def test_comparison_table_shows_truth(sams_run):
    table = tables.comparison_table(study.replicate(sams_run))
    assert "real CI covers truth" in table.columns
    assert "therapy_modified" in table.index


def test_other_formula_has_no_truth(sams_run):
    report = study.replicate(sams_run, formula="sams ~ therapy_modified + diabetes", family="logistic")
    assert "truth" not in report.comparison


def test_csv_source_removes_stale_truth(sams_run, tmp_path):
    paths = RunPaths(sams_run)
    csv = tmp_path / "cohort.csv"
    study.simulate_cohort("sams_cohort", n_rows=100, random_state=1).data.to_csv(csv, index=False)
    study.prepare_data(sams_run, str(csv), SAMS_DICTIONARY, random_state=0)
    assert not paths.truth.exists()
