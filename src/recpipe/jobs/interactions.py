"""`recpipe interactions`: validate bronze, quarantine bad rows, build silver interactions and indices."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from recpipe import catalog
from recpipe.config import InteractionsConfig
from recpipe.jobs.context import JobContext
from recpipe.monitoring import runs
from recpipe.quality.bronze import checked_as_of, validate_bronze
from recpipe.quality.rules import DataQualityError
from recpipe.run_day import add_as_of_arguments
from recpipe.transforms import interactions as transforms

NAME = "interactions"
DESCRIPTION = """\
Validates bronze.users/items/events with Great Expectations (failing rows go to quarantine.<table> with the rule and
run id; the job fails above validation.max_quarantine_share), then builds silver.daily_interactions,
silver.interactions (confidence per event type, time decay, caps, bot and own-item filtering, minimum counts),
silver.user_index, silver.item_index, silver.item_availability and the validated silver.users and silver.items as of
--as-of (default: the last valid event's day). --incremental merges the as-of day; the result equals a rebuild."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--incremental", action="store_const", const=True, dest="incremental", help="merge the as-of day")
    mode.add_argument("--full", action="store_const", const=False, dest="incremental", help="rebuild the window")


def run(args: argparse.Namespace) -> dict[str, Any]:
    flags = [f"incremental={str(args.incremental).lower()}"] if args.incremental is not None else []
    ctx = JobContext.create(NAME, args, flags)
    return build(ctx, ctx.config.interactions)


def build(ctx: JobContext, config: InteractionsConfig) -> dict[str, Any]:
    """The job body: read bronze, validate, transform, write silver (separate from argument parsing for tests)."""
    tables, stages = ctx.tables, ctx.stages
    users, items, events = (tables.read(name) for name in catalog.BRONZE)
    # The run id depends on what was asked (an as-of or the latest day), not on the rows: validation needs it.
    run_id = ctx.run_id(ctx.as_of or "latest", config.model_dump_json(), sorted(tables.versions_read.items()))

    with stages.stage("validate"):
        checked = validate_bronze(users, items, events, config.validation, run_id, datetime.now(UTC))
        as_of = checked_as_of(ctx.as_of, checked.last_event_day())
        for result in checked.tables:  # written before the threshold check: a failing run still shows what failed
            stages.count(result.name, result.total)
            stages.count(catalog.quarantine_of(result.name), result.quarantined)
            tables.replace_where(result.quarantine, catalog.quarantine_of(result.name), f"run_id = '{run_id}'")
        report = checked.report(ctx.spark, run_id)
        tables.replace_where(report, catalog.MONITORING_VALIDATION_RESULTS, f"run_id = '{run_id}'")
        checked.write_json(ctx.settings.artifacts / "validation" / run_id)
        checked.enforce(config.validation)

    window = (config.first_window_day(as_of), as_of)
    incremental = config.incremental and tables.exists(catalog.SILVER_DAILY_INTERACTIONS)
    first_day = as_of if incremental else window[0]
    checked.require_events_within(*window, config.lookback_days)
    with stages.stage("daily interactions"):
        daily = checked.events.valid.transform(
            transforms.daily_from_events(
                checked.items.valid, first_day, as_of, config.event_weights, config.half_life_days
            )
        )
        if incremental:
            tables.replace_where(daily, catalog.SILVER_DAILY_INTERACTIONS, f"day >= '{first_day}' AND day <= '{as_of}'")
        else:
            tables.overwrite(daily, catalog.SILVER_DAILY_INTERACTIONS)

    with stages.stage("interactions"):
        days = tables.read(catalog.SILVER_DAILY_INTERACTIONS).transform(transforms.within_days(*window, column="day"))
        bots = days.transform(transforms.bot_users(config.bot_max_events_per_day)).cache()
        stages.count("bot users", bots.count())
        interactions = days.transform(
            transforms.interactions_from_daily(
                as_of,
                config.half_life_days,
                config.max_confidence,
                bots,
                config.min_user_interactions,
                config.min_item_interactions,
                config.min_count_passes,
            )
        )
        if interactions.isEmpty():
            raise DataQualityError(
                f"silver.interactions: no interactions left in the window {window[0]} .. {as_of} after the bot "
                f"filter and the minimum counts (interactions config: min_user_interactions, min_item_interactions): "
                f"silver.interactions was kept as it was"
            )
        if incremental:
            tables.merge(interactions, catalog.SILVER_INTERACTIONS, keys=["user_id", "item_id"], delete_missing=True)
        else:
            tables.overwrite(interactions, catalog.SILVER_INTERACTIONS)
        interactions = tables.read(catalog.SILVER_INTERACTIONS)
        stages.count(
            catalog.SILVER_INTERACTIONS,
            interactions.count() if incremental else tables.rows_written(catalog.SILVER_INTERACTIONS),
        )

    with stages.stage("indices and availability"):
        snapshots = transforms.silver_snapshots(interactions, checked.items.valid, checked.users.valid, as_of, run_id)
        for name, frame in snapshots.items():
            tables.overwrite(frame, name)
            stages.count(name, tables.rows_written(name))

    bots.unpersist()
    runs.record_task(tables, stages.summary(), as_of, run_id)
    return {
        **stages.summary(),
        "run_id": run_id,
        "as_of": str(as_of),
        "incremental": incremental,
        "versions_read": dict(tables.versions_read),
        "versions_written": dict(tables.versions_written),
    }
