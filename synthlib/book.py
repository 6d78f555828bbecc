"""Build a Jupyter Book from the executed notebooks of one run.

Each run gets its own book: ``build_book("runs/sams")`` writes ``runs/sams/book/``, a copy of
the book sources in the repository's ``book/`` folder (configuration, table of contents and
the introduction pages) with the run's executed notebooks as chapters, and builds its HTML
there. A model-selection run also gets its ``model_selection`` chapter, after the preprocessing
chapter. The introduction includes a page written for the run, ``chapters/about_run.md``, that
names the data source and the configuration. A last chapter, ``chapters/benchmarks.md``, shows
the recorded results of ``benchmarks/`` (see :mod:`synthlib.benchmark_report`). The notebooks are
never executed again.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from synthlib.artifacts import RunPaths
from synthlib.benchmark_report import benchmark_page
from synthlib.exceptions import BookError, ConfigError
from synthlib.pipeline import NOTEBOOKS, REPO_ROOT, check_no_real_rows

logger = logging.getLogger(__name__)

BOOK_SOURCES = REPO_ROOT / "book"
BENCHMARK_RESULTS = REPO_ROOT / "benchmarks" / "results"
SELECTION_CHAPTER = "model_selection"
"""Chapter of a model-selection run, shown only when the run has executed its notebook."""
SELECTION_AFTER = "chapters/01_preprocessing"

# A one-sentence description of each built-in data source, for the introduction of its book.
SOURCE_DESCRIPTIONS = {
    "smart": (
        "the SMART study (survset data set `smarto`), a real public cohort of patients with clinically "
        "manifest arterial disease followed for cardiovascular events"
    ),
    "sams_cohort": (
        "a simulated lipid-clinic cohort of statin users (`synthlib.cohorts.simulate_sams_cohort`) with "
        "statin-associated muscle symptoms (SAMS) as outcome; the simulator's true logistic model is known, "
        "so the replication chapter scores the real and the synthetic fits against the truth"
    ),
    "ldl_response": (
        "a simulated cohort of patients starting lipid-lowering therapy (`synthlib.cohorts.simulate_ldl_response`) "
        "with the LDL-C percent reduction as outcome; the simulator's true linear model is known, so the "
        "replication chapter scores the real and the synthetic fits against the truth"
    ),
}


def describe_run(config: dict) -> str:
    """Return the Markdown text that introduces a run: its data source, size and configuration.

    Parameters
    ----------
    config : dict
        The resolved configuration saved in the run folder (``config.yaml``).

    Returns
    -------
    str
        A short Markdown paragraph. A data file is named by its file name only, so the book
        shows no local path.
    """
    data = config["data"]
    source = data["source"]
    if source in SOURCE_DESCRIPTIONS:
        described = SOURCE_DESCRIPTIONS[source]
    else:
        described = f"the table in the file `{Path(source).name}`"
    size = f" Rows drawn: {data['n_rows']:,}." if data.get("n_rows") else ""
    model = config["model"]
    if model["kind"] == "scratch":
        generator = (
            f"a GPT-2 trained from scratch ({model['n_layer']} layers, width {model['n_embd']}, "
            f"a {model['vocab_size']:,}-token vocabulary learned from the training rows)"
        )
    else:
        adapter = " with LoRA adapters" if model.get("lora") else ""
        generator = f"the pre-trained model in `{Path(model['path']).name}`, fine-tuned{adapter}"
    return (
        f"This book was built from the run `{config['run_name']}` (random_state {config['random_state']}). "
        f"Its data: {described}.{size} Its generator: {generator}. The dictionary is "
        f"`{Path(data['dictionary']).name}`; the run folder holds the whole configuration in `config.yaml`.\n"
    )


def _copy_chapter(source: Path, target: Path) -> None:
    """Copy an executed notebook into the book, with its parameter cells folded away."""
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "hide-input" not in tags:
            tags.append("hide-input")
    target.write_text(json.dumps(notebook, indent=1))


def _copy_sources(book_dir: Path) -> None:
    """Copy the book's configuration and pages from ``book/`` into ``book_dir``."""
    book_dir.mkdir(parents=True, exist_ok=True)
    for source in BOOK_SOURCES.iterdir():
        if source.is_file():
            shutil.copyfile(source, book_dir / source.name)


def selection_toc(toc: dict) -> dict:
    """Return a copy of a table of contents with the model-selection chapter after the preprocessing chapter."""
    toc = copy.deepcopy(toc)
    for part in toc["parts"]:
        files = [entry.get("file") for entry in part["chapters"]]
        if SELECTION_AFTER in files:
            part["chapters"].insert(files.index(SELECTION_AFTER) + 1, {"file": f"chapters/{SELECTION_CHAPTER}"})
            return toc
    raise BookError(f"the table of contents has no {SELECTION_AFTER} chapter to put the model-selection chapter after")


def _copy_selection_chapter(paths: RunPaths, book_dir: Path) -> Path | None:
    """Copy the model-selection chapter and write its table of contents, or return None when the run has none.

    The table of contents goes to ``chapters/_toc.yml``, so the ``_toc.yml`` of the book
    sources stays as it is and a run without model selection builds from it unchanged.
    """
    source = paths.notebooks_dir / f"{SELECTION_CHAPTER}.ipynb"
    if not source.is_file():
        return None
    _copy_chapter(source, book_dir / "chapters" / source.name)
    toc = book_dir / "chapters" / "_toc.yml"
    toc.write_text(yaml.safe_dump(selection_toc(yaml.safe_load((book_dir / "_toc.yml").read_text())), sort_keys=False))
    return toc


def _jupyter_book_command(book_dir: Path, toc: Path | None = None) -> list:
    executable = Path(sys.executable).parent / "jupyter-book"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "jupyter_book"]
    toc_option = ["--toc", str(toc)] if toc is not None else []
    return [*command, "build", str(book_dir), *toc_option, "--warningiserror", "--keep-going"]


def build_book(run_dir, book_dir=None) -> Path:
    """Build the HTML book of a run from its executed notebooks, without executing them.

    Parameters
    ----------
    run_dir : path-like
        A run folder written by :func:`synthlib.pipeline.run_study`.
    book_dir : path-like or None
        Where the book is built; default ``<run_dir>/book``. Unless it is the repository's
        ``book/`` folder itself, the book sources are copied there first.

    Returns
    -------
    pathlib.Path
        ``<book_dir>/_build/html/index.html``.

    Raises
    ------
    ConfigError
        If an executed notebook or the summary of the run is missing.
    BookError
        If Jupyter Book fails or warns.
    DisclosureError
        If a built page shows a row of the real input.
    """
    paths = RunPaths(Path(run_dir).resolve())
    book_dir = Path(book_dir).resolve() if book_dir is not None else paths.run_dir / "book"
    missing = [name for name in NOTEBOOKS if not (paths.notebooks_dir / f"{name}.ipynb").is_file()]
    if missing or not paths.summary.is_file():
        absent = ", ".join(f"{name}.ipynb" for name in missing) or paths.summary.name
        raise ConfigError(
            f"run {paths.run_dir} is incomplete ({absent} missing): run `synthlib run CONFIG` before building the book"
        )
    if book_dir != BOOK_SOURCES.resolve():
        _copy_sources(book_dir)
    chapters = book_dir / "chapters"
    chapters.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        _copy_chapter(paths.notebooks_dir / f"{name}.ipynb", chapters / f"{name}.ipynb")
    shutil.copyfile(paths.summary, chapters / "summary.json")
    config = yaml.safe_load(paths.config.read_text())
    (chapters / "about_run.md").write_text(describe_run(config))
    (chapters / "benchmarks.md").write_text(benchmark_page(BENCHMARK_RESULTS))
    toc = _copy_selection_chapter(paths, book_dir)

    command = _jupyter_book_command(book_dir, toc)
    logger.info("Building the book: %s", " ".join(command))
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise BookError(
            f"jupyter-book exited with status {completed.returncode} while building {book_dir}; "
            "its messages above name the page and the problem (warnings count as errors)"
        )
    html = book_dir / "_build" / "html"
    check_no_real_rows(paths, sorted(html.rglob("*.html")))
    index = html / "index.html"
    logger.info("Book written to %s", index)
    return index
