"""`recpipe candidates`: top-N per user, similar items and cold-start fallbacks into gold tables."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from pyspark.sql import functions as F

from recpipe import catalog, personal_lists, tracking
from recpipe.config import CandidatesConfig
from recpipe.jobs.context import JobContext
from recpipe.monitoring import runs
from recpipe.run_day import add_as_of_arguments, as_of_end
from recpipe.transforms import candidates, served_lists

NAME = "candidates"
DESCRIPTION = """\
Scores every user with enough interactions against the vectors of every listing for sale (gold.item_factors of
the model version: with a listing side, listings without history too) on the executors (Arrow batches, BLAS, a
compiled top-k pass), removing seen items (per event type), own listings and sold or deleted items, with at most
max_per_seller items per seller and top_n * overfetch items per list (source `personal`). Other users get their
country's (else the global) recent popularity list. Similar items come from the model's listing vectors
(`vectors`: listings without history included when the model has a listing side) and item2vec embeddings;
listings without a vector get attribute neighbours (category, size, price band). Writes gold.user_candidates,
gold.similar_items and gold.fallback_candidates; each list also as encoded_list, the R1 bytes Redis serves; and
gold.topup_exclusions: per user the fallback items a reader must not top the user's list up with."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_as_of_arguments(parser)
    parser.add_argument("--model-version", help="model version to use (default: the champion; model.version)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    flags = [f"model.version='{args.model_version}'"] if args.model_version else []
    ctx = JobContext.create(NAME, args, flags)
    return generate_candidates(ctx, ctx.config.candidates)


def generate_candidates(ctx: JobContext, config: CandidatesConfig) -> dict[str, Any]:
    t, stages, spark, model = ctx.tables, ctx.stages, ctx.spark, ctx.config.model
    version = model.version or tracking.champion_version(ctx.settings, model.name)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.batch_size))
    users, items = t.read(catalog.SILVER_USERS), t.read(catalog.SILVER_ITEMS)
    interactions, daily = t.read(catalog.SILVER_INTERACTIONS), t.read(catalog.SILVER_DAILY_INTERACTIONS)
    available = t.read(catalog.SILVER_ITEM_AVAILABILITY).where(F.col("status") == "active")
    of_version = F.col("model_version") == version
    item_factors = t.read(catalog.GOLD_ITEM_FACTORS).where(of_version)
    embeddings = served_lists.with_vector(t.read(catalog.GOLD_ITEM_EMBEDDINGS).where(of_version))
    as_of = ctx.interactions_as_of()
    shaping = (config, ctx.config.ranking, ctx.config.responsible.rerank)  # what decides the lists
    run_id = ctx.run_id(version, as_of, *(c.model_dump_json() for c in shaping), sorted(t.versions_read.items()))
    stamp = served_lists.stamped(version, run_id, as_of_end(as_of))
    exclusions = candidates.excluded_items(interactions, items, config.exclude_seen_event_types).cache()

    with stages.stage("fallbacks"):
        since = as_of - timedelta(days=config.fallback_days - 1)
        fallbacks = candidates.segment_fallbacks(
            daily, users, available, since, config.list_length, config.max_per_seller
        ).cache()
        stages.count("fallback segments", fallbacks.count())

    experiment = personal_lists.live_experiment(ctx, as_of)
    with stages.stage("user lists"):  # personal lists are scored here, when gold.user_candidates is written
        built = personal_lists.build(ctx, as_of, version, ctx.config.ranking.enabled, exclusions, available, config)
        personal = built.lists.cache()  # scored once: the fallback lists below need its users too
        others = served_lists.fallback_lists(users, personal, exclusions, fallbacks, config.list_length)
        t.overwrite(personal.unionByName(others).transform(stamp), catalog.GOLD_USER_CANDIDATES)
        t.overwrite(
            fallbacks.transform(candidates.with_encoded_lists()).transform(stamp), catalog.GOLD_FALLBACK_CANDIDATES
        )
        topups = exclusions.transform(candidates.topup_exclusions(fallbacks)).transform(candidates.with_encoded_lists())
        t.overwrite(topups.transform(stamp), catalog.GOLD_TOPUP_EXCLUSIONS)
        stages.count(catalog.GOLD_USER_CANDIDATES, t.rows_written(catalog.GOLD_USER_CANDIDATES))
        written = t.read(catalog.GOLD_USER_CANDIDATES)
        stages.count("personal users", written.where(F.col("source") == candidates.PERSONAL_SOURCE).count())
        personal.unpersist()
        built.release()
        if experiment is not None:  # the other variants' lists, served beside these
            variants = personal_lists.variant_lists(
                ctx, experiment, as_of, version, run_id, exclusions, available, config
            )
            t.overwrite(variants.lists, catalog.GOLD_VARIANT_CANDIDATES)
            stages.count(catalog.GOLD_VARIANT_CANDIDATES, t.rows_written(catalog.GOLD_VARIANT_CANDIDATES))
            variants.release()

    with stages.stage("similar items"):
        similar = served_lists.similar_items(spark, items, available, item_factors, embeddings, daily, config)
        t.overwrite(similar.transform(stamp), catalog.GOLD_SIMILAR_ITEMS)
        stages.count(catalog.GOLD_SIMILAR_ITEMS, t.rows_written(catalog.GOLD_SIMILAR_ITEMS))

    exclusions.unpersist()
    fallbacks.unpersist()
    runs.record_task(t, stages.summary(), as_of, run_id)
    return {
        **stages.summary(),
        "run_id": run_id,
        "model_version": version,
        "as_of": str(as_of),
        "versions_read": dict(t.versions_read),
        "versions_written": dict(t.versions_written),
    }
