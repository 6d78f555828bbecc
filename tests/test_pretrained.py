"""The pre-trained path: SmolLM2-135M written from its GGUF file, fine-tuned a few steps, sampled."""

import numpy as np
import pandas as pd
import pytest

from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.exceptions import ConfigError
from synthlib.models import LoraSettings, load_pretrained_model, load_trained_model
from synthlib.pretrained import find_smollm2_gguf, materialize_smollm2
from synthlib.sampling import sample
from synthlib.training import TrainingSettings, fine_tune

pytestmark = pytest.mark.slow

DICTIONARY = DataDictionary(
    "two_columns",
    (
        ColumnSpec("sex", "categorical", levels=("male", "female")),
        ColumnSpec("age", "integer", range=(18, 100)),
    ),
)


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory):
    return materialize_smollm2(tmp_path_factory.mktemp("smollm2") / "smollm2-135m")


def test_materialize_writes_hugging_face_directory(smollm2_dir):
    assert (smollm2_dir / "config.json").is_file()
    assert (smollm2_dir / "model.safetensors").is_file()
    assert (smollm2_dir / "tokenizer.json").is_file()


def test_materialize_is_idempotent(smollm2_dir):
    before = (smollm2_dir / "model.safetensors").stat().st_mtime
    materialize_smollm2(smollm2_dir)
    assert (smollm2_dir / "model.safetensors").stat().st_mtime == before


def test_gguf_file_found_in_package():
    assert find_smollm2_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_pretrained_missing_directory_error(tmp_path):
    with pytest.raises(ConfigError, match="config.json is missing"):
        load_pretrained_model(tmp_path / "nowhere")


def test_lora_fine_tune_then_sample_valid_rows(smollm2_dir, tmp_path):
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "sex": pd.Categorical(rng.choice(["male", "female"], 64), categories=["male", "female"]),
            "age": pd.array(rng.integers(40, 80, 64), dtype="Int64"),
        }
    )
    model, tokenizer = load_pretrained_model(smollm2_dir, lora=LoraSettings(r=8, alpha=16))
    settings = TrainingSettings(max_steps=12, batch_size=8, learning_rate=2e-3, logging_steps=4)
    result = fine_tune(model, tokenizer, train, DICTIONARY, tmp_path / "lora", settings, progress=False)
    assert result.steps == 12
    assert (tmp_path / "lora" / "adapter_config.json").is_file()

    trained, trained_tokenizer = load_trained_model(tmp_path / "lora")
    synthetic = sample(
        trained, trained_tokenizer, DICTIONARY, 4, batch_size=16, max_batches=4, progress=False
    ).synthetic
    assert len(synthetic) == 4
    assert set(synthetic["sex"].dropna()) <= {"male", "female"}
    assert synthetic["age"].dropna().between(18, 100).all()
