"""Fine-tuning with several processes: torchrun runs synthlib.finetune with DDP on CPU (gloo)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing
import yaml
from transformers import TrainerControl

from synthlib import distributed, study
from synthlib.artifacts import RunPaths, read_json
from synthlib.config import resolve_config
from synthlib.dictionary import read_dictionary
from synthlib.exceptions import ConfigError, SynthlibError
from synthlib.finetune import fine_tuning_parameters, run_fine_tuning
from synthlib.models import load_trained_model
from synthlib.sampling import sample
from synthlib.training import CHECKPOINTS, TrainingSettings, planned_epochs, read_training_log, steps_per_epoch
from synthlib.validation import validate_table

REPO_ROOT = Path(__file__).resolve().parent.parent
N_PROCESSES = 2
# The toy cohort's 300 training rows less 30 validation rows, in batches of 16 per process.
FIT_ROWS, BATCH_SIZE, EPOCHS = 270, 16, 2
DDP_TRAINING = {
    "epochs": EPOCHS,
    "batch_size": BATCH_SIZE,
    "learning_rate": 3.0e-3,
    "validation_fraction": 0.1,
    # Checked after the last epoch only, so a flag cannot shorten the run whose steps are counted.
    "memorisation_check": True,
    "memorisation_check_from_epoch": EPOCHS,
    "memorisation_check_n_samples": 50,
    "keep_checkpoints": True,
}


def make_run(folder: Path, study_files: dict, training: dict) -> Path:
    """Write a run folder as 01_preprocessing leaves it: config.yaml, dictionary and split."""
    study.prepare_data(folder, str(study_files["csv"]), study_files["dictionary"], holdout_fraction=0.25)
    config = resolve_config(
        {
            "run_name": folder.name,
            "data": {"source": str(study_files["csv"]), "dictionary": str(study_files["dictionary"])},
            "model": {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 300},
            "training": training,
        }
    )
    RunPaths(folder).config.write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_environment() -> dict:
    """This process's environment with the checkout importable, one thread per rank, no hub access."""
    environment = {key: value for key, value in os.environ.items() if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))
    return {**environment, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def ddp_run(toy_study_files, tmp_path_factory):
    """Fine-tune the toy run with torchrun and two processes, and return the run folder and the finished process."""
    run_dir = make_run(tmp_path_factory.mktemp("ddp") / "ddp", toy_study_files, DDP_TRAINING)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(N_PROCESSES),
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "synthlib.finetune", str(run_dir),
    ]
    finished = subprocess.run(command, env=launch_environment(), capture_output=True, text=True, timeout=300)
    return run_dir, finished


# --------------------------------------------------------------------------- two processes under torchrun


@pytest.mark.slow
def test_torchrun_fine_tune_succeeds(ddp_run):
    _, finished = ddp_run
    assert finished.returncode == 0, finished.stderr[-4000:]


@pytest.mark.slow
def test_torchrun_steps_cover_shards(ddp_run):
    run_dir, _ = ddp_run
    results = read_json(RunPaths(run_dir).step_results("training"))
    assert results["n_train_rows"] == FIT_ROWS
    # 17 batches per epoch, dealt out to two processes: 9 steps each.
    assert results["steps"] == EPOCHS * 9
    assert results["steps"] == EPOCHS * steps_per_epoch(FIT_ROWS, BATCH_SIZE, N_PROCESSES)
    assert results["epochs"] == EPOCHS


@pytest.mark.slow
def test_torchrun_results_record_world_size(ddp_run):
    run_dir, _ = ddp_run
    assert read_json(RunPaths(run_dir).step_results("training"))["world_size"] == N_PROCESSES
    assert read_training_log(RunPaths(run_dir).model_dir)["result"]["world_size"] == N_PROCESSES


@pytest.mark.slow
def test_torchrun_checks_logged_once_per_epoch(ddp_run):
    run_dir, _ = ddp_run
    log = read_training_log(RunPaths(run_dir).model_dir)
    assert [entry["epoch"] for entry in log["memorisation_check"]] == [2.0]
    # A flagged epoch is not evaluated, on any rank.
    evaluated = [1.0] if log["memorisation_check"][0]["memorising"] else [1.0, 2.0]
    assert [entry["epoch"] for entry in log["validation"]] == evaluated


@pytest.mark.slow
def test_torchrun_model_samples_valid_rows(ddp_run):
    run_dir, _ = ddp_run
    paths = RunPaths(run_dir)
    model, tokenizer = load_trained_model(paths.model_dir)
    dictionary = read_dictionary(paths.dictionary)
    result = sample(model, tokenizer, dictionary, n_samples=20, batch_size=20, max_batches=5, random_state=0,
                    progress=False)
    assert len(result.synthetic) == 20
    validated = validate_table(result.synthetic, dictionary)
    assert list(validated.columns) == dictionary.modelled_columns


@pytest.mark.slow
def test_resume_needs_same_world_size(ddp_run):
    run_dir, _ = ddp_run
    assert (RunPaths(run_dir).model_dir / CHECKPOINTS).is_dir()
    with pytest.raises(ConfigError, match="these entries differ: world_size"):
        run_fine_tuning(run_dir, resume=True)


# --------------------------------------------------------------------------- one process


@pytest.mark.slow
def test_single_process_records_world_size_one(toy_study_files, tmp_path):
    run_dir = make_run(tmp_path / "single", toy_study_files, {"max_steps": 2, "batch_size": 16})
    result = run_fine_tuning(run_dir)
    assert result.world_size == 1
    assert result.steps == 2
    assert read_json(RunPaths(run_dir).step_results("training"))["world_size"] == 1


def test_parameters_follow_notebook_02(toy_study_files, tmp_path):
    run_dir = make_run(tmp_path / "parameters", toy_study_files, {"epochs": 3})
    parameters = fine_tuning_parameters(run_dir)
    assert parameters["run_dir"] == str(run_dir.resolve())
    assert parameters["model_kind"] == "scratch"
    assert parameters["n_embd"] == 64
    assert parameters["training"]["epochs"] == 3


def test_parameters_need_config(tmp_path):
    with pytest.raises(ConfigError, match="config.yaml not found"):
        fine_tuning_parameters(tmp_path)


def test_parameters_need_training_split(toy_study_files, tmp_path):
    run_dir = make_run(tmp_path / "unsplit", toy_study_files, {})
    RunPaths(run_dir).train.unlink()
    with pytest.raises(ConfigError, match="no training split"):
        fine_tuning_parameters(run_dir)


# --------------------------------------------------------------------------- steps and ranks


@pytest.mark.parametrize(
    "n_rows, batch_size, n_processes, steps",
    [(300, 16, 1, 19), (300, 16, 2, 10), (270, 16, 2, 9), (32, 16, 2, 1), (33, 16, 2, 2), (5, 16, 4, 1)],
)
def test_steps_per_epoch(n_rows, batch_size, n_processes, steps):
    assert steps_per_epoch(n_rows, batch_size, n_processes) == steps


def test_planned_epochs_count_processes():
    settings = TrainingSettings(max_steps=20, batch_size=16)
    assert planned_epochs(300, settings) == 2
    assert planned_epochs(300, settings, n_processes=2) == 2
    assert planned_epochs(300, settings, n_processes=4) == 4


def test_single_process_is_main():
    assert distributed.world_size() == 1
    assert distributed.rank() == 0
    assert distributed.is_main_process()
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.trainer_arguments(1) == {}


def _fail_on_main():
    raise ConfigError("bad setting")


def test_single_process_raises_original_error():
    with pytest.raises(ConfigError, match="bad setting"):
        distributed.on_main_process(_fail_on_main)


def _agree_and_fail(rank, store_path, outcomes):
    """Rank body of the gloo tests: flags set by rank 1 alone, by rank 0, and a failure on rank 0."""
    store = dist.FileStore(store_path, N_PROCESSES)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=N_PROCESSES)
    try:
        callback = distributed.ControlAgreementCallback()
        args = type("Arguments", (), {"device": torch.device("cpu")})()
        alone = TrainerControl(should_training_stop=rank == 1)
        callback.on_step_end(args, None, alone)
        together = TrainerControl(should_training_stop=rank == 0, should_evaluate=rank == 0)
        callback.on_epoch_end(args, None, together)
        try:
            distributed.on_main_process(_fail_on_main)
            failure = None
        except SynthlibError as error:
            failure = f"{type(error).__name__}: {error}"
        outcomes[rank] = (alone.should_training_stop, together.should_training_stop, together.should_evaluate, failure)
    finally:
        dist.destroy_process_group()


def test_ranks_take_rank_zero_decisions(tmp_path):
    # Forked ranks start at once, where spawned ones would import torch and transformers again.
    outcomes = torch.multiprocessing.get_context("fork").Manager().dict()
    torch.multiprocessing.start_processes(
        _agree_and_fail, args=(str(tmp_path / "store"), outcomes), nprocs=N_PROCESSES, start_method="fork"
    )
    for rank in range(N_PROCESSES):
        stop_alone, stop_together, evaluate, _ = outcomes[rank]
        assert stop_alone is False, rank
        assert stop_together is True, rank
        assert evaluate is True, rank
    assert outcomes[0][3] == "ConfigError: bad setting"
    assert outcomes[1][3] == "SynthlibError: rank 0 failed, so rank 1 stops too: ConfigError: bad setting"
