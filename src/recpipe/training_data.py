"""Silver tables -> ``TrainingData`` (pandas through Arrow): what train, tune and the notebooks fit and evaluate on."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.jobs.context import JobContext
from recpipe.models.base import Recommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.ranking import has_vector
from recpipe.models.training_set import EventSplit, TrainingData
from recpipe.run_day import as_of_end
from recpipe.schemas import EVENT_TYPES
from recpipe.tables import to_pandas_together
from recpipe.transforms import candidates, training_inputs
from recpipe.transforms.interactions import decay_to, within_days


def event_split_frames(
    ctx: JobContext, as_of: date, holdout_days: int, user_index: DataFrame, item_index: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """The time split's train and test rows from silver.daily_interactions, aggregated by the interactions job's
    own transforms and the run's interactions configuration: the days before the last ``holdout_days`` decayed to
    the split, and those days."""
    config = ctx.config.interactions
    first_test_day = split_day(as_of, holdout_days)
    window = ctx.tables.read(catalog.SILVER_DAILY_INTERACTIONS).transform(
        within_days(config.first_window_day(as_of), as_of, column="day")
    )
    indexed = training_inputs.indexed_interactions(user_index, item_index, EVENT_TYPES)
    train = window.where(F.col("day") < F.lit(first_test_day)).transform(
        decay_to(first_test_day - timedelta(days=1), config.half_life_days, config.max_confidence)
    )
    test = window.where(F.col("day") >= F.lit(first_test_day)).transform(
        decay_to(as_of, config.half_life_days, config.max_confidence)
    )
    return train.transform(indexed), test.transform(indexed)


def split_day(as_of: date, holdout_days: int) -> date:
    """The first held-out day of a time split that ends at ``as_of``."""
    return as_of - timedelta(days=holdout_days - 1)


def load_training_data(ctx: JobContext, holdout_days: int | None = None, as_of: date | None = None) -> TrainingData:
    """Silver tables -> pandas through Arrow (the model code needs no Spark), every collect at once
    (``to_pandas_together``). With ``holdout_days``, the time split is built from daily rows
    (``event_split_frames``) and the item index goes on past the interaction index with every listing still for
    sale when the holdout began (``listing_index``). ``as_of``: silver's, when known. The exclusions are the run's
    served rules (``candidates.exclude_seen_event_types``)."""
    t = ctx.tables
    seen_types = ctx.config.candidates.exclude_seen_event_types
    user_index, item_index = t.read(catalog.SILVER_USER_INDEX), t.read(catalog.SILVER_ITEM_INDEX)
    availability = t.read(catalog.SILVER_ITEM_AVAILABILITY)
    if holdout_days:
        as_of = as_of or ctx.interactions_as_of()
        since = as_of_end(as_of) - timedelta(days=holdout_days)
        item_index = availability.transform(training_inputs.listing_index(item_index, since)).cache()
    frames = {
        "interactions": t.read(catalog.SILVER_INTERACTIONS).transform(
            training_inputs.indexed_interactions(user_index, item_index, EVENT_TYPES)
        ),
        "availability": availability.transform(training_inputs.indexed_availability(item_index)),
        "sequences": t.read(catalog.SILVER_DAILY_INTERACTIONS)
        .transform(training_inputs.item_sequences(item_index))
        .select("items"),
        "own": candidates.own_listings(t.read(catalog.SILVER_ITEMS)).transform(
            training_inputs.indexed_pairs(user_index, item_index)
        ),
        "item_ids": item_index.orderBy("item_idx").select("item_id"),
        "attributes": t.read(catalog.SILVER_ITEMS).transform(
            training_inputs.listing_attributes(item_index, t.read(catalog.SILVER_USERS))
        ),
        "users": user_index.join(t.read(catalog.SILVER_USERS), "user_id", "left")
        .select("user_idx", "user_id", "country")
        .orderBy("user_idx"),
    }
    if holdout_days and as_of:
        split_frames = event_split_frames(ctx, as_of, holdout_days, user_index, item_index)
        frames["split_train"], frames["split_test"] = split_frames
    collected = to_pandas_together(frames)
    item_index.unpersist()
    item_ids = collected["item_ids"]["item_id"].to_numpy(np.int64)
    users = collected["users"]
    split = None
    if holdout_days and as_of:
        first_test_day = pd.Timestamp(split_day(as_of, holdout_days))
        split = EventSplit(collected["split_train"], collected["split_test"], first_test_day, holdout_days)
    return TrainingData(
        interactions=collected["interactions"],
        user_ids=users["user_id"].to_numpy(np.int64),
        item_ids=item_ids,
        availability=collected["availability"],
        event_types=EVENT_TYPES,
        seen_event_types=tuple(seen_types),
        sequences=[np.asarray(s, dtype=np.int64) for s in collected["sequences"]["items"]],
        own_listings=collected["own"],
        items=collected["attributes"].set_index("item_idx").reindex(range(len(item_ids))),
        users=users[["country"]],
        split=split,
    )


def factors_frame(spark: SparkSession, ids: np.ndarray, vectors: np.ndarray, id_column: str, version: str) -> DataFrame:
    """Vectors of ``ids`` as rows of a gold factors table."""
    pdf = pd.DataFrame(
        {id_column: ids.astype(np.int64), "factors": list(vectors.astype(np.float32)), "model_version": version}
    )
    return training_inputs.with_factors_schema(spark.createDataFrame(pdf), id_column)


def vector_frames(
    spark: SparkSession, version: str, model: Recommender, item2vec: Item2VecRecommender, data: TrainingData
) -> dict[str, DataFrame]:
    """gold.user_factors, gold.item_factors and gold.item_embeddings of a model version: the rows that have a
    vector (under ALS and item2vec a listing without history has none, all zeros, and is left to the attribute
    rules; the attribute families give every listing one)."""
    user_vectors, item_vectors = model.embed(np.arange(data.n_users), data.matrix())
    if item2vec.vectors is None:
        raise ValueError("item2vec is not fitted")
    frames = {}
    for table, ids, vectors, id_column in (
        (catalog.GOLD_USER_FACTORS, data.user_ids, user_vectors, "user_id"),
        (catalog.GOLD_ITEM_FACTORS, data.item_ids, item_vectors, "item_id"),
        (catalog.GOLD_ITEM_EMBEDDINGS, data.item_ids, item2vec.vectors, "item_id"),
    ):
        stored = has_vector(vectors)
        frames[table] = factors_frame(spark, ids[stored], vectors[stored], id_column, version)
    return frames
