"""`recpipe candidates`: top-N per user, similar items and cold-start fallbacks into gold tables."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import CandidatesConfig, load_job_config
from recpipe.jobs.context import JobContext, add_as_of_arguments
from recpipe.monitoring import runs
from recpipe.transforms import candidates as C
from recpipe.transforms.interactions import as_of_end

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
    parser.add_argument("--model-version", help="model version to use (default: the champion)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    flags = [f"model_version='{args.model_version}'"] if args.model_version else []
    config = load_job_config(NAME, CandidatesConfig, args.conf, [*args.set, *flags])
    return generate_candidates(JobContext.create(NAME, args), config)


def _stamp(df: DataFrame, version: str, run_id: str, generated_at) -> DataFrame:
    return (
        df.withColumn("model_version", F.lit(version))
        .withColumn("run_id", F.lit(run_id))
        .withColumn("generated_at", F.lit(generated_at).cast("timestamp"))
    )


def generate_candidates(ctx: JobContext, config: CandidatesConfig) -> dict[str, Any]:
    t, stages, spark = ctx.tables, ctx.stages, ctx.spark
    version = config.model_version or tracking.champion_version(ctx.settings, config.model_name)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.batch_size))
    users, items = t.read(catalog.SILVER_USERS), t.read(catalog.SILVER_ITEMS)
    interactions, daily = t.read(catalog.SILVER_INTERACTIONS), t.read(catalog.SILVER_DAILY_INTERACTIONS)
    available = t.read(catalog.SILVER_ITEM_AVAILABILITY).where(F.col("status") == "active")
    of_version = F.col("model_version") == version
    user_factors = t.read(catalog.GOLD_USER_FACTORS).where(of_version)
    item_factors = t.read(catalog.GOLD_ITEM_FACTORS).where(of_version)
    embeddings = (
        t.read(catalog.GOLD_ITEM_EMBEDDINGS)
        .where(of_version)
        .where(F.aggregate("factors", F.lit(0.0), lambda a, x: a + F.abs(x)) > 0)
    )
    as_of = ctx.interactions_as_of()
    generated_at = as_of_end(as_of)
    run_id = ctx.run_id(version, as_of, config.model_dump_json(), sorted(t.versions_read.items()))
    exclusions = C.excluded_items(interactions, items, config.exclude_seen_event_types).cache()
    length = config.list_length

    with stages.stage("fallbacks"):
        since = as_of - timedelta(days=config.fallback_days - 1)
        fallbacks = C.segment_fallbacks(daily, users, available, since, length, config.max_per_seller).cache()
        stages.count("fallback segments", fallbacks.count())

    with stages.stage("user lists"):  # personal lists are scored here, when gold.user_candidates is written
        counts = interactions.groupBy("user_id").count().where(F.col("count") >= config.min_user_interactions)
        listings = C.Catalog.from_pandas(
            available.join(item_factors, "item_id").select("item_id", "seller_id", "factors").toPandas()
        )
        stages.count("catalog items", len(listings.ids))
        personal = (
            user_factors.join(counts.select("user_id"), "user_id")
            .transform(C.with_exclusions(exclusions))
            .select("user_id", "factors", "exclude")
            .transform(C.score_top_k(C.broadcast_catalog(spark, listings), "user_id", length, config.max_per_seller))
            .withColumn("source", F.lit(C.PERSONAL_SOURCE))
        )
        cold_users = (
            users.join(personal.select("user_id"), "user_id", "left_anti")
            .transform(C.with_exclusions(exclusions))
            .transform(C.assign_fallbacks(fallbacks, length))
            .drop("exclude")
            .transform(C.with_encoded_lists())
        )
        user_candidates = _stamp(personal.unionByName(cold_users), version, run_id, generated_at)
        t.overwrite(user_candidates, catalog.GOLD_USER_CANDIDATES)
        t.overwrite(
            _stamp(fallbacks.transform(C.with_encoded_lists()), version, run_id, generated_at),
            catalog.GOLD_FALLBACK_CANDIDATES,
        )
        topups = exclusions.transform(C.topup_exclusions(fallbacks)).transform(C.with_encoded_lists())
        t.overwrite(_stamp(topups, version, run_id, generated_at), catalog.GOLD_TOPUP_EXCLUSIONS)
        stages.count(catalog.GOLD_USER_CANDIDATES, t.rows_written(catalog.GOLD_USER_CANDIDATES))
        personal_users = t.read(catalog.GOLD_USER_CANDIDATES).where(F.col("source") == C.PERSONAL_SOURCE).count()
        stages.count("personal users", personal_users)

    with stages.stage("similar items"):
        sellers = items.select("item_id", "seller_id")
        similar = []
        for source, vectors in (("vectors", item_factors), ("item2vec", embeddings)):
            cat = C.Catalog.from_pandas(
                available.join(vectors, "item_id").select("item_id", "seller_id", "factors").toPandas(), normalize=True
            )
            queries = vectors.join(sellers, "item_id").select(
                "item_id", "factors", F.array("item_id").alias("exclude"), "seller_id"
            )
            similar.append(
                queries.transform(
                    C.score_top_k(
                        C.broadcast_catalog(spark, cat),
                        "item_id",
                        config.similar_n,
                        None,
                        normalize_queries=True,
                        exclude_query_seller=config.similar_exclude_same_seller,
                    )
                ).select(
                    "item_id",
                    F.col("item_ids").alias("similar_item_ids"),
                    "scores",
                    "encoded_list",
                    F.lit(source).alias("source"),
                )
            )
        popularity = daily.groupBy("item_id").agg(F.countDistinct("user_id").alias("score"))
        cold_items = available.join(item_factors.select("item_id"), "item_id", "left_anti")
        attribute_items = items.join(available.select("item_id"), "item_id")
        similar.append(
            cold_items.transform(
                C.attribute_neighbours(
                    attribute_items, popularity, config.similar_n, config.similar_exclude_same_seller
                )
            )
            .transform(C.with_encoded_lists("similar_item_ids"))
            .withColumn("source", F.lit("attributes"))
        )
        similar_items = similar[0].unionByName(similar[1]).unionByName(similar[2])
        t.overwrite(_stamp(similar_items, version, run_id, generated_at), catalog.GOLD_SIMILAR_ITEMS)
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
