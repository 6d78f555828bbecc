"""Tiny run configurations for the pipeline tests: a 2-layer GPT-2 of width 64 trained for a few steps."""

import shutil

import nbformat
import yaml

from synthlib.pipeline import REPO_ROOT

TINY_CONFIG = {
    "run_name": "tiny",
    "random_state": 0,
    "model": {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 320},
    "training": {"max_steps": 4, "batch_size": 16, "learning_rate": 3.0e-3},
    "sampling": {"n_samples": 30, "batch_size": 32, "max_batches": 10, "n_syntheses": 1},
    "fidelity": {"outcome": "event"},
    "privacy": {"anonymeter_attacks": 10, "anonymeter_seeds": [0]},
    "replication": {"formula": "event ~ age + ldl_c"},
}

# Stands in for notebooks/model_selection.ipynb until that notebook exists: it ranks the candidates
# by the fidelity quality score and writes results/model_selection.json in the agreed layout.
STAND_IN_RANKING = """\
import json
from pathlib import Path

ranking = []
for folder in sorted(Path(candidates_dir).iterdir()):
    quality = json.loads((folder / "results" / "fidelity.json").read_text())["quality_score"]
    ranking.append({"id": folder.name, "name": folder.name, "score": quality, "eligible": True, "reasons": []})
ranking.sort(key=lambda row: -row["score"])
for rank, row in enumerate(ranking, start=1):
    row["rank"] = rank
result = {"optimal": ranking[0]["id"], "ranking": ranking, "rule": "highest quality score",
          "budget_seconds": budget_seconds}
(Path(run_dir) / "results").mkdir(exist_ok=True)
(Path(run_dir) / "results" / "model_selection.json").write_text(json.dumps(result))
"""


def write_config(folder, files, name="tiny.yaml", **sections) -> object:
    """Write a tiny configuration on the toy cohort of ``files`` (conftest's toy_study_files); return its path.

    ``sections`` replace whole top-level entries of :data:`TINY_CONFIG`, for example ``run_name="other"``.
    """
    config = {
        **TINY_CONFIG,
        "data": {"source": str(files["csv"]), "dictionary": str(files["dictionary"]), "holdout_fraction": 0.25},
        **sections,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def notebooks_with_ranking(folder):
    """Return a notebooks folder holding the study notebooks and a model-selection notebook.

    The repository's ``notebooks/`` is returned when it has ``model_selection.ipynb``; otherwise
    the study notebooks are copied to ``folder`` beside a stand-in ranking notebook.
    """
    notebooks = REPO_ROOT / "notebooks"
    if (notebooks / "model_selection.ipynb").is_file():
        return notebooks
    folder.mkdir(parents=True, exist_ok=True)
    for source in notebooks.glob("*.ipynb"):
        shutil.copyfile(source, folder / source.name)
    parameters = nbformat.v4.new_code_cell(
        'run_dir = "."\nrandom_state = 0\ncandidates_dir = "candidates"\nscore = {}\nbudget_seconds = None'
    )
    parameters.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(STAND_IN_RANKING)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "model_selection.ipynb")
    return folder
