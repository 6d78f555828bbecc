"""Selection runs: the selection section, its candidates and grid, and a tiny run end to end."""

import hashlib
import json
import logging

import pytest
import yaml

from synthlib.artifacts import RunPaths, read_json
from synthlib.config import load_config, resolve_config
from synthlib.exceptions import ConfigError
from synthlib.grid import candidate_id, expand_candidates, grid_points
from synthlib.pipeline import NOTEBOOKS, REPO_ROOT, preflight, run_study
from tiny_runs import notebooks_with_ranking, write_config

SELECTION = {
    "budget_seconds": 120,
    "n_samples": 50,
    "seeds": [0, 1],
    "grid": {"training.learning_rate": [5.0e-4, "1e-3"]},
    "candidates": [
        {"name": "small", "model": {"n_layer": 2, "n_embd": 64}},
        {"name": "lora", "model": {"kind": "pretrained", "path": "models/m", "lora": {"r": 4}},
         "training": {"batch_size": 8, "epochs": 1}},
    ],
}


def resolved(selection=None, **base):
    return resolve_config({"run_name": "sel", **base, "selection": SELECTION if selection is None else selection})


def test_grid_expands_candidate_grid_seed():
    candidates = expand_candidates(resolved())
    assert len(candidates) == 2 * 2 * 2
    assert [c.name for c in candidates[:4]] == ["small"] * 4
    assert [c.seed for c in candidates[:4]] == [0, 1, 0, 1]
    rates = [c.config["training"]["learning_rate"] for c in candidates[:4]]
    assert rates == [5.0e-4, 5.0e-4, 1.0e-3, 1.0e-3]


def test_candidate_ids_name_seed_and_grid_hash():
    candidates = expand_candidates(resolved())
    point = {"training.learning_rate": 0.001}
    digits = hashlib.sha256(json.dumps(point, sort_keys=True).encode()).hexdigest()[:8]
    assert candidates[2].id == f"small-seed0-{digits}"
    assert candidates[2].config["run_name"] == candidates[2].id
    assert len({c.id for c in candidates}) == len(candidates)


def test_candidate_id_without_grid():
    assert candidate_id("small", 3, {}) == "small-seed3"


def test_candidate_ids_stable_across_grid_order():
    first = resolved({**SELECTION, "grid": {"training.learning_rate": [1.0e-3], "sampling.temperature": [0.9]}})
    second = resolved({**SELECTION, "grid": {"sampling.temperature": [0.9, 1.0], "training.learning_rate": [0.001]}})
    first_ids = {c.id for c in expand_candidates(first)}
    second_ids = {c.id for c in expand_candidates(second)}
    assert first_ids <= second_ids


def test_candidate_config_layers_overrides():
    candidates = expand_candidates(resolved(training={"epochs": 3, "batch_size": 32}))
    lora = next(c for c in candidates if c.name == "lora")
    training = lora.config["training"]
    assert training["batch_size"] == 8
    assert training["epochs"] == 1
    assert training["max_seconds"] == 120.0
    assert lora.config["model"]["lora"]["r"] == 4
    assert lora.config["model"]["lora"]["alpha"] == 16
    assert lora.config["random_state"] == lora.seed
    assert lora.config["sampling"]["n_samples"] == 50
    assert lora.config["sampling"]["n_syntheses"] == 1
    assert "selection" not in lora.config
    small = candidates[0]
    assert small.config["training"]["epochs"] == 3
    assert small.config["training"]["batch_size"] == 32


def test_candidate_record_lists_overrides():
    record = expand_candidates(resolved())[-1].record()
    assert record["name"] == "lora"
    assert record["seed"] == 1
    assert record["budget_seconds"] == 120.0
    assert record["overrides"]["model.lora.r"] == 4
    assert record["overrides"]["training.learning_rate"] == 0.001


def test_selection_defaults():
    selection = resolved({"candidates": [{"name": "only"}]})["selection"]
    assert selection["budget_seconds"] is None
    assert selection["seeds"] == [0]
    assert selection["grid"] == {}
    assert selection["score"]["weights"] == {"quality": 0.5, "utility": 0.5}
    candidates = expand_candidates(resolved({"candidates": [{"name": "only"}]}))
    assert [c.id for c in candidates] == ["only-seed0"]
    assert candidates[0].config["training"]["max_seconds"] is None


def test_selection_grid_values_stored_as_numbers():
    assert resolved()["selection"]["grid"]["training.learning_rate"] == [5.0e-4, 1.0e-3]


def test_score_weights_replace_defaults():
    selection = resolved({**SELECTION, "score": {"weights": {"quality": 1}}})["selection"]
    assert selection["score"]["weights"] == {"quality": 1.0}
    assert selection["score"]["max_membership_auc"] == 0.6


def test_config_without_selection_unchanged():
    assert "selection" not in resolve_config({"run_name": "plain"})


def test_grid_points_cross_values():
    points = grid_points({"a.x": [1, 2], "b.y": ["u"]})
    assert points == [{"a.x": 1, "b.y": "u"}, {"a.x": 2, "b.y": "u"}]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"budget": 5}, r"unknown key\(s\) \['selection.budget'\]; known keys here: budget_seconds"),
        ({"candidates": []}, "selection.candidates must be a non-empty list"),
        ({"candidates": [{"name": "a"}, {"name": "a"}]}, r"selection.candidates\[1\].name 'a' is used twice"),
        ({"candidates": [{"model": {}}]}, r"selection.candidates\[0\] must be a mapping with a name"),
        ({"candidates": [{"name": "a/b"}]}, r"selection.candidates\[0\].name must be a folder name"),
        ({"candidates": [{"name": "a", "modle": {}}]}, r"unknown key\(s\) \['modle'\]; known keys: name, model"),
        ({"candidates": [{"name": "a", "model": 4}]}, r"selection.candidates\[0\].model must be a mapping"),
        ({"candidates": [{"name": "a", "sampling": {"n_samples": 9}}]}, "sets sampling.n_samples, which selection.n_samples"),
        ({"candidates": [{"name": "a", "training": {"max_seconds": 9}}]}, "sets training.max_seconds, which selection.budget_seconds"),
        ({"grid": {"training.lr": [1]}}, r"selection.grid key 'training.lr' is not a dotted key .* known keys: training.epochs"),
        ({"grid": {"data.source": ["x"]}}, "selection.grid key 'data.source' is not a dotted key of the model, training or sampling"),
        ({"grid": {"training.learning_rate": 0.001}}, r"selection.grid.training.learning_rate must be a non-empty list .* \[value\]"),
        ({"grid": {"training.learning_rate": []}}, "selection.grid.training.learning_rate must be a non-empty list"),
        ({"grid": {"training.learning_rate": [1e-3, 1e-3]}}, "occur twice, because a selection.grid list repeats a value"),
        ({"grid": ["training.learning_rate"]}, "selection.grid must be a mapping of dotted keys to lists"),
        ({"grid": {"sampling.n_samples": [5]}}, "selection.grid key 'sampling.n_samples' is set by selection.n_samples"),
        ({"seeds": []}, "selection.seeds must be a non-empty list of distinct whole numbers"),
        ({"seeds": [1, 1]}, "selection.seeds must be a non-empty list of distinct whole numbers"),
        ({"budget_seconds": 0}, r"selection.budget_seconds must be a number of seconds above 0 \(or null\), got 0"),
        ({"n_samples": 2.5}, "selection.n_samples must be a whole number of at least 1, got 2.5"),
        ({"score": {"min_overfitting_protection": 1.5}}, "selection.score.min_overfitting_protection must be a number from 0 to 1"),
        ({"score": {"max_membership_auc": "high"}}, "selection.score.max_membership_auc must be a number from 0 to 1"),
        ({"score": {"weights": {"quality": -1}}}, "selection.score.weights must map metric names to numbers of at least 0"),
        ({"score": {"weights": {"quality": 0}}}, "one of them above 0"),
        ({"score": {"threshold": 1}}, r"selection.score has unknown key\(s\) \['threshold'\]"),
        ({"grid": {"model.n_layer": [0]}}, r"candidate 'small' at grid point \{'model.n_layer': 0\}: .*model.n_layer must be"),
        ({"candidates": [{"name": "a", "model": {"n_layers": 3}}]}, r"candidate 'a' at grid point .*: unknown key 'model.n_layers'"),
    ],
)
def test_selection_errors_name_key_and_fix(change, message):
    with pytest.raises(ConfigError, match=message):
        resolved({**SELECTION, **change})


def test_selection_must_be_mapping():
    with pytest.raises(ConfigError, match="selection must be a mapping with candidates"):
        resolved([1, 2])


def test_relative_candidate_model_path(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "sel.yaml").write_text(yaml.safe_dump({"run_name": "sel", "selection": SELECTION}))
    config = load_config(configs / "sel.yaml")
    lora = next(c for c in expand_candidates(config) if c.name == "lora")
    assert lora.config["model"]["path"] == str((tmp_path / "models" / "m").resolve())


def test_preflight_checks_candidate_model_paths():
    config = resolved(data={"source": "smart", "dictionary": str(REPO_ROOT / "data_templates" / "smart.yaml")})
    with pytest.raises(ConfigError, match=r"selection candidate lora-seed0-[0-9a-f]{8}: model.path: no Hugging Face model"):
        preflight(config)


def test_shipped_selection_config_resolves():
    config = load_config(REPO_ROOT / "configs" / "model_selection.yaml")
    candidates = expand_candidates(config)
    names = {c.name for c in candidates}
    assert len(names) >= 3
    assert any(c.config["model"]["kind"] == "pretrained" and c.config["model"]["lora"] for c in candidates)
    assert config["data"]["source"] == "smart"


@pytest.mark.slow
def test_selection_run_end_to_end(toy_study_files, tmp_path, caplog):
    selection = {
        "budget_seconds": 600,
        "n_samples": 20,
        "seeds": [0],
        "candidates": [{"name": "narrow", "model": {"n_embd": 32}}, {"name": "wide"}],
        "score": {"min_overfitting_protection": None, "max_membership_auc": None},
    }
    config = write_config(tmp_path, toy_study_files, run_name="picked", selection=selection)
    notebooks = notebooks_with_ranking(tmp_path / "notebooks")
    with caplog.at_level(logging.INFO):
        run_dir = run_study(config, runs_dir=tmp_path / "runs", notebooks_dir=notebooks)
    paths = RunPaths(run_dir)
    ranking = read_json(paths.step_results("model_selection"))
    optimal = ranking["optimal"]
    assert optimal in ("narrow-seed0", "wide-seed0")
    for candidate in ("narrow-seed0", "wide-seed0"):
        folder = RunPaths(run_dir / "candidates" / candidate)
        assert read_json(folder.run_dir / "candidate.json")["id"] == candidate
        assert read_json(folder.step_results("sampling"))["n_returned"] == 20
        assert read_json(folder.step_results("training"))["stopped_by_budget"] is False
        assert not folder.step_results("privacy_utility").exists()
        assert folder.train.read_bytes() == paths.train.read_bytes()
    assert "before its budget of 600 s" in caplog.text
    assert sorted(p.stem for p in paths.notebooks_dir.glob("*.ipynb")) == sorted([*NOTEBOOKS, "model_selection"])
    adopted = RunPaths(run_dir / "candidates" / optimal)
    assert (paths.model_dir / "model.safetensors").read_bytes() == (adopted.model_dir / "model.safetensors").read_bytes()
    config_used = yaml.safe_load(paths.config.read_text())
    assert config_used["model"]["n_embd"] == (32 if optimal.startswith("narrow") else 64)
    assert config_used["sampling"]["n_samples"] == 30
    summary = read_json(paths.summary)
    assert summary["selection_optimal"] == optimal
    assert summary["selection_n_candidates"] == 2
    assert summary["selection_budget_seconds"] == 600
    assert summary["rows_returned"] == 30
    assert paths.step_results("privacy_utility").is_file()

    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.ipynb")}
    caplog.clear()
    with caplog.at_level(logging.INFO):
        run_study(config, runs_dir=tmp_path / "runs", notebooks_dir=notebooks)
    assert caplog.text.count("Skipped ") == 1 + 2 * 4 + 1 + 1 + 4
    assert "Executing" not in caplog.text
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.ipynb")} == before


def test_selection_run_needs_ranking_notebook(toy_study_files, tmp_path):
    config = write_config(tmp_path, toy_study_files, selection={"candidates": [{"name": "only"}]})
    with pytest.raises(ConfigError, match=r"notebook not found: .*model_selection.ipynb; a selection run needs it"):
        run_study(config, runs_dir=tmp_path / "runs", notebooks_dir=tmp_path)
    assert not (tmp_path / "runs" / "tiny" / "steps").exists()


def test_selection_rejects_steps(toy_study_files, tmp_path):
    config = write_config(tmp_path, toy_study_files, selection={"candidates": [{"name": "only"}]})
    with pytest.raises(ConfigError, match="--steps cannot be combined with a selection section"):
        run_study(config, runs_dir=tmp_path / "runs", steps=["03_sampling"])


def test_stale_candidate_folders_removed(tmp_path, caplog):
    from synthlib.candidates import remove_stale_candidates

    paths = RunPaths(tmp_path / "run")
    for name in ("kept-seed0", "dropped-seed0"):
        (paths.run_dir / "candidates" / name).mkdir(parents=True)
    kept = expand_candidates(resolved({"candidates": [{"name": "kept"}]}))
    with caplog.at_level(logging.WARNING):
        remove_stale_candidates(paths, kept)
    assert [p.name for p in (paths.run_dir / "candidates").iterdir()] == ["kept-seed0"]
    assert "the configuration no longer lists candidate dropped-seed0" in caplog.text
