"""`recpipe interactions`: validate bronze, quarantine bad rows, build silver interactions and indices."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import InteractionsConfig, load_job_config
from recpipe.jobs.context import JobContext, add_as_of_arguments
from recpipe.monitoring import runs
from recpipe.quality.bronze import validate_bronze
from recpipe.quality.rules import DataQualityError
from recpipe.tables import one_row
from recpipe.transforms import interactions as T

NAME = "interactions"
DESCRIPTION = """\
Validates bronze.users/items/events with Great Expectations (failing rows go to quarantine.<table> with the
rule and run id; the job fails above the configured quarantined share), then builds silver.daily_interactions,
silver.interactions (confidence per event type, time decay, caps, bot and own-item filtering, minimum counts),
silver.user_index, silver.item_index, silver.item_availability and the validated silver.users and silver.items
as of --as-of. With --incremental the as-of
day is merged into the existing tables; the result equals a full rebuild."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--incremental", action="store_const", const=True, dest="incremental", help="merge the as-of day")
    mode.add_argument(
        "--full", action="store_const", const=False, dest="incremental", help="rebuild the lookback window"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    flags = [f"incremental={str(args.incremental).lower()}"] if args.incremental is not None else []
    config = load_job_config(NAME, InteractionsConfig, args.conf, [*args.set, *flags])
    ctx = JobContext.create(NAME, args)
    return build(ctx, config)


def checked_as_of(requested: date | None, last_event_day: date | None) -> date:
    """The run's as-of: the requested day, or the day of the last valid event; an as-of past the data is an error."""
    if last_event_day is None:
        raise DataQualityError("bronze.events: no valid events: nothing to build interactions from")
    if requested is not None and requested > last_event_day:
        raise DataQualityError(
            f"bronze.events: the as-of {requested} is after the last valid event ({last_event_day}): "
            f"that day's events have not arrived; nothing was written"
        )
    return requested or last_event_day


def build(ctx: JobContext, config: InteractionsConfig) -> dict[str, Any]:
    """The job body: read bronze, validate, transform, write silver (separate from argument parsing for tests)."""
    tables, stages = ctx.tables, ctx.stages
    users, items, events = (tables.read(name) for name in catalog.BRONZE)
    # The run id depends on what was asked (an as-of or the latest day), not on the rows: validation needs it.
    run_id = ctx.run_id(ctx.as_of or "latest", config.model_dump_json(), sorted(tables.versions_read.items()))
    now = datetime.now(UTC)

    with stages.stage("validate"):
        checked = validate_bronze(users, items, events, config.validation, run_id, now)
        # From validated events only: one event dated years ahead is quarantined and must not move the as-of.
        last_event_day = one_row(checked.events.valid.agg(F.max(F.to_date("event_ts"))))[0]
        as_of = checked_as_of(ctx.as_of, last_event_day)
        for result in checked.tables:
            stages.count(result.name, result.total)
            stages.count(catalog.quarantine_of(result.name), result.quarantined)
        # Quarantine and report are written before the threshold check: a failing run still shows what failed.
        for result in checked.tables:
            tables.replace_where(result.quarantine, catalog.quarantine_of(result.name), f"run_id = '{run_id}'")
        tables.replace_where(
            checked.report(ctx.spark, run_id), catalog.MONITORING_VALIDATION_RESULTS, f"run_id = '{run_id}'"
        )
        checked.write_json(ctx.settings.artifacts / "validation" / run_id)
        checked.enforce(config.validation)

    last_day = as_of
    first_window_day = config.first_window_day(as_of)
    incremental = config.incremental and tables.exists(catalog.SILVER_DAILY_INTERACTIONS)
    first_day = last_day if incremental else first_window_day
    window_events = checked.events.valid.transform(T.within_days(first_window_day, last_day))
    if window_events.isEmpty():
        raise DataQualityError(
            f"bronze.events: no valid events in the window {first_window_day} .. {last_day} "
            f"(lookback_days {config.lookback_days} up to the as-of): nothing was written"
        )
    with stages.stage("daily interactions"):
        daily = (
            checked.events.valid.transform(T.deduplicate_events)
            .transform(T.within_days(first_day, last_day))
            .transform(T.drop_own_item_events(checked.items.valid))
            .transform(T.daily_interactions(config.event_weights, config.half_life_days))
        )
        if incremental:
            tables.replace_where(
                daily, catalog.SILVER_DAILY_INTERACTIONS, f"day >= '{first_day}' AND day <= '{last_day}'"
            )
        else:
            tables.overwrite(daily, catalog.SILVER_DAILY_INTERACTIONS)

    with stages.stage("interactions"):
        window = tables.read(catalog.SILVER_DAILY_INTERACTIONS).transform(
            T.within_days(first_window_day, last_day, column="day")
        )
        bots = window.transform(T.bot_users(config.bot_max_events_per_day)).cache()
        stages.count("bot users", bots.count())
        interactions = (
            window.transform(T.drop_users(bots))
            .transform(T.decay_to(as_of, config.half_life_days, config.max_confidence))
            .transform(
                T.keep_min_interactions(
                    config.min_user_interactions, config.min_item_interactions, config.min_count_passes
                )
            )
            .select("user_id", "item_id", "confidence", "n_events", "last_event_ts", "event_types")
        )
        if interactions.isEmpty():
            raise DataQualityError(
                f"silver.interactions: no interactions left in the window {first_window_day} .. {last_day} "
                f"after the bot filter and the minimum counts (interactions config: min_user_interactions, "
                f"min_item_interactions): silver.interactions was kept as it was"
            )
        if incremental:
            tables.merge(interactions, catalog.SILVER_INTERACTIONS, keys=["user_id", "item_id"], delete_missing=True)
            stages.count(catalog.SILVER_INTERACTIONS, tables.read(catalog.SILVER_INTERACTIONS).count())
        else:
            tables.overwrite(interactions, catalog.SILVER_INTERACTIONS)
            stages.count(catalog.SILVER_INTERACTIONS, tables.rows_written(catalog.SILVER_INTERACTIONS))
        interactions = tables.read(catalog.SILVER_INTERACTIONS)

    with stages.stage("indices and availability"):
        tables.overwrite(
            interactions.transform(T.contiguous_index("user_id", "user_idx", run_id)), catalog.SILVER_USER_INDEX
        )
        tables.overwrite(
            interactions.transform(T.contiguous_index("item_id", "item_idx", run_id)), catalog.SILVER_ITEM_INDEX
        )
        tables.overwrite(checked.items.valid.transform(T.item_availability(as_of)), catalog.SILVER_ITEM_AVAILABILITY)
        tables.overwrite(checked.items.valid, catalog.SILVER_ITEMS)
        tables.overwrite(checked.users.valid, catalog.SILVER_USERS)
        for name in (
            catalog.SILVER_USER_INDEX,
            catalog.SILVER_ITEM_INDEX,
            catalog.SILVER_ITEM_AVAILABILITY,
            catalog.SILVER_ITEMS,
            catalog.SILVER_USERS,
        ):
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
