"""The page that introduces a run in its book."""

import pytest

from synthlib.book import SOURCE_DESCRIPTIONS, describe_run
from synthlib.config import BUILT_IN_SOURCES, DEFAULTS, resolve_config


def config_for(source, **model):
    return resolve_config({"run_name": "r", "data": {"source": source, "dictionary": "d.yaml"}, "model": model})


@pytest.mark.parametrize("source", BUILT_IN_SOURCES)
def test_every_built_in_source_is_described(source):
    text = describe_run(config_for(source))
    assert SOURCE_DESCRIPTIONS[source] in text
    assert "run `r`" in text


def test_data_file_is_named_without_its_folder(tmp_path):
    text = describe_run(config_for(str(tmp_path / "private" / "cohort.csv")))
    assert "`cohort.csv`" in text
    assert "private" not in text


def test_scratch_model_is_described():
    text = describe_run(config_for("smart"))
    assert f"{DEFAULTS['model']['n_layer']} layers" in text
    assert "trained from scratch" in text


def test_pretrained_model_with_lora_is_described(tmp_path):
    config = config_for("smart", kind="pretrained", path=str(tmp_path / "models" / "smollm2"), lora={"r": 8})
    text = describe_run(config)
    assert "`smollm2`, fine-tuned with LoRA adapters" in text
    assert "models" not in text


def test_row_count_is_shown_for_simulated_cohorts():
    config = config_for("sams_cohort")
    config["data"]["n_rows"] = 1700
    assert "Rows drawn: 1,700." in describe_run(config)
