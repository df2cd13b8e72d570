"""`recpipe generate`: write the synthetic bronze tables users, items and events."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime, time
from typing import Any

from recpipe import catalog
from recpipe.config import GenerateConfig
from recpipe.data.calibration import calibration_figures, out_of_range
from recpipe.data.generator import MarketplaceGenerator
from recpipe.jobs.bronze import check_bronze_writable, writer_note
from recpipe.jobs.context import JobContext

log = logging.getLogger(__name__)

NAME = "generate"
DESCRIPTION = """\
Writes bronze.users, bronze.items and bronze.events as Delta tables, and the ground truth (true utility vectors)
to sim.users and sim.items. Listings are created all day and sell once, mostly within days; users browse live
listings in sessions, favour recent ones, and like, bag and buy what fits their taste, size and budget; every
purchase follows a view. The same seed always gives the same tables. Flags override the generate config (`recpipe config generate`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, help="number of users")
    parser.add_argument("--items", type=int, help="number of items")
    parser.add_argument("--days", type=int, help="length of the event window in days")
    parser.add_argument("--events", type=int, help="approximate number of events (default users * events_per_user)")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument(
        "--replace", action="store_true", help="overwrite bronze tables written by recpipe generate or ingest"
    )


def write_marketplace(ctx: JobContext, config: GenerateConfig, replace: bool = False) -> None:
    """Generate and write the bronze tables, logging a count and a timing per table. Existing bronze tables are
    overwritten only with ``replace`` and only when recpipe wrote them."""
    check_bronze_writable(ctx.tables, NAME, replace)
    with ctx.stages.stage("sales"):
        generated = MarketplaceGenerator(config).generate(ctx.spark)
    for logical, df in (
        (catalog.BRONZE_USERS, generated.users),
        (catalog.BRONZE_ITEMS, generated.items),
        (catalog.BRONZE_EVENTS, generated.events),
        (catalog.SIM_USERS, generated.sim_users),
        (catalog.SIM_ITEMS, generated.sim_items),
    ):
        with ctx.stages.stage(f"write {logical}"):
            ctx.tables.overwrite(df, logical, note=writer_note(NAME))
        ctx.stages.count(logical, ctx.tables.rows_written(logical))


def check_calibration(ctx: JobContext, config: GenerateConfig) -> dict[str, float]:
    """Log the world's calibration figures; a figure outside its configured range is a warning, not an error."""
    t = ctx.tables
    with ctx.stages.stage("calibration"):
        figures = calibration_figures(
            t.read(catalog.SIM_USERS),
            t.read(catalog.BRONZE_ITEMS),
            t.read(catalog.BRONZE_EVENTS),
            datetime.combine(config.end_date, time(), tzinfo=UTC),
        )
    log.info("generate: calibration %s", ", ".join(f"{k}={v:g}" for k, v in figures.items()))
    for problem in out_of_range(figures, config.calibration):
        log.warning("generate: calibration figure %s (generate config: calibration)", problem)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    flags = [
        f"{key}={getattr(args, key)}"
        for key in ("users", "items", "days", "events", "seed")
        if getattr(args, key) is not None
    ]
    ctx = JobContext.create(NAME, args, flags)
    config = ctx.config.generate
    write_marketplace(ctx, config, args.replace)
    figures = check_calibration(ctx, config)
    return {
        **ctx.stages.summary(),
        "calibration": figures,
        "config": config.model_dump(mode="json"),
        "versions_written": ctx.tables.versions_written,
    }
