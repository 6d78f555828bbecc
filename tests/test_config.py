"""Run configurations and the command line."""

import logging
import re
from pathlib import Path

import pytest

from synthlib.cli import main
from synthlib.config import DEFAULTS, load_config, resolve_config
from synthlib.exceptions import ConfigError
from synthlib.pipeline import NOTEBOOKS, REPO_ROOT, notebook_parameters


def test_defaults_fill_missing_keys():
    config = resolve_config({"run_name": "x"})
    assert config["training"]["epochs"] == DEFAULTS["training"]["epochs"]
    assert config["model"]["kind"] == "scratch"


def test_unknown_key_lists_known_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'training\.epoch'; known keys here: batch_size, epochs"):
        resolve_config({"training": {"epoch": 3}})


def test_every_problem_reported_once():
    with pytest.raises(ConfigError) as caught:
        resolve_config({"model": {"kind": "huge"}, "data": {"holdout_fraction": 1.5}})
    message = str(caught.value)
    assert "model.kind must be 'scratch' or 'pretrained', got 'huge'" in message
    assert "data.holdout_fraction must be a number between 0 and 1, got 1.5" in message


def test_pretrained_needs_path():
    with pytest.raises(ConfigError, match="model.path must name a local Hugging Face directory"):
        resolve_config({"model": {"kind": "pretrained"}})


def test_lora_defaults_filled():
    config = resolve_config({"model": {"kind": "pretrained", "path": "m", "lora": {"r": 4}}})
    assert config["model"]["lora"] == {"r": 4, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "absent.yaml")


def test_shipped_configs_resolve():
    for path in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        dictionary = Path(load_config(path)["data"]["dictionary"])
        assert dictionary.is_file(), path


def test_every_notebook_gets_parameters(tmp_path):
    parameters = notebook_parameters(load_config(REPO_ROOT / "configs" / "smart.yaml"), tmp_path)
    assert sorted(parameters) == sorted(NOTEBOOKS)
    for values in parameters.values():
        assert values["run_dir"] == str(tmp_path)
        assert values["random_state"] == 0


def test_cli_reports_config_error(tmp_path, caplog):
    config = tmp_path / "bad.yaml"
    config.write_text("model: {kind: huge}\n")
    with caplog.at_level(logging.ERROR):
        status = main(["run", str(config)])
    assert status == 2
    assert "model.kind must be 'scratch' or 'pretrained'" in caplog.text


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"training": {"epochs": -1}}, "training.epochs must be a number greater than 0, got -1"),
        ({"training": {"batch_size": 0}}, "training.batch_size must be a whole number at least 1, got 0"),
        ({"sampling": {"n_samples": -5}}, "sampling.n_samples must be a whole number at least 1 (or null), got -5"),
        ({"sampling": {"top_k": -1}}, "sampling.top_k must be a whole number at least 0, got -1"),
        ({"random_state": "zero"}, "random_state must be a whole number at least 0, got 'zero'"),
        ({"run_name": 42}, "run_name must be a folder name"),
        ({"run_name": ".."}, "run_name must be a folder name"),
        ({"model": {"lora": {"r": 4}}}, "model.lora applies to pre-trained models only"),
        ({"model": {"kind": "pretrained", "path": "m", "lora": {"r": 0}}}, "model.lora.r must be a whole number"),
        ({"model": {"kind": "pretrained", "path": "m", "lora": {"dropout": 2}}}, "model.lora.dropout must be below 1"),
        ({"training": {"validation_fraction": 1}}, "training.validation_fraction must be below 1, got 1.0"),
        ({"training": {"validation_fraction": -0.1}}, "training.validation_fraction must be a number at least 0"),
        ({"training": {"patience": -1}}, "training.patience must be a whole number at least 0 (or null), got -1"),
        ({"training": {"patience": 1.5}}, "training.patience must be a whole number at least 0 (or null), got 1.5"),
        ({"training": {"memorisation_check": "yes", "validation_fraction": 0.1}},
         "training.memorisation_check must be true or false, got 'yes'"),
        ({"training": {"memorisation_check": True}}, "training.memorisation_check compares synthetic rows"),
        ({"training": {"memorisation_check_from_epoch": 0}},
         "training.memorisation_check_from_epoch must be a whole number at least 1, got 0"),
        ({"training": {"memorisation_check_n_samples": 0}},
         "training.memorisation_check_n_samples must be a whole number at least 1, got 0"),
        ({"training": {"memorisation_check_alpha": 0}},
         "training.memorisation_check_alpha must be a number greater than 0, got 0"),
        ({"training": {"memorisation_check_alpha": 1.5}}, "training.memorisation_check_alpha must be below 1, got 1.5"),
        ({"training": {"save_total_limit": 0}}, "training.save_total_limit must be a whole number at least 1, got 0"),
        ({"training": {"keep_checkpoints": 1}}, "training.keep_checkpoints must be true or false, got 1"),
        ({"sampling": {"calibrate_missing": "no"}}, "sampling.calibrate_missing must be true or false, got 'no'"),
        ({"privacy": {"anonymeter_seeds": []}}, "privacy.anonymeter_seeds must be a non-empty list of whole numbers, got []"),
        ({"privacy": {"anonymeter_seeds": [0, "1"]}},
         "privacy.anonymeter_seeds must be a non-empty list of whole numbers, got [0, '1']"),
        ({"privacy": {"anonymeter_attacks": 0}}, "privacy.anonymeter_attacks must be a whole number at least 1, got 0"),
    ],
)
def test_invalid_values_rejected(mapping, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config(mapping)


def test_number_strings_accepted():
    config = resolve_config({"training": {"learning_rate": "1e-3", "epochs": "2"}})
    assert config["training"]["learning_rate"] == 0.001
    assert config["training"]["epochs"] == 2.0


def test_broken_yaml_reported(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("training: {epochs: 3\n")
    with pytest.raises(ConfigError, match="is not a valid UTF-8 YAML file"):
        load_config(path)


def test_training_section_builds_training_settings():
    from synthlib.training import TrainingSettings

    section = resolve_config({"training": {"validation_fraction": "0.1", "patience": None, "memorisation_check": True}})[
        "training"
    ]
    settings = TrainingSettings(**section)
    assert settings.validation_fraction == 0.1
    assert settings.patience is None
    assert settings.memorisation_check


def test_training_defaults_match_training_settings():
    from dataclasses import asdict

    from synthlib.training import TrainingSettings

    defaults = asdict(TrainingSettings())
    assert {key: defaults[key] for key in DEFAULTS["training"]} == DEFAULTS["training"]
