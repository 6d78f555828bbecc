"""Tests of benchmarks/compare.py and benchmarks/run_great.py that need no be_great environment."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from synthlib import benchmark_report
from synthlib.dictionary import DataDictionary

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
TINY_MODEL = ["--n-layer", "2", "--n-embd", "64", "--n-head", "2", "--vocab-size", "512"]

DICTIONARY = DataDictionary.from_mapping(
    {
        "name": "bench_toy",
        "columns": [
            {"name": "age", "type": "integer", "range": [18, 100]},
            {"name": "sex", "type": "categorical", "levels": ["male", "female"]},
            {"name": "ldl_c", "type": "numeric", "range": [0.5, 10], "decimals": 1},
            {"name": "smoker", "type": "binary"},
        ],
    }
)


def load_script(name):
    """Import a script of benchmarks/ as a module; the folder is not a package."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compare():
    return load_script("compare")


@pytest.fixture(scope="module")
def run_great():
    return load_script("run_great")


def method_figures(**overrides):
    figures = {
        "status": "complete",
        "seconds_per_epoch": 2.0,
        "valid_rows_per_second": 10.0,
        "valid_rate": 0.9,
        "quality_score": 0.8,
        "column_shapes": 0.85,
        "column_pair_trends": 0.75,
    }
    return {**figures, **overrides}


def test_method_ratios_divide_synthlib_by_baseline():
    methods = {
        "synthlib": method_figures(seconds_per_epoch=1.0, valid_rows_per_second=40.0, valid_rate=1.0),
        "be_great": method_figures(seconds_per_epoch=4.0, valid_rows_per_second=10.0, valid_rate=0.5),
    }
    ratios = benchmark_report.method_ratios(methods)
    assert ratios["seconds_per_epoch"] == pytest.approx(0.25)
    assert ratios["valid_rows_per_second"] == pytest.approx(4.0)
    assert ratios["valid_rate"] == pytest.approx(2.0)
    assert ratios["quality_score"] == pytest.approx(1.0)
    assert set(ratios) == set(benchmark_report.RATIO_FIGURES)


def test_method_ratios_missing_or_zero_baseline():
    methods = {
        "synthlib": method_figures(),
        "be_great": method_figures(valid_rows_per_second=0.0, quality_score=None, valid_rate=math.nan),
    }
    ratios = benchmark_report.method_ratios(methods)
    assert ratios["valid_rows_per_second"] is None
    assert ratios["quality_score"] is None
    assert ratios["valid_rate"] is None
    assert ratios["seconds_per_epoch"] == pytest.approx(1.0)


def test_method_ratios_skipped_baseline():
    ratios = benchmark_report.method_ratios({"synthlib": method_figures(), "be_great": {"status": "skipped"}})
    assert all(value is None for value in ratios.values())


def test_read_results_recomputes_ratios(tmp_path):
    path = tmp_path / "fixed.json"
    results = {
        "name": "fixed",
        "settings": {"epochs": 2},
        "n_train_rows": 100,
        "methods": {
            "synthlib": method_figures(seconds_per_epoch=3.0),
            "be_great": method_figures(seconds_per_epoch=6.0, status="timed_out"),
        },
        "ratios": {"seconds_per_epoch": 123.0},
    }
    path.write_text(json.dumps(results))
    read = benchmark_report.read_results(path)
    assert read["ratios"]["seconds_per_epoch"] == pytest.approx(0.5)
    assert read["methods"]["be_great"]["status"] == "timed_out"


def test_format_report_marks_missing_figures():
    methods = {"synthlib": method_figures(n_requested=20), "be_great": {"status": "timed_out"}}
    results = {
        "name": "fixed",
        "settings": {"epochs": 1},
        "n_train_rows": 60,
        "methods": methods,
        "ratios": benchmark_report.method_ratios(methods),
    }
    report = benchmark_report.format_report(results)
    status_line = next(line for line in report.splitlines() if line.startswith("status"))
    quality_line = next(line for line in report.splitlines() if line.startswith("quality score"))
    assert "timed_out" in status_line
    assert quality_line.split()[-3:] == ["0.800", "n/a", "n/a"]


def test_text_cells_use_dictionary_precision(compare):
    typed = pd.DataFrame(
        {
            "age": pd.array([64, None], dtype="Int64"),
            "sex": pd.Categorical(["male", None], categories=["male", "female"]),
            "ldl_c": [3.14159, None],
            "smoker": pd.array([1, 0], dtype="Int64"),
        }
    )
    cells = compare.text_cells(typed, DICTIONARY)
    assert cells.iloc[0].tolist() == ["64", "male", "3.1", "1"]
    assert cells.iloc[1].tolist() == ["", "", "", "0"]


def test_great_dtypes_follow_declared_types(compare):
    assert compare.great_dtypes(DICTIONARY) == {
        "age": "Int64", "sex": "string", "ldl_c": "float64", "smoker": "Int64"
    }


def test_great_texts_write_missing_as_none(compare):
    cells = pd.DataFrame({"age": ["64"], "sex": [""]})
    assert compare.great_texts(cells) == ["age is 64, sex is None"]


def test_validate_great_rows_counts_invalid(compare, tmp_path):
    # Rows as be_great writes them: numbers as floats, missing cells empty.
    sampled = tmp_path / "great_sampled.csv"
    sampled.write_text(
        "age,sex,ldl_c,smoker\n"
        "64.0,male,3.1,1.0\n"
        "70.0,female,,0.0\n"
        "150.0,male,3.0,0.0\n"
        "55.5,male,3.0,0.0\n"
        "60.0,unknown,3.0,1.0\n"
    )
    figures = {"sampled_csv": str(sampled), "n_generated": 10}
    valid = compare.validate_great_rows(figures, DICTIONARY)
    assert figures["n_valid"] == 2
    assert figures["n_invalid_returned"] == 3
    assert figures["valid_rate"] == pytest.approx(0.2)
    assert figures["invalid_reasons"] == {
        "above the maximum 100 in column age": 1,
        "not a whole number in column age": 1,
        "not a declared level in column sex": 1,
    }
    assert valid["age"].tolist() == [64, 70]
    assert valid["ldl_c"].isna().tolist() == [False, True]


def test_run_great_records_timeout(compare, tmp_path):
    # The child writes its training figures, then outlives the timeout.
    script = (
        "import json, pathlib, time; "
        f"pathlib.Path({str(tmp_path / 'great_figures.json')!r}).write_text(json.dumps("
        "{'status': 'trained', 'train_seconds': 1.5})); time.sleep(30)"
    )
    figures = compare.run_great([sys.executable, "-c", script], timeout=3, folder=tmp_path)
    assert figures["status"] == "timed_out"
    assert figures["stage_reached"] == "trained"
    assert figures["train_seconds"] == 1.5
    assert figures["wall_seconds"] < 30


def test_run_great_records_failure(compare, tmp_path):
    figures = compare.run_great([sys.executable, "-c", "raise SystemExit(3)"], timeout=60, folder=tmp_path)
    assert figures["status"] == "failed"
    assert "exited with code 3" in figures["error"]


def test_run_great_rejects_zero_epochs(run_great, tmp_path):
    arguments = ["--train", "t.csv", "--model", "m", "--epochs", "0", "--n-samples", "5", "--max-length", "64",
                 "--output", str(tmp_path / "o.json")]
    with pytest.raises(SystemExit):
        run_great.parse_args(arguments)


def test_decode_skips_padding_tokens(run_great):
    from synthlib.models import train_row_tokenizer

    class Great:
        tokenizer = train_row_tokenizer(["age is 64, sex is male"] * 5, vocab_size=300)

    great = Great()
    ids = great.tokenizer("<|pad|><|pad|>age is 64, sex is male")["input_ids"]
    run_great.skip_special_tokens_in_decode(great)
    assert great.tokenizer.decode(ids) == "age is 64, sex is male"


def test_compare_rejects_missing_model_dir(compare, tmp_path):
    with pytest.raises(SystemExit):
        compare.parse_args(["--model", str(tmp_path)])


@pytest.mark.slow
def test_synthlib_side_writes_results(compare, tmp_path):
    arguments = ["--data", "smart", "--rows", "60", "--epochs", "1", "--n-samples", "20", *TINY_MODEL,
                 "--skip-great", "--name", "synthlib_only", "--results-dir", str(tmp_path)]
    assert compare.main(arguments) == 0
    results = json.loads((tmp_path / "synthlib_only.json").read_text())
    assert set(results) == {"name", "settings", "n_train_rows", "n_columns", "methods", "ratios", "environment"}
    assert results["n_train_rows"] == 60
    ours = results["methods"]["synthlib"]
    for key in ("seconds_per_epoch", "valid_rows_per_second", "valid_rate", "quality_score",
                "column_shapes", "column_pair_trends", "n_requested", "n_returned"):
        assert key in ours
    assert ours["n_requested"] == 20
    assert ours["n_returned"] == 20
    assert 0 <= ours["quality_score"] <= 1
    assert results["methods"]["be_great"] == {"status": "skipped"}
    assert results["settings"]["dictionary"] == "data_templates/smart.yaml"


def test_sampling_check_missing_rates_per_column():
    check = load_script("sampling_check")
    train = pd.DataFrame({"age": [40, None, 60, None], "sex": ["male", "female", None, "male"]})
    synthetic = pd.DataFrame({"age": [50, 51, None, 53], "sex": ["male", "male", "female", "female"]})
    gaps = check.missing_rate_gaps(train, synthetic)
    assert gaps["age"] == {"train": 0.5, "synthetic": 0.25}
    assert gaps["sex"] == {"train": 0.25, "synthetic": 0.0}


def comparison_results(**great):
    methods = {"synthlib": method_figures(n_requested=500, n_returned=500), "be_great": method_figures(**great)}
    return {
        "name": "smart_scratch_all_4ep",
        "settings": {
            "data": "smart", "rows": None, "model": "scratch", "n_layer": 4, "n_embd": 256, "vocab_size": 2048,
            "lora": False, "epochs": 4.0, "batch_size": 16, "learning_rate": 1e-3, "n_samples": 500,
            "temperature": 1.0, "timeout": 3600.0,
        },
        "n_train_rows": 3098,
        "methods": methods,
        "ratios": {},
        "environment": {"cpu_count": 2, "torch_threads": 2, "versions": {"torch": "2.13.0+cpu"}},
    }


def sampling_check_figures():
    return {
        "run": "smart", "calibrate_missing": True, "n_requested": 10000, "n_returned": 10000, "n_generated": 10240,
        "valid_rate": 1.0, "valid_rows_per_second": 38.2, "columns_within_1_point": 28, "n_columns": 28,
        "largest_missing_rate_gap": 0.0045, "largest_missing_rate_gap_column": "diabetes",
    }


def test_benchmark_page_tables(tmp_path):
    (tmp_path / "smart_scratch_all_4ep.json").write_text(json.dumps(comparison_results(seconds_per_epoch=4.0)))
    (tmp_path / "sampling_check_smart.json").write_text(json.dumps(sampling_check_figures()))
    page = benchmark_report.benchmark_page(tmp_path)
    assert page.startswith("# Benchmarks")
    assert "## smart_scratch_all_4ep" in page
    assert "| training seconds per epoch | 2.00 | 4.00 | 0.50 |" in page
    assert "GPT-2 from scratch (4 layers, width 256, vocabulary 2048)" in page
    assert "## Sampling check: run `smart`" in page
    assert "| columns within 1 point of the training missing rate | 28 of 28 |" in page
    assert "| largest missing-rate gap (points) | 0.45 (`diabetes`) |" in page
    assert page.index("## smart_scratch_all_4ep") < page.index("## Sampling check")


def test_benchmark_page_names_timeout(tmp_path):
    results = comparison_results(status="timed_out", stage_reached="trained", quality_score=None)
    (tmp_path / "timed.json").write_text(json.dumps(results))
    page = benchmark_report.benchmark_page(tmp_path)
    assert "stopped by the timeout at stage `trained`" in page
    assert "| quality score | 0.800 | n/a | n/a |" in page


def test_benchmark_page_without_results(tmp_path):
    for folder in (tmp_path, tmp_path / "absent"):
        page = benchmark_report.benchmark_page(folder)
        assert "No benchmark results are recorded" in page


def test_benchmark_page_skips_damaged_file(tmp_path, caplog):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "sampling_check_smart.json").write_text(json.dumps(sampling_check_figures()))
    page = benchmark_report.benchmark_page(tmp_path)
    assert "## Sampling check" in page
    assert "broken.json" in caplog.text


def test_recorded_results_render():
    page = benchmark_report.benchmark_page(BENCHMARKS / "results")
    assert page.count("## ") == len(list((BENCHMARKS / "results").glob("*.json")))


def test_benchmark_page_other_figures(tmp_path):
    figures = {"rows": 100000, "total_seconds": 41.18261, "seconds": {"detection": 5.9213}, "s_pmse_cart": None}
    (tmp_path / "fidelity_scale_100000.json").write_text(json.dumps(figures))
    page = benchmark_report.benchmark_page(tmp_path)
    assert "## fidelity_scale_100000" in page
    assert "| total_seconds | 41.18 |" in page
    assert "| seconds.detection | 5.921 |" in page
    assert "| s_pmse_cart | n/a |" in page
    assert "| rows | 100000 |" in page


def test_great_progress_reads_last_line(compare, tmp_path):
    log = tmp_path / "great.log"
    log.write_text("[Training] 100.0% (776/776) [20:11]\n[chug] 2.2% (11/500) [3:50]\r[chug] 2.6% (13/500) [5:23]\n")
    assert compare.great_progress(log) == (13, 323)
    log.write_text("[chug] 90.0% (450/500) [1:02:03]\n")
    assert compare.great_progress(log) == (450, 3723)
    log.write_text("[Training] 10.0% (1/10) [0:05]\n")
    assert compare.great_progress(log) is None


def test_progress_rate_only_for_timeout_while_sampling(compare, tmp_path):
    log = tmp_path / "great.log"
    log.write_text("[chug] 2.6% (13/500) [5:23]\n")
    sampling = compare.add_progress_rate({"status": "timed_out", "stage_reached": "trained"}, log)
    assert sampling["valid_rows_per_second"] == pytest.approx(13 / 323)
    assert sampling["progress_valid_rows"] == 13
    assert "progress log" in sampling["valid_rows_per_second_source"]
    training = compare.add_progress_rate({"status": "timed_out", "stage_reached": "started"}, log)
    assert "valid_rows_per_second" not in training
    complete = compare.add_progress_rate({"status": "complete", "valid_rows_per_second": 2.0}, log)
    assert complete["valid_rows_per_second"] == 2.0


def test_rescore_adds_rate_and_ratio(compare, tmp_path):
    log = tmp_path / "great.log"
    log.write_text("[chug] 2.6% (13/500) [5:23]\n")
    results = {
        "name": "timed",
        "settings": {"epochs": 4},
        "n_train_rows": 3098,
        "methods": {
            "synthlib": method_figures(valid_rows_per_second=26.6),
            "be_great": {"status": "timed_out", "stage_reached": "trained", "log": str(log), "seconds_per_epoch": 5.0},
        },
        "ratios": {},
    }
    path = tmp_path / "timed.json"
    path.write_text(json.dumps(results))
    rescored = compare.rescore(path, tmp_path / "out")
    assert rescored["ratios"]["valid_rows_per_second"] == pytest.approx(26.6 / (13 / 323))
    written = json.loads((tmp_path / "out" / "timed.json").read_text())
    assert written["methods"]["be_great"]["progress_sample_seconds"] == 323


def test_benchmark_page_names_progress_rate(tmp_path):
    results = comparison_results(
        status="timed_out", stage_reached="trained", valid_rows_per_second=27 / 2106, progress_valid_rows=27,
        progress_sample_seconds=2106, valid_rows_per_second_source="be_great's progress log at the timeout",
    )
    (tmp_path / "timed.json").write_text(json.dumps(results))
    page = benchmark_report.benchmark_page(tmp_path)
    assert "come from be_great's progress log at the timeout: 27 rows in 2106 s of sampling." in page
    assert "| valid rows per second | 10 | 0.0128 | 780.00 |" in page


def test_baseline_from_reuses_matching_run(compare, tmp_path):
    settings = {"data": "smart", "epochs": 4.0, "precision": "bf16", "timeout": 60, "name": "new"}
    earlier = {"settings": {**settings, "precision": "fp32", "timeout": 3600, "name": "old"},
               "methods": {"be_great": {"status": "timed_out", "seconds_per_epoch": 240.0}}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(earlier))
    baseline = compare.baseline_from(path, settings)
    assert baseline["seconds_per_epoch"] == 240.0
    assert baseline["taken_from"] == "old.json"


def test_baseline_from_rejects_other_settings(compare, tmp_path):
    earlier = {"settings": {"data": "smart", "epochs": 2.0}, "methods": {"be_great": {}}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(earlier))
    with pytest.raises(SystemExit, match="epochs: 2.0 there, 4.0 here"):
        compare.baseline_from(path, {"data": "smart", "epochs": 4.0})


def test_result_name_marks_bf16(compare):
    settings = {"data": "smart", "model": "scratch", "rows": None, "lora": False, "epochs": 4.0}
    assert compare.result_name({**settings, "precision": "fp32"}) == "smart_scratch_allrows_4ep"
    assert compare.result_name({**settings, "precision": "bf16"}) == "smart_scratch_allrows_4ep_bf16"
