"""The second stage: featured candidate pairs scored by the learned ranker on the executors (the booster
broadcast once, Arrow batches), then the served rules (seller cap, list length) into one list per user."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from recpipe.models.ranker import LearnedRanker
from recpipe.transforms import candidates, reranking, retrieval
from recpipe.transforms.interactions import Transform

RANK_SCORE = "rank_score"


def broadcast_ranker(spark: SparkSession, ranker: LearnedRanker) -> Broadcast:
    """The booster as its text (what every executor rebuilds it from) with its feature names."""
    return spark.sparkContext.broadcast((ranker.to_string(), ranker.features, ranker.categorical))


def with_rank_scores(ranker: Broadcast) -> Transform:
    """Featured pairs -> the same rows with ``rank_score`` (the ranker's score; higher first)."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = LearnedRanker.from_string(*ranker.value)  # once per partition
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = batch.select(list(model.features)).to_pandas()
            scores = model.predict(frame.astype(np.float64), num_threads=1)
            yield batch.append_column(RANK_SCORE, pa.array(scores, pa.float64()))

    def transform(pairs: DataFrame) -> DataFrame:
        schema = StructType([*pairs.schema.fields, StructField(RANK_SCORE, DoubleType())])
        return pairs.mapInArrow(score, schema)

    return transform


def ranked_lists(
    listings: DataFrame, length: int, max_per_seller: int, rerank: reranking.Reranking | None = None
) -> Transform:
    """Scored pairs -> ``user_id, item_ids, scores, item_sources`` (best first; at most ``max_per_seller`` per
    seller and ``length`` items; ``item_sources``: the retrieval source that ranked each item highest). With
    ``rerank``, the best ``rerank.pool(length)`` are re-ranked into the ``length`` served."""
    depth = length if rerank is None else rerank.pool(length)

    def transform(scored: DataFrame) -> DataFrame:
        rows = scored.join(listings.select("item_id", "seller_id"), "item_id").select(
            "user_id",
            "item_id",
            "seller_id",
            F.col(RANK_SCORE).alias("score"),
            retrieval.best_source().alias("_source"),
        )
        order = [F.desc("score"), F.asc("item_id")]
        capped = candidates.capped_ranking(rows, "user_id", order, max_per_seller, depth)
        ordered = F.array_sort(F.collect_list(F.struct("_rank", "item_id", "score", "_source")))
        lists = (
            capped.groupBy("user_id")
            .agg(ordered.alias("_l"))
            .select(
                "user_id",
                F.transform("_l", lambda e: e["item_id"]).alias("item_ids"),
                F.transform("_l", lambda e: e["score"].cast("float")).alias("scores"),
                F.transform("_l", lambda e: e["_source"]).alias("item_sources"),
            )
        )
        return lists if rerank is None else lists.transform(reranking.reranked(rerank, length))

    return transform
