"""The gold lists the candidates job writes, composed from the scoring and fallback transforms of
``transforms.candidates``: personal lists, fallback lists for everyone else, similar items per source."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe.config import CandidatesConfig
from recpipe.transforms import candidates
from recpipe.transforms.interactions import Transform
from recpipe.transforms.retrieval import MODEL_SOURCE


def stamped(version: str, run_id: str, generated_at: datetime) -> Transform:
    """Mark rows with the model version, run id and the lists' as-of end (every gold list carries them)."""

    def transform(df: DataFrame) -> DataFrame:
        return (
            df.withColumn("model_version", F.lit(version))
            .withColumn("run_id", F.lit(run_id))
            .withColumn("generated_at", F.lit(generated_at).cast("timestamp"))
        )

    return transform


def with_vector(vectors: DataFrame) -> DataFrame:
    """Rows whose vector is not all zeros (a listing without history has none under ALS and item2vec)."""
    return vectors.where(F.aggregate("factors", F.lit(0.0), lambda a, x: a + F.abs(x)) > 0)


def listing_vectors(available: DataFrame, vectors: DataFrame, normalize: bool = False) -> candidates.ListingVectors:
    """The vectors of the listings for sale, collected for broadcast scoring."""
    rows = available.join(vectors, "item_id").select("item_id", "seller_id", "factors").toPandas()
    return candidates.ListingVectors.from_pandas(rows, normalize=normalize)


def personal_lists(
    spark: SparkSession,
    user_factors: DataFrame,
    eligible_users: DataFrame,
    exclusions: DataFrame,
    listings: candidates.ListingVectors,
    config: CandidatesConfig,
) -> DataFrame:
    """Every eligible user's vector scored against the listings, without excluded items, capped per seller."""
    return (
        user_factors.join(eligible_users.select("user_id"), "user_id")
        .transform(candidates.with_exclusions(exclusions))
        .select("user_id", "factors", "exclude")
        .transform(
            candidates.score_top_k(
                candidates.broadcast_listings(spark, listings), "user_id", config.list_length, config.max_per_seller
            )
        )
        .withColumn("source", F.lit(candidates.PERSONAL_SOURCE))
        .withColumn("item_sources", F.transform("item_ids", lambda _: F.lit(MODEL_SOURCE)))
    )


def eligible_users(interactions: DataFrame, min_interactions: int) -> DataFrame:
    """Users with at least ``min_interactions`` interactions: they get a personal list."""
    return interactions.groupBy("user_id").count().where(F.col("count") >= min_interactions).select("user_id")


def fallback_lists(users: DataFrame, personal: DataFrame, exclusions: DataFrame, fallbacks: DataFrame, length: int):
    """Every user without a personal list gets their segment's fallback list, without their excluded items."""
    return (
        users.join(personal.select("user_id"), "user_id", "left_anti")
        .transform(candidates.with_exclusions(exclusions))
        .transform(candidates.assign_fallbacks(fallbacks, length))
        .drop("exclude")
        .transform(candidates.with_encoded_lists())
        .withColumn("item_sources", F.transform("item_ids", lambda _: F.col("source")))
    )


def similar_items(
    spark: SparkSession,
    items: DataFrame,
    available: DataFrame,
    item_factors: DataFrame,
    embeddings: DataFrame,
    daily: DataFrame,
    config: CandidatesConfig,
) -> DataFrame:
    """Similar listings for sale per listing: cosine neighbours in the model's vectors and in item2vec, attribute
    neighbours (category, size, price band) for listings without a vector."""
    sellers = items.select("item_id", "seller_id")
    lists = []
    for source, vectors in (("vectors", item_factors), ("item2vec", embeddings)):
        queries = vectors.join(sellers, "item_id").select(
            "item_id", "factors", F.array("item_id").alias("exclude"), "seller_id"
        )
        scored = queries.transform(
            candidates.score_top_k(
                candidates.broadcast_listings(spark, listing_vectors(available, vectors, normalize=True)),
                "item_id",
                config.similar_n,
                None,
                normalize_queries=True,
                exclude_query_seller=config.similar_exclude_same_seller,
            )
        )
        lists.append(
            scored.select(
                "item_id",
                F.col("item_ids").alias("similar_item_ids"),
                "scores",
                "encoded_list",
                F.lit(source).alias("source"),
            )
        )
    popularity = daily.groupBy("item_id").agg(F.countDistinct("user_id").alias("score"))
    without_vector = available.join(item_factors.select("item_id"), "item_id", "left_anti")
    neighbours = candidates.attribute_neighbours(
        items.join(available.select("item_id"), "item_id"),
        popularity,
        config.similar_n,
        config.similar_exclude_same_seller,
    )
    lists.append(
        without_vector.transform(neighbours)
        .transform(candidates.with_encoded_lists("similar_item_ids"))
        .withColumn("source", F.lit("attributes"))
    )
    return lists[0].unionByName(lists[1]).unionByName(lists[2])
