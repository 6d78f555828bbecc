"""Causal language models for rows as text: a small GPT-2 from scratch or a local pre-trained model.

Two paths, both real Hugging Face models:

* :func:`build_scratch_model` creates a small GPT-2-architecture model with random weights and a
  byte-level BPE tokenizer trained on the training rows. It is the CPU default.
* :func:`load_pretrained_model` loads any local Hugging Face directory (for example the SmolLM2-135M
  directory written by :func:`synthlib.pretrained.materialize_smollm2`), for full fine-tuning or
  LoRA through ``peft``.

Nothing here downloads: every ``from_pretrained`` call passes ``local_files_only=True``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from synthlib.exceptions import ConfigError, TokenBudgetError

logger = logging.getLogger(__name__)

BOS_TOKEN = "<|row|>"
EOS_TOKEN = "<|endofrow|>"
PAD_TOKEN = "<|pad|>"
POSITION_MULTIPLE = 64


@dataclass(frozen=True)
class ScratchModelConfig:
    """Size of a GPT-2 model trained from scratch.

    Attributes
    ----------
    n_layer, n_embd, n_head : int
        Transformer depth, width and attention heads.
    vocab_size : int
        Upper bound of the BPE vocabulary trained on the rows.
    n_positions : int or None
        Context length in tokens; None sizes it from the longest encoded row.
    dropout : float
        Dropout on embeddings, attention and residuals.
    """

    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    vocab_size: int = 2048
    n_positions: int | None = None
    dropout: float = 0.1


def quiet_transformers() -> None:
    """Switch off transformers' progress bars and advisory messages, for notebooks and logs."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def train_row_tokenizer(texts, vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on encoded rows.

    Parameters
    ----------
    texts : list of str
        Encoded training rows (see :func:`synthlib.encoding.encode_table`).
    vocab_size : int
        Maximum vocabulary size, special tokens included.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        With ``bos``, ``eos`` and ``pad`` tokens distinct from each other, so that padding never
        hides the end of a row from the loss.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN
    )


def required_positions(tokenizer, texts) -> int:
    """Return the number of positions the longest text needs, with its start and end tokens."""
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    return max(lengths, default=0) + 2


def build_scratch_model(tokenizer, config: ScratchModelConfig, texts, random_state=0) -> GPT2LMHeadModel:
    """Create a GPT-2 model with random weights, sized to hold the longest encoded row.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
        Tokenizer from :func:`train_row_tokenizer`.
    config : ScratchModelConfig
        Model size. With ``n_positions=None`` the context is the longest row plus a quarter,
        rounded up to a multiple of 64, because permuted column orders tokenize to slightly
        different lengths.
    texts : list of str
        Encoded training rows, used to size the context.
    random_state : int
        Seed of the weight initialisation.

    Raises
    ------
    TokenBudgetError
        When ``config.n_positions`` is set and too short for the longest row.
    """
    needed = required_positions(tokenizer, texts)
    if config.n_positions is None:
        n_positions = POSITION_MULTIPLE * math.ceil(needed * 1.25 / POSITION_MULTIPLE)
        logger.info("Context sized to %d positions (longest row: %d tokens)", n_positions, needed)
    else:
        check_token_budget(needed, config.n_positions, limit_name="the configured n_positions")
        n_positions = config.n_positions
    if config.n_embd % config.n_head:
        raise ConfigError(f"n_embd={config.n_embd} must be a multiple of n_head={config.n_head}")
    model_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(random_state)
    model = GPT2LMHeadModel(model_config)
    logger.info("Built a GPT-2 model from scratch: %.2f M parameters", model.num_parameters() / 1e6)
    return model


def check_token_budget(needed: int, allowed: int, limit_name: str = "the model's context") -> None:
    """Raise TokenBudgetError when ``needed`` tokens exceed ``allowed``."""
    if needed > allowed:
        raise TokenBudgetError(
            f"the longest encoded row needs {needed} tokens but {limit_name} allows {allowed}. "
            "Use a model with a longer context, set n_positions to at least "
            f"{needed} (or leave it unset to size it automatically), shorten the column names, "
            "or drop columns from the data dictionary."
        )


def context_length(model) -> int | None:
    """Return the model's maximum number of positions, or None when it has no fixed limit."""
    config = model.config
    for attribute in ("n_positions", "max_position_embeddings"):
        value = getattr(config, attribute, None)
        if value:
            return int(value)
    return None


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (Hu et al., 2022, "LoRA: Low-rank adaptation of large language models").

    Attributes
    ----------
    r : int
        Rank of the update matrices.
    alpha : int
        Scaling numerator; the update is scaled by ``alpha / r``.
    dropout : float
        Dropout on the adapter input.
    target_modules : str or list of str
        Modules that get adapters; ``"all-linear"`` adapts every linear layer but the output head.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: object = "all-linear"


def load_pretrained_model(path, lora: LoraSettings | None = None, random_state=0):
    """Load a causal language model and its tokenizer from a local Hugging Face directory.

    Parameters
    ----------
    path : str or pathlib.Path
        Directory holding ``config.json``, the weights and the tokenizer files.
    lora : LoraSettings or None
        Wrap the model with LoRA adapters (only the adapters train); None trains all weights.
    random_state : int
        Seed of the adapter initialisation.

    Returns
    -------
    model, tokenizer
        The tokenizer gets its end-of-sequence token as padding token when it has none. The
        training collator masks padding by the attention mask, so the end of a row still counts.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"no Hugging Face model found in {path} (config.json is missing). Point model.path at a "
            "local model directory, for example the one written by `synthlib materialize-smollm2 DIR`."
        )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(random_state)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, peft_config)
        trainable, total = model.get_nb_trainable_parameters()
        logger.info("LoRA adapters: %d trainable of %d parameters", trainable, total)
    return model, tokenizer


def load_trained_model(path):
    """Load a model saved by :func:`synthlib.training.fine_tune` (plain or LoRA) for sampling."""
    path = Path(path)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if (path / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, local_files_only=True)
        model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    model.eval()
    return model, tokenizer
