"""`recpipe generate`: write the synthetic bronze tables users, items and events."""

from __future__ import annotations

import argparse
from typing import Any

from recpipe.config import GenerateConfig, load_job_config
from recpipe.data.generator import MarketplaceGenerator
from recpipe.jobs.context import JobContext

NAME = "generate"
HELP = "Generate a synthetic marketplace (bronze users, items, events) with learnable structure."
DESCRIPTION = """\
Writes bronze.users, bronze.items and bronze.events as Delta tables. Users and items belong to latent style
groups, popularity is long-tailed, items are listed daily and sell at most once, a few bots burst views.
The same seed always gives the same tables. Flags override conf/generate.yml."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, help="number of users")
    parser.add_argument("--items", type=int, help="number of items")
    parser.add_argument("--days", type=int, help="length of the event window in days")
    parser.add_argument("--events", type=int, help="approximate number of events (default users * events_per_user)")
    parser.add_argument("--seed", type=int, help="random seed")


def write_marketplace(ctx: JobContext, config: GenerateConfig) -> None:
    """Generate and write the bronze tables, logging a count and a timing per table."""
    generator = MarketplaceGenerator(config)
    generated = generator.generate(ctx.spark)
    write_order = (
        ("bronze.users", lambda: generated.users),
        ("bronze.events", lambda: generated.events),
        # items take sold_at from the written events instead of generating the events again
        ("bronze.items", lambda: generator.items(ctx.spark, ctx.tables.read("bronze.events"), ctx.spark.sparkContext.defaultParallelism)),
    )
    for logical, build in write_order:
        with ctx.stages.stage(f"write {logical}"):
            ctx.tables.overwrite(build(), logical)
        ctx.stages.count(logical, ctx.tables.read(logical).count())


def run(args: argparse.Namespace) -> dict[str, Any]:
    flags = [f"{key}={getattr(args, key)}" for key in ("users", "items", "days", "events", "seed") if getattr(args, key) is not None]
    config = load_job_config(NAME, GenerateConfig, args.conf, [*args.set, *flags])
    ctx = JobContext.create(NAME, args)
    write_marketplace(ctx, config)
    return {**ctx.stages.summary(), "config": config.model_dump(mode="json"), "versions_written": ctx.tables.versions_written}
