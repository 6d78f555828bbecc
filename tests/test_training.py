"""Fine-tuning with validation rows, the memorisation check, epoch checkpoints and resumption."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from synthlib import study
from synthlib.artifacts import RunPaths, read_json
from synthlib.checkpoints import RUN_IDENTITY, last_complete_checkpoint, prepare_checkpoints
from synthlib.config import resolve_config
from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.encoding import encode_table
from synthlib.exceptions import ConfigError, TokenBudgetError
from synthlib.memorisation import (
    LOG_KEY,
    MemorisationCheckCallback,
    check_memorisation,
    judge_memorisation,
    memorisation_threshold,
    share_closer_to_train,
)
from synthlib.models import (
    ScratchModelConfig,
    build_scratch_model,
    load_pretrained_model,
    load_trained_model,
    train_row_tokenizer,
)
from synthlib.training import (
    CHECKPOINTS,
    PermutedRowDataset,
    RowCollator,
    TrainingSettings,
    fine_tune,
    longest_row_tokens,
    planned_epochs,
    read_training_log,
    resolve_precision,
    split_validation,
    validation_history,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

DICTIONARY = DataDictionary(
    "training",
    (
        ColumnSpec("age", "integer", range=(18, 100)),
        ColumnSpec("ldl", "numeric", range=(0, 10), decimals=2),
        ColumnSpec("sex", "categorical", levels=("female", "male")),
        ColumnSpec("smoker", "binary"),
    ),
)


def make_table(n_rows=60, random_state=0):
    rng = np.random.default_rng(random_state)
    return pd.DataFrame(
        {
            "age": pd.array(rng.integers(40, 80, n_rows), dtype="Int64"),
            "ldl": rng.uniform(1, 8, n_rows).round(2),
            "sex": pd.Categorical(rng.choice(["female", "male"], n_rows), categories=["female", "male"]),
            "smoker": pd.array(rng.integers(0, 2, n_rows), dtype="Int64"),
        }
    )


def tiny_model(table, random_state=0):
    """A GPT-2 with 2 layers of width 64 and a BPE tokenizer trained on the rows."""
    texts = encode_table(table, DICTIONARY)
    tokenizer = train_row_tokenizer(texts, vocab_size=300)
    config = ScratchModelConfig(n_layer=2, n_embd=64, n_head=2)
    return build_scratch_model(tokenizer, config, texts, random_state=random_state), tokenizer


def validation_loss(model, tokenizer, rows, folder, precision="auto"):
    """Loss on ``rows`` as the Trainer measures it after each epoch, in the training arithmetic."""
    bf16 = resolve_precision(precision) == "bf16"
    args = TrainingArguments(
        output_dir=str(folder), per_device_eval_batch_size=8, report_to="none", remove_unused_columns=False,
        disable_tqdm=True, dataloader_pin_memory=False, bf16=bf16, use_cpu=bf16 or not torch.cuda.is_available(),
    )
    dataset = PermutedRowDataset(rows, DICTIONARY, tokenizer)
    trainer = Trainer(model=model, args=args, eval_dataset=dataset, data_collator=RowCollator(tokenizer.pad_token_id))
    return trainer.evaluate()["eval_loss"]


# --------------------------------------------------------------------------- memorisation statistic


def test_share_counts_ties_as_half():
    share = share_closer_to_train([0.0, 0.2, 0.5, 0.1], [0.1, 0.2, 0.3, 0.0])
    assert share == pytest.approx((1 + 0.5) / 4)


def test_share_of_no_rows_is_nan():
    assert np.isnan(share_closer_to_train([], []))


def test_share_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="same shape"):
        share_closer_to_train([0.1, 0.2], [0.3])


@pytest.mark.parametrize(
    "n_synthetic, expected_share, alpha, threshold",
    [
        # Binomial(10, 0.5): P(X <= 7) = 968/1024 < 0.95 <= P(X <= 8) = 1013/1024.
        (10, 0.5, 0.05, 0.8),
        # Binomial(4, 0.75): P(X <= 3) = 1 - 0.75**4 = 0.684, between 0.65 and 0.7.
        (4, 0.75, 0.35, 0.75),
        (4, 0.75, 0.3, 1.0),
        # 0.9**43 = 0.0108 > 0.01, so 43 rows cannot flag an epoch; 0.9**44 = 0.0097, so 44 rows can.
        (43, 0.9, 0.01, 1.0),
        (44, 0.9, 0.01, 43 / 44),
    ],
)
def test_threshold_is_binomial_quantile(n_synthetic, expected_share, alpha, threshold):
    assert memorisation_threshold(n_synthetic, expected_share, alpha) == pytest.approx(threshold)


def test_judge_flags_share_above_threshold():
    # 9 of 10 rows closer to train, with train and holdout of equal size: 0.9 > 0.8.
    train_distance = [0.0] * 9 + [0.5]
    holdout_distance = [0.3] * 10
    check = judge_memorisation(train_distance, holdout_distance, n_train=50, n_holdout=50, alpha=0.05)
    assert check.share_closer_to_train == pytest.approx(0.9)
    assert check.expected_share == pytest.approx(0.5)
    assert check.threshold == pytest.approx(0.8)
    assert check.memorising


def test_judge_passes_share_at_threshold():
    train_distance = [0.0] * 8 + [0.5, 0.5]
    check = judge_memorisation(train_distance, [0.3] * 10, n_train=50, n_holdout=50, alpha=0.05)
    assert check.share_closer_to_train == pytest.approx(0.8)
    assert not check.memorising


def test_judge_expected_share_follows_split_sizes():
    check = judge_memorisation([0.1] * 10, [0.2] * 10, n_train=90, n_holdout=10, alpha=0.05)
    assert check.expected_share == pytest.approx(0.9)
    # Binomial(10, 0.9) puts 0.349 on 10, more than alpha, so even 10 of 10 rows do not flag the epoch.
    assert check.threshold == pytest.approx(1.0)
    assert not check.memorising


def test_judge_never_flags_without_rows():
    check = judge_memorisation([], [], n_train=50, n_holdout=50, alpha=0.05)
    assert check.n_synthetic == 0
    assert not check.memorising


def test_copies_of_train_rows_are_memorised():
    real = make_table(120, random_state=1)
    train, holdout = split_validation(real, 0.5, random_state=0)
    check = check_memorisation(train.head(40), train, holdout, DICTIONARY, alpha=0.01)
    assert check.share_closer_to_train == pytest.approx(1.0)
    assert check.memorising


def test_fresh_rows_are_not_memorised():
    real = make_table(120, random_state=1)
    train, holdout = split_validation(real, 0.5, random_state=0)
    check = check_memorisation(make_table(40, random_state=2), train, holdout, DICTIONARY, alpha=0.01)
    assert check.expected_share == pytest.approx(0.5)
    assert not check.memorising


def memorisation_callback(train, holdout, tokenizer=None):
    return MemorisationCheckCallback(tokenizer, DICTIONARY, train, holdout, n_samples=40, from_epoch=2, alpha=0.01)


def test_callback_stops_on_copies():
    real = make_table(120, random_state=1)
    train, holdout = split_validation(real, 0.5, random_state=0)
    callback = memorisation_callback(train, holdout)
    state, control = TrainerState(epoch=3.0, global_step=30), TrainerControl(should_evaluate=True)
    callback.record_check(train.head(40), state, control)
    assert control.should_training_stop
    assert not control.should_evaluate
    record = state.log_history[-1]
    assert record["epoch"] == 3.0
    assert record[LOG_KEY]["memorising"] is True


def test_callback_continues_on_fresh_rows():
    real = make_table(120, random_state=1)
    train, holdout = split_validation(real, 0.5, random_state=0)
    callback = memorisation_callback(train, holdout)
    state, control = TrainerState(epoch=3.0, global_step=30), TrainerControl(should_evaluate=True)
    callback.record_check(make_table(40, random_state=2), state, control)
    assert not control.should_training_stop
    assert control.should_evaluate
    assert state.log_history[-1][LOG_KEY]["memorising"] is False


def test_callback_sampling_is_seeded_and_leaves_rng_alone():
    real = make_table(60)
    train, holdout = split_validation(real, 0.5, random_state=0)
    model, tokenizer = tiny_model(real)
    callback = memorisation_callback(train, holdout, tokenizer)
    model.train()
    before = torch.get_rng_state()
    first = callback.sample_rows(model)
    second = callback.sample_rows(model)
    pd.testing.assert_frame_equal(first, second)
    assert torch.equal(torch.get_rng_state(), before)
    assert model.training


# --------------------------------------------------------------------------- settings and split


def test_split_is_seeded_and_disjoint():
    table = make_table(50)
    fit, validation = split_validation(table, 0.2, random_state=3)
    again, _ = split_validation(table, 0.2, random_state=3)
    assert len(validation) == 10
    assert len(fit) == 40
    assert not set(fit.index) & set(validation.index)
    assert list(fit.index) == list(again.index)


def test_split_needs_a_training_row():
    with pytest.raises(ConfigError, match="leaves no row to train on"):
        split_validation(make_table(2), 0.9)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"validation_fraction": 1.0}, "validation_fraction must be at least 0 and below 1, got 1.0"),
        ({"patience": -1}, "patience must be at least 0"),
        ({"memorisation_check": True}, "memorisation_check compares synthetic rows with held-out rows"),
        ({"memorisation_check_alpha": 0.0}, "memorisation_check_alpha must be a number between 0 and 1"),
        ({"memorisation_check_n_samples": 0}, "memorisation_check_n_samples must be at least 1, got 0"),
        ({"save_total_limit": 0}, "save_total_limit must be at least 1, got 0"),
    ],
)
def test_invalid_settings_rejected(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainingSettings(**settings)


def test_planned_epochs_follow_max_steps():
    assert planned_epochs(100, TrainingSettings(epochs=2.5)) == 3
    # 7 steps per epoch: 30 steps end in the fifth epoch.
    assert planned_epochs(100, TrainingSettings(max_steps=30, batch_size=16)) == 5


# --------------------------------------------------------------------------- token budget


def short_context_model(table, folder):
    texts = encode_table(table, DICTIONARY)
    tokenizer = train_row_tokenizer(texts, vocab_size=300)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return load_pretrained_model(folder)


def test_token_budget_fails_before_training(tmp_path):
    table = make_table(20)
    model, tokenizer = short_context_model(table, tmp_path / "short")
    settings = TrainingSettings(epochs=3, batch_size=8)
    needed = longest_row_tokens(tokenizer, PermutedRowDataset(table, DICTIONARY, tokenizer), 3)
    with pytest.raises(TokenBudgetError) as caught:
        fine_tune(model, tokenizer, table, DICTIONARY, tmp_path / "out", settings, progress=False)
    message = str(caught.value)
    assert f"the longest encoded row needs {needed} tokens" in message
    assert "the model's context allows 16" in message
    assert f"set n_positions to at least {needed}" in message
    assert not (tmp_path / "out").exists()


def test_token_count_covers_every_planned_epoch():
    table = make_table(30)
    _, tokenizer = tiny_model(table)
    dataset = PermutedRowDataset(table, DICTIONARY, tokenizer)
    counts = [longest_row_tokens(tokenizer, dataset, n) for n in (1, 5)]
    assert counts[1] >= counts[0]
    assert dataset.epoch == 0


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_patience_stops_overfitting_and_keeps_best(tmp_path):
    table = make_table(24)
    model, tokenizer = tiny_model(table)
    settings = TrainingSettings(
        epochs=60, batch_size=8, learning_rate=1e-2, warmup_ratio=0.0, validation_fraction=0.25, patience=2
    )
    result = fine_tune(model, tokenizer, table, DICTIONARY, tmp_path / "m", settings, progress=False)
    losses = validation_history(result.output_dir)

    assert result.stopped_by_patience
    assert result.epochs < 60
    assert len(losses) == result.epochs
    assert result.best_epoch == losses["epoch"][losses["loss"].idxmin()]
    assert result.best_epoch == result.epochs - 2
    assert result.best_validation_loss == pytest.approx(losses["loss"].min())

    saved, saved_tokenizer = load_trained_model(result.output_dir)
    _, validation_rows = split_validation(table, 0.25, random_state=0)
    saved_loss = validation_loss(saved, saved_tokenizer, validation_rows, tmp_path / "evaluation")
    assert saved_loss == pytest.approx(result.best_validation_loss, abs=1e-6)
    assert saved_loss != pytest.approx(losses["loss"].iloc[-1], abs=1e-6)
    assert not (tmp_path / "m" / CHECKPOINTS).exists()


@pytest.mark.slow
def test_memorisation_check_logged_each_epoch(tmp_path, capfd):
    table = make_table(40)
    model, tokenizer = tiny_model(table)
    settings = TrainingSettings(
        epochs=3, batch_size=8, learning_rate=3e-3, validation_fraction=0.25, memorisation_check=True,
        memorisation_check_from_epoch=2, memorisation_check_n_samples=16,
    )
    result = fine_tune(model, tokenizer, table, DICTIONARY, tmp_path / "m", settings, progress=False)
    records = read_training_log(result.output_dir)["memorisation_check"]
    assert [record["epoch"] for record in records] == [2.0, 3.0]
    assert all(record["expected_share"] == pytest.approx(30 / 40) for record in records)
    assert result.stopped_by_memorisation_check == any(record["memorising"] for record in records)
    assert "it/s" not in capfd.readouterr().err


# --------------------------------------------------------------------------- checkpoints and resumption


RESUME_SETTINGS = TrainingSettings(epochs=4, batch_size=8, learning_rate=3e-3, logging_steps=2)


def start_fine_tune(output_dir, marker=None):
    """Fine-tune a tiny model; with ``marker``, write it after the first checkpoint and hang."""
    table = make_table(40)
    model, tokenizer = tiny_model(table)
    callbacks = [HangAfterFirstCheckpoint(marker)] if marker else []
    return fine_tune(model, tokenizer, table, DICTIONARY, output_dir, RESUME_SETTINGS, progress=False,
                     callbacks=callbacks)


class HangAfterFirstCheckpoint(TrainerCallback):
    """Write a marker file once the first checkpoint is on disk, then wait to be killed."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def on_save(self, args, state, control, **kwargs):
        self.marker.write_text(str(state.global_step))
        time.sleep(600)


def kill_after_first_checkpoint(output_dir, marker):
    code = f"import test_training as t; t.start_fine_tune({str(output_dir)!r}, {str(marker)!r})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"fine-tune exited before its first checkpoint: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("no checkpoint within 300 s")
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    return process.returncode


@pytest.mark.slow
def test_killed_fine_tune_resumes(tmp_path):
    output_dir, marker = tmp_path / "m", tmp_path / "first_checkpoint"
    assert kill_after_first_checkpoint(output_dir, marker) == -signal.SIGKILL
    checkpoint = last_complete_checkpoint(output_dir / CHECKPOINTS)
    assert checkpoint.name == f"checkpoint-{marker.read_text()}"
    assert not (output_dir / "training_log.json").exists()

    table = make_table(40)
    model, tokenizer = tiny_model(table)
    result = fine_tune(model, tokenizer, table, DICTIONARY, output_dir, RESUME_SETTINGS, progress=False, resume=True)
    log = read_training_log(output_dir)

    assert result.resumed_from_epoch == 1.0
    assert log["resumptions"] == [{"epoch": 1.0, "step": 5, "checkpoint": "checkpoint-5"}]
    assert result.epochs == 4.0
    assert result.steps == 4 * 5
    assert (output_dir / "model.safetensors").is_file()

    uninterrupted = start_fine_tune(tmp_path / "straight")
    assert result.final_loss == pytest.approx(uninterrupted.final_loss, rel=1e-5)
    resumed_weights = load_file(output_dir / "model.safetensors")
    straight_weights = load_file(tmp_path / "straight" / "model.safetensors")
    assert resumed_weights.keys() == straight_weights.keys()
    for name, weight in resumed_weights.items():
        torch.testing.assert_close(weight, straight_weights[name], msg=name)


@pytest.mark.slow
def test_resume_rejects_other_settings(tmp_path):
    table = make_table(40)
    model, tokenizer = tiny_model(table)
    settings = TrainingSettings(max_steps=5, batch_size=8, keep_checkpoints=True)
    fine_tune(model, tokenizer, table, DICTIONARY, tmp_path / "m", settings, progress=False)
    assert (tmp_path / "m" / CHECKPOINTS / RUN_IDENTITY).is_file()
    changed = TrainingSettings(max_steps=5, batch_size=8, learning_rate=1e-3, keep_checkpoints=True)
    with pytest.raises(ConfigError, match="these entries differ: learning_rate"):
        fine_tune(model, tokenizer, table, DICTIONARY, tmp_path / "m", changed, progress=False, resume=True)


def test_resume_without_checkpoint_starts_afresh(tmp_path, caplog):
    folder = tmp_path / CHECKPOINTS
    (folder / "checkpoint-3").mkdir(parents=True)
    with caplog.at_level("INFO", logger="synthlib.checkpoints"):
        assert prepare_checkpoints(folder, {"epochs": 1}, resume=True) is None
    assert "No complete checkpoint" in caplog.text
    assert not (folder / "checkpoint-3").exists()
    assert json.loads((folder / RUN_IDENTITY).read_text()) == {"epochs": 1}


@pytest.mark.slow
def test_train_model_takes_config_section(toy_study_files, tmp_path):
    run_dir = tmp_path / "run"
    study.prepare_data(run_dir, str(toy_study_files["csv"]), toy_study_files["dictionary"], holdout_fraction=0.25)
    section = resolve_config(
        {"training": {"epochs": 1, "batch_size": 32, "validation_fraction": 0.1, "keep_checkpoints": True}}
    )["training"]
    scratch = ScratchModelConfig(n_layer=2, n_embd=64, n_head=2, vocab_size=300)
    result = study.train_model(run_dir, scratch_config=scratch, settings=section)
    written = read_json(RunPaths(run_dir).step_results("training"))
    assert result.n_validation_rows == 30
    assert written["n_validation_rows"] == 30
    assert written["best_epoch"] == 1.0

    resumed = study.train_model(run_dir, scratch_config=scratch, settings=section, resume=True)
    assert resumed.resumed_from_epoch == 1.0
    assert resumed.steps == result.steps


# --------------------------------------------------------------------------- precision

def test_precision_rejects_unknown_value():
    with pytest.raises(ConfigError, match="precision must be one of auto, bf16, fp32, got 'fp16'"):
        TrainingSettings(precision="fp16")


def test_config_rejects_unknown_precision():
    with pytest.raises(ConfigError, match="training.precision must be one of auto, bf16, fp32, got 'half'"):
        resolve_config({"training": {"precision": "half"}})


def test_auto_precision_follows_hardware(monkeypatch):
    import synthlib.training as training

    monkeypatch.setattr(training, "native_bf16", lambda: True)
    assert training.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(training, "native_bf16", lambda: False)
    assert training.resolve_precision("auto") == "fp32"
    assert training.resolve_precision("bf16") == "bf16"
    assert training.resolve_precision("fp32") == "fp32"


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_precision_trains_and_saves_float32(tmp_path, precision):
    table = make_table()
    model, tokenizer = tiny_model(table)
    settings = TrainingSettings(epochs=1, batch_size=8, precision=precision)
    result = fine_tune(model, tokenizer, table, DICTIONARY, tmp_path, settings, progress=False)
    assert result.precision == precision
    assert np.isfinite(result.final_loss)
    weights = load_file(tmp_path / "model.safetensors")
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}


def test_bf16_loss_close_to_fp32(tmp_path):
    """Mixed precision changes the arithmetic, not what is learned: the losses stay close."""
    table = make_table()
    losses = {}
    for precision in ("fp32", "bf16"):
        model, tokenizer = tiny_model(table)
        settings = TrainingSettings(epochs=2, batch_size=8, precision=precision)
        losses[precision] = fine_tune(model, tokenizer, table, DICTIONARY, tmp_path / precision, settings, progress=False).final_loss
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)
