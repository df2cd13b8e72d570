"""`recpipe promote`: move the champion alias of the registered model to a gated version (or back to an older one)."""

from __future__ import annotations

import argparse
from typing import Any

from recpipe import tracking
from recpipe.config import load_run_config, load_settings

NAME = "promote"
DESCRIPTION = """\
Moves the champion alias of the registered model (model.name) to a version: the challenger by default (the
version the last train registered), or --version N / --alias NAME. The version must have passed train's promotion
gate (its training run's promotion.promoted tag), so a release cannot promote a model that lost on the time split;
--force moves it anyway (a rollback to an earlier champion). The move is recorded on the version (promoted_by,
promoted_at, previous champion). Starts no Spark: the release workflow runs it against the prod workspace's
registry after the staging run passed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help="the registered version to make champion")
    which.add_argument("--alias", default=tracking.CHALLENGER, help="the alias whose version becomes champion")
    parser.add_argument("--force", action="store_true", help="promote a version that did not pass train's gate")
    parser.add_argument("--by", default=tracking.PROMOTER, help="who promotes, kept on the version (CI: the run)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_config = load_run_config(NAME, args.conf, args.set)
    settings = load_settings()
    move = tracking.move_champion(
        settings, run_config.model.name, version=args.version, alias=args.alias, force=args.force, by=args.by
    )
    return {"job": NAME, **move}
