"""Step records and batch reruns: finished notebooks are skipped, a killed batch continues where it stopped."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest
import yaml

from synthlib import steps
from synthlib.artifacts import RunPaths, read_json
from synthlib.batch import batch_table, check_run_names, markdown_table
from synthlib.cli import main
from synthlib.exceptions import ConfigError, NotebookError
from synthlib.pipeline import NOTEBOOKS, run_study
from tiny_runs import TINY_CONFIG, write_config

FIRST_STEPS = list(NOTEBOOKS[:4])
KILL_TIMEOUT_SECONDS = 900


def executed_times(run_dir) -> dict:
    return {path.name: path.stat().st_mtime_ns for path in (run_dir / "notebooks").glob("*.ipynb")}


def copy_run(run_dir, runs_dir):
    target = runs_dir / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def comparable(summary: dict) -> dict:
    """Return a summary without its timings, which differ between two runs with the same seeds."""
    return {key: value for key, value in summary.items() if "seconds" not in key}


@pytest.fixture(scope="module")
def reference(toy_study_files, tmp_path_factory):
    """Run the tiny study once without interruption: its config path and run folder."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_config(folder, toy_study_files)
    return {"config": config, "run_dir": run_study(config, runs_dir=folder / "runs")}


def test_step_hash_changes_with_each_part(tmp_path):
    notebook = tmp_path / "a.ipynb"
    notebook.write_text("{}")
    base = steps.step_hash(notebook, {"x": 1, "run_dir": "/one"}, "p", {"data": "d"})
    assert steps.step_hash(notebook, {"x": 1, "run_dir": "/two"}, "p", {"data": "d"}) == base
    assert steps.step_hash(notebook, {"x": 2, "run_dir": "/one"}, "p", {"data": "d"}) != base
    assert steps.step_hash(notebook, {"x": 1, "run_dir": "/one"}, "q", {"data": "d"}) != base
    assert steps.step_hash(notebook, {"x": 1, "run_dir": "/one"}, "p", {"data": "e"}) != base
    notebook.write_text('{"cells": []}')
    assert steps.step_hash(notebook, {"x": 1, "run_dir": "/one"}, "p", {"data": "d"}) != base


def test_file_digest_of_folder_covers_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"1")
    first = steps.file_digest(tmp_path / "a")
    (tmp_path / "a" / "x.bin").rename(tmp_path / "a" / "y.bin")
    assert steps.file_digest(tmp_path / "a") != first


def test_record_written_whole(tmp_path):
    steps.write_record(tmp_path, "01_preprocessing", "abc", 1.5, notebook="01_preprocessing.ipynb")
    assert steps.recorded_hash(tmp_path, "01_preprocessing") == "abc"
    assert [p.name for p in (tmp_path / "steps").iterdir()] == ["01_preprocessing.json"]
    steps.remove_record(tmp_path, "01_preprocessing")
    assert steps.recorded_hash(tmp_path, "01_preprocessing") is None


@pytest.mark.slow
def test_rerun_skips_finished_steps(reference, tmp_path, caplog):
    run_dir = copy_run(reference["run_dir"], tmp_path / "runs")
    before = executed_times(run_dir)
    with caplog.at_level(logging.INFO, logger="synthlib"):
        run_study(reference["config"], runs_dir=tmp_path / "runs")
    for name in NOTEBOOKS:
        assert f"Skipped {name}.ipynb in {run_dir}: finished before with the same parameters (hash " in caplog.text
    assert "Executing" not in caplog.text
    assert executed_times(run_dir) == before


@pytest.mark.slow
def test_force_executes_finished_steps(reference, tmp_path, caplog):
    run_dir = copy_run(reference["run_dir"], tmp_path / "runs")
    before = executed_times(run_dir)
    argv = ["run", str(reference["config"]), "--runs-dir", str(tmp_path / "runs"), "--no-book", "--force",
            "--steps", "01_preprocessing,02_fine_tuning"]
    with caplog.at_level(logging.INFO, logger="synthlib"):
        assert main(argv) == 0
    assert "Skipped" not in caplog.text
    after = executed_times(run_dir)
    assert after["01_preprocessing.ipynb"] != before["01_preprocessing.ipynb"]
    assert after["02_fine_tuning.ipynb"] != before["02_fine_tuning.ipynb"]
    assert after["03_sampling.ipynb"] == before["03_sampling.ipynb"]


@pytest.mark.slow
def test_changed_parameter_reruns_later_steps(reference, toy_study_files, tmp_path, caplog):
    run_dir = copy_run(reference["run_dir"], tmp_path / "runs")
    old_hash = steps.recorded_hash(run_dir, "03_sampling")
    config = write_config(tmp_path, toy_study_files, sampling={**TINY_CONFIG["sampling"], "temperature": 0.8})
    with caplog.at_level(logging.INFO, logger="synthlib"):
        run_study(config, runs_dir=tmp_path / "runs", steps=FIRST_STEPS)
    assert "Skipped 01_preprocessing.ipynb" in caplog.text
    assert "Skipped 02_fine_tuning.ipynb" in caplog.text
    assert "Executing 03_sampling.ipynb" in caplog.text
    assert "Executing 04_fidelity.ipynb" in caplog.text
    assert steps.recorded_hash(run_dir, "03_sampling") != old_hash


@pytest.mark.slow
def test_failed_step_leaves_no_record(reference, tmp_path):
    run_dir = copy_run(reference["run_dir"], tmp_path / "runs")
    # One batch of 32 attempts cannot give 5,000 valid rows, so sampling fails.
    overrides = {"03_sampling": {"n_samples": 5000, "max_batches": 1}}
    with pytest.raises(NotebookError, match="03_sampling.ipynb failed"):
        run_study(reference["config"], runs_dir=tmp_path / "runs", steps=["03_sampling"], overrides=overrides)
    assert steps.recorded_hash(run_dir, "03_sampling") is None
    assert steps.recorded_hash(run_dir, "02_fine_tuning") is not None


def _kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a started process and every process it started (papermill's kernel runs in its own session)."""
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    for child in children:
        try:
            child.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def interrupted_batch(reference, toy_study_files, tmp_path_factory):
    """Start a batch of a broken and the tiny config, kill it once fine-tuning finished, and start it again."""
    folder = tmp_path_factory.mktemp("batch")
    broken = write_config(folder, toy_study_files, name="broken.yaml", run_name="broken",
                          data={"source": str(folder / "absent.csv"), "dictionary": str(toy_study_files["dictionary"])})
    tiny = write_config(folder, toy_study_files)
    runs_dir = folder / "runs"
    command = [sys.executable, "-m", "synthlib.cli", "batch", str(broken), str(tiny), "--runs-dir", str(runs_dir), "--no-book"]
    record = steps.record_path(runs_dir / "tiny", "02_fine_tuning")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
    while not record.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    running = process.poll() is None
    _kill_tree(process)
    finished_when_killed = sorted(p.stem for p in (runs_dir / "tiny" / "steps").glob("*.json"))
    rerun = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=KILL_TIMEOUT_SECONDS)
    return {
        "running_when_killed": running,
        "finished_when_killed": finished_when_killed,
        "returncode": rerun.returncode,
        "log": rerun.stderr,
        "runs_dir": runs_dir,
        "broken": broken,
    }


@pytest.mark.slow
def test_killed_batch_was_midway(interrupted_batch):
    assert interrupted_batch["running_when_killed"]
    assert interrupted_batch["finished_when_killed"] == ["01_preprocessing", "02_fine_tuning"]


@pytest.mark.slow
def test_killed_batch_rerun_skips_finished(interrupted_batch):
    log = interrupted_batch["log"]
    run_dir = interrupted_batch["runs_dir"] / "tiny"
    assert f"Skipped 01_preprocessing.ipynb in {run_dir}: finished before with the same parameters" in log
    assert f"Skipped 02_fine_tuning.ipynb in {run_dir}: finished before with the same parameters" in log
    assert "Executing 01_preprocessing.ipynb" not in log
    assert "Executing 02_fine_tuning.ipynb" not in log
    assert "Executing 03_sampling.ipynb" in log


@pytest.mark.slow
def test_killed_batch_equals_uninterrupted_run(interrupted_batch, reference):
    resumed = RunPaths(interrupted_batch["runs_dir"] / "tiny")
    uninterrupted = RunPaths(reference["run_dir"])
    pd.testing.assert_frame_equal(pd.read_parquet(resumed.synthetic), pd.read_parquet(uninterrupted.synthetic))
    assert comparable(read_json(resumed.summary)) == comparable(read_json(uninterrupted.summary))


@pytest.mark.slow
def test_batch_exit_names_failed_config(interrupted_batch):
    assert interrupted_batch["returncode"] == 2
    assert f"1 of 2 configurations failed: {interrupted_batch['broken']} (data.source: file not found" in interrupted_batch["log"]


@pytest.mark.slow
def test_batch_summary_rows(interrupted_batch, reference):
    runs_dir = interrupted_batch["runs_dir"]
    table = pd.read_csv(runs_dir / "batch_summary.csv")
    assert list(table["run_name"]) == ["broken", "tiny"]
    broken, tiny = table.iloc[0], table.iloc[1]
    assert broken["status"].startswith("failed: data.source: file not found")
    assert pd.isna(broken["fidelity_quality"])
    summary = read_json(reference["run_dir"] / "summary.json")
    assert tiny["status"] == "finished"
    assert tiny["data_source"] == "toy.csv"
    assert tiny["model"] == "scratch 2x64"
    assert tiny["rows_train"] == summary["rows_train"]
    assert tiny["rows_synthetic"] == 30
    assert tiny["fidelity_quality"] == pytest.approx(summary["fidelity_score"])
    assert tiny["detection_auc"] == pytest.approx(summary["detection_auc"])
    assert tiny["membership_auc"] == pytest.approx(summary["membership_inference_auc"])
    assert tiny["overfitting_protection"] == pytest.approx(summary["overfitting_protection"])
    assert tiny["replication_verdict"] == summary["replication_verdict"]
    assert tiny["mean_ci_overlap"] == pytest.approx(summary["mean_ci_overlap"])
    markdown = (runs_dir / "batch_summary.md").read_text()
    assert markdown.splitlines()[0].startswith("| run_name | config | data_source | model | rows_train |")
    assert "| tiny | tiny.yaml | toy.csv | scratch 2x64 |" in markdown


def test_batch_rejects_shared_run_name(toy_study_files, tmp_path, caplog):
    first = write_config(tmp_path, toy_study_files, name="a.yaml")
    second = write_config(tmp_path, toy_study_files, name="b.yaml")
    with caplog.at_level(logging.ERROR):
        status = main(["batch", str(first), str(second), "--runs-dir", str(tmp_path / "runs"), "--no-book"])
    assert status == 2
    assert "configurations share a run_name and would write into one run folder: 'tiny' in" in caplog.text
    assert not (tmp_path / "runs").exists()


def test_check_run_names_accepts_distinct():
    check_run_names({"a.yaml": {"run_name": "a"}, "b.yaml": {"run_name": "b"}})
    with pytest.raises(ConfigError, match="Give each configuration its own run_name"):
        check_run_names({"a.yaml": {"run_name": "a"}, "b.yaml": {"run_name": "a"}})


def test_batch_table_reads_run_folders(tmp_path):
    from synthlib.batch import BatchRun

    run_dir = tmp_path / "smol"
    run_dir.mkdir()
    config = {"data": {"source": "smart"}, "model": {"kind": "pretrained", "path": "/m/smollm2-135m", "lora": {"r": 8}}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"rows_train": 100, "fidelity_score": 0.81234, "selection_optimal": "smol-seed0"}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    runs = [
        BatchRun(tmp_path / "smol.yaml", "smol", run_dir),
        BatchRun(tmp_path / "bad.yaml", None, None, "invalid configuration:\n- model.kind must be"),
    ]
    table = batch_table(runs)
    assert table.loc[0, "model"] == "smollm2-135m + LoRA"
    assert table.loc[0, "data_source"] == "smart"
    assert table.loc[0, "optimal_candidate"] == "smol-seed0"
    assert table.loc[1, "status"] == "failed: invalid configuration: - model.kind must be"
    lines = markdown_table(table).splitlines()
    assert "| smol | smol.yaml | smart | smollm2-135m + LoRA | 100 |" in lines[2]
    assert "| 0.812 |" in lines[2]
