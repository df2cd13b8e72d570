"""`recpipe ingest movielens PATH`: public ratings data into the bronze tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recpipe import catalog, schemas
from recpipe.config import ConfigError
from recpipe.data.movielens import movielens
from recpipe.jobs.bronze import check_bronze_writable, writer_note
from recpipe.jobs.context import JobContext

NAME = "ingest"
DESCRIPTION = """\
Reads a MovieLens folder (100k: u.data and u.item; ml-latest: ratings.csv and movies.csv) and writes
bronze.users, bronze.items (first genre as category, release decade as brand) and bronze.events (each rating an
event, `like` unless --rating-event maps it, timestamps kept). With --holdout-share, a seeded stratified split
(Microsoft Recommenders' protocol) keeps that share of each user's ratings out of bronze, in sim.holdout, where
`recpipe evaluate` scores the served lists against it. Run the pipeline on it with the ratings profile:
`recpipe run --profile ratings` (no bot filter, no time decay). Existing bronze tables are kept unless --replace."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", choices=("movielens",), help="dataset family")
    parser.add_argument("path", type=Path, help="folder with u.data (MovieLens 100k) or ratings.csv (ml-latest)")
    parser.add_argument("--holdout-share", type=float, default=0.0, help="share of ratings held out for evaluation")
    parser.add_argument(
        "--split-by", choices=("user", "item"), default="user", help="stratify the split per user or item"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the split")
    parser.add_argument(
        "--rating-event",
        action="append",
        default=[],
        metavar="RATING=EVENT_TYPE",
        help="map a rating to an event type (repeatable; default: every rating is a like)",
    )
    parser.add_argument("--replace", action="store_true", help="overwrite existing bronze tables")


def _rating_events(pairs: list[str]) -> dict[float, str]:
    mapping = {}
    for pair in pairs:
        rating, sep, event_type = pair.partition("=")
        if not sep or event_type not in schemas.EVENT_TYPES:
            raise ConfigError(
                f"--rating-event {pair!r}: expected RATING=EVENT_TYPE with a type in {list(schemas.EVENT_TYPES)}"
            )
        if event_type == "purchase":  # a purchase sells a listing once; a film is rated by many
            raise ConfigError(
                f"--rating-event {pair!r}: a purchase sells a one-of-a-kind listing, and a film is rated by many "
                "users (validation would quarantine every purchase after the first): map it to add_to_bag"
            )
        mapping[float(rating)] = event_type
    return mapping


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 0.0 <= args.holdout_share < 1.0:
        raise ConfigError(f"--holdout-share {args.holdout_share}: must be in [0, 1)")
    data = movielens(args.path, _rating_events(args.rating_event), args.holdout_share, args.split_by, args.seed)
    return ingest(JobContext.create(NAME, args), data, replace=args.replace)


def ingest(ctx: JobContext, data, replace: bool = False) -> dict[str, Any]:
    t, stages = ctx.tables, ctx.stages
    check_bronze_writable(t, NAME, replace)
    for logical, frame, schema in (
        (catalog.BRONZE_USERS, data.users, schemas.USERS),
        (catalog.BRONZE_ITEMS, data.items, schemas.ITEMS),
        (catalog.BRONZE_EVENTS, data.events, schemas.EVENTS),
    ):
        with stages.stage(f"write {logical}"):
            t.overwrite(ctx.spark.createDataFrame(frame, schema), logical, note=writer_note(NAME))
        stages.count(logical, len(frame))
    if data.holdout is not None:
        t.overwrite(
            ctx.spark.createDataFrame(data.holdout, catalog.columns(catalog.SIM_HOLDOUT)),
            catalog.SIM_HOLDOUT,
        )
        stages.count(catalog.SIM_HOLDOUT, len(data.holdout))
    elif t.exists(catalog.SIM_HOLDOUT):  # an earlier ingest's held-out ratings belong to other bronze data: empty them
        t.overwrite(ctx.spark.createDataFrame([], catalog.columns(catalog.SIM_HOLDOUT)), catalog.SIM_HOLDOUT)
    return {**stages.summary(), "versions_written": dict(t.versions_written)}
