"""Model selection: ranking of hand-built candidate folders, the score rule, the notebook and the book chapter."""

import json
import math
import shutil

import pytest
import yaml

from synthlib import selection
from synthlib.artifacts import RunPaths, read_json, write_json
from synthlib.book import BOOK_SOURCES, SELECTION_CHAPTER, build_book, selection_toc
from synthlib.exceptions import BookError, ConfigError, SynthlibWarning
from synthlib.pipeline import NOTEBOOKS, REPO_ROOT, execute_notebook
from synthlib.plots.selection import plot_selection

TRTR_AUC = 0.9
"""AUC of the real-trained model in every fake candidate, so utility = (tstr_auc - 0.5) / 0.4."""


def utility_records(tstr_auc, trtr_auc=TRTR_AUC, outcome="event", model="logistic_regression"):
    return [
        {"outcome": outcome, "model": model, "trained_on": "real", "score": trtr_auc, "metric": "auc", "n_train": 300},
        {"outcome": outcome, "model": model, "trained_on": "synthetic", "score": tstr_auc, "metric": "auc",
         "n_train": 300},
    ]


def write_candidate(candidates_dir, name, seed=0, quality=0.8, tstr_auc=0.8, protection=0.95, membership_auc=0.55,
                    grid=None, missing=(), model=None):
    """Write a candidate folder with the four results files of a finished candidate and return its id."""
    candidate_id = f"{name}-seed{seed}" + (f"-{grid}" if grid else "")
    paths = RunPaths(candidates_dir / candidate_id)
    write_json(paths.run_dir / "candidate.json", {
        "id": candidate_id, "name": name, "seed": seed,
        "overrides": {"training.learning_rate": 0.001, "model.path": "/private/models/smollm2-135m"},
        "budget_seconds": 60.0,
    })
    paths.config.write_text(yaml.safe_dump({"model": model or {"kind": "scratch", "n_layer": 2, "n_embd": 64}}))
    results = {
        "training": {"train_seconds": 60.2, "epochs": 1.5, "stopped_by_budget": True, "model_kind": "scratch",
                     "model_path": None, "lora": None, "n_parameters": 120_000},
        "sampling": {"valid_rate": 0.9},
        "fidelity": {"quality_score": quality, "column_shapes": quality, "column_pair_trends": quality,
                     "detection_auc": 0.6, "utility": utility_records(tstr_auc)},
        "privacy": {"overfitting_protection": protection, "membership_inference_auc": membership_auc},
    }
    for step, figures in results.items():
        if step not in missing:
            write_json(paths.step_results(step), figures)
    return candidate_id


def ranked(candidates_dir, score=None):
    return selection.rank_candidates(selection.candidate_table(candidates_dir), score)


# --------------------------------------------------------------------------- utility ratio


def test_utility_ratio_auc_hand_value():
    assert selection.utility_ratio(utility_records(0.8)) == pytest.approx(0.75)


def test_utility_ratio_r2_is_plain_ratio():
    records = [
        {"model": "linear_regression", "trained_on": "real", "score": 0.5, "metric": "r2"},
        {"model": "linear_regression", "trained_on": "synthetic", "score": 0.25, "metric": "r2"},
    ]
    assert selection.utility_ratio(records) == pytest.approx(0.5)


def test_utility_ratio_averages_pairs():
    records = utility_records(0.8) + utility_records(0.6, model="hist_gradient_boosting")
    records += utility_records(0.7, trtr_auc=0.7, outcome="death")
    assert selection.utility_ratio(records) == pytest.approx((0.75 + 0.25 + 1.0) / 3)


def test_utility_ratio_clipped_to_unit_range():
    assert selection.utility_ratio(utility_records(0.95)) == 1.0
    assert selection.utility_ratio(utility_records(0.4)) == 0.0


def test_utility_ratio_undefined_cases():
    assert selection.utility_ratio([]) is None
    assert selection.utility_ratio(utility_records(0.8, trtr_auc=0.5)) is None
    assert selection.utility_ratio(utility_records(None)) is None


# --------------------------------------------------------------------------- score dict


def test_validate_score_fills_defaults():
    assert selection.validate_score(None) == selection.DEFAULT_SCORE
    assert selection.validate_score({"weights": {"quality": 1}})["weights"] == {"quality": 1.0, "utility": 0.0}
    assert selection.validate_score({"max_membership_auc": None})["max_membership_auc"] is None


@pytest.mark.parametrize("score, message", [
    ({"weight": {"quality": 1}}, r"unknown keys \['weight'\]"),
    ({"weights": {"fidelity": 1}}, r"score.weights has unknown keys \['fidelity'\]"),
    ({"weights": {"quality": -0.5, "utility": 1}}, r"score.weights.quality must be a finite number of at least 0"),
    ({"weights": {"quality": True}}, r"score.weights.quality must be a finite number"),
    ({"weights": {"quality": 0, "utility": 0}}, r"at least one component a positive weight"),
    ({"weights": [0.5, 0.5]}, r"score.weights must be a mapping"),
    ({"min_overfitting_protection": 1.5}, r"score.min_overfitting_protection must be a number in \[0, 1\]"),
    ({"max_membership_auc": -0.1}, r"score.max_membership_auc must be a number in \[0, 1\]"),
    ({"max_membership_auc": "0.6"}, r"score.max_membership_auc must be a number in \[0, 1\]"),
    ("quality", r"score must be a mapping"),
])
def test_validate_score_rejects(score, message):
    with pytest.raises(ConfigError, match=message):
        selection.validate_score(score)


# --------------------------------------------------------------------------- ranking


def test_scores_hand_checked(tmp_path):
    write_candidate(tmp_path, "a", quality=0.8, tstr_auc=0.8)
    write_candidate(tmp_path, "b", quality=0.9, tstr_auc=0.7)
    result = ranked(tmp_path)
    scores = dict(zip(result.table["id"], result.table["score"]))
    assert scores["a-seed0"] == pytest.approx(0.5 * 0.8 + 0.5 * 0.75)
    assert scores["b-seed0"] == pytest.approx(0.5 * 0.9 + 0.5 * 0.5)
    assert result.optimal == "a-seed0"
    assert list(result.table["rank"]) == [1, 2]


def test_weights_change_the_optimal(tmp_path):
    write_candidate(tmp_path, "a", quality=0.8, tstr_auc=0.8)
    write_candidate(tmp_path, "b", quality=0.9, tstr_auc=0.7)
    result = ranked(tmp_path, {"weights": {"quality": 1.0}})
    assert result.optimal == "b-seed0"
    assert result.table["score"].iloc[0] == pytest.approx(0.9)


def test_threshold_failures_make_ineligible(tmp_path):
    write_candidate(tmp_path, "a", quality=0.7)
    write_candidate(tmp_path, "leaky", quality=0.99, tstr_auc=0.9, membership_auc=0.7)
    write_candidate(tmp_path, "overfit", quality=0.99, tstr_auc=0.9, protection=0.5)
    table = ranked(tmp_path).table.set_index("id")
    assert table.loc["a-seed0", "rank"] == 1
    assert table.loc["leaky-seed0", "reasons"] == ["membership inference AUC 0.700 is above the maximum 0.6"]
    assert table.loc["overfit-seed0", "reasons"] == ["overfitting protection 0.500 is below the minimum 0.9"]
    assert not table.loc["leaky-seed0", "eligible"]


def test_threshold_is_inclusive(tmp_path):
    write_candidate(tmp_path, "edge", protection=0.9, membership_auc=0.6)
    assert ranked(tmp_path).table["eligible"].iloc[0]


def test_missing_results_file_named(tmp_path):
    write_candidate(tmp_path, "a", quality=0.5)
    write_candidate(tmp_path, "crashed", quality=0.99, missing=("privacy",))
    table = ranked(tmp_path).table.set_index("id")
    assert table.loc["crashed-seed0", "reasons"] == ["results/privacy.json is missing"]
    assert table.loc["a-seed0", "rank"] == 1


def test_missing_figure_makes_ineligible(tmp_path):
    write_candidate(tmp_path, "a", quality=0.5)
    write_candidate(tmp_path, "empty", quality=0.99, membership_auc=None)
    table = ranked(tmp_path).table.set_index("id")
    assert table.loc["empty-seed0", "reasons"] == ["membership inference AUC is missing"]


def test_unweighted_missing_utility_ignored(tmp_path):
    write_candidate(tmp_path, "a", tstr_auc=None)
    with pytest.warns(SynthlibWarning):
        weighted = ranked(tmp_path).table
    assert weighted["reasons"].iloc[0] == ["utility is missing"]
    assert ranked(tmp_path, {"weights": {"quality": 1.0}}).table["eligible"].iloc[0]


def test_tie_goes_to_lower_membership_auc(tmp_path):
    write_candidate(tmp_path, "a", membership_auc=0.58)
    write_candidate(tmp_path, "b", membership_auc=0.52)
    assert ranked(tmp_path).optimal == "b-seed0"


def test_tie_then_higher_protection(tmp_path):
    write_candidate(tmp_path, "a", protection=0.92)
    write_candidate(tmp_path, "b", protection=0.97)
    assert ranked(tmp_path).optimal == "b-seed0"


def test_full_tie_goes_to_alphabetical_id(tmp_path):
    write_candidate(tmp_path, "zeta")
    write_candidate(tmp_path, "alpha")
    assert list(ranked(tmp_path).table["id"]) == ["alpha-seed0", "zeta-seed0"]


def test_fallback_picks_lowest_risk(tmp_path):
    write_candidate(tmp_path, "a", quality=0.95, membership_auc=0.8)
    write_candidate(tmp_path, "b", quality=0.5, membership_auc=0.65)
    write_candidate(tmp_path, "c", quality=0.9, membership_auc=0.7)
    with pytest.warns(SynthlibWarning, match="no candidate configuration meets the privacy thresholds"):
        result = ranked(tmp_path)
    assert result.fallback
    assert result.optimal == "b-seed0"
    assert list(result.table["id"]) == ["b-seed0", "c-seed0", "a-seed0"]
    assert "No candidate meets the privacy thresholds" in selection.optimal_sentence(result)


def test_seeds_ranked_on_mean(tmp_path):
    # Configuration "multi" scores 0.9 and 0.7 (quality equals utility), a mean of 0.8. "single" scores 0.85.
    write_candidate(tmp_path, "multi", seed=0, quality=0.9, tstr_auc=0.5 + 0.4 * 0.9)
    write_candidate(tmp_path, "multi", seed=1, quality=0.7, tstr_auc=0.5 + 0.4 * 0.7)
    write_candidate(tmp_path, "single", seed=0, quality=0.85, tstr_auc=0.5 + 0.4 * 0.85)
    result = ranked(tmp_path)
    configurations = result.configurations.set_index("configuration")
    assert result.optimal_configuration == "single"
    assert configurations.loc["multi", "score_mean"] == pytest.approx(0.8)
    assert configurations.loc["multi", "score_sd"] == pytest.approx(math.sqrt(0.02))
    assert configurations.loc["multi", "score_min"] == pytest.approx(0.7)
    assert math.isnan(configurations.loc["single", "score_sd"])
    assert list(result.table["id"]) == ["single-seed0", "multi-seed0", "multi-seed1"]


def test_optimal_is_best_seed(tmp_path):
    write_candidate(tmp_path, "multi", seed=0, quality=0.9, tstr_auc=0.5 + 0.4 * 0.9)
    write_candidate(tmp_path, "multi", seed=1, quality=0.8, tstr_auc=0.5 + 0.4 * 0.8)
    write_candidate(tmp_path, "single", seed=0, quality=0.8, tstr_auc=0.5 + 0.4 * 0.8)
    result = ranked(tmp_path)
    assert result.optimal == "multi-seed0"
    assert list(result.table["configuration_rank"]) == [1, 1, 2]


def test_failing_seed_excludes_configuration(tmp_path):
    write_candidate(tmp_path, "multi", seed=0, quality=0.99)
    write_candidate(tmp_path, "multi", seed=1, quality=0.99, membership_auc=0.9)
    write_candidate(tmp_path, "single", seed=0, quality=0.5)
    result = ranked(tmp_path)
    table = result.table.set_index("id")
    assert result.optimal == "single-seed0"
    assert table.loc["multi-seed0", "eligible"]
    assert not table.loc["multi-seed0", "configuration_eligible"]


def test_grid_hash_kept_in_configuration(tmp_path):
    write_candidate(tmp_path, "gpt2", seed=3, grid="0a1b2c3d")
    assert selection.candidate_table(tmp_path)["configuration"].iloc[0] == "gpt2-0a1b2c3d"


def test_table_models_without_paths(tmp_path):
    write_candidate(tmp_path, "lora", model={"kind": "pretrained", "path": "/private/models/smollm2-135m",
                                             "lora": {"r": 8}})
    write_candidate(tmp_path, "scratch")
    table = selection.candidate_table(tmp_path).set_index("id")
    assert table.loc["lora-seed0", "model"] == "smollm2-135m, LoRA r=8"
    assert table.loc["scratch-seed0", "model"] == "GPT-2 from scratch, 2 layers, width 64"
    assert "/private" not in table.loc["lora-seed0", "overrides"]
    assert table.loc["scratch-seed0", "epochs"] == 1.5


def test_candidate_table_errors(tmp_path):
    with pytest.raises(ConfigError, match="candidates folder not found"):
        selection.candidate_table(tmp_path / "absent")
    (tmp_path / "stray").mkdir()
    with pytest.raises(ConfigError, match="no candidate folder"):
        selection.candidate_table(tmp_path)


def test_select_model_writes_json(tmp_path):
    write_candidate(tmp_path / "candidates", "a", quality=0.8)
    write_candidate(tmp_path / "candidates", "b", quality=0.6)
    selection.select_model(tmp_path, score={"max_membership_auc": 0.7}, budget_seconds=60)
    figures = read_json(RunPaths(tmp_path).step_results("model_selection"))
    assert figures["optimal"] == "a-seed0"
    assert figures["budget_seconds"] == 60.0
    assert figures["score"]["max_membership_auc"] == 0.7
    assert [entry["rank"] for entry in figures["ranking"]] == [1, 2]
    assert set(selection.RANKING_KEYS) <= set(figures["ranking"][0])
    assert "membership inference AUC is at most 0.7" in figures["rule"]
    assert figures["table"][1]["quality_score"] == 0.6


def test_budget_sentence_states_budget(tmp_path):
    write_candidate(tmp_path, "a")
    result = selection.rank_candidates(selection.candidate_table(tmp_path), budget_seconds=600)
    assert "compared at an equal wall-clock training budget of 600 s" in selection.budget_sentence(result)
    assert "1 of 1 candidates" in selection.budget_sentence(result)


def test_plot_marks_optimal(tmp_path):
    write_candidate(tmp_path, "a")
    write_candidate(tmp_path, "b", membership_auc=0.7)
    result = ranked(tmp_path)
    figure = plot_selection(result.table, result.optimal, 0.6)
    ax = figure.axes[0]
    assert [text.get_text() for text in ax.texts] == ["a-seed0"]
    assert ax.get_xlabel().startswith("membership inference AUC")


def test_plot_leaves_out_unplaceable(tmp_path):
    write_candidate(tmp_path, "a")
    write_candidate(tmp_path, "b", membership_auc=None)
    result = ranked(tmp_path)
    ax = plot_selection(result.table, result.optimal, None).axes[0]
    placed = sum(len(collection.get_offsets()) for collection in ax.collections)
    assert placed == 2  # candidate a as an eligible point and again as the optimal star


def test_rule_without_thresholds():
    rule = selection.describe_rule(selection.validate_score(
        {"min_overfitting_protection": None, "max_membership_auc": None, "weights": {"utility": 2}}
    ))
    assert rule.startswith("Score = 2 × utility.")
    assert "No privacy threshold is set" in rule


# --------------------------------------------------------------------------- notebook and book


@pytest.fixture(scope="module")
def selection_run(tmp_path_factory):
    """A run folder whose candidates are fake folders and whose selection notebook has been executed."""
    run_dir = tmp_path_factory.mktemp("selection_run")
    candidates = run_dir / "candidates"
    write_candidate(candidates, "gpt2", quality=0.8, tstr_auc=0.8)
    write_candidate(candidates, "smollm2-lora", quality=0.9, tstr_auc=0.85,
                    model={"kind": "pretrained", "path": "models/smollm2-135m", "lora": {"r": 8}})
    write_candidate(candidates, "leaky", quality=0.99, tstr_auc=0.9, membership_auc=0.75)
    execute_notebook(
        REPO_ROOT / "notebooks" / f"{SELECTION_CHAPTER}.ipynb",
        RunPaths(run_dir).notebooks_dir / f"{SELECTION_CHAPTER}.ipynb",
        {"run_dir": str(run_dir), "random_state": 0, "candidates_dir": str(candidates),
         "score": {"weights": {"quality": 0.5, "utility": 0.5}, "min_overfitting_protection": 0.9,
                   "max_membership_auc": 0.6},
         "budget_seconds": 60.0},
        cwd=run_dir,
    )
    return run_dir


@pytest.mark.slow
def test_notebook_writes_selection(selection_run):
    figures = read_json(RunPaths(selection_run).step_results("model_selection"))
    assert figures["optimal"] == "smollm2-lora-seed0"
    text = (RunPaths(selection_run).notebooks_dir / f"{SELECTION_CHAPTER}.ipynb").read_text()
    assert "compared at an equal wall-clock training budget of 60 s" in text
    assert "The optimal model is **smollm2-lora-seed0**" in text
    assert "image/png" in text


def test_selection_toc_chapter_position():
    toc = selection_toc(yaml.safe_load((BOOK_SOURCES / "_toc.yml").read_text()))
    files = [entry["file"] for entry in toc["parts"][0]["chapters"]]
    position = files.index("chapters/01_preprocessing")
    assert files[position + 1] == f"chapters/{SELECTION_CHAPTER}"
    assert files[position + 2] == "chapters/02_fine_tuning"


def test_selection_toc_without_preprocessing():
    with pytest.raises(BookError, match="no chapters/01_preprocessing chapter"):
        selection_toc({"root": "intro", "parts": [{"chapters": [{"file": "methods"}]}]})


def write_stub_run(run_dir):
    """Write a run folder whose study notebooks are one Markdown cell each, enough for a book build."""
    paths = RunPaths(run_dir)
    paths.notebooks_dir.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        notebook = {
            "cells": [{"cell_type": "markdown", "id": f"{name}-00", "metadata": {}, "source": [f"# {name}"]}],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5,
        }
        (paths.notebooks_dir / f"{name}.ipynb").write_text(json.dumps(notebook))
    write_json(paths.summary, {})
    paths.config.write_text(yaml.safe_dump({
        "run_name": run_dir.name, "random_state": 0,
        "data": {"source": "smart", "dictionary": "smart.yaml", "n_rows": None},
        "model": {"kind": "scratch", "n_layer": 2, "n_embd": 64, "vocab_size": 512},
    }))


@pytest.mark.slow
def test_book_chapter_only_when_present(selection_run, tmp_path):
    without = tmp_path / "without"
    write_stub_run(without)
    with_selection = tmp_path / "with"
    shutil.copytree(selection_run, with_selection)
    write_stub_run(with_selection)

    build_book(without, book_dir=tmp_path / "book_without")
    build_book(with_selection, book_dir=tmp_path / "book_with")

    html_without = tmp_path / "book_without" / "_build" / "html"
    assert not (html_without / "chapters" / f"{SELECTION_CHAPTER}.html").exists()
    assert not (tmp_path / "book_without" / "chapters" / "_toc.yml").exists()
    preprocessing = (html_without / "chapters" / "01_preprocessing.html").read_text()
    assert '<link rel="next" title="02_fine_tuning" href="02_fine_tuning.html" />' in preprocessing
    html_with = tmp_path / "book_with" / "_build" / "html"
    page = (html_with / "chapters" / f"{SELECTION_CHAPTER}.html").read_text()
    assert "<figcaption" in page
    preprocessing = (html_with / "chapters" / "01_preprocessing.html").read_text()
    assert '<link rel="next" title="Model selection" href="model_selection.html" />' in preprocessing
