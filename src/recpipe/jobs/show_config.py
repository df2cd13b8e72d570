"""`recpipe config <section>`: the configuration a job would run with, and where the pipeline reads and writes."""

from __future__ import annotations

import argparse
from typing import Any

from recpipe.config import SECRET_FIELDS, SECTIONS, load_run_config, load_settings

NAME = "config"
DESCRIPTION = """\
Prints a section of the run's configuration as a job would load it: the embedded defaults, changed by --conf (or
$RECPIPE_CONF_DIR/<section>.yml), the profile, RECPIPE_<SECTION>__FIELD variables and --set (FIELD=VALUE of this
section, SECTION.FIELD=VALUE of another), in that order; and the settings (where: platform, data folder, catalog,
Redis, MLflow, artifacts) from RECPIPE_<FIELD> variables. conf/<section>.yml is the reference copy of the defaults.
Starts no Spark."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("section", choices=list(SECTIONS), help="the section (a job's name, or model) to print")


def run(args: argparse.Namespace) -> dict[str, Any]:
    section = getattr(load_run_config(args.section, args.conf, args.set), args.section)
    settings = load_settings().model_dump(mode="json")
    shown = {k: ("<set>" if k in SECRET_FIELDS and v else v) for k, v in settings.items()}
    return {"section": args.section, "config": section.model_dump(mode="json"), "settings": shown}
