"""The command line's jobs: one subcommand per job module (``add_arguments``, ``run``, ``DESCRIPTION``), and the
parser that imports only the job a command line names."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from recpipe import __version__


@dataclass(frozen=True)
class JobEntry:
    module: str
    help: str


# The jobs by subcommand. A job's module (Spark, Great Expectations, MLflow) is imported only when it runs or its
# own --help is asked for, so `recpipe --help` answers at once.
JOBS: dict[str, JobEntry] = {
    "generate": JobEntry(
        "recpipe.jobs.generate",
        "Generate a synthetic resale marketplace (bronze users, items, events; sim ground truth).",
    ),
    "ingest": JobEntry(
        "recpipe.jobs.ingest",
        "Write public ratings data (MovieLens 100k or ml-latest) to bronze users, items and events.",
    ),
    "interactions": JobEntry(
        "recpipe.jobs.interactions",
        "Validate bronze tables (bad rows to quarantine) and build silver interactions, indices, availability.",
    ),
    "train": JobEntry(
        "recpipe.jobs.train",
        "Train ALS, ALS with attributes, a two-tower model and its blend with ALS; register and gate the best on next-week purchases.",
    ),
    "tune": JobEntry(
        "recpipe.jobs.tune",
        "Search ALS hyperparameters on the time split (nested MLflow runs); training then starts from the best.",
    ),
    "candidates": JobEntry(
        "recpipe.jobs.candidates",
        "Precompute top-N lists per user, similar items and cold-start fallbacks (gold tables) from the champion model.",
    ),
    "gate": JobEntry(
        "recpipe.jobs.gate",
        "Check the gold lists (Great Expectations) before publishing; record the run in monitoring.pipeline_runs.",
    ),
    "publish": JobEntry(
        "recpipe.jobs.publish",
        "Publish gold lists to Redis as a new verified version and switch the pointers atomically (--rollback, --dry-run).",
    ),
    "promote": JobEntry(
        "recpipe.jobs.promote",
        "Move the registered model's champion alias to a version that passed train's gate (the challenger; --force: a rollback).",
    ),
    "availability": JobEntry(
        "recpipe.jobs.availability",
        "Stream sold and deleted listings into Redis' unavailable set (Structured Streaming, checkpointed; --once).",
    ),
    "fresh": JobEntry(
        "recpipe.jobs.fresh",
        "Score listings created since the live lists were built for every user; publish per-user fresh overlays.",
    ),
    "report": JobEntry(
        "recpipe.jobs.report",
        "Write an HTML health page (charts + table) of the latest runs in monitoring.pipeline_runs.",
    ),
    "evaluate": JobEntry(
        "recpipe.jobs.evaluate",
        "Score a run's gold.user_candidates against the next days' purchases and add-to-bags, next to baselines.",
    ),
    "monitor": JobEntry(
        "recpipe.jobs.monitor",
        "Check the run against thresholds (volume, lists, drift, exposure, parity, recall); alert to monitoring.alerts and a webhook.",
    ),
    "experiment": JobEntry(
        "recpipe.jobs.experiment",
        "analyze NAME: read an online experiment from the impressions and the events after (intervals, CUPED, SRM).",
    ),
    "run": JobEntry(
        "recpipe.jobs.run",
        "Run the pipeline job's task graph locally, task by task; then show a personal, a fresh and a fallback user.",
    ),
    "config": JobEntry(
        "recpipe.jobs.show_config",
        "Print the configuration a job would run with (embedded defaults plus every override), and the settings.",
    ),
}


def load_job(name: str) -> ModuleType:
    """The module of a job: ``add_arguments``, ``run`` and its ``DESCRIPTION``."""
    return importlib.import_module(JOBS[name].module)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conf",
        type=Path,
        help="job config file over the embedded defaults (must exist; default "
        "$RECPIPE_CONF_DIR/<job>.yml when present)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field (repeatable)"
    )
    parser.add_argument(
        "--profile",
        help="config profile shipped with recpipe, overlaying the job's config "
        "(default $RECPIPE_PROFILE; e.g. ratings for public ratings data)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def requested_job(argv: Sequence[str]) -> str | None:
    """The subcommand of a command line (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(job: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``recpipe``; ``job``'s subcommand gets its full arguments (its module is imported), the
    others only their name and help."""
    parser = argparse.ArgumentParser(
        prog="recpipe",
        description="Batch recommendations for a one-of-a-kind fashion marketplace: Delta -> models -> Redis.",
    )
    parser.add_argument("--version", action="version", version=f"recpipe {__version__}")
    sub = parser.add_subparsers(dest="job", required=True, metavar="<job>")
    for name, entry in JOBS.items():
        if name != job:
            sub.add_parser(name, help=entry.help, add_help=False)
            continue
        module = load_job(name)
        job_parser = sub.add_parser(name, help=entry.help, description=module.DESCRIPTION)
        _add_common(job_parser)
        module.add_arguments(job_parser)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line, importing only the job it names."""
    return build_parser(requested_job(argv)).parse_args(argv)
