"""Fine-tuning a causal language model on rows written as text, with the Hugging Face Trainer.

:func:`fine_tune` can hold out validation rows to stop on validation loss and keep the best
epoch, stop when sampled rows start to copy training rows (:mod:`synthlib.memorisation`), and
resume an interrupted run from its last epoch checkpoint (:mod:`synthlib.checkpoints`). Launched
with several processes (``torchrun``), it trains with DistributedDataParallel and rank 0 writes
every file (:mod:`synthlib.distributed`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.utils import logging as transformers_logging

from synthlib import distributed
from synthlib.checkpoints import checkpoint_epoch, prepare_checkpoints, table_fingerprint
from synthlib.dictionary import DataDictionary
from synthlib.encoding import encode_row
from synthlib.config import PRECISIONS
from synthlib.exceptions import ConfigError, DataValidationError
from synthlib.memorisation import MemorisationCheckCallback, check_alpha, memorisation_records
from synthlib.models import check_token_budget, context_length, required_positions

logger = logging.getLogger(__name__)

TRAINING_LOG = "training_log.json"
CHECKPOINTS = "checkpoints"
RESUMED_KEY = "resumed_from_checkpoint"
# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("max_seconds", "logging_steps", "save_total_limit", "keep_checkpoints")


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
    """Tell the dataset which epoch starts, stop once the time budget is spent, and log a resumption."""

    def __init__(self, dataset: PermutedRowDataset, max_seconds: float | None, resumed_from: str | None = None):
        self.dataset = dataset
        self.max_seconds = max_seconds
        self.resumed_from = resumed_from
        self.started = None
        self.stopped_by_budget = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        if self.resumed_from is not None:
            # The entry becomes part of every later checkpoint, so repeated resumptions all show in the log.
            state.log_history.append({"epoch": state.epoch, "step": state.global_step, RESUMED_KEY: self.resumed_from})

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
        Stop after this much wall-clock training time in one call of :func:`fine_tune`; for
        equal-budget comparisons.
    batch_size : int
        Rows per optimizer step and per validation batch, in each process: with several processes an
        optimizer step covers ``batch_size`` rows times the number of processes.
    learning_rate : float
        Peak learning rate of the linear schedule.
    weight_decay : float
        AdamW weight decay.
    warmup_ratio : float
        Share of the steps spent warming the learning rate up.
    logging_steps : int
        Steps between two loss records.
    validation_fraction : float
        Share of the training rows held out as validation rows, drawn with ``random_state``. With
        validation rows the loss on them is measured after every epoch and the epoch with the
        lowest validation loss is the model saved. An epoch flagged by the memorisation check is
        not evaluated, so it is never the one saved unless no epoch was evaluated before it.
        0 trains on every row and saves the last epoch.
    patience : int or None
        Stop after this many epochs in a row without a lower validation loss; 0 or None trains
        all epochs. Needs validation rows.
    memorisation_check : bool
        Sample rows after each epoch and stop once they are closer to the training rows than
        chance allows (:mod:`synthlib.memorisation`). Needs validation rows, which serve as the
        holdout rows of the check.
    memorisation_check_from_epoch : int
        First epoch (counted from 1) that the memorisation check runs after.
    memorisation_check_n_samples : int
        Rows generated per check, in one batch; the check compares the valid ones.
    memorisation_check_alpha : float
        One-sided level of the check's binomial test, in (0, 1).
    save_total_limit : int
        Epoch checkpoints kept at most; the best one and the latest one are always kept.
    keep_checkpoints : bool
        Keep the checkpoint folder after training finishes; by default it is removed, because
        checkpoints only serve to resume an interrupted run.
    precision : {"auto", "bf16", "fp32"}
        Arithmetic of the forward and backward passes. "bf16" runs them under bfloat16 autocast
        (mixed precision: weights, optimizer state and the saved model stay float32). "auto"
        takes bf16 where the hardware computes it natively (a CUDA device with bf16, or a CPU
        with AVX512-BF16 or AMX-BF16) and fp32 elsewhere, where emulated bf16 would be slower.
    """

    epochs: float = 5
    max_steps: int | None = None
    max_seconds: float | None = None
    batch_size: int = 16
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    logging_steps: int = 20
    validation_fraction: float = 0.0
    patience: int | None = 3
    memorisation_check: bool = False
    memorisation_check_from_epoch: int = 2
    memorisation_check_n_samples: int = 200
    memorisation_check_alpha: float = 0.01
    save_total_limit: int = 2
    keep_checkpoints: bool = False
    precision: str = "auto"

    def __post_init__(self):
        problems = []
        if not 0 <= self.validation_fraction < 1:
            problems.append(f"validation_fraction must be at least 0 and below 1, got {self.validation_fraction!r}")
        if self.patience is not None and self.patience < 0:
            problems.append(f"patience must be at least 0 (or None), got {self.patience!r}")
        if self.memorisation_check and self.validation_fraction == 0:
            problems.append(
                "memorisation_check compares synthetic rows with held-out rows, so it needs validation rows: "
                "set validation_fraction above 0 (for example 0.1)"
            )
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("memorisation_check_from_epoch", "memorisation_check_n_samples", "save_total_limit"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)!r}")
        try:
            check_alpha(self.memorisation_check_alpha)
        except ConfigError as error:
            problems.append(str(error))
        if problems:
            raise ConfigError("invalid training settings: " + "; ".join(problems))

    @property
    def stops_on_patience(self) -> bool:
        """Whether validation loss can end training early."""
        return self.validation_fraction > 0 and bool(self.patience)


@dataclass(frozen=True)
class TrainingResult:
    """Outcome of :func:`fine_tune`.

    Attributes
    ----------
    output_dir : str
        Directory holding the model, the tokenizer and ``training_log.json``.
    train_seconds : float
        Wall-clock seconds spent in ``Trainer.train`` in this call (a resumed run counts only
        the resumed part).
    epochs : float
        Epochs completed, those before a resumption included.
    steps : int
        Optimizer steps completed.
    final_loss : float
        Mean training loss of the last logged interval.
    stopped_by_budget : bool
        Whether ``max_seconds`` ended training.
    max_row_tokens : int
        Token count of the longest training row, over the column orders of every planned epoch,
        with its start and end tokens.
    n_train_rows, n_validation_rows : int
        Rows trained on and rows held out for validation.
    best_epoch : float or None
        Epoch of the saved model when validation rows select it; None without validation rows or
        when no epoch was evaluated.
    best_validation_loss : float or None
        Validation loss of that epoch, computed in the training arithmetic (``precision``).
    stopped_by_patience : bool
        Whether ``patience`` epochs without a lower validation loss ended training.
    stopped_by_memorisation_check : bool
        Whether the memorisation check ended training.
    resumed_from_epoch : float or None
        Epoch of the checkpoint this call resumed from; None for a run started afresh.
    world_size : int
        Processes that trained the model together (DDP), 1 for a single process.
    precision : str
        Arithmetic the passes ran in, "bf16" or "fp32" ("auto" resolved).
    """

    output_dir: str
    train_seconds: float
    epochs: float
    steps: int
    final_loss: float
    stopped_by_budget: bool
    max_row_tokens: int
    n_train_rows: int
    n_validation_rows: int
    best_epoch: float | None
    best_validation_loss: float | None
    stopped_by_patience: bool
    stopped_by_memorisation_check: bool
    resumed_from_epoch: float | None
    world_size: int
    precision: str = "fp32"


def split_validation(train: pd.DataFrame, fraction: float, random_state=0):
    """Split validation rows off the training rows, uniformly at random.

    Parameters
    ----------
    train : pandas.DataFrame
        Training rows.
    fraction : float
        Share of the rows held out, rounded to a whole number of rows but at least one; 0 holds
        out none.
    random_state : int
        Seed of the draw.

    Returns
    -------
    fit_rows, validation_rows : pandas.DataFrame
        Both keep the original order and index.

    Raises
    ------
    ConfigError
        When the split would leave no row to train on.
    """
    if fraction == 0:
        return train, train.iloc[:0]
    n_validation = max(1, round(fraction * len(train)))
    if n_validation >= len(train):
        raise ConfigError(
            f"validation_fraction={fraction} of {len(train)} training rows leaves no row to train on: "
            "lower validation_fraction or train on more rows"
        )
    held_out = np.zeros(len(train), dtype=bool)
    held_out[np.random.default_rng(random_state).choice(len(train), n_validation, replace=False)] = True
    return train[~held_out], train[held_out]


def steps_per_epoch(n_rows: int, batch_size: int, n_processes: int = 1) -> int:
    """Return the optimizer steps of one epoch over ``n_rows`` rows in ``n_processes`` processes.

    The Trainer cuts an epoch into batches of ``batch_size`` rows and deals them out to the
    processes in turn. It fills the last batches up with rows from the start of the epoch, so every
    process takes the same number of steps of full batches.
    """
    return math.ceil(math.ceil(n_rows / batch_size) / n_processes)


def planned_epochs(n_rows: int, settings: TrainingSettings, n_processes: int = 1) -> int:
    """Return the number of epochs, the last one possibly partial, that training will start."""
    if settings.max_steps is not None:
        return math.ceil(settings.max_steps / steps_per_epoch(n_rows, settings.batch_size, n_processes))
    return math.ceil(settings.epochs)


def longest_row_tokens(tokenizer, dataset: PermutedRowDataset, n_epochs: int) -> int:
    """Return the positions the longest row needs over the column orders of ``n_epochs`` epochs.

    Every epoch draws new column orders, and a tokenizer can split the same row into a few more
    tokens in another order, so every order that training will use is counted.
    """
    texts = []
    for epoch in range(n_epochs):
        dataset.set_epoch(epoch)
        texts.extend(dataset.text(i) for i in range(len(dataset)))
    dataset.set_epoch(0)
    return required_positions(tokenizer, texts)


def _check_context(model, tokenizer, dataset, validation, settings, n_processes) -> int:
    """Raise TokenBudgetError before training when a training or validation row does not fit."""
    needed = longest_row_tokens(tokenizer, dataset, planned_epochs(len(dataset), settings, n_processes))
    if validation is not None:
        needed = max(needed, longest_row_tokens(tokenizer, validation, 1))
    allowed = context_length(model)
    if allowed is not None:
        check_token_budget(needed, allowed)
    return needed


def _run_identity(settings: TrainingSettings, train: pd.DataFrame, random_state, n_processes: int) -> dict:
    """Describe what a resumed run must share with the interrupted one.

    The number of processes sets the steps of an epoch, so a run resumes only with as many
    processes as it started with. It is recorded above 1 only, so single-process checkpoints
    written before it was recorded still resume.
    """
    kept = {key: value for key, value in asdict(settings).items() if key not in RESUMABLE_CHANGES}
    identity = {**kept, "random_state": random_state, "n_rows": len(train), "data_sha256": table_fingerprint(train)}
    if n_processes > 1:
        identity["world_size"] = n_processes
    return identity


def _training_arguments(settings: TrainingSettings, checkpoint_dir: Path, validate: bool, random_state,
                        progress: bool, n_processes: int) -> TrainingArguments:
    bf16 = resolve_precision(settings.precision) == "bf16"
    placement = distributed.trainer_arguments(n_processes)
    if bf16 and not torch.cuda.is_available():
        # The Trainer rejects bf16 without a GPU unless use_cpu is set.
        placement.setdefault("use_cpu", True)
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps is not None else -1,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        eval_strategy="epoch" if validate else "no",
        save_strategy="epoch",
        save_total_limit=settings.save_total_limit,
        load_best_model_at_end=validate,
        metric_for_best_model="eval_loss" if validate else None,
        greater_is_better=False if validate else None,
        restore_callback_states_from_checkpoint=True,
        report_to="none",
        seed=random_state,
        data_seed=random_state,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,
        bf16=bf16,
        **placement,
    )


def native_bf16() -> bool:
    """Return whether this machine computes bfloat16 natively (a CUDA device or CPU flags)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """Return "bf16" or "fp32" for a ``precision`` setting ("auto" follows :func:`native_bf16`)."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


def _stopping_callbacks(settings, tokenizer, dictionary, fit_rows, validation_rows, random_state) -> list:
    callbacks = []
    if settings.stops_on_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=settings.patience))
    if settings.memorisation_check:
        callbacks.append(
            MemorisationCheckCallback(
                tokenizer,
                dictionary,
                fit_rows,
                validation_rows,
                n_samples=settings.memorisation_check_n_samples,
                from_epoch=settings.memorisation_check_from_epoch,
                alpha=settings.memorisation_check_alpha,
                random_state=random_state,
            )
        )
    return callbacks


def fine_tune(
    model,
    tokenizer,
    train: pd.DataFrame,
    dictionary: DataDictionary,
    output_dir,
    settings: TrainingSettings = TrainingSettings(),
    random_state=0,
    progress: bool = True,
    resume: bool = False,
    callbacks=(),
) -> TrainingResult:
    """Fine-tune ``model`` on the training rows and save model, tokenizer and training log.

    A checkpoint is written to ``output_dir/checkpoints`` after every epoch (at most
    ``settings.save_total_limit`` are kept), so an interrupted run can continue with
    ``resume=True``. With ``settings.validation_fraction`` above 0, validation rows are held out,
    the validation loss is measured after every epoch, training stops after ``settings.patience``
    epochs without improvement, and the epoch with the lowest validation loss is the one saved.

    Launched with several processes (``torchrun``), every process calls this function with the
    same arguments and the Trainer trains with DistributedDataParallel. Rank 0 takes every stopping
    decision and writes every file, and every rank returns rank 0's result.

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
        Epochs, batch size, learning rate, budgets, early stopping and checkpoints.
    random_state : int
        Seed of the validation split, the permutations, the data order, dropout and the
        memorisation check's sampling.
    progress : bool
        Show the Trainer's progress bars (tqdm).
    resume : bool
        Continue from the last complete checkpoint in ``output_dir/checkpoints``, to the same
        total number of epochs; ``model`` gets the checkpoint's weights. The training rows,
        settings (all but ``max_seconds``, ``logging_steps``, ``save_total_limit`` and
        ``keep_checkpoints``) and ``random_state`` must equal those of the interrupted run.
        Without a complete checkpoint training starts afresh. With ``resume=False`` existing
        checkpoints are removed.
    callbacks : sequence of transformers.TrainerCallback
        Further callbacks for the Trainer, for example to monitor training.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TokenBudgetError
        Before training, when the longest row does not fit in the model's context.
    ConfigError
        When the validation split leaves no training row, or when resuming from checkpoints of
        another run.
    DataValidationError
        When ``train`` has no rows.
    """
    output_dir = Path(output_dir)
    if len(train) == 0:
        raise DataValidationError(["the training table has no rows; fine-tuning needs at least one"])
    distributed.join_process_group()
    n_processes = distributed.world_size()
    fit_rows, validation_rows = split_validation(train, settings.validation_fraction, random_state)
    dataset = PermutedRowDataset(fit_rows, dictionary, tokenizer, random_state=random_state)
    validation = None
    if len(validation_rows):
        # Validation rows keep the column orders of epoch 0, so their loss is comparable across epochs.
        validation = PermutedRowDataset(validation_rows, dictionary, tokenizer, random_state=random_state)
    needed = _check_context(model, tokenizer, dataset, validation, settings, n_processes)
    checkpoint = distributed.on_main_process(
        prepare_checkpoints, output_dir / CHECKPOINTS, _run_identity(settings, train, random_state, n_processes), resume
    )
    resumed_from_epoch = checkpoint_epoch(checkpoint) if checkpoint else None

    epoch_callback = _EpochCallback(dataset, settings.max_seconds, checkpoint.name if checkpoint else None)
    stopping = _stopping_callbacks(settings, tokenizer, dictionary, fit_rows, validation_rows, random_state)
    # Rank 0's stop, evaluate and save decisions must reach the other ranks after every callback has set them.
    agreement = [distributed.ControlAgreementCallback()] if n_processes > 1 else []
    trainer = Trainer(
        model=model,
        args=_training_arguments(
            settings, output_dir / CHECKPOINTS, validation is not None, random_state, progress, n_processes
        ),
        train_dataset=dataset,
        eval_dataset=validation,
        data_collator=RowCollator(tokenizer.pad_token_id),
        callbacks=[epoch_callback, *stopping, *callbacks, *agreement],
    )
    if not progress:
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    with _progress_bars(progress):
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        train_seconds = time.perf_counter() - started
        # Every rank calls save_model, which writes on rank 0 only.
        trainer.save_model(str(output_dir))
    result = TrainingResult(
        output_dir=str(output_dir),
        train_seconds=train_seconds,
        epochs=float(trainer.state.epoch or 0.0),
        steps=int(trainer.state.global_step),
        final_loss=_final_loss(trainer.state.log_history),
        stopped_by_budget=epoch_callback.stopped_by_budget,
        max_row_tokens=needed,
        n_train_rows=len(fit_rows),
        n_validation_rows=len(validation_rows),
        **_best_epoch(trainer.state),
        stopped_by_patience=_stopped_by_patience(trainer),
        stopped_by_memorisation_check=any(r["memorising"] for r in memorisation_records(trainer.state.log_history)),
        resumed_from_epoch=resumed_from_epoch,
        world_size=n_processes,
        precision=resolve_precision(settings.precision),
    )
    # Rank 0 took every stopping decision, so its result is the run's. The other ranks wait for its files.
    distributed.barrier()
    distributed.on_main_process(_save_outputs, result, settings, trainer.state.log_history, tokenizer)
    result = distributed.broadcast_object(result)
    if distributed.is_main_process():
        _log_outcome(result)
    return result


def _log_outcome(result: TrainingResult) -> None:
    if result.stopped_by_memorisation_check and result.best_epoch is None:
        logger.warning(
            "The memorisation check flagged epoch %.0f before any epoch was evaluated, so the saved model is the "
            "flagged one. Start the check later (memorisation_check_from_epoch) or lower the learning rate.",
            result.epochs,
        )
    logger.info(
        "Trained %d steps (%.2f epochs) in %.1f s with %d process(es), final loss %.3f",
        result.steps, result.epochs, result.train_seconds, result.world_size, result.final_loss,
    )


def _save_outputs(result: TrainingResult, settings: TrainingSettings, log_history: list, tokenizer) -> None:
    """Write the tokenizer and ``training_log.json`` beside the model, and remove spent checkpoints."""
    output_dir = Path(result.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(output_dir))
    log = training_log(result, settings, log_history)
    (output_dir / TRAINING_LOG).write_text(json.dumps(log, indent=2))
    if not settings.keep_checkpoints:
        shutil.rmtree(output_dir / CHECKPOINTS)


@contextmanager
def _progress_bars(enabled: bool):
    """Switch off transformers' own progress bars (checkpoint writing, for example) unless ``enabled``."""
    was_enabled = transformers_logging.is_progress_bar_enabled()
    if not enabled:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled and not enabled:
            transformers_logging.enable_progress_bar()


def _final_loss(log_history) -> float:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return float(losses[-1]) if losses else float("nan")


def _best_epoch(state) -> dict:
    """Return the epoch and validation loss of the checkpoint the Trainer selected."""
    best = [h for h in state.log_history if "eval_loss" in h and h["step"] == state.best_global_step]
    if not best:
        return {"best_epoch": None, "best_validation_loss": None}
    return {"best_epoch": float(best[-1]["epoch"]), "best_validation_loss": float(best[-1]["eval_loss"])}


def _stopped_by_patience(trainer) -> bool:
    # The Trainer replaces the callback by a restored copy when it resumes, so look it up here.
    return any(
        isinstance(callback, EarlyStoppingCallback)
        and callback.early_stopping_patience_counter >= callback.early_stopping_patience
        for callback in trainer.callback_handler.callbacks
    )


def training_log(result: TrainingResult, settings: TrainingSettings, log_history: list) -> dict:
    """Assemble the content of ``training_log.json``.

    Returns
    -------
    dict
        ``result`` and ``settings`` as mappings; ``validation``, the validation loss of every
        evaluated epoch; ``memorisation_check``, the record of every checked epoch (see
        :mod:`synthlib.memorisation`); ``resumptions``, the epoch and checkpoint of every resumption;
        and ``history``, the Trainer's full log history.
    """
    return {
        "result": asdict(result),
        "settings": asdict(settings),
        "validation": [
            {"epoch": h["epoch"], "step": h["step"], "loss": h["eval_loss"]} for h in log_history if "eval_loss" in h
        ],
        "memorisation_check": memorisation_records(log_history),
        "resumptions": [
            {"epoch": h["epoch"], "step": h["step"], "checkpoint": h[RESUMED_KEY]} for h in log_history if RESUMED_KEY in h
        ],
        "history": log_history,
    }


def read_training_log(model_dir) -> dict:
    """Read ``training_log.json`` written by :func:`fine_tune`."""
    return json.loads((Path(model_dir) / TRAINING_LOG).read_text())


def loss_history(model_dir) -> pd.DataFrame:
    """Return the logged training loss as a table with ``step``, ``epoch`` and ``loss``."""
    history = read_training_log(model_dir)["history"]
    rows = [(h["step"], h["epoch"], h["loss"]) for h in history if "loss" in h]
    return pd.DataFrame(rows, columns=["step", "epoch", "loss"])


def validation_history(model_dir) -> pd.DataFrame:
    """Return the validation loss of every evaluated epoch as a table with ``step``, ``epoch`` and ``loss``."""
    return pd.DataFrame(read_training_log(model_dir).get("validation", []), columns=["step", "epoch", "loss"])


def memorisation_history(model_dir) -> pd.DataFrame:
    """Return the memorisation check of every checked epoch as a table, one row per epoch."""
    return pd.DataFrame(read_training_log(model_dir).get("memorisation_check", []))
