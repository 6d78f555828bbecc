"""Fine-tuning a causal language model on rows written as text, with the Hugging Face Trainer."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments

from synthlib.dictionary import DataDictionary
from synthlib.encoding import encode_row
from synthlib.models import check_token_budget, context_length, required_positions

logger = logging.getLogger(__name__)

TRAINING_LOG = "training_log.json"


class PermutedRowDataset(torch.utils.data.Dataset):
    """Training rows as token ids, with a fresh column order per row and epoch.

    The order of row ``i`` in epoch ``e`` is drawn from a generator seeded with
    ``(random_state, e, i)``, so an epoch is reproducible whatever the data-loader order.

    Parameters
    ----------
    data : pandas.DataFrame
        Typed training table.
    dictionary : DataDictionary
        Declarations of the modelled columns.
    tokenizer : transformers.PreTrainedTokenizerBase
        Tokenizer with ``bos_token`` (or ``eos_token``) and ``eos_token`` set.
    random_state : int
        Seed of the permutations.
    """

    def __init__(self, data: pd.DataFrame, dictionary: DataDictionary, tokenizer, random_state=0):
        self.columns = [name for name in dictionary.modelled_columns if name in data.columns]
        self.records = data[self.columns].to_dict("records")
        self.dictionary = dictionary
        self.tokenizer = tokenizer
        self.random_state = random_state
        self.epoch = 0

    def __len__(self):
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the permutations of ``epoch``."""
        self.epoch = int(epoch)

    def text(self, index: int) -> str:
        """Return row ``index`` encoded with its permutation of the current epoch."""
        rng = np.random.default_rng([self.random_state, self.epoch, index])
        order = list(rng.permutation(self.columns))
        return encode_row(self.records[index], order, self.dictionary)

    def __getitem__(self, index):
        return {"input_ids": encode_for_training(self.tokenizer, self.text(index))}


def row_prefix_ids(tokenizer) -> list:
    """Token ids that start every row: the BOS token, or EOS for tokenizers without one."""
    token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [token_id]


def encode_for_training(tokenizer, text: str) -> list:
    """Token ids of one training row: start token, the text, end-of-sequence token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return row_prefix_ids(tokenizer) + ids + [tokenizer.eos_token_id]


class RowCollator:
    """Pad a batch on the right; the loss covers every real token, end of row included.

    Labels are masked (-100) by the attention mask, not by token id, so models whose padding
    token equals their end-of-sequence token still learn where a row ends.
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features):
        longest = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(features), longest), dtype=torch.long)
        for i, feature in enumerate(features):
            ids = torch.tensor(feature["input_ids"], dtype=torch.long)
            input_ids[i, : len(ids)] = ids
            attention_mask[i, : len(ids)] = 1
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


class _EpochCallback(TrainerCallback):
    """Tell the dataset which epoch starts, and stop once the time budget is spent."""

    def __init__(self, dataset: PermutedRowDataset, max_seconds: float | None):
        self.dataset = dataset
        self.max_seconds = max_seconds
        self.started = None
        self.stopped_by_budget = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(round(state.epoch or 0)))

    def on_step_end(self, args, state, control, **kwargs):
        if self.max_seconds is not None and time.perf_counter() - self.started > self.max_seconds:
            logger.info("Training time budget of %.0f s spent at step %d", self.max_seconds, state.global_step)
            self.stopped_by_budget = True
            control.should_training_stop = True


@dataclass(frozen=True)
class TrainingSettings:
    """Trainer settings exposed to configs and notebooks.

    Attributes
    ----------
    epochs : float
        Passes over the training rows.
    max_steps : int or None
        Stop after this many optimizer steps (overrides ``epochs``); for tests and smoke runs.
    max_seconds : float or None
        Stop after this much wall-clock training time; for equal-budget comparisons.
    batch_size : int
        Rows per optimizer step.
    learning_rate : float
        Peak learning rate of the linear schedule.
    weight_decay : float
        AdamW weight decay.
    warmup_ratio : float
        Share of the steps spent warming the learning rate up.
    logging_steps : int
        Steps between two loss records.
    """

    epochs: float = 5
    max_steps: int | None = None
    max_seconds: float | None = None
    batch_size: int = 16
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    logging_steps: int = 20


@dataclass(frozen=True)
class TrainingResult:
    """Outcome of :func:`fine_tune`.

    Attributes
    ----------
    output_dir : str
        Directory holding the model, the tokenizer and ``training_log.json``.
    train_seconds : float
        Wall-clock seconds spent in ``Trainer.train``.
    epochs : float
        Epochs completed.
    steps : int
        Optimizer steps completed.
    final_loss : float
        Mean training loss of the last logged interval.
    stopped_by_budget : bool
        Whether ``max_seconds`` ended training.
    max_row_tokens : int
        Token count of the longest training row with its start and end tokens.
    """

    output_dir: str
    train_seconds: float
    epochs: float
    steps: int
    final_loss: float
    stopped_by_budget: bool
    max_row_tokens: int


def fine_tune(
    model,
    tokenizer,
    train: pd.DataFrame,
    dictionary: DataDictionary,
    output_dir,
    settings: TrainingSettings = TrainingSettings(),
    random_state=0,
    progress: bool = True,
) -> TrainingResult:
    """Fine-tune ``model`` on the training rows and save model, tokenizer and training log.

    Parameters
    ----------
    model : transformers.PreTrainedModel or peft.PeftModel
        Causal language model (from :mod:`synthlib.models`).
    tokenizer : transformers.PreTrainedTokenizerBase
        Its tokenizer.
    train : pandas.DataFrame
        Typed training table.
    dictionary : DataDictionary
        Declarations of the modelled columns.
    output_dir : str or pathlib.Path
        Where the model, the tokenizer and ``training_log.json`` are written.
    settings : TrainingSettings
        Epochs, batch size, learning rate and budgets.
    random_state : int
        Seed of the permutations, the data order and dropout.
    progress : bool
        Show the Trainer's progress bar.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TokenBudgetError
        When the longest row does not fit in the model's context.
    """
    output_dir = Path(output_dir)
    dataset = PermutedRowDataset(train, dictionary, tokenizer, random_state=random_state)
    needed = required_positions(tokenizer, (dataset.text(i) for i in range(len(dataset))))
    allowed = context_length(model)
    if allowed is not None:
        check_token_budget(needed, allowed)

    callback = _EpochCallback(dataset, settings.max_seconds)
    args = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps is not None else -1,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        save_strategy="no",
        report_to="none",
        seed=random_state,
        data_seed=random_state,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=RowCollator(tokenizer.pad_token_id),
        callbacks=[callback],
    )
    if not progress:
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - started

    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    losses = [entry for entry in trainer.state.log_history if "loss" in entry]
    result = TrainingResult(
        output_dir=str(output_dir),
        train_seconds=train_seconds,
        epochs=float(trainer.state.epoch or 0.0),
        steps=int(trainer.state.global_step),
        final_loss=float(losses[-1]["loss"]) if losses else float("nan"),
        stopped_by_budget=callback.stopped_by_budget,
        max_row_tokens=needed,
    )
    log = {"result": asdict(result), "settings": asdict(settings), "history": trainer.state.log_history}
    (output_dir / TRAINING_LOG).write_text(json.dumps(log, indent=2))
    logger.info(
        "Trained %d steps (%.2f epochs) in %.1f s, final loss %.3f",
        result.steps, result.epochs, result.train_seconds, result.final_loss,
    )
    return result


def read_training_log(model_dir) -> dict:
    """Read ``training_log.json`` written by :func:`fine_tune`."""
    return json.loads((Path(model_dir) / TRAINING_LOG).read_text())


def loss_history(model_dir) -> pd.DataFrame:
    """Return the logged training loss as a table with ``step``, ``epoch`` and ``loss``."""
    history = read_training_log(model_dir)["history"]
    rows = [(h["step"], h["epoch"], h["loss"]) for h in history if "loss" in h]
    return pd.DataFrame(rows, columns=["step", "epoch", "loss"])
