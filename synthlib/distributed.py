"""Ranks of a fine-tuning run launched with several processes (``torchrun``, ``accelerate launch``).

A launcher starts one process per rank and sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``. Every process then runs the same fine-tuning code, and the
Hugging Face Trainer wraps the model in ``DistributedDataParallel``. This module adds what that
code needs besides: joining the process group early, running file operations on rank 0 only, and
making every rank take rank 0's decisions. A rank that stops alone would leave the others waiting
in the next gradient all-reduce.

Without a launcher (``WORLD_SIZE`` unset or 1) every function here acts as in a single process:
the process is rank 0 and nothing is broadcast.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from synthlib.exceptions import SynthlibError

logger = logging.getLogger(__name__)


def launched_world_size() -> int:
    """Return the number of processes the launcher started, from ``WORLD_SIZE`` (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join_process_group() -> None:
    """Join the launcher's process group, unless there is one process or the group already exists.

    The backend is NCCL when CUDA is available and gloo otherwise. Accelerate, which the Trainer
    uses, keeps a group that exists already.
    """
    # NOTE: the tests run the gloo path only; the NCCL path has not been run.
    if launched_world_size() <= 1 or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend)
    logger.info("Joined the process group as rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), backend)


def leave_process_group() -> None:
    """Leave the process group that :func:`join_process_group` joined, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _joined() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Return the number of processes in the joined process group (1 without one)."""
    return dist.get_world_size() if _joined() else 1


def rank() -> int:
    """Return this process's rank in the joined process group (0 without one)."""
    return dist.get_rank() if _joined() else 0


def is_main_process() -> bool:
    """Return True on rank 0, the process that writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank reaches this call. A single process returns at once."""
    if _joined():
        dist.barrier()


def broadcast_object(value):
    """Return rank 0's ``value`` on every rank, pickled and sent. A single process returns ``value`` itself."""
    if not _joined():
        return value
    message = [value]
    dist.broadcast_object_list(message, src=0)
    return message[0]


def on_main_process(function, *args, **kwargs):
    """Call ``function`` on rank 0 only and return its value on every rank.

    The other ranks wait for rank 0 to finish, so they can read what it wrote. When ``function``
    raises, rank 0 raises that exception and the other ranks raise a SynthlibError with its type and
    message, so no rank waits for a rank that failed.
    """
    value, failure = None, None
    if is_main_process():
        try:
            value = function(*args, **kwargs)
        except Exception as error:  # re-raised below, once the other ranks know of it
            if not _joined():
                raise
            failure, raised = f"{type(error).__name__}: {error}", error
    value, failure = broadcast_object((value, failure))
    if failure is not None:
        if is_main_process():
            raise raised
        raise SynthlibError(f"rank 0 failed, so rank {rank()} stops too: {failure}")
    return value


def trainer_arguments(n_processes: int) -> dict:
    """Return the ``TrainingArguments`` that make the Trainer use DDP across ``n_processes`` processes.

    On CUDA the Trainer picks NCCL by itself. Without CUDA it needs ``use_cpu`` and the gloo
    backend, else its parallel mode stays ``NOT_PARALLEL`` and it does not wrap the model in DDP
    (seen with transformers 5.25 and accelerate 1.16). The other ranks keep the transformers log
    level of their process, as rank 0 does, instead of switching to WARNING.
    """
    if n_processes <= 1:
        return {}
    # A causal language model uses every weight (LoRA adapters included) in each forward pass, so
    # DDP can skip its search for unused parameters.
    # NOTE: a model with weights that its forward pass skips would fail at the second step.
    arguments = {"ddp_find_unused_parameters": False, "log_level_replica": "passive"}
    if not torch.cuda.is_available():
        arguments.update(use_cpu=True, ddp_backend="gloo")
    return arguments


class ControlAgreementCallback(TrainerCallback):
    """Give every rank rank 0's training-control flags after each step, epoch end and evaluation.

    Rank 0 decides whether training stops (time budget, patience, memorisation check) and whether
    the Trainer logs, evaluates and saves next, because each of these runs a collective operation
    that every rank must join. The callback must come after every callback that sets a flag.
    """

    FLAGS = ("should_training_stop", "should_epoch_stop", "should_evaluate", "should_save", "should_log")

    def _agree(self, args, control):
        flags = torch.tensor([getattr(control, name) for name in self.FLAGS], dtype=torch.uint8, device=args.device)
        dist.broadcast(flags, src=0)
        for name, value in zip(self.FLAGS, flags.tolist()):
            setattr(control, name, bool(value))
        return control

    def on_step_end(self, args, state, control, **kwargs):
        return self._agree(args, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        return self._agree(args, control)

    def on_evaluate(self, args, state, control, **kwargs):
        return self._agree(args, control)
