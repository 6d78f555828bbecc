"""Fine-tuning and sampling with a real (tiny) GPT-2 model trained from scratch."""

import warnings

import numpy as np
import pandas as pd
import pytest
from transformers import GPT2Config, GPT2LMHeadModel

from synthlib.dictionary import ColumnSpec, DataDictionary, write_dictionary
from synthlib.validation import load_table
from synthlib.encoding import encode_table
from synthlib.exceptions import SamplingError, SynthlibWarning, TokenBudgetError
from synthlib.models import (
    ScratchModelConfig,
    build_scratch_model,
    load_pretrained_model,
    load_trained_model,
    train_row_tokenizer,
)
from synthlib.sampling import sample
from synthlib.training import PermutedRowDataset, RowCollator, TrainingSettings, fine_tune, loss_history

pytestmark = pytest.mark.slow

DICTIONARY = DataDictionary(
    "generation",
    (
        ColumnSpec("age", "integer", range=(18, 100)),
        ColumnSpec("bp, systolic", "numeric", range=(60, 260), decimals=0),
        ColumnSpec("note", "categorical", levels=("a, b is c", "plain")),
        ColumnSpec("smoker", "binary"),
        ColumnSpec("never measured", "numeric", range=(0, 10), decimals=1),
    ),
)


def make_table(n_rows=300, random_state=0):
    rng = np.random.default_rng(random_state)
    age = rng.integers(40, 80, n_rows)
    age = pd.array(np.where(rng.random(n_rows) < 0.1, None, age), dtype="Int64")
    return pd.DataFrame(
        {
            "age": age,
            "bp, systolic": rng.normal(140, 15, n_rows).round(),
            "note": pd.Categorical(rng.choice(["a, b is c", "plain"], n_rows), categories=["a, b is c", "plain"]),
            "smoker": pd.array(rng.integers(0, 2, n_rows), dtype="Int64"),
            "never measured": np.full(n_rows, np.nan),
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    train = make_table()
    texts = encode_table(train, DICTIONARY)
    tokenizer = train_row_tokenizer(texts, vocab_size=400)
    model = build_scratch_model(tokenizer, ScratchModelConfig(n_layer=2, n_embd=64, n_head=2), texts)
    settings = TrainingSettings(epochs=20, batch_size=16, learning_rate=3e-3, logging_steps=20)
    result = fine_tune(model, tokenizer, train, DICTIONARY, folder / "model", settings, progress=False)
    return {"result": result, "dir": folder, "train": train}


def test_fine_tune_saves_model_and_log(trained):
    result = trained["result"]
    history = loss_history(result.output_dir)
    assert result.steps == 20 * 19
    assert len(history) >= 10
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_sample_returns_requested_valid_rows(trained, tmp_path):
    model, tokenizer = load_trained_model(trained["result"].output_dir)
    result = sample(model, tokenizer, DICTIONARY, 200, batch_size=128, max_batches=20, progress=False)
    assert len(result.synthetic) == 200
    assert result.n_generated >= 200
    path = tmp_path / "synthetic.csv"
    result.synthetic.to_csv(path, index=False)
    reread = load_table(path, DICTIONARY)
    assert len(reread) == 200


def test_sample_keeps_types_and_missing_values(trained):
    model, tokenizer = load_trained_model(trained["result"].output_dir)
    synthetic = sample(model, tokenizer, DICTIONARY, 150, batch_size=128, max_batches=20, progress=False).synthetic
    assert str(synthetic["age"].dtype) == "Int64"
    assert synthetic["age"].isna().any()
    assert synthetic["age"].dropna().between(18, 100).all()
    assert synthetic["never measured"].isna().all()
    assert set(synthetic["note"].dropna()) <= {"a, b is c", "plain"}


def test_sample_is_reproducible(trained):
    model, tokenizer = load_trained_model(trained["result"].output_dir)
    first = sample(model, tokenizer, DICTIONARY, 40, batch_size=64, random_state=7, progress=False)
    second = sample(model, tokenizer, DICTIONARY, 40, batch_size=64, random_state=7, progress=False)
    pd.testing.assert_frame_equal(first.synthetic, second.synthetic)
    assert first.seeds == second.seeds


def short_context_model(tokenizer, n_positions=24):
    """An untrained GPT-2 whose context is shorter than one encoded row."""
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=32, n_layer=1, n_head=2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config).eval()


def test_sample_untrained_model_gives_valid_rows(trained):
    texts = encode_table(trained["train"], DICTIONARY)
    tokenizer = train_row_tokenizer(texts, vocab_size=400)
    untrained = build_scratch_model(tokenizer, ScratchModelConfig(n_layer=1, n_embd=32, n_head=2), texts)
    result = sample(untrained, tokenizer, DICTIONARY, 100, batch_size=50, max_batches=2, progress=False)
    assert len(result.synthetic) == 100
    assert result.n_generated == 100
    assert result.rejections == {}


def test_sample_bounded_attempts_raise(trained):
    tokenizer = train_row_tokenizer(encode_table(trained["train"], DICTIONARY), vocab_size=400)
    model = short_context_model(tokenizer)
    with pytest.raises(SamplingError, match=r"only 0 of 50 valid rows after 2 batches.*row longer than the model's context: 32"):
        sample(model, tokenizer, DICTIONARY, 50, batch_size=16, max_batches=2, progress=False)


def test_sample_partial_warns(trained):
    tokenizer = train_row_tokenizer(encode_table(trained["train"], DICTIONARY), vocab_size=400)
    model = short_context_model(tokenizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sample(model, tokenizer, DICTIONARY, 50, batch_size=16, max_batches=2,
                        allow_partial=True, progress=False)
    assert len(result.synthetic) == 0
    assert result.rejections == {"row longer than the model's context": 32}
    assert any(issubclass(w.category, SynthlibWarning) for w in caught)


def test_sample_context_overflow_rejects_rows(trained):
    # Rows that outgrow the context used to crash the position embedding (IndexError).
    tokenizer = train_row_tokenizer(encode_table(trained["train"], DICTIONARY), vocab_size=400)
    model = short_context_model(tokenizer, n_positions=40)
    result = sample(model, tokenizer, DICTIONARY, 8, batch_size=8, max_batches=1, allow_partial=True,
                    progress=False)
    assert result.n_generated == 8
    assert result.n_valid + result.rejections.get("row longer than the model's context", 0) == 8


def test_time_budget_stops_training(tmp_path):
    train = make_table(64)
    texts = encode_table(train, DICTIONARY)
    tokenizer = train_row_tokenizer(texts, vocab_size=300)
    model = build_scratch_model(tokenizer, ScratchModelConfig(n_layer=1, n_embd=32, n_head=2), texts)
    settings = TrainingSettings(epochs=50, batch_size=8, max_seconds=0.5)
    result = fine_tune(model, tokenizer, train, DICTIONARY, tmp_path / "m", settings, progress=False)
    assert result.stopped_by_budget
    assert result.steps < 50 * 8


def test_permutations_change_per_epoch_only():
    train = make_table(4)
    tokenizer = train_row_tokenizer(encode_table(train, DICTIONARY), vocab_size=300)
    dataset = PermutedRowDataset(train, DICTIONARY, tokenizer, random_state=0)
    epoch0 = [dataset.text(i) for i in range(4)]
    assert epoch0 == [dataset.text(i) for i in range(4)]
    dataset.set_epoch(1)
    assert epoch0 != [dataset.text(i) for i in range(4)]


def test_collator_keeps_end_token_when_pad_equals_eos():
    collator = RowCollator(pad_token_id=2)
    batch = collator([{"input_ids": [1, 5, 2]}, {"input_ids": [1, 2]}])
    assert batch["labels"].tolist() == [[1, 5, 2], [1, 2, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


LONG_NAMES = DataDictionary(
    "long_names",
    tuple(
        ColumnSpec(f"a rather long clinical variable name number {i:02d}", "numeric", range=(0, 1000), decimals=2)
        for i in range(25)
    ),
)


def long_name_table():
    rng = np.random.default_rng(0)
    return pd.DataFrame({spec.name: rng.uniform(0, 1000, 8).round(2) for spec in LONG_NAMES.columns})


def test_context_sized_automatically_for_long_rows():
    table = long_name_table()
    texts = encode_table(table, LONG_NAMES)
    tokenizer = train_row_tokenizer(texts, vocab_size=300)
    model = build_scratch_model(tokenizer, ScratchModelConfig(n_layer=1, n_embd=32, n_head=2), texts)
    longest = max(len(ids) for ids in tokenizer(texts)["input_ids"]) + 2
    assert model.config.n_positions >= longest


def test_context_too_short_raises_with_counts():
    table = long_name_table()
    texts = encode_table(table, LONG_NAMES)
    tokenizer = train_row_tokenizer(texts, vocab_size=300)
    config = ScratchModelConfig(n_layer=1, n_embd=32, n_head=2, n_positions=64)
    with pytest.raises(TokenBudgetError, match=r"needs \d+ tokens but the configured n_positions allows 64"):
        build_scratch_model(tokenizer, config, texts)


def test_pretrained_context_too_short_raises(tmp_path):
    table = long_name_table()
    texts = encode_table(table, LONG_NAMES)
    tokenizer = train_row_tokenizer(texts, vocab_size=300)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "short")
    tokenizer.save_pretrained(tmp_path / "short")
    model, loaded_tokenizer = load_pretrained_model(tmp_path / "short")
    with pytest.raises(TokenBudgetError, match=r"needs \d+ tokens but the model's context allows 64"):
        fine_tune(model, loaded_tokenizer, table, LONG_NAMES, tmp_path / "out", TrainingSettings(max_steps=1))


def test_saved_dictionary_round_trip_keeps_escaped_names(tmp_path):
    path = write_dictionary(DICTIONARY, tmp_path / "d.yaml")
    from synthlib.dictionary import read_dictionary

    assert read_dictionary(path).names == DICTIONARY.names


def test_missing_rate_offsets_steer_the_model(trained):
    # "age" is missing in about 10% of the training rows; ask for 40% to see the offset act.
    model, tokenizer = load_trained_model(trained["result"].output_dir)
    plain = sample(model, tokenizer, DICTIONARY, 512, batch_size=64, random_state=3, progress=False)
    steered = sample(
        model, tokenizer, DICTIONARY, 512, batch_size=64, random_state=3, progress=False, missing_rates={"age": 0.4}
    )
    assert plain.missing_offsets == {}
    assert steered.missing_offsets["age"] > 0
    plain_rate, steered_rate = plain.synthetic["age"].isna().mean(), steered.synthetic["age"].isna().mean()
    assert plain_rate < 0.2
    assert abs(steered_rate - 0.4) < abs(plain_rate - 0.4) / 2
    assert steered.synthetic["age"].dropna().between(18, 100).all()


def test_missing_rates_ignored_under_conditions(trained):
    model, tokenizer = load_trained_model(trained["result"].output_dir)
    result = sample(
        model, tokenizer, DICTIONARY, 64, batch_size=64, progress=False,
        conditions={"smoker": 1}, missing_rates={"age": 0.4},
    )
    assert result.missing_offsets == {}
    assert (result.synthetic["smoker"] == 1).all()


def test_missing_rates_of_unknown_column_named(trained):
    model, tokenizer = load_trained_model(trained["result"].output_dir)
    with pytest.raises(ValueError, match=r"\['sbp'\]"):
        sample(model, tokenizer, DICTIONARY, 8, batch_size=8, progress=False, missing_rates={"sbp": 0.1})
