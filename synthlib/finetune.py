"""Fine-tune a run's model from the command line, in one process or several.

The command repeats the fine-tuning step of ``notebooks/02_fine_tuning.ipynb`` for a run folder
that the preprocessing step has filled. It reads the run's ``config.yaml``, gives
:func:`synthlib.study.train_model` the parameters that the pipeline gives notebook 02, and writes
``model/`` and ``results/training.json`` as the notebook does::

    python -m synthlib.finetune runs/toy
    torchrun --nproc_per_node 2 -m synthlib.finetune runs/toy
    accelerate launch --multi_gpu --num_processes 2 -m synthlib.finetune runs/toy

Under ``torchrun`` or ``accelerate launch`` every process runs this module, the Trainer trains
with DistributedDataParallel (gloo on CPU, NCCL on GPUs), and rank 0 writes every file (see
:mod:`synthlib.distributed`). ``accelerate launch --multi_gpu`` starts the processes through
torchrun and works on CPUs as well (accelerate 1.16), while its ``--cpu`` flag needs MPI for
several processes. Each process takes ``training.batch_size`` rows per step, so an
optimizer step covers that many rows times the number of processes. The learning rate is not scaled.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import yaml

from synthlib.artifacts import RunPaths
from synthlib.config import resolve_config
from synthlib.distributed import leave_process_group
from synthlib.exceptions import ConfigError, SynthlibError

logger = logging.getLogger(__name__)


def fine_tuning_parameters(run_dir) -> dict:
    """Return the parameters that the pipeline passes notebook 02 for the run in ``run_dir``.

    Raises
    ------
    ConfigError
        When the run folder has no ``config.yaml`` or no training split yet.
    """
    from synthlib.pipeline import notebook_parameters

    paths = RunPaths(Path(run_dir).resolve())
    if not paths.config.is_file():
        raise ConfigError(
            f"{paths.config} not found: fine-tuning reads the configuration of a run folder. "
            "Create the run with `synthlib run CONFIG --steps 01_preprocessing --no-book` first."
        )
    if not paths.train.is_file():
        raise ConfigError(
            f"{paths.train} not found: the run has no training split yet. Run its 01_preprocessing step first."
        )
    config = resolve_config(yaml.safe_load(paths.config.read_text(encoding="utf-8")) or {})
    return notebook_parameters(config, paths.run_dir)["02_fine_tuning"]


def run_fine_tuning(run_dir, resume: bool = False, progress: bool = False):
    """Fine-tune the model of the run in ``run_dir`` as notebook 02 does.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        Run folder with ``config.yaml``, ``dictionary.yaml`` and ``data/train.parquet``.
    resume : bool
        Continue from the last epoch checkpoint in ``model/checkpoints`` (written with the
        training setting ``keep_checkpoints`` or left by an interrupted run).
    progress : bool
        Show the Trainer's progress bar (on rank 0 only).

    Returns
    -------
    synthlib.training.TrainingResult
    """
    from synthlib import study
    from synthlib.models import ScratchModelConfig

    parameters = fine_tuning_parameters(run_dir)
    scratch = ScratchModelConfig(
        n_layer=parameters["n_layer"],
        n_embd=parameters["n_embd"],
        n_head=parameters["n_head"],
        vocab_size=parameters["vocab_size"],
        n_positions=parameters["n_positions"],
    )
    return study.train_model(
        parameters["run_dir"],
        parameters["model_kind"],
        parameters["model_path"],
        parameters["lora"],
        scratch,
        parameters["training"],
        random_state=parameters["random_state"],
        progress=progress,
        resume=resume,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synthlib.finetune",
        description="Fine-tune the model of a run folder, as notebook 02 does. Launch it with torchrun for DDP.",
    )
    parser.add_argument("run_dir", help="run folder that contains config.yaml and the split of 01_preprocessing")
    parser.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint in model/")
    parser.add_argument("--progress", action="store_true", help="show the Trainer's progress bar")
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s rank {rank} %(name)s %(levelname)s: %(message)s",
    )
    try:
        result = run_fine_tuning(arguments.run_dir, resume=arguments.resume, progress=arguments.progress)
    except SynthlibError as error:
        logger.error("%s", error)
        return 2
    finally:
        leave_process_group()
    if rank == 0:
        logger.info("Model written to %s (%d steps, %d process(es))", result.output_dir, result.steps, result.world_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
