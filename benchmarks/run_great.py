"""Fine-tune and sample the GReaT baseline (be_great 0.0.14) on one table, for benchmarks/compare.py.

Run it with the Python of ``benchmarks/.venv-great`` (see ``benchmarks/setup_great.sh``), never
with the project's ``.venv``: be_great lives in its own environment. The script reads the
training rows from a CSV file, fine-tunes ``be_great.GReaT`` from a local model directory,
samples rows and writes a JSON file of timings and counts next to the sampled CSV. The JSON file
is written after training and again after sampling, so a caller that stops this process on a
timeout still finds the training figures.

Nothing is downloaded: ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set before
transformers is imported, and the model must be a local directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger("run_great")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, type=Path, help="CSV file of training rows, with a header")
    parser.add_argument(
        "--dtypes", type=Path, default=None,
        help="JSON file mapping column -> pandas dtype for reading --train (for example Int64, float64, string); "
        "columns not listed are inferred by pandas",
    )
    parser.add_argument("--model", required=True, type=Path, help="local Hugging Face model directory to start from")
    parser.add_argument("--epochs", type=float, required=True, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="training rows per optimizer step")
    parser.add_argument("--learning-rate", type=float, default=5e-4, help="peak learning rate")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters (be_great's efficient_finetuning='lora')")
    parser.add_argument("--lora-r", type=int, default=8, help="LoRA rank")
    parser.add_argument("--lora-alpha", type=float, default=16, help="LoRA scaling numerator")
    parser.add_argument("--lora-dropout", type=float, default=0.05, help="dropout on the LoRA adapter input")
    parser.add_argument("--n-samples", type=int, required=True, help="rows to request from GReaT.sample")
    parser.add_argument("--sample-batch-size", type=int, default=128, help="rows generated per batch (GReaT's k)")
    parser.add_argument("--max-length", type=int, required=True, help="tokens per generated row, prompt included")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and sampling")
    parser.add_argument("--output", required=True, type=Path, help="JSON file for the figures")
    parser.add_argument("--sampled", type=Path, default=None, help="CSV file for the sampled rows (default: next to --output)")
    parser.add_argument("--experiment-dir", type=Path, default=None, help="be_great's checkpoint folder (default: next to --output)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "n_samples", "sample_batch_size", "max_length", "learning_rate", "temperature"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    return args


def read_training_rows(path: Path, dtypes_path: Path | None):
    """Read the training CSV; only empty cells are missing, so levels such as ``none`` stay text."""
    import pandas as pd

    dtypes = json.loads(dtypes_path.read_text()) if dtypes_path else None
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])


def build_great(args):
    """Create ``be_great.GReaT`` from the local model directory with the benchmark's settings."""
    from be_great import GReaT

    lora = {}
    if args.lora:
        lora = {
            "efficient_finetuning": "lora",
            "lora_config": {
                "r": args.lora_r,
                "lora_alpha": args.lora_alpha,
                "lora_dropout": args.lora_dropout,
                "target_modules": "all-linear",
            },
        }
    # Extra keyword arguments of GReaT go to transformers.TrainingArguments.
    return GReaT(
        llm=str(args.model),
        experiment_dir=str(args.experiment_dir),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        data_seed=args.seed,
        **lora,
    )


def count_generated_rows(great) -> dict:
    """Wrap the model's ``generate`` so that every generated sequence is counted; return the counter."""
    counter = {"n_generated": 0}
    generate = great.model.generate

    def counting_generate(*args, **kwargs):
        tokens = generate(*args, **kwargs)
        counter["n_generated"] += len(tokens)
        return tokens

    great.model.generate = counting_generate
    return counter


def skip_special_tokens_in_decode(great) -> None:
    """Make the tokenizer's ``decode`` drop special tokens, padding included.

    be_great 0.0.14 decodes generated rows with special tokens and then removes only the text
    ``<|endoftext|>``, GPT-2's padding and end token. Other tokenizers pad with other tokens
    (synthlib's scratch tokenizer with ``<|pad|>``, SmolLM2-135M-Instruct with ``<|im_end|>``), and a
    padded prompt then glues them to its first column name, so be_great drops that row as
    incomplete. Skipping special tokens is the cleaning be_great intends, for any tokenizer.
    """
    decode = great.tokenizer.decode

    def decode_without_special_tokens(token_ids, **kwargs):
        kwargs.setdefault("skip_special_tokens", True)
        return decode(token_ids, **kwargs)

    great.tokenizer.decode = decode_without_special_tokens


def train_runtime(trainer) -> float | None:
    """Return the Trainer's own ``train_runtime`` in seconds, or None when it logged none."""
    runtimes = [entry["train_runtime"] for entry in trainer.state.log_history if "train_runtime" in entry]
    return float(runtimes[-1]) if runtimes else None


def write_figures(path: Path, figures: dict) -> None:
    """Write the figures atomically, so a reader never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(figures, indent=2))
    partial.replace(path)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    args.sampled = args.sampled or args.output.with_name("great_sampled.csv")
    args.experiment_dir = args.experiment_dir or args.output.with_name("great_experiment")
    args.output.parent.mkdir(parents=True, exist_ok=True)

    import torch
    from transformers import set_seed

    figures = {
        "status": "started",
        "versions": {name: version(name) for name in ("be_great", "transformers", "torch")},
        "lora": args.lora,
        "n_requested": args.n_samples,
        "max_length": args.max_length,
        "decode_skips_special_tokens": True,
        "torch_threads": torch.get_num_threads(),
    }
    write_figures(args.output, figures)
    try:
        train = read_training_rows(args.train, args.dtypes)
        set_seed(args.seed)
        great = build_great(args)

        started = time.perf_counter()
        trainer = great.fit(train)
        fit_seconds = time.perf_counter() - started
        train_seconds = train_runtime(trainer) or fit_seconds
        epochs = float(trainer.state.epoch or args.epochs)
        figures.update(
            status="trained",
            n_train_rows=len(train),
            fit_seconds=fit_seconds,
            train_seconds=train_seconds,
            epochs=epochs,
            seconds_per_epoch=train_seconds / epochs,
            steps=int(trainer.state.global_step),
        )
        write_figures(args.output, figures)
        logger.info("Trained %.2f epochs in %.1f s", epochs, train_seconds)

        counter = count_generated_rows(great)
        skip_special_tokens_in_decode(great)
        set_seed(args.seed)
        started = time.perf_counter()
        sampled = great.sample(
            n_samples=args.n_samples,
            k=args.sample_batch_size,
            max_length=args.max_length,
            temperature=args.temperature,
            # synthlib's load_trained_model leaves the model on the CPU, so be_great samples there too.
            device="cpu",
        )
        sample_seconds = time.perf_counter() - started
        sampled.to_csv(args.sampled, index=False)
        figures.update(
            status="complete",
            sample_seconds=sample_seconds,
            n_returned=len(sampled),
            n_generated=counter["n_generated"],
            sampled_csv=str(args.sampled),
        )
        write_figures(args.output, figures)
        logger.info("Sampled %d of %d rows in %.1f s", len(sampled), args.n_samples, sample_seconds)
    except Exception as error:
        # Record the failure for the caller, then let the traceback reach the log.
        figures.update(status="failed", error=f"{type(error).__name__}: {error}")
        write_figures(args.output, figures)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
