"""`recpipe config <job>`: the configuration a job would run with, and where the pipeline reads and writes."""

from __future__ import annotations

import argparse
from typing import Any

from recpipe.config import JOB_CONFIGS, SECRET_FIELDS, load_job_config, load_settings

NAME = "config"
DESCRIPTION = """\
Prints the job's effective configuration: the embedded defaults, changed by --conf (or $RECPIPE_CONF_DIR/<job>.yml),
the profile, RECPIPE_<JOB>__FIELD variables and --set, in that order; and the settings (where: platform, data
folder, catalog, Redis, MLflow, artifacts) from RECPIPE_<FIELD> variables. Copy what you want to change into a
file for --conf. Starts no Spark."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config_job", metavar="job", choices=sorted(JOB_CONFIGS), help="the job whose config to print")


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_job_config(args.config_job, JOB_CONFIGS[args.config_job], args.conf, args.set)
    settings = load_settings().model_dump(mode="json")
    shown = {k: ("<set>" if k in SECRET_FIELDS and v else v) for k, v in settings.items()}
    return {"job": args.config_job, "config": config.model_dump(mode="json"), "settings": shown}
